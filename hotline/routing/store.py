"""Queue and line state in the database, and the transaction around the routing engine.

Every pass locks the rows it may change with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL),
so that several instances never give one line to two callers nor one caller two lines: what
one instance has locked, the others skip and leave for the next pass. SQLite has one writer
at a time (BEGIN IMMEDIATE, see hotline.db), which gives the same guarantee.

`Router` is the pass and what it writes; beside it, its statements (queries.py), its sweeps
(sweeps.py) and who may serve what now (serving.py, `ServingCache`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, insert, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calls import lifecycle
from hotline.calls import store as calls_store
from hotline.calls.models import Call, CallState
from hotline.config import Care, HotlineConfig, Organisation, Staffing
from hotline.config import Line as LineConfig
from hotline.lines import presence
from hotline.lines.models import Line, LinePresenceLog, Presence
from hotline.lines.queries import line_params, signed_in_among
from hotline.routing import engine, sweeps
from hotline.routing.queries import (
    FREE,
    free_among,
    pairs,
    queue_heads,
    staffed_and_ahead,
    table_of,
)
from hotline.routing.serving import JAPANESE, ServingCache

UPKEEP_EVERY = dt.timedelta(seconds=1)
# A callback's counsellor hears that the caller was not reached at their hold's next poll
# (3 s), then the message (a few seconds), then hangs up: their line is not offered before.
CALLBACK_REST = dt.timedelta(seconds=15)


def routing_table(cfg: HotlineConfig) -> dict[str, engine.OptionRouting]:
    table = {}
    for option in cfg.options:
        tiers = [engine.TierRule(0, 0, frozenset(option.tiers.primary))]
        for level, tier in ((1, option.tiers.overflow), (2, option.tiers.backup)):
            if tier is not None:
                tiers.append(
                    engine.TierRule(
                        level,
                        tier.after_seconds,
                        frozenset(tier.orgs),
                        require_language=not tier.any_language,
                    )
                )
        table[option.id] = engine.OptionRouting(option.id, option.priority, tuple(tiers))
    return table


@dataclass(frozen=True, slots=True)
class RoutedLine:
    """A configured line with its organisation."""

    org: Organisation
    line: LineConfig

    @property
    def org_id(self) -> str:
        return self.org.id

    @property
    def target(self) -> str:
        return self.line.target


class Router:
    """Routing over the stored state, for one configuration."""

    def __init__(
        self,
        cfg: HotlineConfig,
        *,
        reservation_timeout: int,
        cooldown: int,
        stale_after: int = 90,
        fresh_after: int | None = None,
        ringing_timeout: int = 180,
        menu_timeout: int = 600,
        limits: lifecycle.Limits = lifecycle.Limits(),
    ) -> None:
        self.cfg, self.table, self.limits = cfg, routing_table(cfg), limits
        self.reservation_timeout = dt.timedelta(seconds=reservation_timeout)
        # A holding caller polls every hold segment (~10 s): one silent for this long is gone.
        self.stale_after = dt.timedelta(seconds=stale_after)
        # A holding caller who polled within this is offered a line (pushed reservations
        # take the caller out of a long hold segment at once: then it is the segment's length).
        self.fresh_after = dt.timedelta(seconds=fresh_after or reservation_timeout)
        # Dial timeout plus the whisper, with room: a line ringing longer lost its result.
        self.ringing_timeout = dt.timedelta(seconds=ringing_timeout)
        self.cooldown = dt.timedelta(seconds=cooldown)
        # The voice guidance takes a minute or two even with every retry: a call still in the
        # menu after this long lost its callbacks.
        self.menu_timeout = dt.timedelta(seconds=menu_timeout)
        self.lines: dict[str, RoutedLine] = {
            line.id: RoutedLine(org, line) for org, line in cfg.lines()
        }
        self.languages = {
            line_id: frozenset(r.line.languages or r.org.languages)
            for line_id, r in self.lines.items()
        }
        self._upkept_at: dt.datetime | None = None  # the last expiries and sweeps (`_upkeep`)
        # Who may serve what now (the scheduled lines, the lines serving a class, the pass's
        # caps): one object keeps them as long as they hold. Its answers are Router's own,
        # bound here so that asking the router costs no more than asking the object.
        self.serving_cache = cache = ServingCache(cfg, self.lines, self.languages, self.table)
        self.scheduled_ids: Callable[[dt.datetime], list[str]] = cache.scheduled_ids
        self.serving: Callable[[str, str | None, dt.datetime], list[str]] = cache.serving

    # -- lines ------------------------------------------------------------------------------
    def staffing(self, line_id: str) -> Staffing:
        return self.cfg.staffing_of(self.lines[line_id].org)

    def care(self, line_id: str) -> Care:
        """The line's organisation's care of its counsellors (breaks, the talk limit)."""
        return self.cfg.care_of(self.lines[line_id].org)

    async def sync_lines(self, session: AsyncSession, now: dt.datetime) -> None:
        """Give every configured line a presence row: ready if its desk is staffed by
        schedule, offline (until its counsellor signs in) otherwise; keep existing rows."""
        known = set((await session.execute(select(Line.id))).scalars())
        for line_id, routed in self.lines.items():
            if line_id not in known:
                start = Presence.READY if self.staffing(line_id).by_schedule else Presence.OFFLINE
                session.add(
                    Line(
                        id=line_id,
                        org_id=routed.org_id,
                        status=start,
                        idle_since=now,
                        status_changed_at=now,
                        missed_in_row=0,
                    )
                )
                session.add(
                    LinePresenceLog(**presence.log_row(line_id, routed.org_id, start, None, now))
                )
        await session.flush()

    async def staffed_for(
        self, session: AsyncSession, option_id: str, language: str | None, now: dt.datetime
    ) -> bool:
        """Is any line that may serve this option signed in now (busy or not)?"""
        candidates = self.serving(option_id, language, now)
        if not candidates:
            return False
        stmt = signed_in_among(len(candidates))
        found = await session.execute(stmt, line_params(candidates))
        return bool(found.scalar_one())

    async def staffed_and_ahead(
        self, session: AsyncSession, call: calls_store.StoredCall, now: dt.datetime
    ) -> tuple[bool, int | None]:
        """A waiting caller's hold check in one statement: is a line that may serve their
        option signed in, and how many callers will be offered a line before them (None
        when nothing was asked: no line may serve the option, or the call is in no queue)."""
        assert call.option_id is not None
        candidates = self.serving(call.option_id, call.language, now)
        ahead = calls_store.ahead_params(call)
        if not candidates or ahead is None:
            return await self.staffed_for(session, call.option_id, call.language, now), None
        stmt = staffed_and_ahead(len(candidates))
        params = {**ahead, **line_params(candidates)}
        signed_in, count = (await session.execute(stmt, params)).one()
        return bool(signed_in), int(count)

    async def release(
        self,
        session: AsyncSession,
        line_id: str,
        call_id: int,
        now: dt.datetime,
        *,
        cooldown: bool = False,
        rest: bool = False,
    ) -> None:
        """The call let go of its line: wrap-up after a talk; a miss counted (`cooldown`: the
        line was offered and did not take the call, so it rests a while); `rest`: a short
        rest without a miss (the counsellor is still hearing why the line is let go)."""
        line = await session.get(Line, line_id, with_for_update=True)
        if line is not None and line.call_id == call_id and line_id in self.lines:
            presence.released(
                session,
                line,
                self.staffing(line_id),
                now,
                call_id=call_id,
                missed=cooldown,
                cooldown=self.cooldown,
                rest=CALLBACK_REST if rest else None,
                care=self.care(line_id),
            )

    async def mark(
        self, session: AsyncSession, line_id: str, call_id: int, state: str, now: dt.datetime
    ) -> None:
        """The line's call is ringing, or talking: its presence follows."""
        line = await session.get(Line, line_id, with_for_update=True)
        if line is not None and line.call_id == call_id:
            if state == Presence.TALKING:
                line.missed_in_row = 0
            presence.set_presence(session, line, Presence(state), now)

    # -- the pass ---------------------------------------------------------------------------
    async def assign(
        self,
        session: AsyncSession,
        now: dt.datetime,
        held: calls_store.StoredCall | None = None,
    ) -> list[engine.Reservation]:
        """Expire stale reservations, then give free staffed lines to waiting callers.

        `held`: the call the step that runs this pass holds; the sweeps change it as that
        object (hotline.routing.sweeps)."""
        await self._upkeep(session, now, held)
        lines = await self._free_lines(session, now)
        if not lines:
            return []
        calls, sids = await self._waiting(session, limit=len(lines), now=now, lines=lines)
        reservations = engine.assign(calls, lines, self.table, now)
        if reservations:
            holding = [r for r in reservations if sids[r.call_id][1] == CallState.WAITING]
            called = [r for r in reservations if sids[r.call_id][1] == CallState.CALLBACK]
            for group, state in ((holding, CallState.WAITING), (called, CallState.CALLBACK)):
                if group:
                    await self._reserve(session, group, now, state, sids)
        return reservations

    async def _upkeep(
        self, session: AsyncSession, now: dt.datetime, held: calls_store.StoredCall | None
    ) -> None:
        """Expiries, sweeps and wrap-ups: they change with time, not with each event, so a
        busy instance runs them at most once per UPKEEP_EVERY of the pass's clock (the tick
        runs passes meanwhile). A clock that went back runs them at once."""
        last = self._upkept_at
        if last is not None and dt.timedelta(0) <= now - last < UPKEEP_EVERY:
            return
        await sweeps.expire(session, self, now, held)
        self._upkept_at = now

    async def _reserve(
        self,
        session: AsyncSession,
        reservations: list[engine.Reservation],
        now: dt.datetime,
        state: CallState,
        sids: dict[int, tuple[str, str]],
    ) -> None:
        """Write the pass's reservations of calls in `state` whatever their number in one
        statement (PostgreSQL) or three (SQLite): an UPDATE of the calls and one of the
        lines, each joined to the (call, line) pairs, and an INSERT of the presence log.
        After the commit, Twilio is asked at once (pushes): to take a holding caller out of
        the queue to the line (their next poll does it too, if that fails), or to ring a
        callback's counsellor (so that line is ringing rather than reserved)."""
        moves, same = _moves(reservations, state, now)
        calls, lines, log = table_of(Call), table_of(Line), table_of(LinePresenceLog)
        call_line, line_call, call_rows, line_rows = pairs(session, reservations, calls, lines)
        arrays = {
            "call_ids": [r.call_id for r in reservations],
            "line_ids": [r.line_id for r in reservations],
        }
        status = Presence.RINGING if same.get("state") == CallState.RINGING else Presence.RESERVED
        reserve_calls = update(calls).where(call_rows).values(**same, line_id=call_line)
        reserve_lines = (
            update(lines)
            .where(line_rows)
            .values(call_id=line_call, status=status, status_changed_at=now)
        )
        if session.get_bind().dialect.name == "postgresql":
            # One round trip: both UPDATEs as data-modifying CTEs, the presence log written
            # from the lines' RETURNING (no row built in Python, one prepared statement).
            held = reserve_lines.returning(lines.c.id, lines.c.org_id).cte("held")
            logged = select(
                held.c.id,
                held.c.org_id,
                literal(str(status), String),
                null(),
                literal(now, log.c.at.type),
            )
            columns = ["line_id", "org_id", "presence", "reason", "at"]
            stmt = insert(log).from_select(columns, logged).add_cte(reserve_calls.cte("moved"))
            await session.execute(stmt, arrays)
        else:
            await session.execute(reserve_calls)
            await session.execute(reserve_lines)
            await session.execute(
                insert(log),
                [
                    presence.log_row(r.line_id, self.lines[r.line_id].org_id, status, None, now)
                    for r in reservations
                ],
            )
        for r, t in zip(reservations, moves, strict=True):
            for effect in t.effects:
                if isinstance(effect, lifecycle.RingCounsellor | lifecycle.Dequeue):
                    calls_store.push(session, r.call_id, sids[r.call_id][0], effect)

    async def _free_lines(self, session: AsyncSession, now: dt.datetime) -> list[engine.FreeLine]:
        ids, scheduled = self.serving_cache.scheduled(now)
        params: dict[str, Any] = {"now": now}
        if len(scheduled) < len(self.lines):  # binding every id costs more than it saves
            params |= line_params(ids)
            stmt = free_among(len(ids))
        else:
            stmt = FREE
        rows = (await session.execute(stmt, params)).all()
        return [
            engine.FreeLine(line_id, org_id, self.languages[line_id], idle_since)
            for line_id, org_id, idle_since in rows
            if line_id in scheduled
        ]

    async def _waiting(
        self,
        session: AsyncSession,
        limit: int,
        now: dt.datetime,
        lines: list[engine.FreeLine] | None = None,
    ) -> tuple[list[engine.WaitingCall], dict[int, tuple[str, str]]]:
        """The first `limit` waiting calls of each (option, language) class, locked.

        Within a class the engine serves a prefix in queue order (a call that waited longer
        may use every tier a later one may), and a pass makes at most `limit` reservations,
        so nobody further back could be served in this pass. Callback requests are in the
        same order (their own waiting time and priority); a request waiting out the pause
        before another try keeps its place but is not served yet. Also answers each call's
        CallSid and state, for the pushes to Twilio that its reservation asks for.

        Given the pass's free `lines`, PostgreSQL reads fewer of a class when fewer of them
        may serve it (`ServingCache.caps`): the engine could serve no more of it in this pass.
        """
        postgres = session.get_bind().dialect.name == "postgresql"
        params: dict[str, Any] = {
            "limit": limit,
            "now": now,
            "fresh": now - self.fresh_after,
        }
        if postgres:
            no_caps: dict[str, list[Any]] = {"cap_options": [], "cap_languages": [], "caps": []}
            params |= no_caps if lines is None else self.serving_cache.caps(lines, limit)
        calls, sids = [], {}
        rows = (await session.execute(queue_heads(postgres), params)).all()
        for call_id, option_id, language, since, priority, state, sid in rows:
            sids[call_id] = (sid, state)
            # A waiting call has chosen its option and has its waiting start (the lifecycle
            # sets both on joining the queue).
            assert option_id is not None and since is not None
            calls.append(
                engine.WaitingCall(call_id, option_id, language or JAPANESE, since, priority)
            )
        return calls, sids


def _moves(
    reservations: list[engine.Reservation], state: CallState, now: dt.datetime
) -> tuple[list[lifecycle.Transition], dict[str, Any]]:
    """The lifecycle's move of each reserved call in `state`, and the changes they share."""
    callback = now if state == CallState.CALLBACK else None
    selected = lifecycle.CallView(state=state, callback_at=callback)
    moves = [
        lifecycle.transition(selected, lifecycle.LineReserved(r.line_id), now) for r in reservations
    ]
    changes = [t.changes for t in moves]
    # The lifecycle changes every reserved call alike but for its line.
    same = {k: v for k, v in changes[0].items() if k != "line_id"}
    if any({**c, "line_id": None} != {**same, "line_id": None} for c in changes):
        raise AssertionError("reservations that differ in more than their line")
    return moves, same


def org_of(router: Router, line_ids: Iterable[str]) -> dict[str, str]:
    return {i: router.lines[i].org_id for i in line_ids if i in router.lines}
