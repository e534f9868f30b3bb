"""Who gets which line: the pure routing engine, by example and by property."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.routing.engine import (
    FreeLine,
    OptionRouting,
    Reservation,
    TierRule,
    WaitingCall,
    assign,
    eligible_tier,
)

BASE = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
NOW = BASE + timedelta(hours=1)

PRIMARY = TierRule(level=0, delay_seconds=0, orgs=frozenset({"tokyo"}))
OVERFLOW = TierRule(level=1, delay_seconds=60, orgs=frozenset({"osaka"}))
BACKUP = TierRule(level=2, delay_seconds=120, orgs=frozenset({"interp"}), require_language=False)
ROUTING = {
    "talk": OptionRouting("talk", priority=0, tiers=(PRIMARY, OVERFLOW, BACKUP)),
    "urgent": OptionRouting("urgent", priority=5, tiers=(PRIMARY, OVERFLOW, BACKUP)),
}


def call(call_id, waited, option="talk", language="ja", priority=None):
    return WaitingCall(call_id, option, language, NOW - timedelta(seconds=waited), priority)


def line(line_id, org="tokyo", idle=0, languages=("ja",)):
    return FreeLine(line_id, org, frozenset(languages), NOW - timedelta(seconds=idle))


# --- examples ---------------------------------------------------------------


def test_primary_before_overflow_before_backup():
    # The backup line has been idle longest, yet each caller gets the best tier left.
    calls = [call(1, waited=300), call(2, waited=200), call(3, waited=150)]
    lines = [line("bk", "interp", idle=900), line("ov", "osaka", idle=600), line("pr", "tokyo")]
    assert assign(calls, lines, ROUTING, NOW) == [
        Reservation(1, "pr", 0),
        Reservation(2, "ov", 1),
        Reservation(3, "bk", 2),
    ]


def test_overflow_line_is_used_only_once_its_delay_has_passed():
    lines = [line("ov", "osaka")]
    assert assign([call(1, waited=59)], lines, ROUTING, NOW) == []
    assert assign([call(1, waited=60)], lines, ROUTING, NOW) == [Reservation(1, "ov", 1)]


def test_backup_serves_a_caller_whose_language_no_primary_line_speaks():
    lines = [line("pr", "tokyo", idle=900), line("bk", "interp", languages=("ja",))]
    assert assign([call(1, waited=130, language="vi")], lines, ROUTING, NOW) == [
        Reservation(1, "bk", 2)
    ]


def test_language_required_tier_refuses_a_line_without_the_language():
    lines = [line("pr", "tokyo", languages=("ja",)), line("ov", "osaka", languages=("ja",))]
    assert assign([call(1, waited=100, language="en")], lines, ROUTING, NOW) == []


def test_higher_priority_caller_gets_the_only_line_despite_a_shorter_wait():
    calls = [call(1, waited=600), call(2, waited=5, option="urgent")]
    assert assign(calls, [line("pr")], ROUTING, NOW) == [Reservation(2, "pr", 0)]


def test_a_callers_own_priority_overrides_the_options():
    calls = [call(1, waited=5, option="urgent"), call(2, waited=1, priority=9)]
    assert assign(calls, [line("pr")], ROUTING, NOW) == [Reservation(2, "pr", 0)]


def test_equal_priority_longest_wait_first():
    calls = [call(1, waited=30), call(2, waited=45), call(3, waited=40)]
    assert assign(calls, [line("pr")], ROUTING, NOW) == [Reservation(2, "pr", 0)]


def test_of_two_free_primary_lines_the_one_idle_longest_is_chosen():
    lines = [line("a", idle=10), line("b", idle=300), line("c", idle=20)]
    assert assign([call(1, waited=1)], lines, ROUTING, NOW) == [Reservation(1, "b", 0)]


def test_waits_are_elapsed_time_whatever_zone_the_timestamps_carry():
    jst = timezone(timedelta(hours=9))
    waited_60s = WaitingCall(1, "talk", "ja", (NOW - timedelta(seconds=60)).astimezone(jst))
    assert assign([waited_60s], [line("ov", "osaka")], ROUTING, NOW) == [Reservation(1, "ov", 1)]


def test_a_call_for_an_unknown_option_is_never_assigned():
    assert assign([call(1, waited=999, option="gone")], [line("pr")], ROUTING, NOW) == []


@pytest.mark.parametrize(
    ("calls", "lines"),
    [
        ([call(1, 10), call(1, 20)], [line("pr")]),
        ([call(1, 10)], [line("pr"), line("pr", "osaka")]),
    ],
    ids=["call_id", "line_id"],
)
def test_duplicate_ids_raise(calls, lines):
    with pytest.raises(ValueError, match="duplicate"):
        assign(calls, lines, ROUTING, NOW)


def test_empty_inputs_give_no_reservations():
    assert assign([], [line("pr")], ROUTING, NOW) == []
    assert assign([call(1, 10)], [], ROUTING, NOW) == []
    assert assign([call(1, 10)], [line("pr")], {}, NOW) == []


# --- properties ---------------------------------------------------------------

ORGS = ("tokyo", "osaka", "sapporo", "interp")
LANGUAGES = ("ja", "en", "zh")
ROUTED = ("talk", "youth", "women")
OPTIONS = (*ROUTED, "unknown")

tiers = st.builds(
    TierRule,
    level=st.integers(0, 2),
    delay_seconds=st.sampled_from([0, 30, 60, 120]),
    orgs=st.frozensets(st.sampled_from(ORGS), min_size=1),
    require_language=st.booleans(),
)
# (option, language, waited in steps of 30 s, own priority): waits land on the delays.
call_specs = st.tuples(
    st.sampled_from(OPTIONS),
    st.sampled_from(LANGUAGES),
    st.integers(0, 6),
    st.none() | st.integers(0, 3),
)
# (org, idle seconds, languages): few idle values, so line ids break ties.
line_specs = st.tuples(
    st.sampled_from(ORGS), st.integers(0, 3), st.frozensets(st.sampled_from(LANGUAGES), min_size=1)
)


@st.composite
def scenarios(draw):
    """A routing table, a queue of calls and some free lines, with ties on every key."""
    routing = {
        name: OptionRouting(
            name, draw(st.integers(0, 2)), draw(st.lists(tiers, min_size=1, max_size=3).map(tuple))
        )
        for name in draw(st.lists(st.sampled_from(ROUTED), min_size=1, unique=True))
    }
    specs = draw(st.lists(call_specs, min_size=1, max_size=25))
    call_ids = draw(st.permutations(range(len(specs))))  # id order is not arrival order
    calls = [
        call(call_id, waited=30 * steps, option=option, language=language, priority=priority)
        for call_id, (option, language, steps, priority) in zip(call_ids, specs, strict=True)
    ]
    specs = draw(st.lists(line_specs, min_size=1, max_size=12))
    line_ids = draw(st.permutations(range(len(specs))))
    lines = [
        line(f"L{line_id}", org, idle=idle, languages=languages)
        for line_id, (org, idle, languages) in zip(line_ids, specs, strict=True)
    ]
    return routing, calls, lines


def tier_of(call, line, routing):
    """The tier rule, written here from the documented rule, not taken from the engine: the
    lowest level among the option's tiers that hold the line's organisation, whose delay the
    call has waited (elapsed seconds up to NOW), and that need no language or whose line
    speaks the caller's; None if there is none."""
    option = routing.get(call.option)
    if option is None:
        return None
    waited = (NOW - call.waiting_since).total_seconds()
    levels = [
        tier.level
        for tier in option.tiers
        if line.org in tier.orgs
        and waited >= tier.delay_seconds
        and (call.language in line.languages or not tier.require_language)
    ]
    return min(levels) if levels else None


def call_order(call, routing):
    priority = routing[call.option].priority if call.priority is None else call.priority
    return (-priority, call.waiting_since, call.call_id)


def line_preference(line, tier):
    return (tier, line.idle_since, line.line_id)


def reference_assign(calls, lines, routing):
    """The rule, spelt out the slow way: every call against every free line."""
    free = list(lines)
    reservations = []
    for c in sorted(
        (c for c in calls if c.option in routing), key=lambda c: call_order(c, routing)
    ):
        tiers_by_line = [(tier_of(c, ln, routing), ln) for ln in free]
        candidates = [line_preference(ln, t) + (ln,) for t, ln in tiers_by_line if t is not None]
        if candidates:
            tier, _, _, best = min(candidates)
            free.remove(best)
            reservations.append(Reservation(c.call_id, best.line_id, tier))
    return reservations


def run(scenario):
    routing, calls, lines = scenario
    reservations = assign(calls, lines, routing, NOW)
    by_call = {c.call_id: c for c in calls}
    by_line = {ln.line_id: ln for ln in lines}
    served = [(by_call[r.call_id], by_line[r.line_id], r.tier) for r in reservations]
    served_ids = {r.call_id for r in reservations}
    used_ids = {r.line_id for r in reservations}
    waiting = [c for c in calls if c.call_id not in served_ids]
    free = [ln for ln in lines if ln.line_id not in used_ids]
    return routing, reservations, served, waiting, free


property_settings = settings(max_examples=200, deadline=None)


@property_settings
@given(scenarios())
def test_no_line_and_no_call_is_used_twice(scenario):
    _, reservations, _, _, _ = run(scenario)
    assert len({r.line_id for r in reservations}) == len(reservations)
    assert len({r.call_id for r in reservations}) == len(reservations)


@property_settings
@given(scenarios())
def test_every_reservation_uses_the_lowest_tier_the_line_may_serve_through(scenario):
    routing, _, served, _, _ = run(scenario)
    for c, ln, tier in served:
        assert tier_of(c, ln, routing) == tier


@property_settings
@given(scenarios())
def test_no_line_is_left_free_while_a_call_it_could_serve_waits(scenario):
    routing, _, _, waiting, free = run(scenario)
    for c in waiting:
        for ln in free:
            assert tier_of(c, ln, routing) is None


@property_settings
@given(scenarios())
def test_a_line_goes_to_the_first_call_in_order_it_could_serve(scenario):
    routing, _, served, waiting, _ = run(scenario)
    for a, ln, _ in served:
        for b in waiting:
            if tier_of(b, ln, routing) is not None:
                assert call_order(a, routing) < call_order(b, routing)


@property_settings
@given(scenarios())
def test_a_call_gets_the_best_line_it_could_have_had(scenario):
    # A line still free at the end was free at every call's turn.
    routing, _, served, _, free = run(scenario)
    for c, ln, tier in served:
        for other in free:
            other_tier = tier_of(c, other, routing)
            if other_tier is not None:
                assert line_preference(ln, tier) < line_preference(other, other_tier)


@property_settings
@given(scenarios())
def test_the_pass_matches_the_rule_spelt_out_the_slow_way(scenario):
    routing, calls, lines = scenario
    assert assign(calls, lines, routing, NOW) == reference_assign(calls, lines, routing)


@property_settings
@given(scenarios())
def test_the_engines_own_tier_rule_is_the_documented_one(scenario):
    # The store asks eligible_tier too (which lines could serve whom, for its metrics).
    routing, calls, lines = scenario
    for c in calls:
        for ln in lines:
            assert eligible_tier(c, ln, routing, NOW) == tier_of(c, ln, routing)
