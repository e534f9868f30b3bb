"""Our own webhook URLs: built for TwiML and read back from Twilio's request, in one place.

The query parameters are short (Twilio signs the whole URL, and they show in its logs): `m`
menu, `t` try, `o` option, `l` language, `n` hold segment, `x` (1: the caller was offered
the choice of the option's maximum wait), `line`, `call` (the caller's CallSid, on the
counsellor's leg), `step` (the fallback's, or a hold key's: "", "choice", "confirm"), `i`
(the fallback's place in its chain) and `f` (on a hold segment answered without the database:
how many hold polls or keys in a row have failed, `hotline.ivr.guard.failure_answer`).
Reading never fails: a missing or malformed value (one with a NUL too) reads as its default,
and the handlers fall back to the call's stored state (the voice steps, `hotline.voice.steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from hotline.common.text import storable


@dataclass(frozen=True, slots=True)
class Urls:
    """Absolute URLs of our webhooks, as Twilio will request (and sign) them."""

    base: str

    def _u(self, path: str, **query: object) -> str:
        q = {k: v for k, v in query.items() if v is not None}
        return f"{self.base}/voice/{path}" + (f"?{urlencode(q)}" if q else "")

    def menu(self, menu_id: str, attempt: int) -> str:
        return self._u("menu", m=menu_id, t=attempt)

    def wait(
        self,
        option_id: str,
        language: str | None,
        segment: int,
        chose: bool = False,
        *,
        failures: int = 0,
        announced: int | None = None,
        said: int | None = None,
        keyed: bool = False,
    ) -> str:
        """A hold poll. `announced`: the caller's time in the queue (s) at the last
        announcement (place in line, offer, staffing check); `said`: the place in line said
        then. Both only carried on, so that the next poll knows what is due. `keyed`: back
        to the hold after a key was answered (the next announcement a full interval on)."""
        x, f, k = 1 if chose else None, failures or None, 1 if keyed else None
        a = announced if announced is not None and announced >= 0 else None
        w = said if said is not None and said >= 0 else None
        return self._u("wait", o=option_id, l=language, n=segment, x=x, f=f, a=a, w=w, k=k)

    def hold_key(
        self,
        option_id: str,
        language: str | None,
        segment: int,
        step: str = "",
        *,
        chose: bool = False,
        failures: int = 0,
    ) -> str:
        """A key pressed on hold: `step` "" (during the hold), "choice" (answering the
        maximum wait's choice) or "confirm" (confirming a callback); `chose`: the choice was
        offered already (carried on, so that it is not offered again); `failures`: as `wait`'s."""
        x, f = 1 if chose else None, failures or None
        return self._u("hold-key", o=option_id, l=language, n=segment, step=step or None, x=x, f=f)

    def queue_result(
        self, option_id: str, language: str | None, *, push: bool = False, step: str = ""
    ) -> str:
        """The Enqueue action; with `push`, where we send a caller we took out of the queue
        through the REST API (a pushed reservation), which Twilio requests without a result;
        with `step` "full", where a caller the full queue refused goes after declining the
        callback offered (no key)."""
        push_ = 1 if push else None
        return self._u("queue-result", o=option_id, l=language, push=push_, step=step or None)

    def dial_result(self, line_id: str) -> str:
        return self._u("dial-result", line=line_id)

    def whisper(self, call_sid: str, line_id: str) -> str:
        return self._u("whisper", call=call_sid, line=line_id)

    def whisper_accept(self, call_sid: str, line_id: str) -> str:
        return self._u("whisper-accept", call=call_sid, line=line_id)

    def fallback(self, step: str, line: int | None = None) -> str:
        return self._u("fallback", step=step, i=line)

    def fallback_whisper(self, step: str | None = None) -> str:
        return self._u("fallback-whisper", step=step)

    # A callback's legs, which we create through Twilio's REST API: `call` names the caller's
    # first call (the request), `t` the try, `line` the counsellor's line.
    def callback_caller(self, call_sid: str, attempt: int, step: str | None = None) -> str:
        """The caller's leg, when they answer (then `step=key`, their key)."""
        return self._u("callback/caller", call=call_sid, t=attempt, step=step)

    def callback_status(self, call_sid: str, leg: str, *, line: str = "", attempt: int = 1) -> str:
        """The final status of a leg we created: `leg` is "counsellor" or "caller"."""
        if leg == "counsellor":
            return self._u("callback/status", call=call_sid, leg=leg, line=line)
        return self._u("callback/status", call=call_sid, leg=leg, t=attempt)

    def callback_hold(self, call_sid: str, line_id: str) -> str:
        """The counsellor's hold while the caller is being called (waitUrl)."""
        return self._u("callback/hold", call=call_sid, line=line_id)

    def callback_held(self, call_sid: str, line_id: str) -> str:
        """The counsellor's leg left that hold (Enqueue action): joined, or over."""
        return self._u("callback/held", call=call_sid, line=line_id)

    def callback_joined(self, call_sid: str, attempt: int) -> str:
        """The caller's leg after the conversation (Dial action)."""
        return self._u("callback/joined", call=call_sid, t=attempt)

    # The call's conference (hotline/ivr/twiml_conference.py): `call` names the caller's call.
    def ringback(self) -> str:
        """The caller's wait in the conference until a counsellor accepts (its waitUrl)."""
        return self._u("ringback")

    def ringback_audio(self) -> str:
        """Japan's ringback tone, a WAV file (fetched with GET, cacheable)."""
        return f"{self.base}/voice/ringback.wav"

    def leg_status(self, call_sid: str, line_id: str) -> str:
        """The final status of the counsellor's leg of a conference call, placed by REST."""
        return self._u("leg-status", call=call_sid, line=line_id)

    def conference(self, call_sid: str) -> str:
        """The call's conference's status callbacks (join, leave, hold, start, end)."""
        return self._u("conference", call=call_sid)

    def requeue(self, option_id: str | None, language: str | None) -> str:
        """Where the caller taken out of the conference goes: back in the queue (the option
        and language carried, so that it answers without the database too)."""
        return self._u("requeue", o=option_id, l=language)

    def party_status(self, call_id: int, label: str) -> str:
        """The final status of a third party's (or a supervisor's) leg: `cid` the call's id,
        `label` the party's participant label."""
        return self._u("party-status", cid=call_id, label=label)

    def on_hold(self, language: str | None) -> str:
        """What a caller on hold in the conference hears (its holdUrl), in their language."""
        return self._u("on-hold", l=language)

    def audio(self, play: str) -> str:
        """A recording: an https URL as given, or a file of config/audio/ that we serve."""
        if play.startswith("https://"):
            return play
        return f"{self.base}/audio/{quote(play)}"


def _number(value: str | None, default: int = 1, digits: int = 5) -> int:
    """ASCII digits only: "²" is a digit to `str.isdigit`, not to `int`."""
    ok = value and value.isascii() and value.isdigit() and len(value) <= digits
    return int(value) if ok and value else default


def _word(value: str | None, limit: int = 64) -> str:
    """At most `limit` characters; the default ("") when a database could not store it."""
    text = (value or "")[:limit]
    return text if storable(text) else ""


@dataclass(frozen=True, slots=True)
class Query:
    """The query parameters of one of our URLs, read back."""

    menu_id: str = ""
    attempt: int = 1
    option_id: str = ""
    language: str = ""
    segment: int = 1
    line_id: str = ""
    call_sid: str = ""
    step: str = ""
    index: int = 0
    leg: str = ""
    push: bool = False
    chose: bool = False
    failures: int = 0
    announced: int = -1  # a: the queue time of the hold's last announcement; -1 none yet
    said: int = -1  # w: the place in line said then; -1 none
    keyed: bool = False  # k: back to the hold after a key was answered
    call_id: int = 0  # cid: a call's id (a conference party's status)
    label: str = ""  # a conference participant's label

    @classmethod
    def parse(cls, q: Mapping[str, str]) -> Query:
        return cls(
            menu_id=_word(q.get("m")),
            attempt=_number(q.get("t")),
            option_id=_word(q.get("o")),
            language=_word(q.get("l"), 16),
            segment=_number(q.get("n")),
            line_id=_word(q.get("line")),
            call_sid=_word(q.get("call")),
            step=_word(q.get("step"), 32),
            index=_number(q.get("i"), 0),
            leg=_word(q.get("leg"), 16),
            push=q.get("push") == "1",
            chose=q.get("x") == "1",
            failures=_number(q.get("f"), 0),
            announced=_number(q.get("a"), -1),
            said=_number(q.get("w"), -1),
            keyed=q.get("k") == "1",
            call_id=_number(q.get("cid"), 0, digits=12),
            label=_word(q.get("label"), 32),
        )
