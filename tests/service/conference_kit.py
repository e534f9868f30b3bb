"""What the conference tests share: a recording stand-in of `ConferenceControl` (Twilio is
not the database: this is the one part faked), a caller and a counsellor in a call's
conference (the rows Twilio's callbacks leave), and keys of each role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update

from hotline.auth.models import Role
from hotline.calls.models import Call
from hotline.common.audit import AuditEntry
from hotline.conference.control import ControlFailed
from hotline.conference.models import CallParty
from hotline.config import HotlineConfig, parse
from hotline.lines.models import Line
from hotline.testing.rows import connected_row, new_sid
from tests.service.test_records import make_key

ROOT = Path(__file__).resolve().parents[2]
CHECKED = dt.date(2023, 11, 20)  # a month before the tests' clock
# Fictional numbers, like the rest of the tests' file (050-5555-xxxx).
FIRE, POLICE = "+815055550119", "+815055550110"
SUPERVISOR = "+815055550201"


def room_cfg() -> HotlineConfig:
    """The shipped menus.yaml with Nagano's command centres' direct lines (fictional numbers),
    and inochi in Nagano with two supervisors: what the conference tests dial. Tokyo (sisc's
    prefecture) has no direct line, as everywhere the shipped file covers."""
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    data["directory"]["emergency"] = [
        {
            "prefecture": "長野県",
            "fire": {"number": FIRE, "checked_by": "山田", "checked_on": CHECKED},
            "police": {"number": POLICE, "checked_by": "山田", "checked_on": CHECKED},
        }
    ]
    inochi = next(o for o in data["organisations"] if o["id"] == "inochi")
    inochi["prefecture"] = "長野県"
    inochi["supervisors"] = [
        {"id": "inochi-sv-01", "name": "当番SV 佐藤", "target": SUPERVISOR},
        {"id": "inochi-sv-02", "name": "当番SV 鈴木", "target": "sip:sv02@inochi.example.invalid"},
    ]
    return parse(data)


@dataclass
class Control:
    """Records every command; `fail` names the commands Twilio refuses this time."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, ControlFailed] = field(default_factory=dict)
    legs: int = 0

    def _do(self, name: str, **kw: Any) -> None:
        self.calls.append((name, kw))
        if name in self.fail:
            raise self.fail[name]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, kw in self.calls if n == name]

    async def hold(
        self, conference_sid: str, leg_sid: str, *, on: bool, language: str | None
    ) -> None:
        self._do("hold", conference_sid=conference_sid, leg_sid=leg_sid, on=on, language=language)

    async def add_party(  # noqa: PLR0913
        self,
        conference_sid: str,
        *,
        call_id: int,
        party_id: int,
        label: str,
        to: str,
        org_id: str | None,
        muted: bool = False,
        coach_leg_sid: str | None = None,
    ) -> str:
        self._do(
            "add_party",
            conference_sid=conference_sid,
            call_id=call_id,
            party_id=party_id,
            label=label,
            to=to,
            org_id=org_id,
            muted=muted,
            coach_leg_sid=coach_leg_sid,
        )
        self.legs += 1
        return f"CAleg{self.legs:030d}"

    async def update_party(
        self,
        conference_sid: str,
        leg_sid: str,
        *,
        muted: bool | None = None,
        coach_leg_sid: str | None = None,
        coaching: bool | None = None,
        end_conference_on_exit: bool | None = None,
    ) -> None:
        self._do(
            "update_party",
            conference_sid=conference_sid,
            leg_sid=leg_sid,
            muted=muted,
            end_conference_on_exit=end_conference_on_exit,
        )

    async def remove_party(self, conference_sid: str, leg_sid: str) -> None:
        self._do("remove_party", conference_sid=conference_sid, leg_sid=leg_sid)

    async def to_queue(self, call_sid: str, option_id: str, language: str | None) -> None:
        self._do("to_queue", call_sid=call_sid, option_id=option_id, language=language)

    async def end(self, conference_sid: str) -> None:
        self._do("end", conference_sid=conference_sid)


def control(app) -> Control:  # type: ignore[no-untyped-def]
    """The app's conference control replaced by a recording one."""
    fake = Control()
    app.services.conference = fake
    return fake


@dataclass(frozen=True)
class InCall:
    id: int
    call_sid: str
    leg_sid: str
    conference_sid: str


async def in_conference(  # type: ignore[no-untyped-def]
    app,
    line_id: str = "inochi-01",
    org: str = "inochi",
    *,
    option: str = "loneliness",
    language: str | None = "ja",
    waited: int = 90,
    talked: int = 120,
) -> InCall:
    """A caller talking with the counsellor of `line_id` in the call's conference, as the
    accept and Twilio's join callbacks leave it."""
    now: dt.datetime = app.state.clock()
    leg, conference = new_sid(), "CF" + new_sid()[2:]
    since = now - dt.timedelta(seconds=talked)
    async with app.state.sessions.begin() as s:
        call = Call(
            **connected_row(
                since,
                line_id=line_id,
                org_id=org,
                option_id=option,
                language=language,
                waiting_since=since - dt.timedelta(seconds=waited),
                conference_sid=conference,
                leg_sid=leg,
                phase="talking",
                period_id="period_5",
            )
        )
        s.add(call)
        await s.flush()
        await s.execute(
            update(Line).where(Line.id == line_id).values(call_id=call.id, status="talking")
        )
        for role, sid, target in (("caller", call.call_sid, None), ("counsellor", leg, line_id)):
            s.add(
                CallParty(
                    call_id=call.id,
                    role=role,
                    label=role,
                    leg_sid=sid,
                    target_id=target,
                    status="joined",
                    asked_at=since,
                    joined_at=since,
                )
            )
    return InCall(call.id, call.call_sid, leg, conference)


async def keys(app) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Authorization headers of a key of each role (inochi's, but the operator's and admin's)."""
    return {
        "counsellor": await make_key(app, "inochi"),
        "other": await make_key(app, "childline"),
        "supervisor": await make_key(app, "inochi", Role.SUPERVISOR),
        "other_supervisor": await make_key(app, "childline", Role.SUPERVISOR),
        "operator": await make_key(app, "ops", Role.OPERATOR),
        "admin": await make_key(app, "ops", Role.ADMIN),
        "coordinator": await make_key(app, "coord", Role.COORDINATOR),
    }


async def stored_call(app, call_id: int) -> Call:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        found = await s.get(Call, call_id)
        assert found is not None
        return found


async def parties(app, call_id: int) -> list[CallParty]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        stmt = select(CallParty).where(CallParty.call_id == call_id).order_by(CallParty.id)
        return list((await s.execute(stmt)).scalars())


async def audited(app, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.execute(stmt)).scalars())
