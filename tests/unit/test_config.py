"""config/menus.yaml: what the shipped file offers, and what an operator's mistake is told."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hotline.config import TOKYO, ConfigError, HotlineConfig, load, parse
from tests.conftest import NUMBER_0120, NUMBER_9999

ROOT = Path(__file__).resolve().parents[2]
MENUS = ROOT / "config" / "menus.yaml"
TRIALS = ROOT / "tests" / "data" / "trials.yaml"  # the repository's copy of the published figures
RAW = yaml.safe_load(MENUS.read_text(encoding="utf-8"))


def edited(change: Callable[[dict], object]) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def period(cfg: HotlineConfig, period_id: str):  # type: ignore[no-untyped-def]
    return next(p for p in cfg.periods if p.id == period_id)


# --- the shipped file ---------------------------------------------------------


def test_the_shipped_file_offers_the_fifth_period_menu() -> None:
    cfg = load(MENUS)
    assert cfg.default_menu == "period-5"
    assert set(cfg.menus["period-5"].keys) == {"1", "2", "3", "4", "8"}


def test_the_language_menu_offers_the_eight_foreign_languages(cfg: HotlineConfig) -> None:
    chosen = {c.language for c in cfg.menus["languages"].keys.values() if c.option}
    assert chosen == {"en", "zh", "ko", "vi", "pt", "es", "tl", "ne"}
    assert chosen <= set(cfg.languages)


def test_every_trial_period_is_configured_with_its_published_dates(cfg: HotlineConfig) -> None:
    trials = yaml.safe_load(TRIALS.read_text(encoding="utf-8"))["periods"]
    assert [p.id for p in cfg.periods] == [t["id"] for t in trials]
    assert [t["id"] for t in trials] == [
        "period_1",
        "period_2",
        "day_of_life",
        "year_end_2022",
        "period_5",
        "awareness_month_2024",
    ]
    for t in trials:
        if t["start"] is not None:  # period_5's dates are not in the seed
            p = period(cfg, t["id"])
            # trials.yaml gives the first and last day; menus.yaml the minutes, half-open.
            assert (p.first_day, p.last_day) == (t["start"], t["end"]), t["id"]


@pytest.mark.parametrize(
    ("period_id", "start", "end"),
    [
        ("period_1", "2022-07-07 10:00", "2022-07-14 10:00"),
        ("year_end_2022", "2022-12-28 09:00", "2023-01-04 09:00"),
        ("period_5", "2023-12-15 09:00", "2024-01-04 09:00"),
        ("awareness_month_2024", "2024-05-02 10:00", "2024-05-07 10:00"),
    ],
)
def test_periods_start_and_end_at_the_announced_minute(
    cfg: HotlineConfig, period_id: str, start: str, end: str
) -> None:
    p = period(cfg, period_id)
    fmt = "%Y-%m-%d %H:%M"
    assert (p.start.strftime(fmt), p.end.strftime(fmt)) == (start, end)
    assert p.start.utcoffset() == dt.timedelta(hours=9)  # Asia/Tokyo, not UTC


# --- a bad file is refused, naming the field ----------------------------------


BAD = [
    pytest.param(
        lambda d: d["options"][0]["tiers"]["primary"].append("nobody"),
        "options.under18.tiers.primary",
        "unknown organisation 'nobody'",
        id="unknown-organisation-in-tier",
    ),
    pytest.param(
        lambda d: d["menus"]["period-5"]["keys"].update({"12": {"option": "women"}}),
        "menus.period-5.keys",
        "key '12' is not a single digit",
        id="two-digit-key",
    ),
    pytest.param(
        lambda d: d["menus"]["period-5"]["keys"].update({"a": {"option": "women"}}),
        "menus.period-5.keys",
        "key 'a' is not a single digit",
        id="letter-key",
    ),
    pytest.param(
        lambda d: d["menus"]["period-5"].pop("prompt"),
        "menus.period-5.prompt",
        "Field required",
        id="missing-prompt",
    ),
    pytest.param(
        lambda d: d["organisations"][0]["lines"][0].update(target="0120-279-338"),
        "organisations.0.lines.0.target",
        "'0120-279-338' is neither an E.164 number nor a sip: URI",
        id="line-target-not-e164-nor-sip",
    ),
    pytest.param(
        lambda d: d["periods"][0].update(menu="nine-options"),
        "periods.period_1.menu",
        "unknown menu 'nine-options'",
        id="unknown-menu-in-period",
    ),
    pytest.param(
        lambda d: d["periods"][3]["hours"].update({"nobody": "24h"}),
        "periods.year_end_2022.hours",
        "unknown option 'nobody'",
        id="unknown-option-in-period-hours",
    ),
    pytest.param(
        lambda d: d["options"][0].update(
            hours=[{"days": ["obon"], "start": "9:00", "end": "17:00"}]
        ),
        "options.0.hours.0.days.0",
        "'holiday' or 'year_end'",
        id="unknown-day-type",
    ),
    pytest.param(
        lambda d: d["calendar"].update(year_end=["12/31"]),
        "calendar.year_end",
        "'12/31' is not a month and day as MM-DD",
        id="year-end-day-not-mm-dd",
    ),
    pytest.param(
        lambda d: d["closed"]["ja"].update(opens=[{"text": "{when}、{where}"}]),
        "closed.ja.opens.0.text",
        "unknown placeholder {where}",
        id="unknown-placeholder-in-closed",
    ),
    pytest.param(
        lambda d: d["referrals"][0].update(languages=["xx"]),
        "referrals.yorisoi",
        "unknown language 'xx'",
        id="unknown-language-of-a-referral",
    ),
    pytest.param(
        lambda d: d["menus"]["period-5"].update(repeat_key="8"),
        "menus.period-5",
        "repeat_key '8' is also a choice key",
        id="repeat-key-is-a-choice",
    ),
    pytest.param(
        lambda d: d["periods"][0].update(end=dt.date(2022, 7, 7)),
        "periods.0",
        "end must be after start",
        id="period-ends-when-it-starts",
    ),
]


@pytest.mark.parametrize(("change", "where", "problem"), BAD)
def test_a_bad_file_is_refused_with_the_field_and_the_problem(change, where, problem) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(edited(change))
    assert f"{where}: " in str(refused.value) and problem in str(refused.value)


def test_a_line_target_with_a_trailing_newline_is_refused() -> None:
    # What `target: >` (a folded YAML scalar) gives: Twilio would be asked to dial it.
    data = copy.deepcopy(RAW)
    data["organisations"][0]["lines"][0]["target"] = "+81312345678\n"
    with pytest.raises(ConfigError, match="organisations.0.lines.0.target"):
        parse(data)


def test_a_key_given_twice_in_a_menu_is_refused_naming_the_key(tmp_path: Path) -> None:
    text = MENUS.read_text(encoding="utf-8")
    doubled = '"3": {option: women}\n      "3": {option: gender}'
    path = tmp_path / "menus.yaml"
    path.write_text(text.replace('"3": {option: women}', doubled, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key '3'") as refused:
        load(path)
    assert str(path) in str(refused.value)


def test_a_top_level_section_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "menus.yaml"
    path.write_text(MENUS.read_text(encoding="utf-8") + "\ndefault_menu: languages\n")
    with pytest.raises(ConfigError, match="duplicate key 'default_menu'"):
        load(path)


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "menus.yaml"
    with pytest.raises(ConfigError, match="cannot read") as refused:
        load(missing)
    assert str(missing) in str(refused.value)


def test_invalid_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "menus.yaml"
    path.write_text("menus:\n  period-5: {prompt: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid YAML") as refused:
        load(path)
    assert str(path) in str(refused.value)


def test_a_file_saved_in_shift_jis_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "menus.yaml"
    path.write_bytes(MENUS.read_text(encoding="utf-8").encode("shift_jis", errors="replace"))
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert str(path) in str(refused.value)


# --- periods, menus and entry numbers ------------------------------------------


def test_a_call_at_0959_is_outside_the_first_period_and_at_1000_inside(
    cfg: HotlineConfig,
) -> None:
    before = cfg.period_at(dt.datetime(2022, 7, 7, 9, 59, tzinfo=TOKYO))
    at_ten = cfg.period_at(dt.datetime(2022, 7, 7, 10, 0, tzinfo=TOKYO))
    assert before is None and at_ten is not None and at_ten.id == "period_1"
    # The last minute is 10:00 a week later, exclusive.
    assert cfg.period_at(dt.datetime(2022, 7, 14, 9, 59, tzinfo=TOKYO)).id == "period_1"
    assert cfg.period_at(dt.datetime(2022, 7, 14, 10, 0, tzinfo=TOKYO)) is None


def test_a_period_starts_at_its_tokyo_time_not_utc(cfg: HotlineConfig) -> None:
    # 2022-07-07 01:00 UTC is 10:00 in Tokyo: the first minute of 第1期.
    assert period(cfg, "period_1").covers(dt.datetime(2022, 7, 7, 1, 0, tzinfo=dt.UTC))
    assert not period(cfg, "period_1").covers(dt.datetime(2022, 7, 7, 0, 59, tzinfo=dt.UTC))


def test_a_bare_date_in_a_period_means_its_midnight_in_tokyo() -> None:
    data = edited(lambda d: d.update(periods=[
        {"id": "p", "name": "P", "start": dt.date(2025, 1, 1), "end": "2025-01-02",
         "menu": d["default_menu"]}]))  # fmt: skip
    p = parse(data).periods[0]
    assert (p.start, p.end) == (
        dt.datetime(2025, 1, 1, tzinfo=TOKYO),
        dt.datetime(2025, 1, 2, tzinfo=TOKYO),
    )


@pytest.mark.parametrize(
    ("when", "period_id", "menu_id"),
    [
        (dt.datetime(2022, 7, 10, 12, 0, tzinfo=TOKYO), "period_1", "eight-options"),
        (dt.datetime(2022, 12, 1, 9, 0, tzinfo=TOKYO), "day_of_life", "day-of-life"),
        (dt.datetime(2023, 1, 1, 0, 0, tzinfo=TOKYO), "year_end_2022", "year-end-2022"),
        (dt.datetime(2024, 1, 4, 8, 59, tzinfo=TOKYO), "period_5", "period-5"),
        (dt.datetime(2024, 1, 4, 9, 0, tzinfo=TOKYO), None, "period-5"),
        (dt.datetime(2024, 3, 1, 12, 0, tzinfo=TOKYO), None, "period-5"),
    ],
)
def test_a_caller_hears_the_menu_of_the_period_they_call_in(
    cfg: HotlineConfig, when: dt.datetime, period_id: str | None, menu_id: str
) -> None:
    found = cfg.period_at(when)
    assert (found.id if found else None) == period_id
    assert cfg.menu_at(when) == menu_id


@pytest.mark.parametrize(
    ("number", "entry"),
    [(NUMBER_9999, "9999"), (NUMBER_0120, "0120"), ("+81312345678", "other"), ("", "other")],
)
def test_each_public_number_is_labelled_by_its_entry(
    cfg: HotlineConfig, number: str, entry: str
) -> None:
    assert cfg.entry_for(number) == entry


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["organisations"][0]["lines"][0].update(languages=["english"]),
            "unknown 'english'",
        ),
        (
            lambda d: d["organisations"][1].update(languages=["klingon"]),
            "unknown language 'klingon'",
        ),
        (lambda d: d["periods"][1].update(start=dt.date(2022, 7, 10)), "overlaps periods.period_1"),
        (
            lambda d: d["entry_numbers"][1]["numbers"].append(d["entry_numbers"][0]["numbers"][0]),
            "listed under two entries",
        ),
        (
            lambda d: d["organisations"][1].update(
                hours=[{"days": [], "start": "09:00", "end": "17:00"}]
            ),
            "days",
        ),
    ],
)
def test_staffing_mistakes_are_refused_naming_the_field(change, message) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(ConfigError, match=message):
        parse(data)


# --- what Twilio accepts: numbers, SIP lines and their credentials --------------


def _sisc_line(d: dict, **fields: object) -> None:
    d["organisations"][0]["lines"][0].update(fields)


@pytest.mark.parametrize(
    "target",
    [
        "sip:line01@sisc.example.jp;transport=tls",
        "sip:line01@sisc.example.jp;region=jp1;edge=tokyo;transport=tls",
        "sip:line01@sisc.example.jp;edge=tokyo?X-Line=01",
        "+81312345678",
    ],
)
def test_a_line_may_carry_twilios_sip_parameters(target: str) -> None:
    cfg = parse(edited(lambda d: _sisc_line(d, target=target)))
    assert cfg.organisations[0].lines[0].target == target


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("sip:l@x.example.jp;transport=sctp", "transport='sctp'"),
        ("sip:l@x.example.jp;edge=roaming", "edge='roaming'"),
        ("sip:l@x.example.jp;lr", "unknown SIP URI parameter 'lr'"),
        ("+8131234567", "not a valid number of country code +81"),
        ("+81-3-1234-5678", "is not an E.164 number"),
    ],
)
def test_a_line_twilio_could_not_reach_is_refused(target: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="organisations.0.lines.0.target") as refused:
        parse(edited(lambda d: _sisc_line(d, target=target)))
    assert problem in str(refused.value)


def test_a_sip_line_reads_its_password_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SISC_SIP_PASSWORD", "s3cret-from-env")
    sip = {"username": "hotline", "password_env": "SISC_SIP_PASSWORD"}
    cfg = parse(edited(lambda d: _sisc_line(d, sip=sip)))
    line = cfg.organisations[0].lines[0]
    assert (line.sip.username, line.sip_password) == ("hotline", "s3cret-from-env")
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.model_dump_json()


def test_a_missing_sip_password_stops_start_up_naming_the_line(monkeypatch) -> None:
    monkeypatch.delenv("SISC_SIP_PASSWORD", raising=False)
    sip = {"username": "hotline", "password_env": "SISC_SIP_PASSWORD"}
    with pytest.raises(ConfigError) as refused:
        parse(edited(lambda d: _sisc_line(d, sip=sip)))
    assert "line 'sisc-01': environment variable SISC_SIP_PASSWORD" in str(refused.value)


def test_a_password_written_in_the_file_is_refused() -> None:
    sip = {"username": "hotline", "password": "oops"}
    with pytest.raises(ConfigError, match="never goes in menus.yaml") as refused:
        parse(edited(lambda d: _sisc_line(d, sip=sip)))
    assert "oops" not in str(refused.value)


@pytest.mark.parametrize("where", ["top", "organisation"])
def test_a_caller_id_that_is_not_a_number_is_refused(where: str) -> None:
    def change(d: dict) -> None:
        (d if where == "top" else d["organisations"][1])["caller_id"] = "+81 3 1234"

    with pytest.raises(ConfigError, match="caller_id: '\\+81 3 1234' is not an E.164"):
        parse(edited(change))


def test_every_forwarded_leg_shows_the_hotline_number_by_default() -> None:
    cfg = parse(edited(lambda d: d.pop("caller_id")))
    assert {cfg.caller_id_for(org) for org in cfg.organisations} == {NUMBER_9999}
