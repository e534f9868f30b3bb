"""The closed message as TwiML, with the two that end the same way: the full-queue message
(Twilio's queue-full) and the words of a caller not taken (hotline/flags, the options'
withheld policy); each then says the keys and other lines open now, and 119/110."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twilio.twiml.voice_response import VoiceResponse

from hotline.config import ClosedWords, HotlineConfig, Speech
from hotline.ivr.spoken import when
from hotline.voice import flow

Say = Callable[..., None]  # Renderer._say(parent, prompt, lang_id=None, **fmt)


def message(cfg: HotlineConfig, say: Say, r: VoiceResponse, d: flow.Closed) -> bool:
    """The closed message in the caller's language (`closed.<language>`), saying only what is
    true now: why (an operator's pause, outside the hours, a full queue), when the option
    opens, the keys and other lines open now. A language without its own words hears its
    `languages.X.closed`, then Japanese. A caller not taken (`d.turned`) hears why instead.
    True when the menu is to follow (`d.menu_id`: other keys can answer now): then the
    emergency numbers and nothing else is said."""
    words, lang_id = cfg.closed.get(d.language or "ja"), d.language
    if words is None:
        lang = cfg.languages.get(d.language) if d.language else None
        if lang is not None and lang.closed:
            say(r, lang.closed, d.language)
        words, lang_id = cfg.closed.get("ja"), None
    if words is None:  # a file without a `closed` section: the fixed message
        say(r, getattr(cfg.messages, d.turned) if d.turned else cfg.messages.closed)
        return False
    if d.turned is not None:
        say(r, *turned(cfg, d.turned, words, lang_id))
    else:
        # A full queue: the lines are very busy (a language without those words says its
        # `closed`: this line cannot take the call now, which is as true).
        why = {"paused": words.paused, "hours": words.after_hours}.get(d.why)
        say(r, words.full if d.full and words.full else why or words.closed, lang_id)
    if d.opens_at is not None and words.opens:
        say(r, words.opens, lang_id, when=when(words, d.opens_at))
    again = d.turned is None and d.menu_id is not None and d.menu_id in cfg.menus
    others = words.others if again else words.others_redial
    if d.open_keys and others:
        items = [words.key_item.format(key=k, name=name) for k, name in d.open_keys]
        say(r, others, lang_id, options=words.separator.join(items))
    if again:  # the emergency numbers, then the menu: the caller chooses another key
        say(r, words.emergency, lang_id)
        return True
    if d.lines and words.line:
        say(r, words.lines, lang_id)
        for line in d.lines:
            name = line.names.get(lang_id or "ja", line.name)
            say(r, words.line, lang_id, name=name, number=line.number)
    say(r, words.emergency, lang_id)
    return False


def turned(
    cfg: HotlineConfig, part: str, words: ClosedWords, lang_id: str | None
) -> tuple[Sequence[Speech], str | None]:
    """Why a caller is not taken, in their language's words, else Japanese's, else the
    `messages` default (Japanese)."""
    own: list[Speech] = getattr(words, part)
    if own:
        return own, lang_id
    ja = cfg.closed.get("ja")
    if ja is not None and getattr(ja, part):
        return getattr(ja, part), None
    return getattr(cfg.messages, part), None
