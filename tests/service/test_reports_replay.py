"""第5期 at full size on PostgreSQL: the report of 34,315 calls, its totals and rates.

This is a check of the report at the size of the largest published period, not a replay of
the published figures: the per-option counts are solved here with the report's own `rate`
(below), and the Call rows are bulk inserted with the fields the webhooks write, without the
webhooks or the router. The figures themselves are replayed through the signed webhooks and
the real router, and checked against arithmetic of their own, in
tests/service/test_reports_replay_webhooks.py.

Per-option counts were not published, only rates. They are chosen so that totals and rates
both hold: the connected calls are split evenly over the period's options; each option with
a published rate gets the calls that give that rate (to one decimal); an option without one
gets calls at the period's overall rate; the calls left over chose no option (`none`: they
hung up in the voice guidance): the overall rate is below every published option rate, so
the published per-option denominators cannot have covered every call.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import insert

from hotline.auth.models import ApiKey
from hotline.calls import store
from hotline.calls.models import Call
from hotline.cases.models import LinkageCase
from hotline.config import HotlineConfig
from hotline.db import make_engine, session_factory
from hotline.records.models import ConsultationRecord
from hotline.reports import labels, report
from hotline.routing.store import Router
from tests.conftest import ROOT

TRIALS_FILE = ROOT / "tests" / "data" / "trials.yaml"  # the published figures, kept in the repo
# The published option names of trials.yaml, and the option of menus.yaml each one is.
OPTION_OF = {
    "孤独・孤立での悩み": "loneliness",
    "孤独・孤立": "loneliness",
    "死にたいほどつらい気持ち": "suicidal",
    "生活困窮": "poverty",
    "18歳以下": "under18",
    "18歳より上": "over18",
    "性別の違和等": "gender",
    "女性の悩み": "women",
}
AGES = ["10代", "20代", "30代", "40代", "50代", "60代", "70代以上"]
KINDS = ["心の病気や不調", "自分の悩みを話せる場所がない", "暮らし・お金", "家庭や家族"]
SECRET = b"replay-secret"


def trials() -> list[dict[str, Any]]:
    periods = yaml.safe_load(TRIALS_FILE.read_text(encoding="utf-8"))["periods"]
    return [p for p in periods if p.get("calls")]


def rate(connected: int, calls: int) -> float:
    return report.rate(connected, calls)


def calls_for(connected: int, target: float) -> int | None:
    """Calls that give `target`% (to one decimal) with this many connected, if any."""
    guess = round(100 * connected / target)
    for n in sorted(range(max(connected, guess - 3, 1), guess + 4), key=lambda n: abs(n - guess)):
        if rate(connected, n) == target:
            return n
    return None


@dataclass
class Plan:
    period: str
    calls: int
    connected: int
    options: dict[str, tuple[int, int]] = field(default_factory=dict)  # option: calls, connected
    serious: int = 0


def plan(trial: dict[str, Any], offered: list[str], scale: int) -> Plan:
    """Totals near 1/scale of the published ones with the published rate, split by option.

    At a small scale some totals cannot give a rate to one decimal (81 calls never give
    60.1%), so the nearest totals that can, and whose split works out, are taken.
    """
    for n, c in _totals(trial, scale):
        try:
            return _split(trial, offered, scale, n, c)
        except ArithmeticError:
            continue
    raise AssertionError(f"no totals near 1/{scale} of {trial['id']} give its rates")


def _totals(trial: dict[str, Any], scale: int) -> list[tuple[int, int]]:
    """(calls, connected) pairs with the published rate, nearest to 1/scale first."""
    target, ratio = trial["calls"] / scale, trial["connected"] / trial["calls"]
    pairs = []
    for n in sorted(
        range(max(int(target) - 30, 1), int(target) + 31), key=lambda n: abs(n - target)
    ):
        k0 = round(n * ratio)
        near = sorted(range(max(k0 - 20, 0), min(k0 + 21, n + 1)), key=lambda k: abs(k - k0))
        pairs += [(n, k) for k in near if rate(k, n) == trial["answer_rate"]]
    return pairs


def _split(trial: dict[str, Any], offered: list[str], scale: int, n: int, c: int) -> Plan:
    p = Plan(trial["id"], n, c, serious=round(trial["serious_cases_linked"] / scale))
    published = {OPTION_OF[k]: v for k, v in (trial.get("option_answer_rates") or {}).items()}
    left = c
    if "under_18_calls" in trial:  # a published count: keep it
        fixed = round(trial["under_18_calls"] / scale)
        p.options["under18"] = (fixed, round(fixed * published["under18"] / 100))
        left -= p.options["under18"][1]
    todo = [o for o in offered if o not in p.options]
    ordered = [o for o in todo if o in published] + [o for o in todo if o not in published]
    for i, option in enumerate(ordered):
        share = left if i == len(ordered) - 1 else left // (len(ordered) - i)
        if option in published:
            share, calls = _solve(share, published[option], last=i == len(ordered) - 1)
        else:
            calls = max(share, round(share * n / max(c, 1)))
        p.options[option] = (calls, share)
        left -= share
    if left != 0 or sum(k for k, _ in p.options.values()) > n:
        raise ArithmeticError("this split does not add up")
    return p


def _solve(connected: int, target: float, *, last: bool) -> tuple[int, int]:
    for step in [0] if last else sorted(range(-12, 13), key=abs):
        calls = calls_for(connected + step, target)
        if calls is not None:
            return connected + step, calls
    raise ArithmeticError(f"no call count gives {target}% with {connected} connected")


# -- the calls of a plan ---------------------------------------------------------------------
@dataclass
class Script:
    sid: str
    entry: str
    caller: str | None
    arrived: dt.datetime
    option: str | None
    outcome: str  # connected, waiting, ringing, closed, menu


def scripts(cfg: HotlineConfig, p: Plan, seed: int = 7) -> list[Script]:
    rng, info = random.Random(seed), labels.period(cfg, p.period)
    assert info is not None and info.start and info.end
    start = info.start  # to the minute, Asia/Tokyo: every call lands inside the period
    span = (info.end - info.start).total_seconds()
    outcomes: list[tuple[str | None, str]] = []
    for option, (calls, connected) in p.options.items():
        rest = calls - connected
        closed, ringing = rest // 20, rest // 50
        outcomes += [(option, "connected")] * connected + [(option, "closed")] * closed
        outcomes += [(option, "ringing")] * ringing + [(option, "waiting")] * (
            rest - closed - ringing
        )
    outcomes += [(None, "menu")] * (p.calls - len(outcomes))
    callers = max(p.calls // 3, 1)  # people redial: about three attempts each
    return [
        Script(
            sid=f"CA{p.period}{i:07d}",
            entry="0120" if rng.random() < 0.15 else "9999",
            caller=None if rng.random() < 0.05 else f"+8190{rng.randrange(callers):08d}",
            arrived=start + dt.timedelta(seconds=rng.random() * span),
            option=option,
            outcome=outcome,
        )
        for i, (option, outcome) in enumerate(outcomes)
    ]


def _line_of(router: Router, cfg: HotlineConfig, option: str) -> str:
    orgs = labels.serving_orgs(cfg, option)
    return next(i for i, r in router.lines.items() if r.org_id in orgs)


async def add_records(session, p: Plan, connected: list[Call]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A consultation record for each connected call; `serious` of them open a linkage case."""
    key = ApiKey(org_id="sisc", role="counsellor", name="replay", key_hash=f"replay-{p.period}",
                 prefix="replay", created_at=dt.datetime(2022, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    session.add(key)
    await session.flush()
    rows = [
        {
            "call_id": call.id,
            "org_id": call.org_id,
            "author_key_id": key.id,
            "age_group": AGES[i % len(AGES)],
            "categories": KINDS[: 1 + i % len(KINDS)],
            "support": [],
            "seriousness": "high" if i < p.serious else "low",
            "linkage_needed": i < p.serious,
            "consent_history": False,
            "created_at": call.ended_at,
            "updated_at": call.ended_at,
        }  # fmt: skip
        for i, call in enumerate(connected)
    ]
    if rows:
        await session.execute(insert(ConsultationRecord), rows)
    ids = (await session.execute(ConsultationRecord.__table__.select())).all()
    cases = [
        {
            "record_id": r.id,
            "call_id": r.call_id,
            "status": "linked",  # worked on: counted as 調整した (reports.queries)
            "created_at": r.created_at,
            "updated_at": r.created_at,
        }  # fmt: skip
        for r in ids
        if r.linkage_needed
    ]
    if cases:
        await session.execute(insert(LinkageCase), cases)
    return {"ages": len(rows)}


def check(r: dict[str, Any], trial: dict[str, Any], p: Plan, scale: int) -> None:
    assert (r["calls"], r["connected"]) == (p.calls, p.connected)
    assert abs(p.calls * scale - trial["calls"]) <= 30 * scale
    assert r["answer_rate"] == trial["answer_rate"]
    assert r["serious_cases"] == p.serious
    options = {o["id"]: o for o in r["options"]}
    for name, published in (trial.get("option_answer_rates") or {}).items():
        assert options[OPTION_OF[name]]["answer_rate"] == published, name
    assert sum(o["calls"] for o in r["options"]) == r["calls"]
    assert sum(r["age_groups"].values()) == p.connected
    assert r["unique_callers"]["caller_days"] <= r["calls"]


def bulk_rows(cfg: HotlineConfig, p: Plan) -> list[dict[str, Any]]:
    """Call rows with the fields the webhooks write, for inserting many at once."""
    router = Router(cfg, reservation_timeout=30, cooldown=60)
    rows = []
    for s in scripts(cfg, p):
        period = cfg.period_at(s.arrived)
        row = {
            "call_sid": s.sid, "entry": s.entry, "period_id": period.id if period else "none",
            "caller_hash": store.caller_hash(SECRET, s.caller), "menu_id": cfg.menu_at(s.arrived),
            "option_id": s.option, "language": "en" if s.option == "foreign" else None,
            "priority": cfg.option(s.option).priority if s.option else 0, "status_seq": -1,
            "created_at": s.arrived, "waiting_since": None, "connected_at": None,
            "end_stage": None, "org_id": None, "line_id": None, "reserved_at": None,
        }  # fmt: skip
        chose = s.arrived + dt.timedelta(seconds=25)
        if s.outcome == "menu":
            end = s.arrived + dt.timedelta(seconds=40)
            row.update(state="abandoned", end_stage="menu", ended_at=end)
        elif s.outcome == "closed":
            row.update(state="closed", ended_at=chose)
        else:
            row.update(waiting_since=chose)
            if s.outcome == "connected":
                line = _line_of(router, cfg, s.option or "")
                row.update(state="completed", org_id=router.lines[line].org_id,
                           connected_at=chose + dt.timedelta(seconds=90),
                           ended_at=chose + dt.timedelta(seconds=600))  # fmt: skip
            else:
                seconds = 200 if s.outcome == "waiting" else 600
                row.update(state="abandoned", end_stage=s.outcome,
                           ended_at=chose + dt.timedelta(seconds=seconds))  # fmt: skip
        rows.append(row)
    return rows


async def test_period_5_at_full_size_on_postgresql(pg_url: str, cfg: HotlineConfig) -> None:
    trial = next(t for t in trials() if t["id"] == "period_5")
    info = labels.period(cfg, "period_5")
    assert info is not None
    p = plan(trial, labels.offered_options(cfg, info.menu), scale=1)
    assert (p.calls, p.connected, p.serious) == (34315, 3032, 36)
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as s:
            await s.execute(insert(Call), bulk_rows(cfg, p))
            connected = list(
                (
                    await s.execute(Call.__table__.select().where(Call.connected_at.is_not(None)))
                ).all()
            )
            await add_records(s, p, connected)  # type: ignore[arg-type]
        async with sessions() as s:
            result = await report.build(s, cfg, "period_5", sessions=sessions)
        async with sessions.begin() as s:
            tables = ("linkage_cases", "consultation_records", "calls", "api_keys")
            tallies = ("call_tallies", "caller_days", "caller_day_totals")  # the report's
            for table in (*tables, *tallies):
                await s.execute(Call.metadata.tables[table].delete())
    finally:
        await engine.dispose()
    check(result, trial, p, scale=1)
    assert (result["calls"], result["connected"], result["answer_rate"]) == (34315, 3032, 8.8)
