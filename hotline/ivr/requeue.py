"""The caller taken out of the call's conference back to the queue (the lifecycle's `Requeue`),
and the retries of a redirect Twilio did not take.

A caller sent back to the queue from the conference (the counsellor's leg failing before the
1, or dropping while the caller was held; a cold transfer) is `waiting` in our records at
once, but stays in the conference, hearing the ringback or the on-hold words, until Twilio
redirects their leg to `/voice/requeue`. Until Twilio takes that redirect the call keeps the
phase `requeue` (`lifecycle.REQUEUE`, in the database: a restart loses nothing), which the
silent sweep leaves alone (the caller cannot poll from the conference). It is cleared by
Twilio taking the redirect (`Requeued`, applied here), the caller's leg reaching
`/voice/requeue` or polling the hold, or the Dial's action (the conference ended around them).

The first try is the push after the commit. A try Twilio does not take (away, 5xx, timeout)
is tried again by the upkeep (`retry_due`), RETRY_FIRST later, doubling up to RETRY_CAP
between tries: at most one request per owed call per interval, BATCH calls per round. From
the ASK_AFTER-th failure on, and at once when Twilio refuses the redirect (4xx: the call is
not in progress), Twilio is first asked the caller's status: a call Twilio says has ended
ends here too (`ForceEnded("twilio")`: abandoned while waiting, or completed if it was
connected once), so that no line is offered to a caller who is gone. While Twilio answers
nothing at all the call stays owed (never swept as silent, never lost): the reconciliation
asks Twilio about it too, and the next try that succeeds brings the caller back.

The schedule of tries is this process's (`Requeues.owed`); the phase is the durable part: after
a restart, or on another instance, a call owed for longer than RETRY_FIRST is tried at once.
Nothing here logs a number: only the call's id and Twilio's error code.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from hotline.calls import lifecycle, service, store
from hotline.ivr.rest import TwilioFailure, TwilioRejected, TwilioRest
from hotline.services import Services

log = logging.getLogger(__name__)
RETRY_FIRST = dt.timedelta(seconds=5)  # after the first failed try; doubling
RETRY_CAP = dt.timedelta(minutes=2)  # the longest interval between two tries
ASK_AFTER = 3  # failed tries in a row, after which Twilio is asked whether the caller is there
BATCH = 100  # owed calls tried per round; the rest at the next


@dataclass(frozen=True, slots=True)
class Owed:
    """A redirect Twilio has not taken: how many tries failed in a row, when to try next."""

    failed: int
    next_at: dt.datetime


def backoff(failed: int) -> dt.timedelta:
    """The wait before the next try, after `failed` tries in a row."""
    return min(RETRY_FIRST * 2 ** max(failed - 1, 0), RETRY_CAP)


class Requeues:
    """The redirects owed out of the conferences, and this process's schedule of tries."""

    def __init__(self, services: Services, rest: TwilioRest) -> None:
        self.services, self.rest = services, rest
        self.owed: dict[str, Owed] = {}  # by the caller's CallSid

    async def redirect(self, call_id: int, call_sid: str) -> bool:
        """One try at taking the caller out of the conference to `/voice/requeue`. True when
        nothing is owed any more (Twilio took it, the call moved on, or it ended)."""
        url = await self._owed_url(call_sid)
        if url is None:
            self.owed.pop(call_sid, None)
            return True
        known = self.owed.get(call_sid)
        failed = known.failed if known is not None else 0
        if failed >= ASK_AFTER and await self._ended(call_id, call_sid):
            return True
        try:
            await self.rest.update_call(call_sid, url=url)
        except TwilioRejected as e:
            log.info("call %s: redirect to the queue refused (%s)", call_id, e.code)
            if await self._ended(call_id, call_sid):
                return True
            return self._failed(call_id, call_sid, failed)
        except TwilioFailure as e:
            log.warning("call %s: not redirected to the queue: %s", call_id, e)
            return self._failed(call_id, call_sid, failed)
        self.owed.pop(call_sid, None)
        await self._apply(call_sid, lifecycle.Requeued(), owed_only=True)
        log.info("call %s: out of its conference, back in the queue", call_id)
        return True

    async def retry_due(self) -> int:
        """The upkeep's round: every owed redirect whose time has come is tried again; the
        number of calls that owe none any more."""
        now = self.services.clock()
        async with self.services.unit() as uow:
            owed = await store.requeues_owed(uow.session, now - RETRY_FIRST, BATCH)
        if len(owed) < BATCH:  # forget what no call owes any more (ended meanwhile)
            still = {sid for _, sid in owed}
            self.owed = {sid: o for sid, o in self.owed.items() if sid in still}
        done = 0
        for call_id, sid in owed:
            known = self.owed.get(sid)
            if known is not None and now < known.next_at:
                continue
            if await self.redirect(call_id, sid):
                done += 1
        return done

    def _failed(self, call_id: int, call_sid: str, failed: int) -> bool:
        failed += 1
        wait = backoff(failed)
        self.owed[call_sid] = Owed(failed, self.services.clock() + wait)
        log.info(
            "call %s: redirect owed, try %d failed; next in %ds",
            call_id,
            failed,
            wait.total_seconds(),
        )
        return False

    async def _owed_url(self, call_sid: str) -> str | None:
        """The redirect's URL while the call owes one (holding, phase `requeue`), else None."""
        async with self.services.unit() as uow:
            call = await store.get_call(uow.session, call_sid)
        if call is None or call.state not in lifecycle.HOLDING or not call.option_id:
            return None
        if call.phase != lifecycle.REQUEUE:
            return None
        return self.services.renderer.urls.requeue(call.option_id, call.language)

    async def _ended(self, call_id: int, call_sid: str) -> bool:
        """Has the caller's call ended, as Twilio says? Then it ends here too."""
        try:
            answer = await self.rest.call_status(call_sid)
        except TwilioFailure:
            return False  # Twilio away: still owed, tried again later
        if not answer.final:
            return False
        log.warning("call %s: the caller owed a redirect has hung up (Twilio)", call_id)
        self.owed.pop(call_sid, None)
        await self._apply(call_sid, lifecycle.ForceEnded("twilio"))
        return True

    async def _apply(
        self, call_sid: str, event: lifecycle.Event, *, owed_only: bool = False
    ) -> None:
        services = self.services
        async with services.unit() as uow:
            call = await store.get_call(uow.session, call_sid, lock=True)
            if call is None or (owed_only and call.phase != lifecycle.REQUEUE):
                return
            now = services.clock()
            await service.apply(
                uow.session, services.router, call, event, now, limits=services.limits
            )
