"""The routing pass's sweeps: what changes with time rather than with an event. Reservations
that expired, calls whose caller is gone though Twilio's callbacks never said so, callback
requests past their time, wrap-ups that are over and breaks that are over. `Router.assign`
runs them at most once per UPKEEP_EVERY of the pass's clock; each locks what it changes with
SKIP LOCKED.

A sweep reads its calls as every step does, into `StoredCall`s with one statement (calls.store),
and moves each through the lifecycle. The call a step holds (`held`, locked by that step and
so never skipped) is changed as that very object, so the step goes on with the call as it now
is.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import lifecycle
from hotline.calls import store as calls_store
from hotline.calls.models import CallState
from hotline.calls.store import StoredCall
from hotline.lines import presence
from hotline.lines.models import CARE_BREAKS, Line, Presence

if TYPE_CHECKING:
    from hotline.routing.store import Router

# The pass's logger, as when the sweeps were Router's methods: operators' log filters keep
# matching.
log = logging.getLogger("hotline.routing.store")


async def carry_out(
    session: AsyncSession,
    router: Router,
    call: StoredCall,
    event: lifecycle.Event,
    now: dt.datetime,
) -> None:
    """A pass's own transition of a call: expiries and sweeps (no pass inside a pass)."""
    await calls_store.carry_out(
        session, router, call, lifecycle.transition(call, event, now, router.limits), now
    )


def _as_held(calls: list[StoredCall], held: StoredCall | None) -> list[StoredCall]:
    """The calls read, the one a step holds as its own object."""
    if held is None:
        return calls
    return [held if call.id == held.id else call for call in calls]


async def expire(
    session: AsyncSession, router: Router, now: dt.datetime, held: StoredCall | None = None
) -> None:
    """Expired reservations, then the sweeps and the wrap-ups that are over."""
    before = now - router.reservation_timeout
    for call in _as_held(await calls_store.expired_reservations(session, before), held):
        log.info("reservation of call %s on line %s expired", call.call_sid, call.line_id)
        await carry_out(session, router, call, lifecycle.ReservationExpired(), now)
    await sweep(session, router, now, held)
    await wrap_ups_over(session, now)
    await breaks_over(session, now)


async def wrap_ups_over(session: AsyncSession, now: dt.datetime) -> None:
    """Lines whose wrap-up time is up are ready again (or go where the counsellor asked)."""
    stmt = (
        select(Line)
        .where(Line.status == Presence.WRAP_UP, Line.wrap_up_until <= now)
        .with_for_update(skip_locked=True)
    )
    for line in (await session.execute(stmt)).scalars():
        presence.end_wrap_up(session, line, now)
    await session.flush()


async def breaks_over(session: AsyncSession, now: dt.datetime) -> None:
    """Lines whose break after a hard call, or after the talk limit, is over are ready again."""
    stmt = (
        select(Line)
        .where(
            Line.status == Presence.AWAY,
            Line.away_reason.in_(list(CARE_BREAKS)),
            Line.break_until <= now,
        )
        .with_for_update(skip_locked=True)
    )
    for line in (await session.execute(stmt)).scalars():
        presence.break_over(session, line, now)
    await session.flush()


async def sweep(
    session: AsyncSession, router: Router, now: dt.datetime, held: StoredCall | None = None
) -> None:
    """End calls whose caller is gone though Twilio's callbacks never said so."""
    silent = await calls_store.gone_silent(
        session,
        menu_before=now - router.menu_timeout,
        seen_before=now - router.stale_after,
        rung_before=now - router.ringing_timeout,
        now=now,
    )
    for call in _as_held(silent, held):
        if call.state == CallState.CALLBACK:
            log.info("callback request of call %s expired", call.call_sid)
            await carry_out(session, router, call, lifecycle.CallbackExpired(), now)
            continue
        log.warning("call %s silent in state %s", call.call_sid, call.state)
        await carry_out(session, router, call, lifecycle.WentSilent(), now)
