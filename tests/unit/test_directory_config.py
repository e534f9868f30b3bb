"""menus.yaml's directory: who a counsellor can bring into a call, the emergency services'
direct lines per prefecture (none shipped), and what an operator's mistake is told."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hotline.app import create_app
from hotline.config import TOKYO, ConfigError, HotlineConfig, load, parse, stale_checks
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
MENUS = ROOT / "config" / "menus.yaml"
RAW = yaml.safe_load(MENUS.read_text(encoding="utf-8"))
CHECKED = dt.date(2026, 11, 20)
# Fictional numbers, like the rest of the tests' file (050-5555-xxxx).
NAGANO = {
    "prefecture": "長野県",
    "fire": {"number": "+815055550119", "checked_by": "山田", "checked_on": CHECKED},
    "police": {"number": "+815055550110", "checked_by": "山田", "checked_on": CHECKED},
}


def edited(change: Callable[[dict], object]) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def with_nagano(d: dict) -> None:
    d["directory"]["emergency"] = [copy.deepcopy(NAGANO)]


def tokyo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


# --- the shipped file ---------------------------------------------------------


def test_the_shipped_file_has_no_emergency_number(cfg: HotlineConfig) -> None:
    """An unverified emergency number could ring a stranger while a caller is in danger."""
    assert cfg.directory.emergency == []
    assert cfg.emergency_line("長野県", "fire") is None
    assert "emergency: []" in MENUS.read_text(encoding="utf-8")


def test_the_shipped_desks_are_placeholders_that_ring_nobody(cfg: HotlineConfig) -> None:
    numbers = [e.number for kind in (cfg.directory.partners, cfg.directory.support) for e in kind]
    numbers += [e.number for e in cfg.directory.interpreters]
    numbers += [s.target for o in cfg.organisations for s in o.supervisors]
    assert numbers and all(n.endswith(".example.invalid") for n in numbers)


def test_an_organisation_names_its_prefecture_and_supervisors(cfg: HotlineConfig) -> None:
    sisc = cfg.org("sisc")
    assert sisc.prefecture == "東京都"
    assert [s.id for s in sisc.supervisors] == ["sisc-sv-01", "sisc-sv-02"]
    assert cfg.org("hotline-shinshu").prefecture == "長野県"
    assert cfg.org("childline").prefecture is None


# --- the helpers --------------------------------------------------------------


def test_the_emergency_line_of_a_prefecture_and_service() -> None:
    cfg = parse(edited(with_nagano))
    fire = cfg.emergency_line("長野県", "fire")
    assert fire is not None and fire.number == "+815055550119"
    assert fire.checked_by == "山田" and fire.checked_on == CHECKED
    police = cfg.emergency_line("長野県", "police")
    assert police is not None and police.number == "+815055550110"
    assert cfg.emergency_line("東京都", "police") is None  # not configured: the console says so


def test_a_prefecture_may_give_one_service_only() -> None:
    def fire_only(d: dict) -> None:
        with_nagano(d)
        del d["directory"]["emergency"][0]["police"]

    cfg = parse(edited(fire_only))
    assert cfg.emergency_line("長野県", "fire") is not None
    assert cfg.emergency_line("長野県", "police") is None


def test_a_directory_entry_by_kind_and_id(cfg: HotlineConfig) -> None:
    partner = cfg.directory_entry("partner", "childline-desk")
    assert partner is not None and partner.name == "チャイルドライン支援センター"
    assert partner.target == "sip:desk@childline.example.invalid"
    supervisor = cfg.directory_entry("supervisor", "sisc-sv-02")
    assert supervisor is not None and supervisor.name == "当番スーパーバイザー2"
    assert cfg.directory_entry("support", "childline-desk") is None  # another kind's id
    assert cfg.directory_entry("interpreter", "nobody") is None


@pytest.mark.parametrize(
    ("now", "support", "childline"),
    [
        (tokyo(2026, 12, 7, 10, 0), True, False),  # a Monday morning
        (tokyo(2026, 12, 7, 17, 15), False, True),  # the support desk's end is exclusive
        (tokyo(2026, 12, 5, 10, 0), False, False),  # a Saturday
        (dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC), True, False),  # 10:00 in Tokyo
    ],
)
def test_targets_open_now_by_their_hours_in_tokyo(
    cfg: HotlineConfig, now: dt.datetime, support: bool, childline: bool
) -> None:
    assert bool(cfg.open_targets("support", now)) is support
    partners = [p.id for p in cfg.open_targets("partner", now)]
    assert ("childline-desk" in partners) is childline  # 16:00-21:00
    assert "inochi-desk" in partners  # around the clock
    assert [i.id for i in cfg.open_targets("interpreter", now)] == ["example-interpreters"]
    assert len(cfg.open_targets("supervisor", now)) == 2  # duty is stored, not configured


# --- a bad directory is refused, naming the field -----------------------------


def _set(path: tuple[object, ...], value: object) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        with_nagano(d)
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _add(section: str, entry: dict) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        with_nagano(d)
        d["directory"][section].append(entry)

    return change


BAD = [
    pytest.param(
        _set(("directory", "emergency", 0, "fire", "number"), "119"),
        "directory.emergency.0.fire.number",
        "'119' is not an E.164 number",
        id="emergency-number-not-e164",
    ),
    pytest.param(
        _set(("directory", "emergency", 0, "police", "number"), "+8150555501"),
        "directory.emergency.0.police.number",
        "not a valid number of country code +81",
        id="emergency-number-too-short",
    ),
    pytest.param(
        _set(("directory", "emergency", 0, "fire", "number"), "sip:fire@example.invalid"),
        "directory.emergency.0.fire.number",
        "is not an E.164 number",
        id="emergency-number-sip",
    ),
    pytest.param(
        _set(("directory", "emergency", 0, "prefecture"), "長野"),
        "directory.emergency.0.prefecture",
        "'長野' is not a prefecture",
        id="prefecture-misspelt",
    ),
    pytest.param(
        _set(("directory", "emergency", 0, "fire", "checked_by"), ""),
        "directory.emergency.0.fire.checked_by",
        "at least 1 character",
        id="checked-by-empty",
    ),
    pytest.param(
        _set(("directory", "emergency", 0, "police", "checked_on"), "last year"),
        "directory.emergency.0.police.checked_on",
        "valid date",
        id="checked-on-not-a-date",
    ),
    pytest.param(
        _add("emergency", {"prefecture": "東京都"}),
        "directory.emergency.1",
        "give fire, police or both",
        id="prefecture-without-lines",
    ),
    pytest.param(
        _add("emergency", copy.deepcopy(NAGANO)),
        "directory.emergency",
        "長野県 is listed twice",
        id="prefecture-twice",
    ),
    pytest.param(
        _add("partners", {"id": "x", "org": "nobody", "name": "X", "number": "+815055551234"}),
        "directory.partners.3.org",
        "unknown organisation 'nobody'",
        id="partner-unknown-organisation",
    ),
    pytest.param(
        _add("partners", {"id": "inochi-desk", "name": "X", "number": "+815055551234"}),
        "directory",
        "duplicate partner id 'inochi-desk'",
        id="partner-id-twice",
    ),
    pytest.param(
        _add("support", {"id": "y", "name": "Y", "prefecture": "信州", "number": "+815055551234"}),
        "directory.support.1.prefecture",
        "'信州' is not a prefecture",
        id="support-prefecture",
    ),
    pytest.param(
        _add(
            "interpreters", {"id": "z", "name": "Z", "languages": ["fr"], "number": "+815055551234"}
        ),
        "directory.interpreters.1.languages",
        "unknown language 'fr'",
        id="interpreter-unknown-language",
    ),
    pytest.param(
        _add("partners", {"id": "w", "name": "W", "number": "0120-279-338"}),
        "directory.partners.3.number",
        "neither an E.164 number nor a sip: URI",
        id="partner-number-as-said",
    ),
    pytest.param(
        _set(("organisations", 0, "prefecture"), "Tokyo"),
        "organisations.0.prefecture",
        "'Tokyo' is not a prefecture",
        id="organisation-prefecture",
    ),
    pytest.param(
        _set(("organisations", 0, "supervisors", 0, "target"), "090-1234-5678"),
        "organisations.0.supervisors.0.target",
        "neither an E.164 number nor a sip: URI",
        id="supervisor-target",
    ),
    pytest.param(
        _set(
            ("organisations", 1, "supervisors"),
            [{"id": "sisc-sv-01", "name": "S", "target": "+815055551234"}],
        ),
        "directory",
        "duplicate supervisor id 'sisc-sv-01'",
        id="supervisor-id-twice",
    ),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_a_bad_directory_is_refused_naming_the_field(
    change: Callable[[dict], None], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(edited(change))
    text = str(refused.value)
    assert f"  {field}: " in text and message in text, text


def test_a_sip_supervisor_reads_its_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sip = {"username": "sv", "password_env": "SISC_SV_PASSWORD"}
    change = _set(("organisations", 0, "supervisors", 0, "sip"), sip)
    monkeypatch.delenv("SISC_SV_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as refused:
        parse(edited(change))
    assert "supervisor 'sisc-sv-01': environment variable SISC_SV_PASSWORD" in str(refused.value)
    monkeypatch.setenv("SISC_SV_PASSWORD", "s3cret")
    supervisor = parse(edited(change)).directory_entry("supervisor", "sisc-sv-01")
    assert supervisor is not None and supervisor.sip_password == "s3cret"


# --- a check older than a year is a start-up warning -----------------------------


def test_a_check_older_than_365_days_is_named() -> None:
    cfg = parse(edited(with_nagano))
    assert stale_checks(cfg.directory, CHECKED + dt.timedelta(days=365)) == []
    stale = stale_checks(cfg.directory, CHECKED + dt.timedelta(days=366))
    assert len(stale) == 2
    assert stale[0].startswith(
        "directory.emergency.0.fire (長野県): last checked 2026-11-20 by 山田"
    )
    assert "366 days ago" in stale[0] and stale[1].startswith("directory.emergency.0.police")


def test_a_check_in_the_future_is_named() -> None:
    cfg = parse(edited(with_nagano))
    stale = stale_checks(cfg.directory, CHECKED - dt.timedelta(days=1))
    assert stale == [
        "directory.emergency.0.fire (長野県): checked_on 2026-11-20 is in the future",
        "directory.emergency.0.police (長野県): checked_on 2026-11-20 is in the future",
    ]


def test_the_service_warns_at_start_up_of_a_stale_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = parse(edited(with_nagano))
    later = dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
    with caplog.at_level(logging.WARNING):
        create_app(make_settings("sqlite+aiosqlite:///:memory:"), cfg, clock=lambda: later)
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("hotline") and r.name != "hotline.access"
    ]
    assert len([m for m in ours if "directory.emergency.0." in m]) == 2, ours
    assert all(m.startswith("menus.yaml: directory.emergency.0.") for m in ours if "emergency" in m)


def test_the_shipped_file_loads_without_a_warning() -> None:
    assert stale_checks(load(MENUS).directory, dt.date(2030, 1, 1)) == []
