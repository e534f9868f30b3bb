"""The `records:` section of menus.yaml: the shared form's lists, extendable without code."""

from __future__ import annotations

import copy

import pytest

from hotline.config import ConfigError, Records, parse
from tests.unit.test_config import RAW


def test_the_shipped_lists_are_the_shared_forms() -> None:
    records = parse(RAW).records
    assert records.age_groups[0] == "10代以下" and records.age_groups[-1] == "不明"
    assert "回答なし" in records.genders
    assert records.categories[:6] == [
        "心の病気や不調",
        "自分の悩みを話せる場所がない",
        "暮らし・お金",
        "家庭や家族",
        "同居人との関係",
        "死にたい・消えたい気持ち",
    ]
    assert {"自治体", "自立相談支援機関", "福祉事務所", "警察", "地域の支援団体"} <= set(
        records.destination_types
    )
    assert {"面談", "同行支援"} <= set(records.action_kinds)
    assert records.export.min_cell == 5


def test_a_file_without_the_section_gets_the_defaults() -> None:
    data = copy.deepcopy(RAW)
    del data["records"]
    assert parse(data).records == Records()
    assert parse(data).records == parse(RAW).records


def test_operators_extend_a_list_without_code() -> None:
    data = copy.deepcopy(RAW)
    data["records"]["categories"].append("ひきこもり")
    assert "ひきこもり" in parse(data).records.categories


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["categories"].append("孤独・孤立"), "records.categories: duplicate value"),
        (lambda r: r.update(age_groups=[]), "records.age_groups: List should have at least 1"),
        (lambda r: r["case_statuses"].pop("open"), "records.case_statuses: missing open"),
        (lambda r: r["export"].update(min_cell=0), "records.export.min_cell"),
        (lambda r: r.update(colours=["red"]), "records.colours"),
        (lambda r: r["support"].append("x" * 65), "records.support.3"),
    ],
)
def test_a_mistake_names_the_field(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(RAW)
    change(data["records"])
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse(data)
