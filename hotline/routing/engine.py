"""The routing engine: which waiting call gets which free line, in one pure pass.

This module owns the assignment rule and nothing else. It takes the waiting
calls, the free lines, the routing table and ``now`` as plain values and returns
reservations. It does no I/O and reads no clock, so the store around it decides
when a pass runs and what to do with the result, and every rule here can be
tested with plain values.

The rule: calls are served in order of effective priority (highest first), then
longest wait, then call id. Each call takes the best free line it may use now:
lowest tier level, then the line idle longest, then line id. A line may serve a
call through a tier when the line's organisation is in the tier, the call has
waited at least the tier's delay, and the line speaks the caller's language
(unless the tier does not require it).
"""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from heapq import heapify, heappop, heapreplace
from operator import attrgetter


@dataclass(frozen=True, slots=True)
class TierRule:
    level: int  # 0 = primary, 1 = overflow, 2 = backup (lower is preferred)
    delay_seconds: float  # a call may use this tier once it has waited >= delay_seconds
    orgs: frozenset[str]  # organisation ids in this tier
    # False: lines here serve callers of any language (the backup, which has interpreters).
    require_language: bool = True


@dataclass(frozen=True, slots=True)
class OptionRouting:
    option: str
    priority: int  # higher is offered lines first
    tiers: tuple[TierRule, ...]


@dataclass(frozen=True, slots=True)
class WaitingCall:
    call_id: int
    option: str
    language: str  # e.g. "ja", "en", "zh"; Japanese callers carry "ja"
    # tz-aware; the ORIGINAL waiting start, kept when a call is re-queued after a
    # line did not answer, so the caller is not sent to the back of the queue.
    waiting_since: datetime
    priority: int | None = None  # None: use the option's priority


@dataclass(frozen=True, slots=True)
class FreeLine:
    line_id: str
    org: str
    languages: frozenset[str]
    idle_since: datetime  # tz-aware


@dataclass(frozen=True, slots=True)
class Reservation:
    call_id: int
    line_id: str
    tier: int  # the TierRule.level used


def eligible_tier(
    call: WaitingCall,
    line: FreeLine,
    routing: Mapping[str, OptionRouting],
    now: datetime,
) -> int | None:
    """Lowest tier level through which `line` may serve `call` now, or None."""
    _require_aware(now)
    option = routing.get(call.option)
    if option is None:
        return None
    levels = [
        tier.level
        for tier in option.tiers
        if line.org in tier.orgs
        and (not tier.require_language or call.language in line.languages)
        and _has_waited(call.waiting_since, _cutoff(now, tier.delay_seconds))
    ]
    return min(levels, default=None)


def assign(
    calls: Sequence[WaitingCall],
    lines: Sequence[FreeLine],
    routing: Mapping[str, OptionRouting],
    now: datetime,
) -> list[Reservation]:
    """One assignment pass: reservations, in call order.

    Greedy in call order, which is work conserving: a call left unassigned had
    no eligible free line at its turn, and free lines only get fewer.
    Raises ValueError on duplicate call or line ids (a store bug).
    """
    _reject_duplicates(calls, lines)
    _require_aware(now)
    if not calls or not lines:
        return []
    pool = _LinePool(lines)
    queues = _call_queues(calls, routing, pool, now)
    # The head of every queue, best first: popping merges the queues into call order.
    heads = [queue.head_key(i) for i, queue in enumerate(queues)]
    heapify(heads)
    reservations: list[Reservation] = []
    while heads and pool.free:  # no free line left: the rest wait for the next pass
        _, waiting_since, call_id, index = heads[0]
        queue = queues[index]
        pick = queue.cls.take_best(waiting_since)
        if pick is None:
            heappop(heads)  # see _CallQueue: nobody behind this call can be served either
            continue
        reservations.append(Reservation(call_id, pick[0].line_id, pick[1]))
        if queue.advance():
            heapreplace(heads, queue.head_key(index))
        else:
            heappop(heads)
    return reservations


def _require_aware(now: datetime) -> None:
    # A naive `now` would be read as server local time and shift every wait.
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _reject_duplicates(calls: Sequence[WaitingCall], lines: Sequence[FreeLine]) -> None:
    # The store hands each call and line over once; a repeat would double-book.
    if len({call.call_id for call in calls}) != len(calls):
        _raise_duplicates("call_id", [call.call_id for call in calls])
    if len({line.line_id for line in lines}) != len(lines):
        _raise_duplicates("line_id", [line.line_id for line in lines])


def _raise_duplicates(kind: str, ids: Sequence[int | str]) -> None:
    dupes = sorted((i for i, n in Counter(ids).items() if n > 1), key=repr)
    raise ValueError(f"duplicate {kind} in routing input: {dupes}")


def _cutoff(now: datetime, delay_seconds: float) -> datetime | None:
    """Latest waiting start that has waited `delay_seconds` by `now`; None: no start has."""
    try:
        # In UTC so a wait is elapsed time, even across a DST change in now's zone.
        return now.astimezone(UTC) - timedelta(seconds=delay_seconds)
    except (OverflowError, ValueError):
        # A delay beyond the datetime range: an infinite negative delay admits
        # everyone, an infinite (or NaN) delay admits no one.
        if delay_seconds < 0:
            return datetime.max.replace(tzinfo=UTC)
        return None


def _has_waited(waiting_since: datetime, cutoff: datetime | None) -> bool:
    return cutoff is not None and waiting_since <= cutoff


def _call_queues(
    calls: Sequence[WaitingCall],
    routing: Mapping[str, OptionRouting],
    pool: "_LinePool",
    now: datetime,
) -> list["_CallQueue"]:
    """Routable calls split by option, language and their own priority.

    Calls that end up with the same effective priority may land in two queues
    (own priority None, or equal to the option's); the merge orders them anyway.
    """
    # One dict lookup per call: the option is resolved per group, not per call.
    groups: defaultdict[tuple[str, str, int | None], list[WaitingCall]] = defaultdict(list)
    for call in calls:
        groups[call.option, call.language, call.priority].append(call)
    classes: dict[tuple[str, str], _CallClass] = {}
    cutoffs: dict[float, datetime | None] = {}
    queues = []
    for (name, language, own_priority), group in groups.items():
        option = routing.get(name)
        if option is None:
            continue  # an option the table does not know is never routed
        priority = option.priority if own_priority is None else own_priority
        cls = classes.get((name, language))
        if cls is None:
            cls = classes[name, language] = _CallClass(option, language, pool, now, cutoffs)
        queues.append(_CallQueue(priority, group, cls))
    return queues


class _CallQueue:
    """Routable calls of one option, language and own priority, in call order.

    They differ only in their wait. So when the head finds no line, nobody
    behind it can: they waited no longer, so no more tiers are open to them,
    and lines only get fewer. The whole queue is then done for this pass, and
    its remaining calls cost nothing.
    """

    __slots__ = ("cls", "_calls", "_next", "_settled", "_negated_priority")

    def __init__(self, priority: int, calls: list[WaitingCall], cls: "_CallClass") -> None:
        self.cls = cls
        # Sorted on the field itself, not on a key tuple per call: no garbage for
        # the collector. The store hands calls over in queue order, which Timsort
        # takes in linear time.
        calls.sort(key=_WAITING_SINCE)
        self._calls = calls
        self._next = 0
        self._settled = 0  # calls before this index are in call order, ties included
        self._negated_priority = -priority  # the heap of heads puts the smallest first
        self._settle()

    def head_key(self, index: int) -> tuple[int, datetime, int, int]:
        """The head call's place in call order; `index` finds the queue again."""
        call = self._calls[self._next]
        return (self._negated_priority, call.waiting_since, call.call_id, index)

    def advance(self) -> bool:
        """Drop the head (it was served); False if the queue is now empty."""
        self._next += 1
        if self._next == len(self._calls):
            return False
        self._settle()
        return True

    def _settle(self) -> None:
        # Equal waits go by call id. Each run of them is ordered once, when it
        # reaches the head, so a pass pays only for the runs it gets to.
        start = self._next
        if start < self._settled:
            return
        calls = self._calls
        since = calls[start].waiting_since
        end = start + 1
        while end < len(calls) and calls[end].waiting_since == since:
            end += 1
        if end - start > 1:
            calls[start:end] = sorted(calls[start:end], key=_CALL_ID)
        self._settled = end


_WAITING_SINCE = attrgetter("waiting_since")
_CALL_ID = attrgetter("call_id")


class _LinePool:
    """The free lines, ranked best first, and which of them are taken this pass.

    A line is known by its rank: its index in (idle_since, line_id) order, so
    comparing ranks compares lines within a tier.
    """

    __slots__ = ("ranked", "taken", "free", "_by_org", "_by_org_language", "_queues")

    def __init__(self, lines: Sequence[FreeLine]) -> None:
        self.ranked = sorted(lines, key=lambda ln: (ln.idle_since, ln.line_id))
        self.taken = bytearray(len(self.ranked))
        self.free = len(self.ranked)
        self._by_org: dict[str, list[int]] = {}
        self._by_org_language: dict[tuple[str, str], list[int]] = {}
        for rank, line in enumerate(self.ranked):
            self._by_org.setdefault(line.org, []).append(rank)
            for language in line.languages:
                self._by_org_language.setdefault((line.org, language), []).append(rank)
        self._queues: dict[tuple[frozenset[str], str | None], list[int]] = {}

    def queue(self, tier: TierRule, language: str) -> list[int]:
        """Free ranks eligible through a tier, worst first so the best pops off the end.

        Which lines a tier offers depends only on its orgs and, if it requires
        it, the language: every call class with the same pair shares the queue.
        Lines taken later stay in the list and are skipped when they reach the
        end (lazy deletion).
        """
        key = (tier.orgs, language if tier.require_language else None)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = self._build(tier, language)
        return queue

    def _build(self, tier: TierRule, language: str) -> list[int]:
        # Index lookups per org keep the cost to the lines in the tier, not all lines.
        if tier.require_language:
            groups = [self._by_org_language.get((org, language), ()) for org in tier.orgs]
        else:
            groups = [self._by_org.get(org, ()) for org in tier.orgs]
        taken = self.taken
        queue = [rank for group in groups for rank in group if not taken[rank]]
        queue.sort(reverse=True)
        return queue

    def take(self, rank: int) -> FreeLine:
        self.taken[rank] = 1
        self.free -= 1
        return self.ranked[rank]


class _TierSlot:
    """One tier as one call class sees it: when it opens, and its queue of lines."""

    __slots__ = ("level", "cutoff", "_queue", "_pool", "_tier", "_language")

    def __init__(self, pool: _LinePool, tier: TierRule, language: str, cutoff: datetime | None):
        self.level = tier.level
        self.cutoff = cutoff
        self._queue: list[int] | None = None  # built on first use: many never are
        self._pool = pool
        self._tier = tier
        self._language = language

    def head(self) -> int:
        """Best free rank through this tier, or -1; drops taken lines off the end."""
        queue = self._queue
        if queue is None:
            queue = self._queue = self._pool.queue(self._tier, self._language)
        taken = self._pool.taken
        while queue and taken[queue[-1]]:
            queue.pop()
        return queue[-1] if queue else -1


class _CallClass:
    """Calls sharing an option and a language: they are eligible for the same lines.

    Only the wait differs between them, which decides which tiers are open yet.
    """

    __slots__ = ("_slots", "_pool")

    def __init__(
        self,
        option: OptionRouting,
        language: str,
        pool: _LinePool,
        now: datetime,
        cutoffs: dict[float, datetime | None],  # by delay, shared across classes
    ) -> None:
        self._pool = pool
        for tier in option.tiers:
            if tier.delay_seconds not in cutoffs:
                cutoffs[tier.delay_seconds] = _cutoff(now, tier.delay_seconds)
        slots = [
            _TierSlot(pool, tier, language, cutoffs[tier.delay_seconds]) for tier in option.tiers
        ]
        self._slots = sorted(slots, key=lambda slot: slot.level)

    def take_best(self, waiting_since: datetime) -> tuple[FreeLine, int] | None:
        """Take the best free line a call waiting since then may use now; None if none."""
        best_rank, best_level = -1, None
        for slot in self._slots:
            if best_level is not None and slot.level > best_level:
                break  # slots are sorted by level: nothing later can beat the pick
            cutoff = slot.cutoff
            if cutoff is None or waiting_since > cutoff:
                continue  # this call has not waited long enough for the tier
            head = slot.head()
            # Same level: the lower rank is the line idle longer.
            if head >= 0 and (best_level is None or head < best_rank):
                best_rank, best_level = head, slot.level
        if best_level is None:
            return None
        return self._pool.take(best_rank), best_level
