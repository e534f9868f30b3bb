"""The terminal phone plays the conference's in-call actions against a live development
service (its REST stand-in in its own process), on SQLite and PostgreSQL: `hotline call
--transfer ...` (warm, three-way and cold transfers to the directory, a cold transfer to
another option's queue, an emergency line, and the plain refusal where none is configured)
and `--supervise listen|coach|join`. Each test reads what a user sees (the printed
transcript) and, from the service's database, where the call ended up.

The service runs the shipped config/menus.yaml with three changes for the tests: no wrap-up
(a line takes the next test's call at once), a fictional emergency line for 長野県 (the
shipped file has none, on purpose), and the support organisation's hours lifted (open when
the tests run). The phone makes its console's API keys in the service's database (it is
given the service's HOTLINE_DATABASE_URL, as it shares `scripts/serve`'s settings) and
revokes them after the call.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from hotline.auth.models import ApiKey
from hotline.calls.models import Call
from hotline.common.audit import AuditEntry
from hotline.conference.models import CallParty
from hotline.db import make_engine
from hotline.lines.models import Line
from hotline.testing.servers import hotline_env
from tests.conftest import pg_database
from tests.e2e.conftest import CALL_TIMEOUT, CONFIG, ROOT, LiveServer, Transcript, serve

pytestmark = pytest.mark.e2e

FIRE = "+815055550119"  # fictional, as the rest of the file's numbers
ON_HOLD = "[caller hears, on hold] 相談員が少しのあいだ"


@dataclass(frozen=True)
class Service:
    server: LiveServer
    database_url: str
    config: Path


def service_config(tmp: Path) -> Path:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["staffing"]["wrap_up_seconds"] = 0
    checked = {"checked_by": "テスト", "checked_on": "2026-11-20"}
    data["directory"]["emergency"] = [
        {
            "prefecture": "長野県",
            "fire": {"number": FIRE, **checked},
            "police": {"number": "+815055550110", **checked},
        }
    ]
    for entry in data["directory"]["support"]:
        entry.pop("hours", None)
    path = tmp / "menus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"phone-conference-{request.param}")
    config = service_config(tmp)
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'hotline.db'}"
        for server in serve(url, tmp / "serve.log", HOTLINE_CONFIG_PATH=str(config)):
            yield Service(server, url, config)
        return
    database = pg_database()
    url = next(database)
    try:
        for server in serve(url, tmp / "serve.log", HOTLINE_CONFIG_PATH=str(config)):
            yield Service(server, url, config)
    finally:
        database.close()


def phone(service: Service, *args: str, **env: str) -> Transcript:
    """`hotline call ARGS` against the service, with its settings (database, config)."""
    argv = ["call", "--url", service.server.url, *args]
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *argv],
        cwd=ROOT,
        env=hotline_env(service.database_url, service.config, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=CALL_TIMEOUT,
        text=True,
        encoding="utf-8",
    )
    return Transcript(argv, done.returncode, done.stdout, done.stderr, service.server.log_tail())


def played(t: Transcript) -> int:
    """The call's row id, once the phone says the plan was played through."""
    assert t.returncode == 0, str(t)
    assert t.lines[-1] == "[summary] 1 call(s), connected to a counsellor; the plan played", str(t)
    found = next((m for x in t.lines if (m := re.match(r"\[card\] call (\d+):", x))), None)
    assert found is not None, str(t)
    assert "Traceback" not in t.stdout + t.stderr, str(t)
    return int(found.group(1))


def line_with(t: Transcript, start: str) -> str:
    found = [x for x in t.lines if x.startswith(start)]
    assert found, f"no line starting {start!r}:\n{t}"
    return found[0]


async def _stored(url: str, call_id: int) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            call = (await conn.execute(select(Call).where(Call.id == call_id))).one()
            parties = (
                await conn.execute(
                    select(CallParty).where(CallParty.call_id == call_id).order_by(CallParty.id)
                )
            ).all()
            # The keys the phone made for itself (a key given in the environment is the
            # user's own, never revoked by the phone).
            phones = ApiKey.name.like("terminal phone%")
            keys = (await conn.execute(select(ApiKey).where(phones))).all()
            holding = (await conn.execute(select(Line.id).where(Line.call_id == call_id))).all()
            audit = (await conn.execute(select(AuditEntry.action))).scalars().all()
        return {
            "call": call,
            "parties": parties,
            "keys": keys,
            "audit": list(audit),
            "holding": holding,
        }
    finally:
        await engine.dispose()


def stored(service: Service, call_id: int) -> dict[str, Any]:
    return asyncio.run(_stored(service.database_url, call_id))


def party_rows(found: dict[str, Any]) -> list[tuple[str, str | None, str | None, str]]:
    return [(p.role, p.kind, p.target_id, p.status) for p in found["parties"]]


def ended_cleanly(service: Service, call_id: int) -> dict[str, Any]:
    """The call completed, nobody left in its conference, no line held for it, the phone's
    keys revoked."""
    found = stored(service, call_id)
    assert (found["call"].state, found["call"].phase) == ("completed", None)
    assert found["holding"] == []
    assert not [p for p in found["parties"] if p.status in ("dialling", "joined")]
    assert found["keys"] and all(k.revoked_at is not None for k in found["keys"])
    return found


def test_a_warm_transfer_holds_the_caller_consults_the_partner_and_hands_over(
    service: Service,
) -> None:
    t = phone(service, "--press", "8", "--transfer", "partner:inochi-desk:warm")
    call_id = played(t)
    assert line_with(t, ON_HOLD)  # the calm words in the caller's language, never silence
    assert "[partner 日本いのちの電話連盟] answers" in t.lines, str(t)
    consulting = line_with(t, "[conference] consulting: ")
    assert consulting.startswith("[conference] consulting: caller (on hold), counsellor ("), str(t)
    assert consulting.endswith("partner 日本いのちの電話連盟 (joined)"), str(t)
    assert "[conference] handed_over: caller, partner 日本いのちの電話連盟 (joined)" in t.lines
    assert "[twilio] the counsellor's leg leaves the conference" in t.lines
    assert line_with(t, "[outcome] call").endswith(
        "the caller was handed over to partner 日本いのちの電話連盟"
    )
    found = ended_cleanly(service, call_id)
    line = re.search(r", line (\S+), waited", line_with(t, "[card] call "))
    assert line is not None, str(t)
    assert [r[:3] for r in party_rows(found)] == [
        ("caller", None, None),
        ("counsellor", "line", line.group(1)),
        ("third", "partner", "inochi-desk"),
    ]
    assert [r[3] for r in party_rows(found)] == ["left", "left", "left"]
    assert "(API key " in line_with(t, "[console] signed in as a counsellor of ")


def test_a_three_way_call_brings_the_caller_in_then_the_party_is_dropped(service: Service) -> None:
    t = phone(service, "--press", "8", "--transfer", "support:example-nagano:three-way")
    call_id = played(t)
    who = "support 長野市 自立相談支援機関(例)"
    assert line_with(t, "[conference] consulting: caller (on hold)")
    three = line_with(t, "[conference] three_way: ")
    assert three.startswith("[conference] three_way: caller, counsellor (") and who in three
    assert f"[twilio] {who} is taken out of the call" in t.lines, str(t)
    assert line_with(t, "[conference] talking: ") != line_with(t, "[conference] three_way: ")
    found = ended_cleanly(service, call_id)
    third = [p for p in found["parties"] if p.role == "third"]
    assert [(p.kind, p.status, p.outcome) for p in third] == [("support", "left", "dropped")]


def test_a_cold_transfer_puts_the_interpreter_straight_in_and_hands_over(
    service: Service,
) -> None:
    t = phone(service, "--press", "8", "--transfer", "interpreter:example-interpreters:cold")
    call_id = played(t)
    assert not [x for x in t.lines if x.startswith(ON_HOLD)], "never held: " + str(t)
    assert line_with(t, "[conference] three_way: ")
    assert line_with(t, "[conference] handed_over: caller, interpreter ")
    ended_cleanly(service, call_id)


def test_a_cold_transfer_to_a_queue_meets_the_next_counsellor_of_that_option(
    service: Service,
) -> None:
    t = phone(service, "--press", "8", "--transfer", "queue:women")
    call_id = played(t)
    lines = t.lines
    out = lines.index("[twilio] the service redirects the caller out of the conference")
    assert "[enqueue hotline-loneliness]" in lines[:out]
    after = lines[out:]
    assert "[enqueue hotline-women]" in after, str(t)
    dials = [x for x in after if x.startswith("[dial sip]")]
    assert dials and "@sisc.example.invalid" in dials[0], str(t)  # women: sisc's lines
    found = ended_cleanly(service, call_id)
    assert found["call"].option_id == "women"
    queued = [p for p in found["parties"] if p.kind == "queue"]
    assert [(p.target_id, p.status) for p in queued] == [("women", "left")]
    # The caller was in two conferences, with the same CallSid: a row each, both left.
    callers = [p.status for p in found["parties"] if p.role == "caller"]
    assert callers == ["left", "left"], callers
    assert "conference.transfer" in found["audit"]


def test_an_emergency_line_is_consulted_then_joined_and_the_counsellor_stays(
    service: Service,
) -> None:
    t = phone(service, "--press", "8", "--transfer", "emergency:長野県:fire")
    call_id = played(t)
    dialled = line_with(t, "[rest] the service dials the 長野県 fire command centre")
    assert dialled.endswith(f": {FIRE}"), str(t)
    assert line_with(t, ON_HOLD)
    assert line_with(t, "[conference] three_way: caller, counsellor (")
    refused = line_with(t, "[console] refused, as it should be (409)")
    assert "emergency service is on the call" in refused
    found = ended_cleanly(service, call_id)
    emergency = [p for p in found["parties"] if p.kind == "emergency"]
    assert [(p.target_id, p.status) for p in emergency] == [("長野県:fire", "left")]
    assert "conference.emergency" in found["audit"]


def test_an_emergency_without_a_direct_line_is_refused_plainly_with_what_to_do(
    service: Service,
) -> None:
    # Key 3 is answered by sisc alone, whose prefecture (東京都) has no line configured.
    t = phone(service, "--press", "3", "--transfer", "emergency:fire")
    call_id = played(t)
    refused = line_with(t, "[console] refused (409): ")
    assert "東京都 fire" in refused and "nothing was dialled" in refused
    assert "119" in line_with(t, "[card] what to do: ")
    assert not [x for x in t.lines if x.startswith("[rest] the service dials")], str(t)
    found = ended_cleanly(service, call_id)
    assert [p.kind for p in found["parties"] if p.role == "third"] == []


@pytest.mark.parametrize(
    ("mode", "twilio", "heard"),
    [
        ("listen", "[twilio] the supervisor's leg is muted", "nothing of the supervisor (muted)"),
        (
            "coach",
            "[twilio] the supervisor's leg coaches the counsellor's leg",
            "the caller does not",
        ),
        ("join", "[twilio] the supervisor's leg is neither muted nor coaching", "everyone hears"),
    ],
)
def test_a_supervisor_on_duty_listens_coaches_or_joins_and_the_card_says_so(
    service: Service, mode: str, twilio: str, heard: str
) -> None:
    t = phone(service, "--press", "3", "--supervise", mode)
    call_id = played(t)
    assert "[supervisor] on duty as 当番スーパーバイザー1 (sisc-sv-01)" in t.lines, str(t)
    assert twilio in t.lines, str(t)
    card = line_with(t, "[counsellor's card] talking: ")
    assert card.endswith(f"; listening: 当番スーパーバイザー1 ({mode})"), str(t)
    assert any(heard in x for x in t.lines), str(t)
    assert "[supervisor] off duty" in t.lines
    found = ended_cleanly(service, call_id)
    sup = [p for p in found["parties"] if p.role == "supervisor"]
    assert [(p.target_id, p.status, bool(p.muted), bool(p.coaching)) for p in sup] == [
        ("sisc-sv-01", "left", mode == "listen", mode == "coach")
    ]
    assert "conference.supervisor" in found["audit"]


def test_a_key_given_in_the_environment_is_used_and_never_printed(service: Service) -> None:
    env = hotline_env(service.database_url, service.config)
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotline.cli",
            "keys",
            "create",
            "--org",
            "sisc",
            "--role",
            "supervisor",
            "--name",
            "phone test",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=CALL_TIMEOUT,
    )
    key = made.stdout.strip().splitlines()[-1]
    t = phone(service, "--press", "4", "--supervise", "coach:sisc-sv-02", HOTLINE_API_KEY=key)
    played(t)
    assert "(the key in HOTLINE_API_KEY)" in line_with(t, "[console] signed in as a supervisor")
    assert key not in t.stdout + t.stderr and key[:10] not in t.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--transfer", "queue:women:warm"), "a transfer to a queue is cold"),
        (("--transfer", "partner"), "partner: what? e.g. partner:ID:warm"),
        (("--transfer", "desk:inochi-desk"), "KIND is one of partner, support"),
        (("--transfer", "emergency:Nagano:fire"), "the prefecture as written in Japanese"),
        (("--transfer", "emergency:長野県:ambulance"), "fire (消防・救急) or police"),
        (("--supervise", "watch"), "listen, coach or join"),
        (("--transfer", "partner:nobody"), "no partner 'nobody' in menus.yaml's directory"),
        (("--supervise", "coach:nobody"), "no supervisor 'nobody' in menus.yaml"),
        (("--transfer", "queue:women", "--callers", "2"), "leave out --callers"),
        (("--transfer", "queue:women", "--supervise", "listen"), "not allowed with"),
    ],
)
def test_bad_input_is_refused_before_anything_is_dialled(
    service: Service, args: tuple[str, ...], said: str
) -> None:
    t = phone(service, *args)
    assert t.returncode == 2, str(t)
    assert said in t.stderr, str(t)
    assert "[call]" not in t.stdout, str(t)
