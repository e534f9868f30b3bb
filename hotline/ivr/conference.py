"""`ConferenceControl` through the `twilio` client: the Conference and Participant resources
of Twilio's REST API (`client.conferences(sid).participants`), over the one REST adapter
(`TwilioRest`: its transport, region, edge, timeout).

What each request sets (checked against Twilio's documentation; docs/twilio.md):
- add a party: Participants create (From the hotline's or the organisation's number, To,
  Label, Muted, Coaching with CallSidToCoach, EarlyMedia so the counsellor hears it ring,
  StartConferenceOnEnter true, EndConferenceOnExit false: a third party leaving ends
  nothing, a final-status callback to `/voice/party-status`);
- hold and resume: Participant update Hold, with HoldUrl `/voice/on-hold` (POST) saying the
  calm on-hold words in the caller's language (a holdUrl may hold only Say, Play, Pause and
  Redirect);
- mute, coach, and whether the conference ends when a leg leaves: Participant update Muted,
  Coaching and CallSidToCoach, EndConferenceOnExit;
- drop a party: Participant delete (its leg hangs up);
- a cold transfer: the caller's call redirected to `/voice/requeue` of that option;
- end: Conference update Status=completed (every leg leaves).

Errors are `ControlFailed`: `unavailable` (network, 5xx, 429, timeout) or `rejected` (4xx,
with Twilio's code, never its message: it can quote a number). Nothing here logs a number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException

from hotline.conference.control import ControlFailed
from hotline.config import HotlineConfig
from hotline.ivr.rest import TwilioRejected, TwilioRest, TwilioUnavailable, _failed
from hotline.voice.params import printable
from hotline.voice.urls import Urls

log = logging.getLogger(__name__)
T = TypeVar("T")
PARTY_RING_SECONDS = 30  # a third party's phone rings this long before it counts as missed


@dataclass(frozen=True, slots=True)
class Participant:
    """One leg in a conference, as Twilio lists it."""

    call_sid: str
    label: str
    hold: bool
    muted: bool
    status: str


@dataclass(frozen=True, slots=True)
class Conference:
    sid: str
    friendly_name: str
    status: str  # init, in-progress, completed


class TwilioConference:
    """The conference room's commands (`hotline.conference.control.ConferenceControl`)."""

    def __init__(self, rest: TwilioRest, urls: Urls, cfg: HotlineConfig) -> None:
        self.rest, self.urls, self.cfg = rest, urls, cfg

    async def _run(self, action: str, sid: str, request: Callable[[], Awaitable[T]]) -> T:
        """One REST request, bounded in time; Twilio's refusal or silence as ControlFailed."""
        try:
            try:
                async with asyncio.timeout(self.rest.timeout):
                    return await request()
            except (TwilioException, aiohttp.ClientError, OSError) as e:
                _failed(action, printable(sid, 64), e)
        except TwilioRejected as e:
            raise ControlFailed("rejected", e.code) from None
        except TwilioUnavailable:
            raise ControlFailed("unavailable") from None

    def _participants(self, conference_sid: str) -> Any:
        return self.rest._ready().conferences(conference_sid).participants

    async def hold(
        self, conference_sid: str, leg_sid: str, *, on: bool, language: str | None
    ) -> None:
        options: dict[str, Any] = {"hold": on}
        if on:
            options |= {"hold_url": self.urls.on_hold(language), "hold_method": "POST"}
        leg = self._participants(conference_sid)(leg_sid)
        await self._run("hold", leg_sid, lambda: leg.update_async(**options))

    async def add_party(  # noqa: PLR0913 - Twilio's participant, each one argument
        self,
        conference_sid: str,
        *,
        call_id: int,
        party_id: int,
        label: str,
        to: str,
        org_id: str | None,
        muted: bool = False,
        coach_leg_sid: str | None = None,
    ) -> str:
        org = next((o for o in self.cfg.organisations if o.id == org_id), None)
        options: dict[str, Any] = {
            "from_": self.cfg.caller_id_for(org) or "",
            "to": to,
            "label": label,
            "muted": muted,
            "early_media": True,
            "start_conference_on_enter": True,
            "end_conference_on_exit": False,
            "beep": "false",
            "timeout": PARTY_RING_SECONDS,
            "status_callback": self.urls.party_status(call_id, label),
            "status_callback_method": "POST",
            "status_callback_event": ["completed"],
        }
        if coach_leg_sid:
            options |= {"coaching": True, "call_sid_to_coach": coach_leg_sid}
        legs = self._participants(conference_sid)
        made = await self._run("add party", conference_sid, lambda: legs.create_async(**options))
        log.info("conference %s: party %s dialled (%s)", conference_sid, party_id, made.call_sid)
        return str(made.call_sid)

    async def update_party(
        self,
        conference_sid: str,
        leg_sid: str,
        *,
        muted: bool | None = None,
        coach_leg_sid: str | None = None,
        coaching: bool | None = None,
        end_conference_on_exit: bool | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if muted is not None:
            options["muted"] = muted
        if coaching is not None:
            options["coaching"] = coaching
        if coach_leg_sid is not None:
            options["call_sid_to_coach"] = coach_leg_sid
        if end_conference_on_exit is not None:
            options["end_conference_on_exit"] = end_conference_on_exit
        if not options:
            return
        leg = self._participants(conference_sid)(leg_sid)
        await self._run("update party", leg_sid, lambda: leg.update_async(**options))

    async def remove_party(self, conference_sid: str, leg_sid: str) -> None:
        leg = self._participants(conference_sid)(leg_sid)
        await self._run("remove party", leg_sid, leg.delete_async)

    async def to_queue(self, call_sid: str, option_id: str, language: str | None) -> None:
        url = self.urls.requeue(option_id, language)
        try:
            await self.rest.update_call(call_sid, url=url)
        except TwilioRejected as e:
            raise ControlFailed("rejected", e.code) from None
        except TwilioUnavailable:
            raise ControlFailed("unavailable") from None

    async def end(self, conference_sid: str) -> None:
        conference = self.rest._ready().conferences(conference_sid)
        await self._run(
            "end conference", conference_sid, lambda: conference.update_async(status="completed")
        )

    # -- what the upkeep asks (not part of the room's protocol) -----------------------------

    async def find(self, name: str) -> list[Conference]:
        """The conferences of that name not completed (init or in progress)."""
        client = self.rest._ready()
        found: list[Conference] = []
        for status in ("init", "in-progress"):
            listed = await self._run("list conferences", name, _lister(client, name, status))
            found += [Conference(str(c.sid), str(c.friendly_name), str(c.status)) for c in listed]
        return found

    async def participants(self, conference_sid: str) -> list[Participant]:
        """Who is in the conference now (Twilio lists no one who left)."""
        legs = self._participants(conference_sid)
        listed = await self._run("list participants", conference_sid, legs.list_async)
        return [
            Participant(
                str(p.call_sid),
                str(p.label or ""),
                bool(p.hold),
                bool(p.muted),
                str(p.status or ""),
            )
            for p in listed
        ]


def _lister(client: Any, name: str, status: str) -> Callable[[], Awaitable[Any]]:
    return lambda: client.conferences.list_async(friendly_name=name, status=status)
