"""`hotline call --transfer`, `--supervise`: once the counsellor has accepted, the phone plays
the counsellor's console (and a supervisor's) as well as Twilio. The console asks the
service through its JSON API (`hotline.phone.console`) to hold, consult, make a three-way
call, hand over, transfer to a queue, escalate to an emergency line, or supervise; the phone
plays the legs the service asks its stand-in for (`hotline.phone.stage`) and prints what each
side hears and who is in the conference (from the call's card: never a caller's number).

Each scene ends the call as people would: the party the caller was handed to hangs up (the
service ends the conference), or the counsellor does, or the caller leaves for another
queue, where the next counsellor simply talks (a plan is played once per call).
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import httpx

from hotline.config import HotlineConfig
from hotline.phone.callback import Created
from hotline.phone.console import ConsoleApi, GivenKey, Keys, NoKey, Refused, said
from hotline.phone.plans import Plan, Supervision, Transfer
from hotline.phone.stage import Stage, Stuck

if TYPE_CHECKING:
    from hotline.phone.client import Printer
    from hotline.phone.conference import Room

IN_PLAY = ("dialling", "joined")
WRONG_DATABASE = (
    "a key the phone made is in the database its own settings name: run it with the "
    "service's HOTLINE_DATABASE_URL, or set HOTLINE_API_KEY"
)
HEARD = {
    "listen": [
        "[supervisor hears] the caller and the counsellor",
        "[caller and counsellor hear] nothing of the supervisor (muted)",
    ],
    "coach": [
        "[supervisor hears] the caller and the counsellor",
        "[counsellor hears] the supervisor's advice; the caller does not (coaching)",
    ],
    "join": ["[caller, counsellor and supervisor talk] everyone hears the supervisor (join)"],
}


class Console:
    """The console's part in one call: the plan, the keys, and what became of it."""

    def __init__(self, plan: Plan, keys: Keys, cfg: HotlineConfig, out: Printer) -> None:
        self.plan, self.keys, self.cfg, self.out = plan, keys, cfg, out
        self.done = False  # played: a caller moved to another queue meets its next counsellor
        self.failed: str | None = None  # why the plan was not played through
        self.result = "the plan was not played (the call never reached a counsellor)"
        self.call_id: int | None = None
        self.reader: ConsoleApi | None = None  # the counsellor's console, for the outcome
        self.org_id: str | None = None  # whose line the call is on now (a transfer moves it)

    def met(self, leg: Created) -> str | None:
        """A counsellor accepted on the line `leg` rings: its organisation (None: no line of
        menus.yaml)."""
        found = next((o for o, li in self.cfg.lines() if li.target == leg.to), None)
        self.org_id = found.id if found is not None else None
        return self.org_id

    async def play(self, room: Room, leg: Created) -> ET.Element | None:
        """The counsellor accepted: play the plan; the caller's next document."""
        self.done = True
        phone = room.phone
        phone.connected = True
        phone.out(f"[talk] connected with {leg.to} in the conference; they talk")
        stage = Stage(room, leg)
        line = next((li for _, li in self.cfg.lines() if li.target == leg.to), None)
        org_id = self.met(leg)
        try:
            if org_id is None or line is None:
                raise NoKey(f"{leg.to} is no line of menus.yaml: whose console is it?")
            scene = Scene(self, room, leg, stage, org_id, line.id)
            await scene.sign_in()
            return await scene.run()
        except Refused as e:
            self.failed = f"the service refused ({e.status}): {said(e.detail)}"
            if e.status == 401 and not isinstance(self.keys, GivenKey):
                self.failed += f" ({WRONG_DATABASE})"
        except (NoKey, Stuck) as e:
            self.failed = str(e)
        except httpx.HTTPError as e:
            self.failed = f"the service's API did not answer: {e}"
        phone.out(f"[console] {self.failed}")
        self.result = f"not played through: {self.failed}"
        return await _give_up(room, leg, stage)

    async def report(self, client: httpx.AsyncClient, base: str) -> None:
        """The call's card once it is over (read by the last counsellor's organisation): its
        state and every party's."""
        if self.reader is None or self.call_id is None:
            return
        try:
            reader = self.reader
            if self.org_id is not None and self.org_id != reader.org_id:
                secret, named = await self.keys.key(self.org_id, "counsellor")
                reader = ConsoleApi(client, base, secret, named, self.org_id)
            card = await reader.card(self.call_id)
        except (Refused, NoKey, httpx.HTTPError) as e:
            self.out(f"[outcome] call {self.call_id}: its card cannot be read now ({e})")
            return
        self.out(f"[outcome] call {self.call_id} {card['state']}: {self.result}")
        parties = ", ".join(_party(p, final=True) for p in card["parties"])
        self.out(f"[outcome] parties: {parties}")


async def _give_up(room: Room, leg: Created, stage: Stage) -> ET.Element | None:
    """The plan stopped half-way: the conference ends as if the counsellor hung up (or as the
    service already ended it)."""
    if stage.ended:
        return await stage.conference_ends()
    for label in list(stage.parties):
        await stage.hang_up(label)
    return await room.counsellor_hangs_up(leg)


def _party(p: dict[str, Any], final: bool = False) -> str:
    """A party as the card names it (never a number)."""
    role, name = p["role"], p.get("name") or p.get("target_id") or "?"
    if role == "caller":
        text = "caller"
    elif role == "counsellor":
        text = f"counsellor ({name})"
    elif role == "supervisor":
        mode = "listen" if p["muted"] else "coach" if p["coaching"] else "join"
        text = f"supervisor {name} ({mode})"
    else:
        text = f"{p['kind']} {name}"
    if final:
        return f"{text} {p['status']}" + (f" ({p['outcome']})" if p.get("outcome") else "")
    if p.get("held"):
        return f"{text} (on hold)"
    return text if role in {"caller", "counsellor"} else f"{text} ({p['status']})"


class Scene:
    """One plan played on one call."""

    def __init__(
        self, console: Console, room: Room, leg: Created, stage: Stage, org_id: str, line_id: str
    ) -> None:
        self.console, self.room, self.leg, self.stage = console, room, leg, stage
        self.org_id, self.line_id = org_id, line_id
        self.out = room.phone.out
        self.api: ConsoleApi
        self.call_id = 0

    async def console_of(self, role: str) -> ConsoleApi:
        phone = self.room.phone
        secret, named = await self.console.keys.key(self.org_id, role)
        self.out(f"[console] signed in as a {role} of {self.org_id} ({named})")
        return ConsoleApi(phone.client, phone.base, secret, named, self.org_id)

    async def sign_in(self) -> None:
        """The counsellor's console finds the call on their line (`GET /api/live`)."""
        self.api = await self.console_of("counsellor")
        call = await self.api.call_on(self.line_id)
        self.call_id = self.console.call_id = int(call["call_id"])
        self.console.reader = self.api
        waited = call.get("waited_seconds")
        self.out(
            f"[card] call {self.call_id}: {call.get('option')} ({call.get('language') or 'ja'}), "
            f"line {self.line_id}, waited {waited or 0:.0f} s"
        )

    async def show(self, title: str = "conference") -> dict[str, Any]:
        """Who is in the call, as the counsellor's card shows it."""
        card = await self.api.card(self.call_id)
        live = card["call"]
        inside = [_party(p) for p in card["parties"] if p["status"] in IN_PLAY]
        inside = [p for p in inside if not p.startswith("supervisor ")]
        listening = live.get("listening") or []
        more = f"; listening: {', '.join(listening)}" if listening else ""
        self.out(f"[{title}] {live['phase']}: {', '.join(inside)}{more}")
        return card

    async def act(
        self,
        what: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        by: ConsoleApi | None = None,
    ) -> Any:
        """One action of the console, printed as asked (the body holds no secret)."""
        shown = f" {json.dumps(body, ensure_ascii=False)}" if body else ""
        self.out(f"[console] {what}: {method} /api/calls/{self.call_id}{path}{shown}")
        return await (by or self.api).ask(method, f"/calls/{self.call_id}{path}", body)

    async def talk(self, who: str, what: str) -> None:
        self.out(f"[{who}] {what}")
        script = self.room.phone.script
        if script.speed > 0:  # at speed 1 a third of a conversation's length, in real time
            await asyncio.sleep(script.talk_seconds * script.speed / 3)

    async def bring_in(self, party: dict[str, Any], who: str, *, held: bool) -> str:
        """The party the service dials: answered once it rings; the caller held first when
        the counsellor consults it. Its label."""
        label = f"{'s' if party['role'] == 'supervisor' else 'p'}{party['id']}"
        self.stage.names[label] = who
        stage = self.stage
        await stage.until(lambda: label in stage.parties and stage.held == held, f"{who}'s leg")
        return label

    async def hang_up(self, outcome: str) -> ET.Element | None:
        self.console.result = outcome
        return await self.room.counsellor_hangs_up(self.leg)

    async def run(self) -> ET.Element | None:
        plan = self.console.plan
        if isinstance(plan, Supervision):
            return await self.supervise(plan)
        if plan.kind == "queue":
            return await self.to_queue(plan)
        if plan.kind == "emergency":
            return await self.emergency(plan)
        return await self.directory(plan)

    # -- a partner, a support organisation, an interpreter ---------------------------------
    async def directory(self, plan: Transfer) -> ET.Element | None:
        await self.show()
        consult = plan.mode != "cold"
        how = "the caller on hold while you talk to them first" if consult else "straight in"
        body = {"kind": plan.kind, "target_id": plan.target, "consult": consult}
        party = await self.act(f"call in the {plan.kind} ({how})", "POST", "/parties", body)
        who = f"{plan.kind} {party['name']}"
        label = await self.bring_in(party, who, held=consult)
        await self.show()
        if consult:
            await self.talk(f"counsellor and {who} talk", "the caller does not hear them")
        if plan.mode == "three-way":
            return await self.three_way(party, label, who)
        if plan.mode == "cold":
            await self.talk(f"caller, counsellor and {who}", "the counsellor introduces the caller")
        return await self.hand_over(label, who, plan.mode)

    async def three_way(self, party: dict[str, Any], label: str, who: str) -> ET.Element | None:
        stage = self.stage
        await self.act("bring the caller in: a three-way call", "POST", "/three-way")
        await stage.until(lambda: not stage.held, "the caller's resume")
        await self.show()
        await self.talk(f"caller, counsellor and {who} talk", "all three hear each other")
        await self.act(
            f"take the {party['kind']} out of the call", "DELETE", f"/parties/{party['id']}"
        )
        await stage.until(lambda: label not in stage.parties, f"{who} taken out")
        await self.show()
        await self.talk("caller and counsellor talk", "the two of them again")
        return await self.hang_up(f"a three-way call with {who}, who left; the counsellor hung up")

    async def hand_over(self, label: str, who: str, mode: str) -> ET.Element | None:
        stage = self.stage
        await self.act(
            f"leave the caller with the {who} ({mode} transfer)",
            "POST",
            "/leave",
            {"handover": True},
        )
        await stage.until(lambda: not stage.counsellor_in and not stage.held, "the handover")
        await self.show()
        await self.talk(f"caller and {who} talk", "the counsellor has left; their line wraps up")
        await stage.hang_up(label)
        await stage.until(lambda: stage.ended, "the end of the conference")
        self.console.result = f"{mode} transfer: the caller was handed over to {who}"
        return await stage.conference_ends()

    # -- another option's queue ------------------------------------------------------------
    async def to_queue(self, plan: Transfer) -> ET.Element | None:
        await self.show()
        body = {"option_id": plan.target}
        party = await self.act(
            "transfer the caller to another queue (cold)", "POST", "/transfer", body
        )
        self.out(f"[console] the caller goes to the queue of {party['name']}, their place kept")
        self.console.result = f"cold transfer to the queue of {party['name']} ({plan.target})"
        return await self.room.requeued(self.leg)

    # -- an emergency line -------------------------------------------------------------------
    async def emergency(self, plan: Transfer) -> ET.Element | None:
        card = await self.show()
        lines = card["emergency"]
        where = plan.prefecture or lines.get("prefecture") or "(the organisation has none)"
        body: dict[str, Any] = {"service": plan.target, "consult": True, "confirm": True}
        if plan.prefecture:
            body["prefecture"] = plan.prefecture
        try:
            party = await self.act(
                f"緊急通報 {where} {plan.target}, confirmed", "POST", "/emergency", body
            )
        except Refused as e:
            if e.status != 409 or not e.context.get("emergency_missing"):
                raise
            return await self.no_direct_line(e)
        who = f"the {party['name']} command centre"
        label = await self.bring_in(party, who, held=True)
        await self.show()
        await self.talk(f"counsellor and {who} talk", "the caller hears the on-hold words")
        stage = self.stage
        await self.act("bring the caller in: a three-way call", "POST", "/three-way")
        await stage.until(lambda: not stage.held, "the caller's resume")
        await self.show()
        await self.talk(f"caller, counsellor and {who} talk", "the caller stays on the line")
        await self.stay()
        await self.act(
            "help is on its way: the command centre leaves", "DELETE", f"/parties/{party['id']}"
        )
        await stage.until(lambda: label not in stage.parties, f"{who} taken out")
        await self.show()
        await self.talk("caller and counsellor talk", "the counsellor stays with the caller")
        return await self.hang_up(f"an emergency three-way call with {who}; help on its way")

    async def stay(self) -> None:
        """The counsellor tries to leave with the command centre in: refused, as it must be."""
        try:
            await self.act("leave the call", "POST", "/leave", {"handover": False})
        except Refused as e:
            self.out(f"[console] refused, as it should be ({e.status}): {said(e.detail)}")
            return
        self.console.failed = "the service let the counsellor leave an emergency call"
        self.out(f"[console] {self.console.failed}")

    async def no_direct_line(self, e: Refused) -> ET.Element | None:
        self.out(f"[console] refused ({e.status}): {said(e.detail)}; nothing was dialled")
        self.out(f"[card] what to do: {e.context.get('what_to_do')}")
        self.out(f"[card] {e.context.get('what_to_do_ja')}")
        await self.talk(
            "counsellor", "calls 119/110 from their own phone and stays with the caller"
        )
        await self.show()
        return await self.hang_up(
            "no direct line of the command centre is configured: nothing was dialled; the "
            "counsellor called 119/110 themselves and stayed with the caller"
        )

    # -- a supervisor ------------------------------------------------------------------------
    async def supervise(self, plan: Supervision) -> ET.Element | None:
        org = next(o for o in self.console.cfg.organisations if o.id == self.org_id)
        if not org.supervisors:
            raise NoKey(
                f"{org.id} has no supervisors in menus.yaml (organisations[].supervisors): "
                "nobody can supervise its calls; try a key that only sisc answers (--press 3)"
            )
        chosen = next((s for s in org.supervisors if s.id == plan.supervisor), None)
        if plan.supervisor is not None and chosen is None:
            raise NoKey(f"{plan.supervisor} is not a supervisor of {org.id}")
        chosen = chosen or org.supervisors[0]
        sup = await self.console_of("supervisor")
        await sup.ask("POST", "/duty", {"on": True, "supervisor_id": chosen.id})
        self.out(f"[supervisor] on duty as {chosen.name} ({chosen.id})")
        await self.show()
        body = {"mode": plan.mode, "supervisor_id": chosen.id}
        party = await self.act(f"supervise: {plan.mode}", "POST", "/supervise", body, by=sup)
        who = f"supervisor {party['name']}"
        label = await self.bring_in(party, who, held=False)
        self.twilio_agrees(plan.mode, self.stage.parties[label])
        await self.show("counsellor's card")
        for line in HEARD[plan.mode]:
            self.out(line)
        await self.talk(
            "caller and counsellor talk", f"the supervisor is in the call ({plan.mode})"
        )
        await self.act("the supervisor leaves", "DELETE", f"/parties/{party['id']}", by=sup)
        await self.stage.until(lambda: label not in self.stage.parties, f"{who} taken out")
        await self.show("counsellor's card")
        await sup.ask("POST", "/duty", {"on": False})
        self.out("[supervisor] off duty")
        return await self.hang_up(f"supervised ({plan.mode}) by {party['name']}")

    def twilio_agrees(self, mode: str, leg: dict[str, Any]) -> None:
        """The supervisor's leg as Twilio was asked to make it: muted to listen, coaching the
        counsellor's own leg to coach, neither to join."""
        coaching = bool(leg.get("coaching")) and leg.get("call_sid_to_coach") == self.leg.sid
        wanted = {"listen": (True, False), "coach": (False, True), "join": (False, False)}[mode]
        if (bool(leg.get("muted")), coaching) != wanted:
            self.console.failed = f"the supervisor's leg is not as {mode} wants it: {leg}"
            self.out(f"[twilio] {self.console.failed}")
            return
        self.out(
            {
                "listen": "[twilio] the supervisor's leg is muted",
                "coach": "[twilio] the supervisor's leg coaches the counsellor's leg",
                "join": "[twilio] the supervisor's leg is neither muted nor coaching",
            }[mode]
        )
