"""Queue and line state in the database, and the transaction around the routing engine.

Every pass locks the rows it may change with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL),
so that several instances never give one line to two callers nor one caller two lines: what
one instance has locked, the others skip and leave for the next pass. SQLite has one writer
at a time (BEGIN IMMEDIATE, see hotline.db), which gives the same guarantee.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.base import ColumnCollection
from sqlalchemy.sql.elements import ColumnElement

from hotline.calls import lifecycle
from hotline.calls import store as calls_store
from hotline.calls.models import Call, CallState
from hotline.config import HotlineConfig, HoursSpec, Organisation, Staffing
from hotline.config import Line as LineConfig
from hotline.hours.schedule import scheduled
from hotline.lines import presence
from hotline.lines.models import Line, LinePresenceLog, Presence
from hotline.lines.queries import LINES, among, line_params, signed_in_among
from hotline.routing import engine

log = logging.getLogger(__name__)
JAPANESE = "ja"
UPKEEP_EVERY = dt.timedelta(seconds=1)
# A callback's counsellor hears that the caller was not reached at their hold's next poll
# (3 s), then the message (a few seconds), then hangs up: their line is not offered before.
CALLBACK_REST = dt.timedelta(seconds=15)
# A literal LIMIT 1: as a parameter, a generic plan would guess its rows far too high.
ONE = literal_column("1", Integer)
CAPS_KEPT = 256  # sets of free lines' caps kept (`Router._caps`)


def queued_now(c: Any) -> ColumnElement[bool]:
    """Holding callers and callback requests are one queue, served in one order; on the
    calls or an alias of them. Literals, not parameters: a prepared statement's generic
    plan uses the partial index `ix_calls_queue` only if its condition is written out."""
    return cast(
        ColumnElement[bool],
        c.state.in_([literal_column(f"'{s.value}'") for s in lifecycle.QUEUED]),
    )


QUEUED_NOW = queued_now(Call)


# Free lines, locked: built once (with `_free_among`, once per number of scheduled lines).
_FREE: Select[Any] = (
    select(LINES.c.id, LINES.c.org_id, LINES.c.idle_since)
    .where(
        LINES.c.call_id.is_(None),
        LINES.c.status == literal_column(f"'{Presence.READY.value}'"),  # rings only when ready
        or_(
            LINES.c.cooldown_until.is_(None),
            LINES.c.cooldown_until <= bindparam("now", type_=LINES.c.cooldown_until.type),
        ),
    )
    .with_for_update(skip_locked=True, of=LINES)
)


@functools.cache
def _free_among(n: int) -> Select[Any]:
    return _FREE.where(among(n))


@functools.cache
def _staffed_and_ahead(n: int) -> Select[int, int]:
    """`signed_in_among(n)` and the callers ahead (`calls_store.ahead_count`), in one
    statement."""
    return select(signed_in_among(n).scalar_subquery(), calls_store.ahead_count().scalar_subquery())


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
        # Hours that all start and end on whole minutes change nothing within a minute: which
        # lines are scheduled, and which of them may serve a class, are kept for the minute.
        self._minutely = all(
            _on_whole_minutes(r.line.hours if r.line.hours is not None else r.org.hours)
            for r in self.lines.values()
        )
        self._minute: dt.datetime | None = None
        self._scheduled_now: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())
        self._serving: dict[tuple[str, str | None], list[str]] = {}
        self._served: dict[tuple[str, str | None, str, frozenset[str]], bool] = {}
        spoken = sorted(set().union(*self.languages.values()))
        self._classes = [(o, lang) for o in self.table for lang in (None, *spoken)]
        self._profile_classes: dict[tuple[str, frozenset[str]], tuple[int, ...]] = {}
        # A pass's caps by its free lines' profiles: a pass after a pass with the same free
        # lines (the steady state, every webhook's pass) reads them here.
        self._caps_for: dict[tuple[frozenset[Any], int], dict[str, list[Any]]] = {}

    # -- lines ------------------------------------------------------------------------------
    def staffing(self, line_id: str) -> Staffing:
        return self.cfg.staffing_of(self.lines[line_id].org)

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

    def scheduled_ids(self, now: dt.datetime) -> list[str]:
        return list(self._scheduled(now)[0])

    def _scheduled(self, now: dt.datetime) -> tuple[tuple[str, ...], frozenset[str]]:
        """The lines scheduled at `now` (in config order, and as a set), asked of each line's
        hours at most once a minute when the hours allow it (see `_minutely`): the passes,
        the staffing checks and the scrapes of a minute share the answer."""
        minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        if self._minutely and minute == self._minute:
            return self._scheduled_now
        ids = tuple(
            i for i, r in self.lines.items() if scheduled(r.org, r.line, now, self.cfg.calendar)
        )
        if self._minutely:
            self._minute, self._scheduled_now, self._serving = minute, (ids, frozenset(ids)), {}
        return ids, frozenset(ids)

    def _may_serve(self, option_id: str, language: str | None, line_id: str) -> bool:
        return self._serves(
            option_id, language, self.lines[line_id].org_id, self.languages[line_id]
        )

    def _serves(
        self, option_id: str, language: str | None, org: str, spoken: frozenset[str]
    ) -> bool:
        """May a line of `org` speaking `spoken` serve the class through any tier?"""
        key = (option_id, language, org, spoken)
        known = self._served.get(key)
        if known is None:
            option, lang = self.table.get(option_id), language or JAPANESE
            known = option is not None and any(
                org in t.orgs and (not t.require_language or lang in spoken) for t in option.tiers
            )
            self._served[key] = known
        return known

    def _caps(self, lines: list[engine.FreeLine], limit: int) -> dict[str, list[Any]]:
        """How many of each class's first callers this pass could serve, for the classes the
        configuration knows (options by no language and by every language a line speaks)
        where that is fewer than `limit`: no more than the free lines that may serve the
        class through some tier, as each line takes one caller a pass. Lines are counted by
        organisation and languages, which is all that decides."""
        profiles = frozenset(Counter((line.org, line.languages) for line in lines).items())
        known = self._caps_for.get((profiles, limit))
        if known is not None:
            return known
        counts = [0] * len(self._classes)
        for profile, count in profiles:
            for i in self._classes_served(profile):
                counts[i] += count
        options, languages, caps = [], [], []
        for (option_id, language), n in zip(self._classes, counts, strict=True):
            if n < limit:
                options.append(option_id)
                languages.append(language)
                caps.append(n)
        if len(self._caps_for) >= CAPS_KEPT:  # free lines' profiles vary little; bound it
            self._caps_for.clear()
        known = self._caps_for[(profiles, limit)] = {
            "cap_options": options,
            "cap_languages": languages,
            "caps": caps,
        }
        return known

    def _classes_served(self, profile: tuple[str, frozenset[str]]) -> tuple[int, ...]:
        """The classes (indexes in `_classes`) a line of this organisation and languages may
        serve, asked of the tiers once per profile rather than at every pass."""
        known = self._profile_classes.get(profile)
        if known is None:
            org, spoken = profile
            known = self._profile_classes[profile] = tuple(
                i
                for i, (option_id, language) in enumerate(self._classes)
                if self._serves(option_id, language, org, spoken)
            )
        return known

    def serving(self, option_id: str, language: str | None, now: dt.datetime) -> list[str]:
        """The lines scheduled now that may serve this option (signed in or not)."""
        ids = self._scheduled(now)[0]  # first: a new minute clears `_serving`
        candidates = self._serving.get((option_id, language)) if self._minutely else None
        if candidates is None:
            candidates = [i for i in ids if self._may_serve(option_id, language, i)]
            if self._minutely:
                self._serving[(option_id, language)] = candidates
        return candidates

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
        stmt = _staffed_and_ahead(len(candidates))
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

    async def _carry_out(
        self, session: AsyncSession, call: Call, event: lifecycle.Event, now: dt.datetime
    ) -> None:
        """A pass's own transition of a call: expiries and sweeps (no pass inside a pass)."""
        await calls_store.carry_out(
            session, self, call, lifecycle.transition(call, event, now, self.limits), now
        )

    # -- the pass ---------------------------------------------------------------------------
    async def assign(self, session: AsyncSession, now: dt.datetime) -> list[engine.Reservation]:
        """Expire stale reservations, then give free staffed lines to waiting callers."""
        await self._upkeep(session, now)
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

    async def _upkeep(self, session: AsyncSession, now: dt.datetime) -> None:
        """Expiries, sweeps and wrap-ups: they change with time, not with each event, so a
        busy instance runs them at most once per UPKEEP_EVERY of the pass's clock (the tick
        runs passes meanwhile). A clock that went back runs them at once."""
        last = self._upkept_at
        if last is not None and dt.timedelta(0) <= now - last < UPKEEP_EVERY:
            return
        await self._expire(session, now)
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
        callback = now if state == CallState.CALLBACK else None
        selected = lifecycle.CallView(state=state, callback_at=callback)
        moves = [
            lifecycle.transition(selected, lifecycle.LineReserved(r.line_id), now)
            for r in reservations
        ]
        changes = [t.changes for t in moves]
        # The lifecycle changes every reserved call alike but for its line.
        same = {k: v for k, v in changes[0].items() if k != "line_id"}
        if any({**c, "line_id": None} != {**same, "line_id": None} for c in changes):
            raise AssertionError("reservations that differ in more than their line")
        calls, lines, log = _table(Call), _table(Line), _table(LinePresenceLog)
        call_line, line_call, call_rows, line_rows = _pairs(session, reservations, calls, lines)
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

    async def _expire(self, session: AsyncSession, now: dt.datetime) -> None:
        stmt = (
            select(Call)
            .where(
                Call.state == CallState.RESERVED, Call.reserved_at <= now - self.reservation_timeout
            )
            .with_for_update(skip_locked=True)
        )
        for call in (await session.execute(stmt)).scalars():
            log.info("reservation of call %s on line %s expired", call.call_sid, call.line_id)
            await self._carry_out(session, call, lifecycle.ReservationExpired(), now)
        await self._sweep(session, now)
        await self._wrap_ups_over(session, now)

    async def _wrap_ups_over(self, session: AsyncSession, now: dt.datetime) -> None:
        """Lines whose wrap-up time is up are ready again (or go where the counsellor asked)."""
        stmt = (
            select(Line)
            .where(Line.status == Presence.WRAP_UP, Line.wrap_up_until <= now)
            .with_for_update(skip_locked=True)
        )
        for line in (await session.execute(stmt)).scalars():
            presence.end_wrap_up(session, line, now)
        await session.flush()

    async def _sweep(self, session: AsyncSession, now: dt.datetime) -> None:
        """End calls whose caller is gone though Twilio's callbacks never said so."""
        stmt = (
            select(Call)
            .where(
                or_(
                    (Call.state == CallState.MENU) & (Call.created_at < now - self.menu_timeout),
                    Call.state.in_(lifecycle.HOLDING)
                    & (Call.last_seen_at < now - self.stale_after),
                    Call.state.in_((CallState.RINGING, CallState.CALLING))
                    & (Call.reserved_at < now - self.ringing_timeout),
                    (Call.state == CallState.CALLBACK) & (Call.callback_until <= now),
                )
            )
            .with_for_update(skip_locked=True)
        )
        for call in (await session.execute(stmt)).scalars():
            if call.state == CallState.CALLBACK:
                log.info("callback request of call %s expired", call.call_sid)
                await self._carry_out(session, call, lifecycle.CallbackExpired(), now)
                continue
            log.warning("call %s silent in state %s", call.call_sid, call.state)
            await self._carry_out(session, call, lifecycle.WentSilent(), now)

    async def _free_lines(self, session: AsyncSession, now: dt.datetime) -> list[engine.FreeLine]:
        ids, scheduled = self._scheduled(now)
        params: dict[str, Any] = {"now": now}
        if len(scheduled) < len(self.lines):  # binding every id costs more than it saves
            params |= line_params(ids)
            stmt = _free_among(len(ids))
        else:
            stmt = _FREE
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
        may serve it (`_caps`): the engine could serve no more of it in this pass.
        """
        postgres = session.get_bind().dialect.name == "postgresql"
        params: dict[str, Any] = {
            "limit": limit,
            "now": now,
            "fresh": now - self.fresh_after,
        }
        if postgres:
            no_caps: dict[str, list[Any]] = {"cap_options": [], "cap_languages": [], "caps": []}
            params |= no_caps if lines is None else self._caps(lines, limit)
        calls, sids = [], {}
        rows = (await session.execute(_queue_heads(postgres), params)).all()
        for call_id, option_id, language, since, priority, state, sid in rows:
            sids[call_id] = (sid, state)
            # A waiting call has chosen its option and has its waiting start (the lifecycle
            # sets both on joining the queue).
            assert option_id is not None and since is not None
            calls.append(
                engine.WaitingCall(call_id, option_id, language or JAPANESE, since, priority)
            )
        return calls, sids


def _waiting_now(c: ColumnCollection[str, Any]) -> tuple[ColumnElement[bool], ...]:
    """Queued calls the pass may serve at `:now`, on the calls or an alias of them."""
    return (
        queued_now(c),
        # Only callers still polling since `:fresh` (a callback request does not poll: its
        # last_seen_at is cleared): a line held for one who is gone is wasted.
        or_(c.last_seen_at.is_(None), c.last_seen_at >= bindparam("fresh")),
        # A callback request waiting out the pause before another try keeps its place.
        or_(c.callback_after.is_(None), c.callback_after <= bindparam("now")),
    )


@functools.cache
def _queue_heads(postgres: bool) -> Select[*tuple[Any, ...]]:
    """The pass's read of the queue, built once (building it costs more than running it):
    the heads of each class (`_heads`, `_ranked`), then those few locked by id, still
    waiting and polling, skipping what another pass holds. Parameters `limit`, `now` and
    `fresh`; on PostgreSQL also the classes' own numbers (`cap_options`, `cap_languages`,
    `caps`: `Router._caps`)."""
    calls = _table(Call)
    heads = _heads() if postgres else _ranked()
    return (
        select(
            calls.c.id,
            calls.c.option_id,
            calls.c.language,
            calls.c.waiting_since,
            calls.c.priority,
            calls.c.state,
            calls.c.call_sid,
        )
        .where(calls.c.id.in_(heads), *_waiting_now(calls.c))
        .with_for_update(skip_locked=True, of=calls)
    )


def _ranked() -> Select[Any]:
    """The ids of the first `:limit` waiting calls of each class, ranked by a window
    (SQLite: a small service's queue, where one sort costs little)."""
    c = _table(Call).c
    rank = func.row_number().over(
        partition_by=(c.option_id, c.language),
        order_by=(c.priority.desc(), c.waiting_since, c.id),
    )
    ranked = select(c.id, rank.label("rank")).where(*_waiting_now(c)).subquery()
    return select(ranked.c.id).where(ranked.c.rank <= bindparam("limit"))


def _heads() -> Select[Any]:
    """The ids of the first `:limit` waiting calls of each class as ranges of the queue
    index (PostgreSQL).

    `ix_calls_queue` (option, language, priority descending, waiting since, id; queued calls
    only) is the queue order. A window over all queued calls makes PostgreSQL sort them all
    (its planner prefers the sort at 10,000 rows, not seeing that it compares text with the
    database's collation); here each class is one index range read up to `:limit` rows:

    - the classes present are found by skipping through the index (a recursive CTE: from
      one class, the next is the next language of its option, else its calls with no
      language, else the first class of the next option), one probe per class;
    - each class's heads are a LATERAL ... ORDER BY (the index's order) LIMIT: its own
      number if `caps` names the class, else `:limit`. A class with no language (Japanese)
      has its own branch, as `language = NULL` matches nothing; its ORDER BY names
      `language` too, so that the planner sees the index's order (IS NULL does not make the
      column a constant for it).
    """
    calls = _table(Call)

    def probe(name: str, where: Callable[[Any], tuple[Any, ...]]) -> Select[Any]:
        c = calls.alias(name).c
        return (
            select(c.option_id, c.language)
            .where(queued_now(c), *where(c))
            .order_by(c.option_id, c.language)
            .limit(ONE)
        )

    classes = probe("first_class", lambda c: ()).cte("queue_classes", recursive=True)
    prev = classes.alias("prev")
    after = (
        union_all(
            probe(
                "same_option",
                lambda c: (c.option_id == prev.c.option_id, c.language > prev.c.language),
            ),
            probe(
                "no_language",
                lambda c: (
                    c.option_id == prev.c.option_id,
                    c.language.is_(None),
                    prev.c.language.is_not(None),
                ),
            ),
            probe("next_option", lambda c: (c.option_id > prev.c.option_id,)),
        )
        .limit(ONE)
        .subquery()
        .lateral("next_class")
    )
    classes = classes.union_all(
        select(after.c.option_id, after.c.language).select_from(prev.join(after, true()))
    )
    # Each class with its number to read: its cap (`Router._caps`), else `:limit`.
    caps = (
        func.unnest(
            bindparam("cap_options", type_=ARRAY(String)),
            bindparam("cap_languages", type_=ARRAY(String)),
            bindparam("caps", type_=ARRAY(Integer)),
        )
        .table_valued("option_id", "language", "n")
        .render_derived(name="caps")
    )
    capped = and_(
        caps.c.option_id == classes.c.option_id,
        caps.c.language.is_not_distinct_from(classes.c.language),
    )
    klass = (
        select(
            classes.c.option_id,
            classes.c.language,
            func.coalesce(caps.c.n, bindparam("limit", type_=Integer)).label("n"),
        )
        .select_from(classes.outerjoin(caps, capped))
        .subquery("class")
    )

    def firsts(name: str, where: Callable[[Any], tuple[Any, ...]]) -> Select[Any]:
        c = calls.alias(name).c
        return (
            select(c.id)
            .where(*_waiting_now(c), c.option_id == klass.c.option_id, *where(c))
            .order_by(c.option_id, c.language, c.priority.desc(), c.waiting_since, c.id)
            .limit(bindparam("limit", type_=Integer))
        )

    # `:limit` inside, the class's own number outside: the planner knows the one, not the
    # other (it would guess a tenth of the class, and a cost that grows with the queue).
    heads = (
        union_all(
            firsts("spoken", lambda c: (c.language == klass.c.language,)),
            firsts("japanese", lambda c: (c.language.is_(None), klass.c.language.is_(None))),
        )
        .limit(klass.c.n)
        .subquery()
        .lateral("heads")
    )
    return select(heads.c.id).select_from(klass.join(heads, true()))


def _on_whole_minutes(hours: HoursSpec) -> bool:
    return hours == "24h" or all(
        t.second == 0 and t.microsecond == 0 for w in hours for t in (w.start, w.end)
    )


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _pairs(
    session: AsyncSession, reservations: list[engine.Reservation], calls: Table, lines: Table
) -> tuple[ColumnElement[Any], ...]:
    """The (call, line) pairs of a pass for its two UPDATEs: each call's line, each line's
    call, and the rows to update."""
    if session.get_bind().dialect.name == "postgresql":
        # Two arrays joined in: one prepared statement whatever the number of pairs.
        pairs = (
            func.unnest(
                bindparam("call_ids", type_=ARRAY(Integer)),
                bindparam("line_ids", type_=ARRAY(String)),
            )
            .table_valued("call_id", "line_id")
            .render_derived(name="reserved")
        )
        return (
            pairs.c.line_id,
            pairs.c.call_id,
            calls.c.id == pairs.c.call_id,
            lines.c.id == pairs.c.line_id,
        )
    # SQLite, the embedded database of a small service: a CASE on the key.
    line_of = {r.call_id: r.line_id for r in reservations}
    call_of = {r.line_id: r.call_id for r in reservations}
    return (
        case(line_of, value=calls.c.id),
        case(call_of, value=lines.c.id),
        calls.c.id.in_(line_of),
        lines.c.id.in_(call_of),
    )


def org_of(router: Router, line_ids: Iterable[str]) -> dict[str, str]:
    return {i: router.lines[i].org_id for i in line_ids if i in router.lines}
