"""The published trial figures, replayed through the service as Twilio would drive it.

Each trial period with published figures (trials.yaml) is played call by call through the
signed voice webhooks and the real router, on SQLite and PostgreSQL: callers put through to
a counsellor (a line reserved by the pass, rung, accepted in the whisper, talked to), callers
who hung up on hold while every line was busy, callers who heard the closed message with
every line off duty, and callers who hung up in the voice guidance. Nothing is written to
the database but by the webhooks.

How many calls of each kind is planned here, with this file's own arithmetic (exact
fractions, half up to one decimal, as the source publishes): for each option with a
published rate, the fewest calls that give it; then enough calls that chose nothing for the
period's published overall rate. The report must count exactly the calls the replay made,
and show the published rates.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import update

from hotline.config import HotlineConfig
from hotline.lines.models import Line
from hotline.reports import report
from tests.conftest import Clock, Twilio, new_sid, says, talking_on
from tests.service.test_reports_replay import OPTION_OF, TRIALS_FILE  # figures, option names

TOKYO = ZoneInfo("Asia/Tokyo")


def trials() -> list[dict[str, Any]]:
    periods = yaml.safe_load(TRIALS_FILE.read_text(encoding="utf-8"))["periods"]
    return [p for p in periods if p.get("calls")]


def percent(connected: int, calls: int) -> Decimal:
    """connected / calls in percent, half up to one decimal, from the exact fraction."""
    tenths = Fraction(1000 * connected, calls)
    return Decimal(math.floor(tenths + Fraction(1, 2))) / 10


def pairs(rate: float, most: int = 120) -> list[tuple[int, int]]:
    """(calls, connected) that give `rate`, fewest calls first."""
    want = Decimal(str(rate))
    return [(n, c) for n in range(1, most) for c in range(n + 1) if percent(c, n) == want]


@dataclass
class Plan:
    options: dict[str, tuple[int, int]]  # option: calls, connected
    hung_up_in_menu: int
    closed: dict[str, int] = field(default_factory=dict)  # of the option's unconnected calls

    @property
    def calls(self) -> int:
        return sum(n for n, _ in self.options.values()) + self.hung_up_in_menu

    @property
    def connected(self) -> int:
        return sum(c for _, c in self.options.values())


def plan(trial: dict[str, Any]) -> Plan:
    """The fewest calls that give every published rate of the period."""
    published = {OPTION_OF[k]: v for k, v in (trial.get("option_answer_rates") or {}).items()}
    if not published:  # only the overall rate: loneliness callers make it alone
        published = {"loneliness": trial["answer_rate"]}
    overall = Decimal(str(trial["answer_rate"]))
    best: Plan | None = None
    candidates = [pairs(rate)[:8] for rate in published.values()]
    for combo in itertools.product(*candidates):
        p = Plan(dict(zip(published, combo, strict=True)), 0)
        chose, connected = p.calls, p.connected
        # The totals near connected / overall rate: the only ones that can give it.
        near = int(100 * connected / (float(overall) + 0.05))
        for calls in range(max(chose, near - 1), int(100 * connected / float(overall)) + 3):
            if percent(connected, calls) == overall:
                if best is None or calls < best.calls:
                    best = Plan(p.options, calls - chose)
                break
    assert best is not None, f"no small replay gives the rates of {trial['id']}"
    # A few of each option's callers who were not put through heard the closed message.
    best.closed = {o: (n - c) // 4 for o, (n, c) in best.options.items()}
    return best


# -- playing calls through the webhooks ------------------------------------------------------


class Replay:
    def __init__(self, app, twilio: Twilio, clock: Clock, menu: str) -> None:  # type: ignore[no-untyped-def]
        self.app, self.twilio, self.clock = app, twilio, clock
        self.keys = {c.option: k for k, c in app.state.cfg.menus[menu].keys.items() if c.option}

    async def lines(self, status: str, busy: bool = False) -> None:
        """Every line `status`, free (or busy with a call outside every period)."""
        async with self.app.state.sessions.begin() as s:
            await s.execute(
                update(Line).values(
                    status=status, call_id=None, wrap_up_until=None, cooldown_until=None
                )
            )
        if busy:
            await talking_on(self.app)

    async def choose(self, sid: str, option: str) -> ET.Element:
        menu = await self.twilio.call("/voice/incoming", sid)
        action = menu.find("Gather").get("action")
        return await self.twilio.call(action, sid, Digits=self.keys[option])

    async def connected(self, option: str) -> None:
        """Chooses, is offered a line by the pass, rings it, the counsellor accepts, they
        talk, the caller hangs up."""
        sid = new_sid()
        enqueue = (await self.choose(sid, option)).find("Enqueue")
        assert enqueue is not None
        hold = await self.twilio.call(enqueue.get("waitUrl"), sid)
        assert [el.tag for el in hold] == ["Leave"], ET.tostring(hold)  # a line is held
        dial = (await self.twilio.call(enqueue.get("action"), sid, QueueResult="leave")).find(
            "Dial"
        )
        assert dial is not None
        whisper = await self.twilio.call(dial[0].get("url"), new_sid())
        await self.twilio.call(whisper.find("Gather").get("action"), new_sid(), Digits="1")
        self.clock.advance(60)  # they talk
        bye = await self.twilio.call(
            dial.get("action"), sid, DialCallStatus="completed", DialCallSid=new_sid()
        )
        assert bye.find("Dial") is None
        self.clock.advance(self.app.state.cfg.staffing.wrap_up_seconds + 5)  # the line is ready

    async def hung_up_on_hold(self, option: str) -> None:
        sid = new_sid()
        enqueue = (await self.choose(sid, option)).find("Enqueue")
        assert enqueue is not None
        hold = await self.twilio.call(enqueue.get("waitUrl"), sid)
        assert hold.find("Leave") is None  # no line: held
        self.clock.advance(60)
        resp = await self.twilio.post(enqueue.get("action"), CallSid=sid, QueueResult="hangup")
        assert resp.status_code == 200
        self.clock.advance(10)

    async def closed(self, option: str) -> None:
        doc = await self.choose(new_sid(), option)
        # Within the option's hours, every line off duty: おつなぎできません, then the end
        # (no other key can answer either, so no menu again).
        assert any("おつなぎできません" in s for s in says(doc)), ET.tostring(doc)
        assert doc[-1].tag == "Hangup", ET.tostring(doc)
        self.clock.advance(10)

    async def hung_up_in_menu(self) -> None:
        sid = new_sid()
        await self.twilio.call("/voice/incoming", sid)
        self.clock.advance(15)
        resp = await self.twilio.post(
            "/voice/status", CallSid=sid, CallStatus="completed", SequenceNumber="1"
        )
        assert resp.status_code == 204
        self.clock.advance(5)


@pytest.mark.parametrize("trial", trials(), ids=lambda t: t["id"])
async def test_a_replay_through_the_webhooks_gives_the_published_figures(
    app, twilio: Twilio, clock: Clock, cfg: HotlineConfig, trial: dict[str, Any]
) -> None:
    period = next(p for p in cfg.periods if p.id == trial["id"])
    # 17:30 in Tokyo on the period's first evening: every option of every menu is open
    # (年末年始's under-18 option until 21:00; its callers are played first).
    assert period.start is not None
    clock.now = period.start.astimezone(TOKYO).replace(hour=17, minute=30).astimezone(dt.UTC)
    p = plan(trial)
    replay = Replay(app, twilio, clock, period.menu)

    for option, (calls, connected) in p.options.items():
        await replay.lines("ready")
        for _ in range(connected):
            await replay.connected(option)
        await replay.lines("ready", busy=True)
        for _ in range(calls - connected - p.closed[option]):
            await replay.hung_up_on_hold(option)
    await replay.lines("offline")
    for option, closed in p.closed.items():
        for _ in range(closed):
            await replay.closed(option)
    for _ in range(p.hung_up_in_menu):
        await replay.hung_up_in_menu()
    assert cfg.period_at(clock()) == period, "the replay ran past its period"

    async with app.state.sessions() as s:
        r = await report.build(s, cfg, trial["id"], sessions=app.state.sessions)
    # What the replay did, counted back by the report ...
    assert (r["calls"], r["connected"]) == (p.calls, p.connected)
    options = {o["id"]: o for o in r["options"]}
    for option, (calls, connected) in p.options.items():
        assert (options[option]["calls"], options[option]["connected"]) == (calls, connected)
    # ... and the published rates, which this file's arithmetic says those counts give.
    assert percent(p.connected, p.calls) == Decimal(str(trial["answer_rate"]))
    assert r["answer_rate"] == trial["answer_rate"]
    for name, published in (trial.get("option_answer_rates") or {}).items():
        assert options[OPTION_OF[name]]["answer_rate"] == published, name
