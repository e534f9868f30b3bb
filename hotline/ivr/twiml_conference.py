"""The call's conference as TwiML (twilio's VoiceResponse): the caller waiting in it for the
counsellor's leg, the counsellor joining it after their 1, what a held caller hears, and the
ringback the caller hears until a counsellor accepts.

The conference is the call's own, named `hotline-call-<calls.id>`: never a number. Its
status callbacks (`/voice/conference`, the caller's CallSid in our URL) report the start and
end, joins, leaves and holds. The caller does not start it (`startConferenceOnEnter=false`:
they hear the waitUrl, Japan's ringback, until the counsellor joins, so nothing is promised
before acceptance) and ends it on leaving (`endConferenceOnExit=true`: a caller who hangs up
takes the counsellor's leg with them); the counsellor starts it and, until the caller is
held, ends it too. Twilio allows only Say, Play, Pause and Redirect in a waitUrl's or
holdUrl's TwiML (error 13238): the ringback plays a tone, the on-hold words say, pause and
come back.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import Dial, VoiceResponse

from hotline.config import Speech
from hotline.ivr.twiml import Renderer

CALLER, COUNSELLOR = "caller", "counsellor"
# Twilio's <Conference statusCallbackEvent> values, space-separated.
EVENTS = "start end join leave hold"
ON_HOLD_PAUSE = 20  # seconds between the on-hold words
WAIT_PAUSE = 3  # a callback's counsellor's wait: short, to hear the outcome soon


def conference_name(call_id: int) -> str:
    """The call's own conference (Twilio's FriendlyName; at most 128 characters)."""
    return f"hotline-call-{call_id}"


def _conference(  # noqa: PLR0913 - the noun's settings, each one argument
    r: Renderer,
    dial: Dial,
    call_id: int,
    call_sid: str,
    *,
    label: str,
    starts: bool,
    wait_url: str | None = None,
) -> None:
    wait = wait_url or r.urls.ringback()
    extra = {"wait_url": wait, "wait_method": "POST"} if not starts else {}
    dial.conference(
        conference_name(call_id),
        start_conference_on_enter=starts,
        end_conference_on_exit=True,
        beep=False,
        participant_label=label,
        status_callback=r.urls.conference(call_sid),
        status_callback_method="POST",
        status_callback_event=EVENTS,
        **extra,
    )


def caller_conference(r: Renderer, call_id: int, call_sid: str, line_id: str) -> VoiceResponse:
    """The caller into the call's conference, hearing the ringback until a counsellor
    accepts; the Dial's action (`dial-result`) hears how it ended. No word is said first:
    nobody has accepted yet."""
    resp = VoiceResponse()
    dial = Dial(action=r.urls.dial_result(line_id), method="POST")
    _conference(r, dial, call_id, call_sid, label=CALLER, starts=False)
    resp.append(dial)
    return resp


def counsellor_conference(r: Renderer, call_id: int, call_sid: str) -> VoiceResponse:
    """The counsellor pressed 1: their leg joins the call's conference and starts it (the
    caller hears them at once). The caller's number appears nowhere: the leg was placed by
    our REST request, from the hotline's number."""
    resp = VoiceResponse()
    dial = Dial()
    _conference(r, dial, call_id, call_sid, label=COUNSELLOR, starts=True)
    resp.append(dial)
    return resp


def on_hold_words(r: Renderer, language: str | None) -> tuple[Sequence[Speech], str | None]:
    """The calm on-hold words in the caller's language: theirs, else the Japanese ones,
    else their first hold message (never silence)."""
    words, lang = r.cfg.hold_words_for(language)
    if words.on_hold:
        return words.on_hold, lang
    ja, _ = r.cfg.hold_words_for(None)
    if ja.on_hold:
        return ja.on_hold, None
    return words.messages[0], lang


def on_hold(r: Renderer, language: str | None) -> VoiceResponse:
    """A held caller's holdUrl: the on-hold words, a pause, and again (Say, Pause and
    Redirect only, as Twilio allows in a holdUrl)."""
    resp = VoiceResponse()
    prompt, lang = on_hold_words(r, language)
    r._say(resp, prompt, lang)
    resp.pause(length=ON_HOLD_PAUSE)
    resp.redirect(r.urls.on_hold(language), method="POST")
    return resp


def ringback(r: Renderer) -> VoiceResponse:
    """The conference's waitUrl: Japan's ringback tone, looped until the counsellor joins
    (`loop=0`: for as long as the caller waits)."""
    resp = VoiceResponse()
    resp.play(r.urls.ringback_audio(), loop=0)
    return resp


# -- a callback's two legs meet in the call's conference too ------------------------------


def callback_counsellor(r: Renderer, call_id: int, call_sid: str, line_id: str) -> VoiceResponse:
    """The counsellor accepted a callback: told the caller is being called, they wait in the
    call's conference (not starting it) while we call; its waitUrl pauses and asks again,
    and says so when the try ends without the caller. The Dial's action ends their leg (or
    tells them why, when the service takes them out of the conference). The caller's number
    appears in no TwiML: Twilio dials it on our REST request."""
    resp = r.counsellor_calling()
    dial = Dial(action=r.urls.callback_held(call_sid, line_id), method="POST")
    wait = r.urls.callback_hold(call_sid, line_id)
    _conference(r, dial, call_id, call_sid, label=COUNSELLOR, starts=False, wait_url=wait)
    resp.append(dial)
    return resp


def callback_caller(
    r: Renderer, call_id: int, call_sid: str, attempt: int, language: str | None
) -> VoiceResponse:
    """The caller we called back pressed 1: told who calls (only now), they join the
    counsellor waiting in the call's conference, and start it."""
    resp = VoiceResponse()
    words, lang = r.cfg.hold_words_for(language)
    r._say(resp, words.callback_joining, lang)
    dial = Dial(action=r.urls.callback_joined(call_sid, attempt), method="POST")
    _conference(r, dial, call_id, call_sid, label=CALLER, starts=True)
    resp.append(dial)
    return resp


def counsellor_waits(r: Renderer, call_sid: str, line_id: str, *, over: bool) -> VoiceResponse:
    """The waitUrl of a callback's counsellor (Say, Pause and Redirect only, as Twilio allows):
    a short pause and again, to hear the outcome soon; `over`, the try ended without the
    caller: the words that say so (the service takes the leg out of the conference)."""
    resp = VoiceResponse()
    if over:
        r._say(resp, r.cfg.messages.callback_no_answer)
    resp.pause(length=ON_HOLD_PAUSE if over else WAIT_PAUSE)
    resp.redirect(r.urls.callback_hold(call_sid, line_id), method="POST")
    return resp
