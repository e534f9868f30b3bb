"""The simulator's run: repeatable, on the service's own engine, silos kept apart, pooling pays."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
import yaml

from hotline import config as config_mod
from hotline.config import HotlineConfig
from hotline.routing import engine
from hotline.routing.store import routing_table
from hotline.simulate import demand as demand_mod
from hotline.simulate.model import load_model, load_trials, published_rates
from hotline.simulate.results import summarise
from hotline.simulate.run import simulate
from hotline.simulate.supply import PlanRow, from_config, from_plan, table_for

PERIOD = "year_end_2022"
ROOT = Path(__file__).resolve().parents[2]


def small_demand(cfg: HotlineConfig, seed: int = 1, calls: int = 3000) -> demand_mod.Demand:
    model, trials = load_model(), load_trials()
    return demand_mod.synthetic(
        cfg,
        model,
        period_id=PERIOD,
        calls=calls,
        rates=published_rates(model, trials, PERIOD),
        overall=trials[PERIOD]["answer_rate"],
        seed=seed,
    )


def test_the_same_seed_gives_the_same_result(cfg: HotlineConfig) -> None:
    model = load_model()
    a = summarise(simulate(cfg, model, small_demand(cfg), from_config(cfg), "pooled", seed=4))
    b = summarise(simulate(cfg, model, small_demand(cfg), from_config(cfg), "pooled", seed=4))
    c = summarise(simulate(cfg, model, small_demand(cfg), from_config(cfg), "pooled", seed=5))
    assert a == b
    assert a != c


def test_every_assignment_comes_from_the_services_engine(
    cfg: HotlineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass calls hotline.routing.engine.assign with the service's table: an engine that
    refuses one organisation's lines is obeyed, and every connection is one it returned."""
    real, given = engine.assign, set()

    def no_inochi(calls, lines, table, now):  # type: ignore[no-untyped-def]
        assert table == routing_table(cfg)  # pooled runs on the service's own table
        picks = real(calls, [ln for ln in lines if ln.org != "inochi"], table, now)
        given.update((r.call_id, r.line_id) for r in picks)
        return picks

    monkeypatch.setattr(engine, "assign", no_inochi)
    result = simulate(cfg, load_model(), small_demand(cfg), from_config(cfg), "pooled", seed=2)
    connected = [(i, a) for i, a in enumerate(result.attempts) if a.outcome == "connected"]
    assert connected
    assert all(a.org != "inochi" for _, a in connected)
    assert {(i, a.line_id) for i, a in connected} == given


def with_overflow(cfg: HotlineConfig) -> HotlineConfig:
    """The shipped config, but loneliness starts with inochi alone and overflows after a minute
    to the other desks (the shipped tiers follow the seed: every partner is primary)."""
    options = [
        o.model_copy(
            update={
                "tiers": config_mod.Tiers(
                    primary=["inochi"],
                    overflow=config_mod.Tier(
                        after_seconds=60, orgs=["childline", "mental-care-council", "sisc"]
                    ),
                )
            }
        )
        if o.id == "loneliness"
        else o
        for o in cfg.options
    ]
    return cfg.model_copy(update={"options": options})


def test_silos_never_serve_a_caller_from_another_options_partners(cfg: HotlineConfig) -> None:
    cfg = with_overflow(cfg)
    # Few lines, so that callers wait long enough for overflow and backup tiers to open.
    few = [PlanRow(org, None, (1,) * 24) for org in ("childline", "mental-care-council", "sisc")]
    supply = from_plan([*few, PlanRow("inochi", None, (2,) * 24)], cfg)
    result = simulate(cfg, load_model(), small_demand(cfg), supply, "silos", seed=1)
    connected = [a for a in result.attempts if a.outcome == "connected"]
    assert {a.caller.option for a in connected} == {"under18", "gender", "loneliness"}
    for a in connected:
        assert a.org in cfg.option(a.caller.option).tiers.primary, (a.caller.option, a.org)
    # while pooling, on the same callers, does use the overflow and backup tiers
    pooled = simulate(cfg, load_model(), small_demand(cfg), supply, "pooled", seed=1)
    assert any(
        a.outcome == "connected" and a.org not in cfg.option(a.caller.option).tiers.primary
        for a in pooled.attempts
    )


def test_a_desk_serves_its_own_option_alone_under_silos(cfg: HotlineConfig) -> None:
    # One sisc line kept for 女性の悩み: under silos 性別 callers are closed, not served by it.
    supply = from_plan([PlanRow("sisc", "women", (1,) * 24)], cfg)
    silos = table_for(cfg, "silos", supply.lines)
    assert "sisc/women" in silos["women"].tiers[0].orgs
    assert "sisc/women" not in silos["gender"].tiers[0].orgs
    assert supply.lines[0].org_for("silos") == "sisc/women"
    assert supply.lines[0].org_for("pooled") == "sisc"


def random_plan(cfg: HotlineConfig, rng: random.Random) -> list[PlanRow]:
    orgs = ["childline", "mental-care-council", "sisc", "inochi", "jaico", "mental-care-assoc"]
    return [
        PlanRow(org, None, tuple(rng.randint(0, 2) for _ in range(24)))
        for org in rng.sample(orgs, k=rng.randint(2, len(orgs)))
    ]


def test_pooled_connects_at_least_as_many_callers_as_silos_on_average(
    cfg: HotlineConfig,
) -> None:
    """Over random staffing plans, each with common random numbers for both policies."""
    model, rng = load_model(), random.Random(11)
    for _ in range(4):
        supply = from_plan(random_plan(cfg, rng), cfg)
        gains = []
        for seed in (1, 2, 3):
            demand = small_demand(cfg, seed=seed, calls=2000)
            got = {
                p: summarise(simulate(cfg, model, demand, supply, p, seed=seed))["total"]
                for p in ("pooled", "silos")
            }
            gains.append(got["pooled"]["connected"] - got["silos"]["connected"])
        assert statistics.mean(gains) >= 0, gains


def test_lines_answer_in_their_configured_hours_only(cfg: HotlineConfig) -> None:
    """sisc (女性の悩み's only partner) staffed 09:00-17:00: a caller at 20:00 is closed."""
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    sisc = next(o for o in data["organisations"] if o["id"] == "sisc")
    sisc["hours"] = [{"start": "09:00", "end": "17:00"}]
    day_cfg = config_mod.parse(data)
    start, end = demand_mod.period_bounds(day_cfg, PERIOD)
    callers = [
        demand_mod.Caller(0, "women", "ja", 10 * 3600.0, "p0", redials=False),
        demand_mod.Caller(1, "women", "ja", 20 * 3600.0, "p1", redials=False),
        demand_mod.Caller(2, "women", "ja", 33 * 3600.0, "p2", redials=False),  # 09:00 next day
    ]
    load = demand_mod.Demand(start, (end - start).total_seconds(), callers)
    result = simulate(day_cfg, load_model(), load, from_config(day_cfg), "pooled", seed=1)
    assert [a.outcome for a in result.attempts] == ["connected", "closed", "connected"]
    staffed = result.staffed["sisc"] / 3600
    assert staffed == pytest.approx(
        3 * 8 * 7
    )  # 3 lines, 8 hours, 7 days (12-28 09:00 to 01-04 09:00)
