"""The simulator against queueing theory: Erlang A (M/M/c+M) and Erlang C (M/M/c).

One option served by one organisation, Poisson arrivals, exponential talk time and
patience, nothing else (no setup, no wrap-up, no redial): the simulated answer rate must match
Erlang A's, and with unlimited patience the share of callers who wait must match Erlang C's.
The references come from the formulas (hotline.simulate.erlang), never from the simulator.

Tolerance: 0.04 absolute on both shares, over 8,000 callers a point. Callers of one busy
spell share their fate, so a share varies more than independent draws would: across eight
seeds, at 6 lines and 4.2 Erlangs, the share who wait spread with a standard deviation of
0.013 around Erlang C's 0.336. 0.04 is three of those; a simulator off by a tier delay or a
lost line is off by more (one line fewer at that point gives 0.63).
"""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from hotline.config import TOKYO, HotlineConfig
from hotline.simulate import erlang
from hotline.simulate.demand import Caller, Demand
from hotline.simulate.model import Dist, HourProfile, Redial, Shares, SimModel
from hotline.simulate.run import simulate
from hotline.simulate.supply import PlanRow, from_plan

TALK = 300.0  # mean talk time, seconds (mu = 1 / TALK)
PATIENCE = 300.0  # mean patience, seconds (theta = 1 / PATIENCE)
CALLERS = 8000
TOLERANCE = 0.04


def markov_model(patience: float) -> SimModel:
    exp = Dist(dist="exponential", mean=TALK)
    none = Dist(dist="fixed", mean=0)
    return SimModel(
        talk=exp,
        wrap_up=none,
        setup=none,
        patience=Dist(dist="exponential", mean=patience)
        if math.isfinite(patience)
        else Dist(dist="fixed", mean=math.inf),
        redial=Redial(probability=0, after=none),
        hour_profile=HourProfile(weights=[1] * 24),
        languages=Shares(shares={"en": 1}),
    )


def poisson_demand(rate: float, seed: int) -> Demand:
    """CALLERS Poisson arrivals at `rate` a second, all choosing 女性の悩み (primary: sisc)."""
    rng, t, callers = random.Random(seed), 0.0, []
    for i in range(CALLERS):
        t += rng.expovariate(rate)
        callers.append(Caller(i, "women", "ja", t, f"p{i}", redials=False))
    start = dt.datetime(2023, 12, 22, tzinfo=TOKYO)
    return Demand(start, t, callers)


def run(cfg: HotlineConfig, lines: int, load: float, patience: float) -> list:
    supply = from_plan([PlanRow("sisc", None, (lines,) * 24)], cfg)
    demand = poisson_demand(load / TALK, seed=lines * 100 + int(load * 10))
    result = simulate(cfg, markov_model(patience), demand, supply, "silos", seed=3)
    return result.attempts


@pytest.mark.parametrize(("lines", "load"), [(1, 0.8), (3, 2.4), (3, 3.9), (6, 4.2), (6, 7.8)])
def test_answer_rate_matches_erlang_a(cfg: HotlineConfig, lines: int, load: float) -> None:
    attempts = run(cfg, lines, load, PATIENCE)
    simulated = sum(a.outcome == "connected" for a in attempts) / len(attempts)
    expected = erlang.erlang_a_answered(lines, load / TALK, 1 / TALK, 1 / PATIENCE)
    assert simulated == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize(("lines", "load"), [(1, 0.5), (3, 1.5), (3, 2.1), (6, 4.2)])
def test_share_who_wait_matches_erlang_c(cfg: HotlineConfig, lines: int, load: float) -> None:
    attempts = run(cfg, lines, load, math.inf)
    assert all(a.outcome == "connected" for a in attempts)  # nobody gives up
    simulated = sum(a.wait > 0 for a in attempts) / len(attempts)
    assert simulated == pytest.approx(erlang.erlang_c(lines, load), abs=TOLERANCE)


def test_the_formulas_give_the_textbook_values() -> None:
    # Erlang C: 2 lines, 1 Erlang: a caller waits with probability 1/3.
    assert erlang.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # Erlang B recursion: 1 line, 1 Erlang, blocking 1/2.
    assert erlang.erlang_b(1, 1.0) == pytest.approx(0.5)
    # M/M/1+M with theta = mu is M/M/infinity in the count: P(0 in system) = e^-a, and every
    # caller who finds the line free is served, so the answer rate is (1 - e^-a) / a.
    a = 0.8
    assert erlang.erlang_a_answered(1, a, 1.0, 1.0) == pytest.approx((1 - math.exp(-a)) / a)
    # Very patient callers below capacity: nearly everyone is answered.
    assert erlang.erlang_a_answered(3, 1.5, 1.0, 1e-6) == pytest.approx(1.0, abs=1e-4)
