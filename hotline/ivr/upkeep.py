"""Upkeep that needs Twilio: reconciliation of calls whose end we never heard (and of
conferences nobody is in any more), the retries of a caller's redirect out of a conference
back to the queue that Twilio did not take (`hotline.ivr.requeue`), and the replay
of the spool of webhook facts kept while the database was away. With them, once a minute,
the purge of expired caller flags (hotline/flags).

Reconciliation: a line must never be held by a call that has ended. Calls still open after
`reconcile_after_seconds` are asked about with Twilio's REST API (`TwilioRest`); a final status
ends them (`ForceEnded("twilio")`). Without an answer from Twilio (no credentials, an outage),
a conversation longer than `max_talk_seconds` is ended (`ForceEnded("max-talk")`), its line
freed, and the fact counted and logged for the operators. Other open states are already ended
by the routing sweeps when their callbacks stop. Each call is changed in its own short
transaction, never while a REST request is in flight. Safe with several instances: the call is
locked and the lifecycle ends a call once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import suppress
from typing import Any

from hotline.calls import lifecycle, service, store
from hotline.calls.states import CALLER_HELD
from hotline.conference import store as parties
from hotline.conference.control import ControlFailed
from hotline.flags import store as flags
from hotline.ivr import dev_account, queues
from hotline.ivr.conference import TwilioConference
from hotline.ivr.rest import TwilioRest, TwilioUnavailable
from hotline.ivr.twiml_conference import conference_name
from hotline.services import Services
from hotline.voice.params import dial_outcome, printable

log = logging.getLogger(__name__)
BATCH = 200  # calls looked at per round; the rest wait for the next round
PURGE_EVERY = 60.0  # seconds between purges of expired caller flags
REQUEUE_EVERY = 5.0  # seconds between looks at the redirects owed out of a conference


def rest_client(settings: Any) -> TwilioRest | None:
    """The REST adapter, when the account is known (production, or a stand-in); in development
    without one, the service's own stand-in, in this process (`dev_account`)."""
    if not settings.twilio_account_sid:
        return None
    if settings.dev_stand_in:
        return dev_account.rest(settings)
    return TwilioRest(
        settings.twilio_account_sid,
        settings.auth_token,
        base_url=settings.twilio_api_base,
        region=settings.twilio_region,
        edge=settings.twilio_edge,
        api_key=settings.twilio_api_key,
        api_secret=settings.twilio_api_secret,
    )


async def reconcile_once(services: Services) -> int:
    """One round; the number of calls it ended."""
    now, settings = services.clock(), services.settings
    async with services.unit() as uow:
        before = now - dt.timedelta(seconds=settings.reconcile_after_seconds)
        candidates = await store.open_before(uow.session, before, BATCH)
    max_talk = dt.timedelta(seconds=settings.max_talk_seconds)
    ended = 0
    for sid, call_state, connected_at, callback in candidates:
        # A callback's own CallSid ended when it was booked: Twilio cannot tell us about the
        # request (its legs report themselves), only the maximum length bounds its talk.
        rest = None if callback else services.rest
        if rest is not None and not rest.pushes:
            rest = None  # the development stand-in knows only the calls it placed
        reason = await _verdict(rest, sid, call_state, connected_at, now, max_talk)
        if reason is not None and await _end(services, sid, reason, now):
            ended += 1
    return ended


async def _verdict(
    rest: TwilioRest | None,
    sid: str,
    call_state: str,
    connected_at: dt.datetime | None,
    now: dt.datetime,
    max_talk: dt.timedelta,
) -> str | None:
    """Why the call should be ended now, or None to leave it."""
    if rest is not None:
        try:
            answer = await rest.call_status(sid)
        except TwilioUnavailable:
            answer = None
        if answer is not None:
            return "twilio" if answer.final else None  # Twilio knows: it is still going
    talking = call_state == lifecycle.CallState.CONNECTED and connected_at is not None
    if talking and connected_at is not None and now - connected_at > max_talk:
        return "max-talk"
    return None


async def _end(services: Services, sid: str, reason: str, now: dt.datetime) -> bool:
    async with services.unit() as uow:
        call = await store.get_call(uow.session, sid, lock=True)
        if call is None or call.state in lifecycle.TERMINAL:
            return False
        log.warning(
            "reconciliation: call %s (%s) ended, reason %s", printable(sid), call.state, reason
        )
        ended = lifecycle.ForceEnded(reason)
        await service.apply(uow.session, services.router, call, ended, now)
        if call.leg_sid or call.conference_sid:  # nobody is left in its conference
            await parties.all_left(uow.session, call.id, now)
        return True


async def reconcile_conferences(services: Services) -> int:
    """A conference nobody (but supervisors) is in ends, and its call with it: its line is
    freed (`ConferenceEnded`). Asked of Twilio for the calls in a conference since before
    `reconcile_after_seconds`; the number of calls it ended."""
    control = services.conference
    # Not the development stand-in: the terminal phone plays its conferences, it holds none.
    if not isinstance(control, TwilioConference) or not control.rest.pushes:
        return 0
    now, settings = services.clock(), services.settings
    async with services.unit() as uow:
        before = now - dt.timedelta(seconds=settings.reconcile_after_seconds)
        calls = await store.in_conferences(uow.session, before, BATCH)
    ended = 0
    for call_id, sid, conference_sid in calls:
        try:
            empty = await _empty(control, conference_name(call_id), conference_sid)
        except ControlFailed:
            continue  # Twilio away: the next round asks again
        if empty is None:  # someone is in it: a caller held alone, though?
            await _held_alone(services, sid, now)
            continue
        if empty:  # ended at Twilio, or nobody in it: end it, and the call
            with suppress(ControlFailed):
                await control.end(empty)
        if await _end_conference(services, sid, empty, now):
            ended += 1
    return ended


async def _empty(control: TwilioConference, name: str, known: str | None) -> str | None:
    """The conference's SID if nobody but supervisors is in it (or it is over: "" when its
    SID is unknown); None while someone is."""
    live = await control.find(name)
    if not live:
        return known or ""
    for conference in live:
        legs = await control.participants(conference.sid)
        if any(not p.label.startswith("s") or not p.label[1:].isdigit() for p in legs):
            return None
    return live[0].sid


async def _held_alone(services: Services, sid: str, now: dt.datetime) -> None:
    """A caller held (on hold, or while the counsellor consults a party) whose counsellor's
    leg Twilio says has ended, its callbacks lost (the service was down): held, the
    counsellor's exit ended nothing, and the caller would stay alone on hold. The leg's end
    (`LegEnded`) takes them back to the head of the queue (its `Requeue`), as its callback
    would have."""
    rest = services.rest
    async with services.unit() as uow:
        call = await store.get_call(uow.session, sid)
    if rest is None or call is None or call.phase not in CALLER_HELD or not call.leg_sid:
        return
    try:
        answer = await rest.call_status(call.leg_sid)
    except TwilioUnavailable:
        return  # the next round asks again
    if not answer.final:
        return
    async with services.unit() as uow:
        call = await store.get_call(uow.session, sid, lock=True)
        if call is None or call.phase not in CALLER_HELD or not call.leg_sid or not call.line_id:
            return
        log.warning("reconciliation: call %s: held, its counsellor's leg ended", printable(sid))
        leg, outcome = call.leg_sid, dial_outcome(answer.status, call.leg_sid)
        ended = lifecycle.LegEnded(call.line_id, outcome, leg)
        await service.apply(uow.session, services.router, call, ended, now)
        await parties.left(uow.session, call.id, parties.COUNSELLOR, leg, now, outcome)


async def _end_conference(
    services: Services, sid: str, conference_sid: str, now: dt.datetime
) -> bool:
    async with services.unit() as uow:
        call = await store.get_call(uow.session, sid, lock=True)
        if call is None or call.state in lifecycle.TERMINAL:
            return False
        log.warning("reconciliation: call %s: its conference is empty or over", printable(sid))
        ended = lifecycle.ConferenceEnded(conference_sid)
        out = await service.apply(uow.session, services.router, call, ended, now)
        return out.call.state in lifecycle.TERMINAL


async def retry_requeues(services: Services) -> int:
    """The redirects out of a conference that Twilio did not take, tried again when due
    (`hotline.ivr.requeue`); the number of calls that owe none any more."""
    if services.pushes is None:
        return 0
    return await services.pushes.requeues.retry_due()


async def replay_spool(services: Services) -> int:
    """Apply what the spool kept while the database was away (nothing if it is empty)."""
    from hotline.ivr import webhooks  # the handlers the facts go through

    async def apply(entry: dict[str, Any]) -> None:
        await webhooks.replay(services, entry)

    done: int = await services.spool.replay(apply)
    return done


async def purge_flags(services: Services) -> int:
    """Delete the caller flags past their expiry (they stopped acting when they expired)."""
    async with services.unit() as uow:
        purged = await flags.purge(uow.session, services.clock())
    if purged:
        log.info("caller flags: %d expired flag(s) purged", purged)
    return purged


async def _loop(services: Services, every: float, reconcile_every: float) -> None:
    loop = asyncio.get_running_loop()
    last = purged = requeued = loop.time()
    # Twilio's queues (set-up if still not done, the callback queues' sweep) run beside the
    # rounds: a slow Twilio never holds up the spool's replay. One at a time.
    queue_work: asyncio.Task[None] | None = None
    try:
        while True:
            await asyncio.sleep(every)  # the service's own period, not a test's wait
            try:
                await replay_spool(services)
                if loop.time() - requeued >= REQUEUE_EVERY:
                    requeued = loop.time()
                    await retry_requeues(services)
                if loop.time() - purged >= PURGE_EVERY:
                    purged = loop.time()
                    await purge_flags(services)
                if reconcile_every > 0 and loop.time() - last >= reconcile_every:
                    last = loop.time()
                    await reconcile_once(services)
                    await reconcile_conferences(services)
                    if queue_work is None or queue_work.done():
                        queue_work = asyncio.create_task(queues.upkeep(services))
            except Exception:  # a failed round must not stop the next one
                log.exception("upkeep round failed")
    finally:
        if queue_work is not None:
            queue_work.cancel()


def start_upkeep(
    services: Services, every: float, reconcile_every: float
) -> asyncio.Task[None] | None:
    if every <= 0:
        return None
    return asyncio.create_task(_loop(services, every, reconcile_every))
