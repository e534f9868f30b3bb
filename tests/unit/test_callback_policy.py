"""Who may be called back, and the callback's settings in menus.yaml: only Japanese mobile and
geographic numbers; a ring shorter than a Japanese voicemail; the options' policy checked."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hotline.config import ConfigError, parse
from hotline.voice.steps import number_kind

RAW = yaml.safe_load((Path(__file__).parents[2] / "config" / "menus.yaml").read_text("utf-8"))


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("+819012345678", "callable"),  # 090 mobile
        ("+818012345678", "callable"),  # 080 mobile
        ("+817012345678", "callable"),  # 070 mobile
        ("+81312345678", "callable"),  # 03 Tokyo
        ("+81662345678", "callable"),  # 06 Osaka
        ("+81120494949", "not_callable"),  # 0120 free-dial
        ("+818001234567", "not_callable"),  # 0800 free-dial
        ("+815012345678", "not_callable"),  # 050 IP phone
        ("+12025550123", "not_callable"),  # abroad
        ("+821012345678", "not_callable"),  # a Korean mobile
        ("anonymous", "withheld"),
        ("", "withheld"),
        ("+8190", "withheld"),  # not a number
    ],
)
def test_only_japanese_mobile_and_geographic_numbers_are_called_back(
    number: str, kind: str
) -> None:
    assert number_kind(number) == kind


def _refused(change) -> str:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(RAW)
    change(data)
    with pytest.raises(ConfigError) as e:
        parse(data)
    return str(e.value)


def test_the_caller_rings_less_than_a_japanese_voicemail_and_the_error_names_the_field() -> None:
    assert parse(copy.deepcopy(RAW)).callback.ring_seconds < 15
    error = _refused(lambda d: d["callback"].update(ring_seconds=25))
    assert "callback.ring_seconds" in error and "14" in error


def test_an_options_callback_policy_is_a_yes_or_no_and_the_error_names_it() -> None:
    index = next(n for n, o in enumerate(RAW["options"]) if o["id"] == "women")

    def bad(d: dict) -> None:
        d["options"][index]["callback"] = "maybe"

    assert f"options.{index}.callback" in _refused(bad)
