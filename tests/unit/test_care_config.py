"""menus.yaml's `care`: breaks after hard calls and the talk limit, per organisation, and the
errors an operator's mistake gets (naming the field)."""

from __future__ import annotations

import pytest

from hotline.config import ConfigError, parse
from tests.unit.test_config import edited


def test_the_shipped_file_gives_every_organisation_a_break_after_a_hard_call() -> None:
    cfg = parse(edited(lambda d: None))
    for org in cfg.organisations:
        care = cfg.care_of(org)
        assert care.hard_call_break_minutes == 15
        assert care.max_consecutive_talk_minutes == 120
        assert care.consecutive_break_minutes == 10
        assert care.hard_seriousness == ["高い", "緊急"]


def test_an_organisation_overrides_only_the_keys_it_gives() -> None:
    def own(d: dict) -> None:
        d["organisations"][0]["care"] = {"hard_call_break_minutes": 30}

    cfg = parse(edited(own))
    first, second = cfg.organisations[0], cfg.organisations[1]
    assert cfg.care_of(first).hard_call_break_minutes == 30
    assert cfg.care_of(first).max_consecutive_talk_minutes == 120  # the file's
    assert cfg.care_of(second).hard_call_break_minutes == 15


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["care"].update(hard_call_break_minutes=-1), "care.hard_call_break_minutes"),
        (
            lambda d: d["care"].update(max_consecutive_talk_minutes=5),
            "care.max_consecutive_talk_minutes",
        ),
        (lambda d: d["care"].update(consecutive_break_minutes=0), "care.consecutive_break_minutes"),
        (lambda d: d["care"].update(brake_minutes=10), "care.brake_minutes"),
        (
            lambda d: d["organisations"][0].update(care={"hard_call_break_minutes": "long"}),
            "organisations.0.care.hard_call_break_minutes",
        ),
    ],
)
def test_a_wrong_care_value_is_refused_naming_its_field(change, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse(edited(change))


def test_a_hard_risk_level_must_be_one_of_the_record_forms() -> None:
    def wrong(d: dict) -> None:
        d["organisations"][1]["care"] = {"hard_seriousness": ["とても高い"]}

    where = r"organisations\.1\.care\.hard_seriousness"
    with pytest.raises(ConfigError, match=where + ": 'とても高い' is not one of records"):
        parse(edited(wrong))
