"""The simulator's data: the published figures it ships, and its assumptions with their notes."""

from __future__ import annotations

from pathlib import Path

import yaml

from hotline.config import HotlineConfig
from hotline.simulate.model import NO_OPTION, load_model, load_trials, published_rates

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_figures_are_the_repositorys_copy_of_trials_yaml() -> None:
    ours = yaml.safe_load((ROOT / "tests" / "data" / "trials.yaml").read_text(encoding="utf-8"))
    assert load_trials() == {p["id"]: p for p in ours["periods"]}


def test_period_1s_option_rates_are_those_published_with_period_2() -> None:
    rates = published_rates(load_model(), load_trials(), "period_1")
    assert rates == {"loneliness": 10.5, "suicidal": 86.9, "poverty": 12.6}
    assert published_rates(load_model(), load_trials(), "year_end_2022") == {
        "under18": 57.8,
        "gender": 18.3,
        "loneliness": 6.1,
    }


def test_every_assumption_says_where_it_came_from() -> None:
    notes = load_model().notes()
    assert {"talk", "wrap_up", "setup", "patience", "redial", "hour_profile"} <= set(notes)
    assert all(note.strip() for note in notes.values()), notes


def options_of(cfg: HotlineConfig, menu_id: str, seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if menu_id in seen:
        return set()
    seen.add(menu_id)
    found: set[str] = set()
    for choice in [*cfg.menus[menu_id].keys.values(), cfg.menus[menu_id].default]:
        if choice.option:
            found.add(choice.option)
        elif choice.menu:
            found |= options_of(cfg, choice.menu, seen)
    return found


def test_each_periods_demand_goes_to_options_its_menu_offers(cfg: HotlineConfig) -> None:
    model = load_model()
    published = load_trials()
    for period in cfg.periods:
        if not published.get(period.id, {}).get("calls"):
            continue
        split = model.demand[period.id].normalised()
        assert set(split) - {NO_OPTION} <= options_of(cfg, period.menu), period.id
        assert set(published_rates(model, published, period.id)) <= set(split), period.id
