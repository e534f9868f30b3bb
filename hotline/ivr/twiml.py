"""Renders flow decisions as TwiML with twilio's VoiceResponse; the only place TwiML is made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from hotline.config import HotlineConfig, Organisation, Referral, Speech
from hotline.ivr import closed
from hotline.ivr.dialling import dial_target
from hotline.ivr.hold_load import HoldLoad, hold_sound
from hotline.ivr.spoken import spoken_number, when
from hotline.voice import flow
from hotline.voice.urls import Query, Urls

__all__ = ["Renderer", "Urls", "dial_target", "queue_name"]

# The ringback a caller hears while a line rings: the Japanese one, not Twilio's default for
# SIP (US), so the wait sounds like the hold it continues rather than a call abroad.
RING_TONE = "jp"


def queue_name(option_id: str) -> str:
    return f"hotline-{option_id}"[:64]  # Twilio's limit on queue names


def callback_queue(call_id: int) -> str:
    """The queue where a callback's counsellor holds for the caller: one call's own."""
    return f"hotline-callback-{call_id}"


class Renderer:
    """Turns decisions into VoiceResponse documents in the configured voices."""

    def __init__(
        self, cfg: HotlineConfig, urls: Urls, hold_seconds: int, load: HoldLoad | None = None
    ) -> None:
        self.cfg, self.urls, self.hold_seconds = cfg, urls, hold_seconds
        # Without a load counter (tests, the fallback document), segments keep their length.
        self.load = load or HoldLoad(
            base_seconds=hold_seconds, busy_polls=1 << 30, max_seconds=hold_seconds
        )

    def _say(
        self,
        parent: VoiceResponse | Gather,
        prompt: Sequence[Speech],
        lang_id: str | None = None,
        **fmt: object,
    ) -> None:
        for speech in prompt:
            if speech.play is not None:
                parent.play(self.urls.audio(speech.play))
                continue
            assert speech.text is not None  # config: exactly one of text and play
            tts, voice = self.cfg.speaker(speech, lang_id)
            text = speech.text.format(**fmt) if fmt else speech.text
            # Config refuses a sentence whose language has no voice named (voices.py).
            parent.say(text, language=tts, **({"voice": voice} if voice else {}))

    def ask(self, d: flow.Ask, r: VoiceResponse | None = None) -> VoiceResponse:
        menu = self.cfg.menus[d.menu_id]
        r = r or VoiceResponse()
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
        """One hold segment, inside a Gather of one key (the callback key, or the answer to
        the choice): the message, the place in line, the offer or the choice, then music
        or a pause; then the next segment. Everything here is allowed in a waitUrl."""
        r = VoiceResponse()
        words, lang = self.cfg.hold_words_for(d.language)
        step = "choice" if d.choice else ""
        gather = r.gather(
            input="dtmf",
            num_digits=1,
            timeout=1,
            action=self.urls.hold_key(
                d.option_id, d.language, d.segment, step, chose=d.chose, failures=d.failures
            ),
            method="POST",
        )
        self._say(gather, words.messages[d.message % len(words.messages)], lang)
        if d.ahead is not None:
            cap = self.cfg.hold.position_cap
            if d.ahead == 0:
                self._say(gather, words.position_next, lang)
            elif d.ahead > cap:
                self._say(gather, words.position_many, lang, cap=cap)
            else:
                self._say(gather, words.position, lang, ahead=d.ahead)
        if d.choice:
            choice = words.choice if d.choice_callback else words.choice_no_callback
            self._say(gather, choice, lang, minutes=max(1, round(d.waited / 60)))
        elif d.offer_callback:
            self._say(gather, words.callback_offer, lang, key=self.cfg.callback.key)
        music, url = self.cfg.hold.music, None
        if d.music and music is not None:
            url = self.urls.audio(music.play) if music.play else music.url
        hold_sound(gather, self.load, d.until_due, url, self.cfg.hold.music_seconds)
        next_wait = self.urls.wait(
            d.option_id,
            d.language,
            d.segment + 1,
            d.chose,
            failures=d.failures,
            announced=d.announced,
            said=d.said,
        )
        r.redirect(next_wait, method="POST")
        return r

    def hold_without_database(self, q: Query, failures: int) -> VoiceResponse:
        """A hold segment said when the hold's poll or key failed (`failures` in a row): the
        first hold message (「このままお待ちください」), a short pause, then the next poll, which
        carries the count and the announcements' schedule (`q`'s, unchanged). Nothing in it
        needs the database; the caller stays in the queue."""
        d = flow.Hold(q.option_id, q.language or None, q.segment, message=0, chose=q.chose)
        return self.hold(replace(d, failures=failures, announced=q.announced, said=q.said))

    def _next_wait(self, option_id: str, language: str | None, segment: int, chose: bool) -> str:
        """Back to the hold after a key (`k=1`): its next announcement a full interval on."""
        return self.urls.wait(option_id, language, segment + 1, chose, keyed=True)

    def _hold_say(self, r: VoiceResponse, language: str | None, part: str, **fmt: object) -> None:
        """One of the hold words, in the caller's language."""
        words, lang = self.cfg.hold_words_for(language)
        self._say(r, getattr(words, part), lang, **fmt)

    def callback_confirm(
        self,
        language: str | None,
        option_id: str,
        segment: int,
        until: dt.datetime,
        number: str,
        *,
        chose: bool = False,
    ) -> VoiceResponse:
        """What a callback means, then press the confirm key (no key: back to the hold)."""
        r = VoiceResponse()
        action = self.urls.hold_key(option_id, language, segment, "confirm", chose=chose)
        self._confirm(r, language, action, until, number)
        r.redirect(self._next_wait(option_id, language, segment, chose), method="POST")
        return r

    def _confirm(
        self, r: VoiceResponse, language: str | None, action: str, until: dt.datetime, number: str
    ) -> None:
        """The callback's terms (`callback_confirm`) in a Gather of the confirm key."""
        words, lang = self.cfg.hold_words_for(language)
        gather = r.gather(input="dtmf", num_digits=1, timeout=8, action=action, method="POST")
        fmt = {"until": when(words, until), "number": spoken_number(number)}
        self._say(gather, words.callback_confirm, lang, key=self.cfg.callback.confirm_key, **fmt)

    def callback_refused(
        self,
        language: str | None,
        reason: str | None,
        option_id: str,
        segment: int,
        *,
        chose: bool = False,
    ) -> VoiceResponse:
        """No callback (why, said plainly): the caller keeps holding, their place kept."""
        part = CALLBACK_REFUSALS.get(reason or "", "callback_unavailable")
        r = VoiceResponse()
        self._hold_say(r, language, part)
        r.redirect(self._next_wait(option_id, language, segment, chose), method="POST")
        return r

    def callback_kept(
        self, language: str | None, option_id: str, segment: int, *, chose: bool = False
    ) -> VoiceResponse:
        """Not confirmed: the caller keeps their place on hold."""
        r = VoiceResponse()
        self._hold_say(r, language, "callback_kept")
        r.redirect(self._next_wait(option_id, language, segment, chose), method="POST")
        return r

    def callback_booked(self, language: str | None, until: dt.datetime) -> VoiceResponse:
        """Thanks, we call back before `until`; the call ends."""
        words, _ = self.cfg.hold_words_for(language)
        r = VoiceResponse()
        self._hold_say(r, language, "callback_booked", until=when(words, until))
        r.hangup()
        return r

    def lines_now(
        self, language: str | None, lines: Sequence[Referral], option_id: str, segment: int
    ) -> VoiceResponse:
        """The other lines open now (flow.closed's `lines`), then back to the hold, the
        choice kept as made."""
        words, lang = self.cfg.hold_words_for(language)
        r = VoiceResponse()
        if lines:
            self._say(r, words.lines_now, lang)
            for line in lines:
                name = line.names.get(language or "ja", line.name)
                self._say(r, words.line, lang, name=name, number=line.number)
        else:
            self._say(r, words.no_lines, lang)
        r.redirect(self._next_wait(option_id, language, segment, True), method="POST")
        return r

    def callback_greeting(self, language: str | None, accept_url: str) -> VoiceResponse:
        """The caller's leg, answered by a person (or Twilio could not tell): the neutral
        question, nothing else until their 1. No key: the leg ends without a word."""
        words, lang = self.cfg.hold_words_for(language)
        r = VoiceResponse()
        gather = r.gather(input="dtmf", num_digits=1, timeout=8, action=accept_url, method="POST")
        self._say(gather, words.callback_greeting, lang)
        r.hangup()
        return r

    def callback_whisper(
        self,
        option: str,
        language: str | None,
        waited: float,
        accept_url: str,
        repeat: bool = False,
    ) -> VoiceResponse:
        """The counsellor's leg of a callback, before the caller is dialled: press 1 to call
        them. No key: hang up (the caller is not dialled)."""
        prompt = self.cfg.messages.callback_whisper
        return self._whisper(prompt, option, language, waited, accept_url, repeat)

    def counsellor_calling(self) -> VoiceResponse:
        r = VoiceResponse()
        self._say(r, self.cfg.messages.callback_calling)
        return r

    def counsellor_no_answer(self) -> VoiceResponse:
        r = VoiceResponse()
        self._say(r, self.cfg.messages.callback_no_answer)
        r.hangup()
        return r

    def counsellor_gone(self) -> VoiceResponse:
        r = VoiceResponse()
        self._say(r, self.cfg.messages.callback_gone)
        r.hangup()
        return r

    def leave(self) -> VoiceResponse:
        r = VoiceResponse()
        r.leave()
        return r

    def closed(self, d: flow.Closed | None = None) -> VoiceResponse:
        """The closed message (or the full one, or why a caller is not taken:
        hotline.ivr.closed), then the end of the call, or with `menu_id` (other keys can
        answer now) the menu again."""
        d = d or flow.Closed()
        r = VoiceResponse()
        if closed.message(
            self.cfg, self._say, r, d
        ):  # other keys can answer: the menu again, at once
            return self.ask(flow.Ask(d.menu_id or "", attempt=1), r)
        r.hangup()
        return r

    def full_offer(
        self, d: flow.Closed, option_id: str, until: dt.datetime, number: str
    ) -> VoiceResponse:
        """Twilio's queue was full: the full message (`closed` with `d.full`), then the
        callback's terms and its confirm key; no key: on to the end (`queue-result`, step
        "full")."""
        r = VoiceResponse()
        closed.message(self.cfg, self._say, r, d)
        self._confirm(
            r, d.language, self.urls.hold_key(option_id, d.language, 1, "full"), until, number
        )
        r.redirect(self.urls.queue_result(option_id, d.language, step="full"), method="POST")
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
        """Apology, then the backup organisation's first line; needs no database."""
        r = VoiceResponse()
        self._say(r, self.cfg.messages.apology)
        return self.fallback_dial(0, r)

    def fallback_dial(self, index: int, r: VoiceResponse | None = None) -> VoiceResponse:
        """Ring the backup's line `index`, with the database-free whisper. One line at a
        time: rung together, the first voicemail to pick up would take the caller."""
        r = r or VoiceResponse()
        backup = self.cfg.org(self.cfg.backup_org)
        if index >= len(backup.lines):
            return self.after_fallback_dial(r)
        line = backup.lines[index]
        dial = self._dial_verb(self.urls.fallback("after-dial", index), backup)
        dial_target(dial, line.target, line, self.urls.fallback_whisper())
        r.append(dial)
        return r

    def after_fallback_dial(self, r: VoiceResponse | None = None) -> VoiceResponse:
        r = r or VoiceResponse()
        self._say(r, self.cfg.messages.closed)
        r.hangup()
        return r

    def fallback_whisper(self) -> VoiceResponse:
        """The counsellor's leg of a fallback dial: no call state, so no option or wait."""
        r = VoiceResponse()
        gather = r.gather(
            input="dtmf",
            num_digits=1,
            timeout=8,
            action=self.urls.fallback_whisper("accept"),
            method="POST",
        )
        self._say(gather, self.cfg.messages.fallback_whisper)
        r.hangup()  # no key (voicemail, missed): the caller is not bridged
        return r

    def dial(
        self, target: str, *, line_id: str, call_sid: str, language: str | None, timeout: int = 25
    ) -> VoiceResponse:
        """Ring one line. Nothing is said first: nobody has accepted yet, and a caller
        offered three lines in turn would hear a promise three times (the ringback is the
        only sound, continuing the hold)."""
        r = VoiceResponse()
        org, line = self.cfg.line(line_id) or (None, None)
        dial = self._dial_verb(self.urls.dial_result(line_id), org, timeout)
        dial_target(dial, target, line, self.urls.whisper(call_sid, line_id))
        r.append(dial)
        return r

    def _dial_verb(self, action: str | None, org: Organisation | None, timeout: int = 20) -> Dial:
        """A Dial that shows the hotline's number to the line, never the caller's."""
        kw = {"action": action, "method": "POST"} if action else {}
        caller_id = self.cfg.caller_id_for(org)
        return Dial(caller_id=caller_id, timeout=timeout, ring_tone=RING_TONE, **kw)

    def whisper(
        self,
        *,
        option: str,
        language: str | None,
        waited: float,
        accept_url: str,
        repeat: bool = False,
    ) -> VoiceResponse:
        """The counsellor's leg: who is calling, then press 1 to accept. No key: hang up.
        `repeat`: the caller is flagged as a repeat caller, said first as a neutral note."""
        prompt = self.cfg.messages.whisper
        return self._whisper(prompt, option, language, waited, accept_url, repeat)

    def _whisper(
        self,
        prompt: Sequence[Speech],
        option: str,
        language: str | None,
        waited: float,
        accept_url: str,
        repeat: bool = False,
    ) -> VoiceResponse:
        r = VoiceResponse()
        lang = self.cfg.languages.get(language) if language else None
        gather = r.gather(input="dtmf", num_digits=1, timeout=8, action=accept_url, method="POST")
        if repeat:
            self._say(gather, self.cfg.messages.whisper_repeat)
        self._say(
            gather,
            prompt,
            option=option,
            waited="1分未満" if waited < 60 else f"約{round(waited / 60)}分",
            language=f"{lang.name_ja}でのご相談です。" if lang else "",
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
        """Goodbye in the caller's language (hold_words.X.goodbye, else messages.goodbye)."""
        r = VoiceResponse()
        words, lang = self.cfg.hold_words_for(language)
        self._say(r, words.goodbye or self.cfg.messages.goodbye, lang if words.goodbye else None)
        r.hangup()
        return r

    def hang_up(self) -> VoiceResponse:
        r = VoiceResponse()
        r.hangup()
        return r

    def back_to_hold(
        self, option_id: str, language: str | None, segment: int, *, chose: bool = False
    ) -> VoiceResponse:
        """A key that asks nothing: on with the hold (the next segment)."""
        r = VoiceResponse()
        r.redirect(self._next_wait(option_id, language, segment, chose), method="POST")
        return r


# What a caller refused a callback hears, by the refusal's reason (flow.CallbackOffer).
CALLBACK_REFUSALS = {"withheld": "callback_withheld", "not_callable": "callback_not_callable"}
