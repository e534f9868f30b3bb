"""The stand-in's conferences and their participants (`hotline.ivr.stand_in` hands it every
request under `Conferences`): what Twilio's Conference and Participant resources answer, in
their JSON shapes and error codes, and a log of what was asked that tests assert on.

Under `/2010-04-01/Accounts/{AccountSid}`:

- `GET Conferences.json` (FriendlyName, Status filters): the conferences, one page.
- `GET Conferences/{Sid}.json`; `POST Conferences/{Sid}.json` (Status=completed ends it: its
  participants leave, their calls complete); 404 (20404) for an unknown one.
- `GET Conferences/{Sid}/Participants.json`: who is in it (no one who left, as Twilio).
- `POST Conferences/{Sid}/Participants.json` (From, To required): a new leg, `queued`, with
  its Label, Muted, Coaching (CallSidToCoach required with it: 400), EarlyMedia...; recorded in
  `created` and returned with a new CallSid. The participant joins when a test says so
  (`join`), as the phone answering would.
- `POST Conferences/{Sid}/Participants/{CallSid or Label}.json`: Hold (with HoldUrl, HoldMethod),
  Muted, Coaching, CallSidToCoach, EndConferenceOnExit; `DELETE` the same: it leaves (204).

Every request that changes something is appended to `log` as `(action, conference sid,
participant or "", params)`: "create", "update", "delete", "end".

A development service's stand-in (`every_room`) never sees the terminal phone's `<Conference>`:
a conference or a participant (by CallSid) it is asked about is taken to be the phone's, and
made on first use, as `every_call` does for calls. Beside Twilio's fields a participant shows
what Twilio itself would use, for the terminal phone, which plays Twilio's part: `to`,
`status_callback` (from its create) and `hold_url` (from its latest hold).
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})"
ROOMS = re.compile(ACCOUNT + r"/Conferences\.json$")
ROOM = re.compile(ACCOUNT + r"/Conferences/([A-Za-z0-9]{1,64})\.json$")
LEGS = re.compile(ACCOUNT + r"/Conferences/([A-Za-z0-9]{1,64})/Participants\.json$")
LEG = re.compile(ACCOUNT + r"/Conferences/([A-Za-z0-9]{1,64})/Participants/([^/]{1,64})\.json$")
FLAGS = {"Hold": "hold", "Muted": "muted", "Coaching": "coaching"}
Answer = tuple[int, dict[str, object]]


def _error(status: int, code: int, message: str) -> Answer:
    return status, {"code": code, "message": message, "status": status, "more_info": ""}


NOT_FOUND = _error(404, 20404, "The requested resource was not found")


@dataclass
class Room:
    sid: str
    name: str
    status: str = "init"  # init (nobody started it yet), in-progress, completed
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)  # CallSid -> participant


@dataclass
class Rooms:
    """The stand-in's conferences (held by `TwilioApi.rooms`)."""

    account_sid: str = ""
    rooms: dict[str, Room] = field(default_factory=dict)  # CF sid -> room
    created: list[dict[str, str]] = field(default_factory=list)  # participants created
    log: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    calls_ended: list[str] = field(default_factory=list)  # legs that left by a request
    every_room: bool = False  # a development service's: the terminal phone's rooms
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- what a test (or the terminal phone's TwiML) does, as Twilio would ------------------

    def conference(self, name: str) -> str:
        """The SID of the live conference of that name, made on first use (a <Conference>)."""
        with self.lock:
            for room in self.rooms.values():
                if room.name == name and room.status != "completed":
                    return room.sid
            sid = "CF" + secrets.token_hex(16)
            self.rooms[sid] = Room(sid, name)
            return sid

    def join(self, sid: str, call_sid: str, label: str, *, starts: bool = False) -> None:
        """A leg is in the conference (its <Conference>, or a created participant answered)."""
        with self.lock:
            room = self.rooms[sid]
            leg = room.legs.setdefault(call_sid, _leg(self.account_sid, sid, call_sid, label))
            leg["status"] = "connected"
            if starts:
                room.status = "in-progress"

    def leave(self, sid: str, call_sid: str) -> None:
        """A leg left (hung up); the room empties as Twilio's does when the last leaves."""
        with self.lock:
            room = self.rooms.get(sid)
            if room is not None:
                room.legs.pop(call_sid, None)
                if not room.legs:
                    room.status = "completed"

    def of(self, name: str) -> Room | None:
        """The latest conference of that name."""
        with self.lock:
            rooms = [r for r in self.rooms.values() if r.name == name]
            return rooms[-1] if rooms else None

    def room_json(self, room: Room) -> dict[str, object]:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Conferences/{room.sid}"
        return {
            "sid": room.sid,
            "account_sid": self.account_sid,
            "friendly_name": room.name,
            "status": room.status,
            "region": "jp1",
            "reason_conference_ended": None,
            "call_sid_ending_conference": None,
            "date_created": None,
            "date_updated": None,
            "uri": uri + ".json",
            "subresource_uris": {"participants": uri + "/Participants.json"},
        }


def _leg(account: str, sid: str, call_sid: str, label: str) -> dict[str, Any]:
    """A participant as Twilio's API shows it."""
    uri = f"/2010-04-01/Accounts/{account}/Conferences/{sid}/Participants/{call_sid}.json"
    return {
        "account_sid": account,
        "call_sid": call_sid,
        "conference_sid": sid,
        "label": label or None,
        "status": "queued",
        "muted": False,
        "hold": False,
        "coaching": False,
        "call_sid_to_coach": None,
        "start_conference_on_enter": True,
        "end_conference_on_exit": False,
        "date_created": None,
        "date_updated": None,
        "uri": uri,
    }


def _true(value: str | None) -> bool:
    return (value or "").lower() == "true"


def handles(path: str) -> bool:
    return "/Conferences" in path


def get(rooms: Rooms, path: str, query: dict[str, str], page: Any) -> Answer:
    with rooms.lock:
        if ROOMS.match(path):
            listed = [
                rooms.room_json(r)
                for r in rooms.rooms.values()
                if query.get("FriendlyName") in (None, r.name)
                and query.get("Status") in (None, r.status)
            ]
            return 200, page("Conferences", "conferences", listed)
        if match := ROOM.match(path):
            room = _room(rooms, match.group(2))
            return NOT_FOUND if room is None else (200, rooms.room_json(room))
        if match := LEGS.match(path):
            room = _room(rooms, match.group(2))
            if room is None:
                return NOT_FOUND
            return 200, page("Participants", "participants", [dict(v) for v in room.legs.values()])
        if match := LEG.match(path):
            leg = _find(rooms, match.group(2), match.group(3))
            return NOT_FOUND if leg is None else (200, dict(leg))
    return NOT_FOUND


def _room(rooms: Rooms, sid: str) -> Room | None:
    """A conference by SID (call with the lock held); a development service's stand-in makes
    the terminal phone's on first use, in progress."""
    room = rooms.rooms.get(sid)
    if room is None and rooms.every_room and sid.startswith("CF"):
        room = rooms.rooms[sid] = Room(sid, "", "in-progress")
    return room


def _find(rooms: Rooms, sid: str, who: str) -> dict[str, Any] | None:
    """A participant by CallSid or label (call with the lock held); a development service's
    stand-in takes an unknown CallSid for the terminal phone's leg, in the conference."""
    room = _room(rooms, sid)
    if room is None:
        return None
    found = room.legs.get(who) or next((v for v in room.legs.values() if v["label"] == who), None)
    if found is None and rooms.every_room and who.startswith("CA"):
        found = room.legs[who] = _leg(rooms.account_sid, sid, who, "") | {"status": "connected"}
    return found


def post(rooms: Rooms, path: str, params: dict[str, str], statuses: dict[str, str]) -> Answer:
    if match := ROOM.match(path):
        return _end(rooms, match.group(2), params, statuses)
    if match := LEGS.match(path):
        return _create(rooms, match.group(2), params, statuses)
    if match := LEG.match(path):
        return _update(rooms, match.group(2), match.group(3), params)
    return NOT_FOUND


def _end(rooms: Rooms, sid: str, params: dict[str, str], statuses: dict[str, str]) -> Answer:
    with rooms.lock:
        room = _room(rooms, sid)
        if room is None:
            return NOT_FOUND
        if params.get("Status") not in (None, "completed"):
            return _error(400, 21218, "Invalid Status: only completed is allowed")
        rooms.log.append(("end", sid, "", params))
        if params.get("Status") == "completed":
            room.status = "completed"
            for call_sid in room.legs:
                statuses[call_sid] = "completed"
                rooms.calls_ended.append(call_sid)
            room.legs.clear()
        return 200, rooms.room_json(room)


def _create(rooms: Rooms, sid: str, params: dict[str, str], statuses: dict[str, str]) -> Answer:
    missing = [name for name in ("From", "To") if not params.get(name)]
    if missing:
        return _error(400, 21201, f"Missing required parameter {missing[0]}")
    if _true(params.get("Coaching")) and not params.get("CallSidToCoach"):
        return _error(400, 21201, "CallSidToCoach is required when Coaching is true")
    with rooms.lock:
        room = _room(rooms, sid)
        if room is None or room.status == "completed":
            return NOT_FOUND
        call_sid = "CA" + secrets.token_hex(16)
        leg = _leg(rooms.account_sid, sid, call_sid, params.get("Label", ""))
        leg.update(
            muted=_true(params.get("Muted")),
            coaching=_true(params.get("Coaching")),
            call_sid_to_coach=params.get("CallSidToCoach"),
            end_conference_on_exit=_true(params.get("EndConferenceOnExit")),
            start_conference_on_enter=params.get("StartConferenceOnEnter", "true") != "false",
        )
        if rooms.every_room:  # what Twilio itself would use, for the terminal phone
            leg.update(to=params["To"], status_callback=params.get("StatusCallback"))
        room.legs[call_sid] = leg
        statuses[call_sid] = "queued"
        rooms.created.append({**params, "CallSid": call_sid, "ConferenceSid": sid})
        rooms.log.append(("create", sid, call_sid, params))
        return 201, dict(leg)


def _update(rooms: Rooms, sid: str, who: str, params: dict[str, str]) -> Answer:
    if _true(params.get("Coaching")) and not params.get("CallSidToCoach"):
        return _error(400, 21201, "CallSidToCoach is required when Coaching is true")
    with rooms.lock:
        leg = _find(rooms, sid, who)
        if leg is None:
            return NOT_FOUND
        for name, key in FLAGS.items():
            if name in params:
                leg[key] = _true(params[name])
        if "CallSidToCoach" in params:
            leg["call_sid_to_coach"] = params["CallSidToCoach"]
        if "EndConferenceOnExit" in params:
            leg["end_conference_on_exit"] = _true(params["EndConferenceOnExit"])
        if rooms.every_room and "Hold" in params:
            leg["hold_url"] = params.get("HoldUrl") if leg["hold"] else None
        rooms.log.append(("update", sid, str(leg["call_sid"]), params))
        return 200, dict(leg)


def delete(rooms: Rooms, path: str, statuses: dict[str, str]) -> Answer:
    match = LEG.match(path)
    if match is None:
        return NOT_FOUND
    sid = match.group(2)
    with rooms.lock:
        leg = _find(rooms, sid, match.group(3))
        if leg is None:
            return NOT_FOUND
        call_sid = str(leg["call_sid"])
        room = rooms.rooms[sid]
        room.legs.pop(call_sid, None)
        statuses[call_sid] = "completed"
        rooms.calls_ended.append(call_sid)
        rooms.log.append(("delete", sid, call_sid, {}))
    return 204, {}
