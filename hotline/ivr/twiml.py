"""Renders flow decisions as TwiML with twilio's VoiceResponse; the only place TwiML is made."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import Dial, VoiceResponse

from hotline.config import HotlineConfig, Speech
from hotline.ivr import flow
from hotline.ivr.urls import Urls

__all__ = ["Renderer", "Urls", "queue_name"]


def queue_name(option_id: str) -> str:
    return f"hotline-{option_id}"[:64]  # Twilio's limit on queue names


class Renderer:
    """Turns decisions into VoiceResponse documents in the configured voices."""

    def __init__(self, cfg: HotlineConfig, urls: Urls, hold_seconds: int) -> None:
        self.cfg, self.urls, self.hold_seconds = cfg, urls, hold_seconds

    def _say(
        self,
        parent: VoiceResponse,
        prompt: Sequence[Speech],
        lang_id: str | None = None,
        **fmt: object,
    ) -> None:
        lang = self.cfg.languages.get(lang_id) if lang_id else None
        for speech in prompt:
            tts = speech.language or (lang.tts if lang else self.cfg.voice.language)
            voice = speech.voice or (lang.voice if lang and tts == lang.tts else None)
            if voice is None and tts == self.cfg.voice.language:
                voice = self.cfg.voice.voice
            text = speech.text.format(**fmt) if fmt else speech.text
            # No voice attribute: Twilio picks its default voice for that language.
            parent.say(text, language=tts, **({"voice": voice} if voice else {}))

    def ask(self, d: flow.Ask) -> VoiceResponse:
        menu = self.cfg.menus[d.menu_id]
        r = VoiceResponse()
        if d.greet:
            self._say(r, self.cfg.messages.greeting)
        if d.notice is not None:
            # Notices exist in Japanese only: said in the Japanese voice, whatever the menu.
            self._say(r, getattr(self.cfg.messages, d.notice.value))
        action = self.urls.menu(d.menu_id, d.attempt)
        gather = r.gather(
            input="dtmf", num_digits=1, timeout=menu.timeout_seconds, action=action, method="POST"
        )
        self._say(gather, menu.prompt)
        # Gather falls through on silence without a request: come back to the same step,
        # without Digits, which the flow reads as no input.
        r.redirect(action, method="POST")
        return r

    def enqueue(self, d: flow.Enqueue) -> VoiceResponse:
        r = VoiceResponse()
        if d.notice is not None:
            self._say(r, self.cfg.messages.default_chosen)
        r.enqueue(
            queue_name(d.option_id),
            wait_url=self.urls.wait(d.option_id, d.language, 1),
            wait_url_method="POST",
            action=self.urls.queue_result(d.option_id, d.language),
            method="POST",
        )
        return r

    def hold(self, d: flow.Hold) -> VoiceResponse:
        r = VoiceResponse()
        lang = self.cfg.languages.get(d.language) if d.language else None
        self._say(r, lang.hold if lang else self.cfg.messages.hold, d.language)
        if d.ahead is not None and lang is None:
            if d.ahead == 0:
                self._say(r, self.cfg.messages.position_next)
            else:
                self._say(r, self.cfg.messages.position, ahead=d.ahead)
        # Short segments: a freed line is found at the next poll, seconds later.
        r.pause(length=self.hold_seconds)
        r.redirect(self.urls.wait(d.option_id, d.language, d.segment + 1), method="POST")
        return r

    def leave(self) -> VoiceResponse:
        r = VoiceResponse()
        r.leave()
        return r

    def closed(self, language: str | None = None) -> VoiceResponse:
        """The closed message, in the caller's language when config has it, then Japanese."""
        r = VoiceResponse()
        lang = self.cfg.languages.get(language) if language else None
        if lang is not None and lang.closed:
            self._say(r, lang.closed, language)
        self._say(r, self.cfg.messages.closed)
        r.hangup()
        return r

    def fallback_menu(self) -> VoiceResponse:
        """Twilio's fallback: the usual greeting and menu, then the backup organisation."""
        r = VoiceResponse()
        self._say(r, self.cfg.messages.greeting)
        menu = self.cfg.menus[self.cfg.default_menu]
        action = self.urls.fallback("chosen")
        gather = r.gather(
            input="dtmf", num_digits=1, timeout=menu.timeout_seconds, action=action, method="POST"
        )
        self._say(gather, menu.prompt)
        r.redirect(action, method="POST")
        return r

    def fallback(self) -> VoiceResponse:
        """Apology, then straight to the backup organisation's lines; needs no database."""
        r = VoiceResponse()
        self._say(r, self.cfg.messages.apology)
        dial = Dial(action=self.urls.fallback("after-dial"), method="POST", timeout=30)
        for line in self.cfg.org(self.cfg.backup_org).lines[:10]:  # Twilio rings <= 10 at once
            _dial_target(dial, line.target, None)
        r.append(dial)
        return r

    def after_fallback_dial(self) -> VoiceResponse:
        r = VoiceResponse()
        self._say(r, self.cfg.messages.closed)
        r.hangup()
        return r

    def dial(
        self, target: str, *, line_id: str, call_sid: str, language: str | None, timeout: int = 25
    ) -> VoiceResponse:
        r = VoiceResponse()
        lang = self.cfg.languages.get(language) if language else None
        self._say(r, lang.connecting if lang else self.cfg.messages.connecting, language)
        dial = Dial(action=self.urls.dial_result(line_id), method="POST", timeout=timeout)
        _dial_target(dial, target, self.urls.whisper(call_sid, line_id))
        r.append(dial)
        return r

    def whisper(
        self, *, option: str, language: str | None, waited: float, accept_url: str
    ) -> VoiceResponse:
        """The counsellor's leg: who is calling, then press 1 to accept. No key: hang up."""
        r = VoiceResponse()
        lang = self.cfg.languages.get(language) if language else None
        gather = r.gather(input="dtmf", num_digits=1, timeout=8, action=accept_url, method="POST")
        self._say(
            gather,
            self.cfg.messages.whisper,
            option=option,
            waited="1分未満" if waited < 60 else f"約{round(waited / 60)}分",
            language=f"{lang.name}でのご相談です。" if lang else "",
        )
        # No key (voicemail, missed): end the counsellor's leg; the caller is not bridged.
        r.hangup()
        return r

    def whisper_declined(self) -> VoiceResponse:
        r = VoiceResponse()
        self._say(r, self.cfg.messages.whisper_declined)
        r.hangup()
        return r

    def goodbye(self, language: str | None) -> VoiceResponse:
        r = VoiceResponse()
        if not language:
            self._say(r, self.cfg.messages.goodbye)
        r.hangup()
        return r


def _dial_target(dial: Dial, target: str, whisper_url: str | None) -> None:
    kw = {"url": whisper_url, "method": "POST"} if whisper_url else {}
    if target.startswith("sip:"):
        dial.sip(target, **kw)
    else:
        dial.number(target, **kw)


def empty() -> VoiceResponse:
    return VoiceResponse()
