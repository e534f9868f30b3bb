"""A stand-in of the Twilio REST endpoints the service uses: what it knows and answers.

No server here: the tests and benchmarks serve it on a loopback port
(`hotline.testing.twilio_api`, a thread), and a development service holds one in its own process
(`hotline.ivr.dev_account`), where its REST client reaches it without any socket.

The service's own adapter (`hotline.ivr.rest.TwilioRest`, twilio's `Client` underneath) talks
to it through `HOTLINE_TWILIO_API_BASE`, so the production code path is the one tested; no
request ever leaves the machine. It answers what a test says each call's status is, places
outbound calls (recording what was asked, placing nothing), holds queues whose members a test
puts in, checks HTTP Basic auth as Twilio does, can play an outage (503), and keeps a log of
requests (`"GET /2010-04-01/..."`).

Endpoints, under `/2010-04-01/Accounts/{AccountSid}`:

- `GET Calls/{CallSid}.json`: the call's status (`statuses`), 404 for an unknown call.
- `GET Calls.json`: every call placed (`created`), as one page; beside Twilio's fields each
  has what Twilio would fetch (`url`, `status_callback`: the stand-in's own, for the terminal
  phone, which plays the calls a development service places).
- `POST Calls.json` (To, From, Url required): a new call, `queued`, recorded in `created`;
  a To in `reject_numbers` answers 400 with Twilio's code 21211 (invalid 'To' number).
- `POST Calls/{CallSid}.json`: recorded in `updates`; `Status=canceled|completed` ends it; a
  redirect (Url) of a call that is over answers 400 with Twilio's code 21220.
- `GET Queues.json`: the queues (`queue(name)` makes one, as an `<Enqueue>` would), as one
  page; `POST Queues.json` (FriendlyName required, MaxSize 1..5000, default 1000) creates
  one (recorded in `queue_creates`); `GET`/`POST`/`DELETE Queues/{QueueSid}.json` fetch it,
  update its FriendlyName or MaxSize, delete it (204; 400 with code 20001 while a call is
  in it, as Twilio removes only an empty queue).
- `POST Queues/{QueueSid}/Members/{CallSid}.json` (Url): the member leaves the queue
  (`members`), recorded in `dequeued` (and the moment, `time.monotonic()`, in
  `dequeued_at`: the benchmarks time a push by it); 404 (code 20404) when it is not a member.

- `Conferences` and their `Participants`: `hotline.ivr.stand_in_conference` (`rooms`).

Errors carry Twilio's JSON shape (`code`, `message`, `status`).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from hotline.ivr import stand_in_conference as conf

ACCOUNT = r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})"
CALLS = re.compile(ACCOUNT + r"/Calls\.json$")
CALL = re.compile(ACCOUNT + r"/Calls/([A-Za-z0-9]{1,64})\.json$")
QUEUES = re.compile(ACCOUNT + r"/Queues\.json$")
QUEUE = re.compile(ACCOUNT + r"/Queues/([A-Za-z0-9]{1,64})\.json$")
MEMBER = re.compile(ACCOUNT + r"/Queues/([A-Za-z0-9]{1,64})/Members/([A-Za-z0-9]{1,64})\.json$")
FINAL_UPDATES = {"canceled", "completed"}
CALL_OVER = {"canceled", "completed", "busy", "failed", "no-answer"}  # Twilio's final statuses
QUEUE_DEFAULT_SIZE, QUEUE_MAX_SIZE = 1000, 5000  # Twilio's Queue resource


@dataclass(frozen=True)
class Created:
    """One outbound call the service asked for (`POST Calls.json`)."""

    sid: str
    to: str
    from_: str
    url: str
    method: str | None
    status_callback: str | None
    status_callback_method: str | None
    status_callback_event: list[str]
    timeout: int | None
    params: dict[str, str]  # every parameter, its last value


@dataclass
class TwilioApi:
    """What the stand-in knows: calls, queues, and whether Twilio is reachable."""

    account_sid: str
    auth_token: str
    statuses: dict[str, str] = field(default_factory=dict)
    down: bool = False
    requests: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # each request's Host, as `requests`
    base_url: str = ""
    created: list[Created] = field(default_factory=list)
    reject_numbers: set[str] = field(default_factory=set)
    updates: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)  # friendly name -> QU sid
    members: dict[str, list[str]] = field(default_factory=dict)  # QU sid -> call sids
    max_sizes: dict[str, int] = field(default_factory=dict)  # QU sid -> MaxSize
    queue_creates: list[str] = field(default_factory=list)  # names, by POST Queues.json
    dequeued: list[tuple[str, str, str]] = field(default_factory=list)  # (name, call, url)
    dequeued_at: list[float] = field(default_factory=list)  # time.monotonic() of each
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # A development service's stand-in: every call of the account is the terminal phone's,
    # whose inbound calls it never saw arrive, and which may be redirected all the same.
    every_call: bool = False
    # Conferences and their participants (hotline.ivr.stand_in_conference).
    rooms: conf.Rooms = field(default_factory=conf.Rooms)

    def __post_init__(self) -> None:
        self.rooms.account_sid = self.account_sid
        self.rooms.every_room = self.every_call  # the terminal phone's rooms too

    def authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def queue(self, name: str) -> str:
        """The SID of the queue of that friendly name, made on first use."""
        with self.lock:
            if name not in self.queues:
                sid = "QU" + secrets.token_hex(16)
                self.queues[name] = sid
                self.members[sid] = []
                self.max_sizes[sid] = QUEUE_DEFAULT_SIZE
            return self.queues[name]

    def queue_json(self, name: str, sid: str) -> dict[str, object]:
        """A queue as Twilio's API shows it (call with the lock held)."""
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "friendly_name": name,
            "current_size": len(self.members.get(sid, [])),
            "max_size": self.max_sizes.get(sid, QUEUE_DEFAULT_SIZE),
            "average_wait_time": 0,
            "date_created": None,
            "date_updated": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Queues/{sid}.json",
        }

    def name_of(self, sid: str) -> str | None:
        """The friendly name of the queue of that SID (call with the lock held)."""
        return next((name for name, s in self.queues.items() if s == sid), None)


Answer = tuple[int, dict[str, object]]


def _error(status: int, code: int, message: str) -> Answer:
    return status, {"code": code, "message": message, "status": status, "more_info": ""}


NOT_FOUND = _error(404, 20404, "The requested resource was not found")


def _post(api: TwilioApi, path: str, form: dict[str, list[str]]) -> Answer:
    params = {key: values[-1] for key, values in form.items()}
    if CALLS.match(path):
        return _create(api, form, params)
    if match := CALL.match(path):
        return _update(api, match.group(2), params)
    if match := MEMBER.match(path):
        return _dequeue(api, match.group(2), match.group(3), params)
    if QUEUES.match(path):
        return _set_queue(api, None, params)
    if match := QUEUE.match(path):
        return _set_queue(api, match.group(2), params)
    return NOT_FOUND


def _set_queue(api: TwilioApi, sid: str | None, params: dict[str, str]) -> Answer:
    """Create a queue (`sid` None) or update one: its FriendlyName, its MaxSize."""
    size = params.get("MaxSize")
    if size is not None and not (size.isdigit() and 1 <= int(size) <= QUEUE_MAX_SIZE):
        return _error(400, 21222, "MaxSize must be between 1 and 5000")
    name = params.get("FriendlyName")
    with api.lock:
        if sid is None:
            if not name:
                return _error(400, 21201, "Missing required parameter FriendlyName")
            sid = "QU" + secrets.token_hex(16)
            api.queues[name], api.members[sid] = sid, []
            api.max_sizes[sid] = QUEUE_DEFAULT_SIZE
            api.queue_creates.append(name)
            status = 201
        elif (old := api.name_of(sid)) is None:
            return NOT_FOUND
        else:
            status = 200
            if name:
                api.queues[name] = api.queues.pop(old)
        if size is not None:
            api.max_sizes[sid] = int(size)
        return status, api.queue_json(api.name_of(sid) or "", sid)


def _delete(api: TwilioApi, path: str) -> Answer:
    match = QUEUE.match(path)
    if match is None:
        return NOT_FOUND
    sid = match.group(2)
    with api.lock:
        name = api.name_of(sid)
        if name is None:
            return NOT_FOUND
        if api.members.get(sid):
            return _error(400, 20001, "Queue must be empty to be deleted")
        del api.queues[name], api.members[sid]
        api.max_sizes.pop(sid, None)
    return 204, {}


def _create(api: TwilioApi, form: dict[str, list[str]], params: dict[str, str]) -> Answer:
    missing = [name for name in ("To", "From", "Url") if not params.get(name)]
    if missing:
        return _error(400, 21201, f"Missing required parameter {missing[0]}")
    if params["To"] in api.reject_numbers:
        return _error(400, 21211, f"The 'To' number {params['To']} is not a valid phone number.")
    sid = "CA" + secrets.token_hex(16)
    timeout = params.get("Timeout")
    created = Created(
        sid=sid,
        to=params["To"],
        from_=params["From"],
        url=params["Url"],
        method=params.get("Method"),
        status_callback=params.get("StatusCallback"),
        status_callback_method=params.get("StatusCallbackMethod"),
        status_callback_event=form.get("StatusCallbackEvent", []),
        timeout=int(timeout) if timeout else None,
        params=params,
    )
    with api.lock:
        api.created.append(created)
        api.statuses[sid] = "queued"
    return 201, {
        "sid": sid,
        "account_sid": api.account_sid,
        "status": "queued",
        "to": created.to,
        "from": created.from_,
        "direction": "outbound-api",
        "uri": f"/2010-04-01/Accounts/{api.account_sid}/Calls/{sid}.json",
    }


def _update(api: TwilioApi, sid: str, params: dict[str, str]) -> Answer:
    with api.lock:
        if sid not in api.statuses and api.every_call and sid.startswith("CA"):
            api.statuses[sid] = "in-progress"  # the terminal phone's call, never seen arrive
        if sid not in api.statuses:
            return NOT_FOUND
        if params.get("Url") and api.statuses[sid] in CALL_OVER:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        api.updates.append((sid, params))
        if params.get("Status") in FINAL_UPDATES:
            api.statuses[sid] = params["Status"]
        status = api.statuses[sid]
    return 200, {"sid": sid, "account_sid": api.account_sid, "status": status}


def _dequeue(api: TwilioApi, queue_sid: str, call_sid: str, params: dict[str, str]) -> Answer:
    if not params.get("Url"):
        return _error(400, 21201, "Missing required parameter Url")
    with api.lock:
        names = [name for name, sid in api.queues.items() if sid == queue_sid]
        waiting = api.members.get(queue_sid, [])
        if not names or call_sid not in waiting:
            return NOT_FOUND
        waiting.remove(call_sid)
        api.dequeued.append((names[0], call_sid, params["Url"]))
        api.dequeued_at.append(time.monotonic())
    return 200, {
        "call_sid": call_sid,
        "queue_sid": queue_sid,
        "position": 0,
        "wait_time": 0,
        "uri": f"/2010-04-01/Accounts/{api.account_sid}/Queues/{queue_sid}/Members/{call_sid}.json",
    }


def _get(api: TwilioApi, path: str) -> Answer:
    if match := CALL.match(path):
        sid = match.group(2)
        with api.lock:
            status = api.statuses.get(sid)
        if status is None:
            return NOT_FOUND
        # Beside Twilio's fields, the URLs the call was redirected to (the terminal phone
        # follows them, as Twilio would).
        redirects = [u["Url"] for s, u in api.updates if s == sid and u.get("Url")]
        return 200, {
            "sid": sid,
            "account_sid": api.account_sid,
            "status": status,
            "redirects": redirects,
        }
    if CALLS.match(path):
        with api.lock:
            calls: list[object] = [_call_json(api, c) for c in api.created]
        return 200, _page(api, "Calls", "calls", calls)
    if match := QUEUE.match(path):
        with api.lock:
            name = api.name_of(match.group(2))
            return NOT_FOUND if name is None else (200, api.queue_json(name, match.group(2)))
    if QUEUES.match(path):
        with api.lock:
            queues: list[object] = [api.queue_json(name, sid) for name, sid in api.queues.items()]
        return 200, _page(api, "Queues", "queues", queues)
    return NOT_FOUND


def _call_json(api: TwilioApi, c: Created) -> dict[str, object]:
    """A placed call as listed (call with the lock held)."""
    return {
        "sid": c.sid,
        "account_sid": api.account_sid,
        "to": c.to,
        "from": c.from_,
        "status": api.statuses.get(c.sid, "queued"),
        "url": c.url,
        "status_callback": c.status_callback,
        "params": c.params,  # every parameter asked for (MachineDetection...)
    }


def _page(api: TwilioApi, resource: str, key: str, items: list[object]) -> dict[str, object]:
    """One page holding every item, as Twilio's list resources answer."""
    uri = f"/2010-04-01/Accounts/{api.account_sid}/{resource}.json"
    return {
        key: items,
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": 50,
        "start": 0,
        "end": max(len(items) - 1, 0),
        "uri": uri,
    }


def answer(
    api: TwilioApi,
    method: str,
    target: str,
    body: str,
    authorization: str | None,
    host: str = "",
) -> Answer:
    """One request, as Twilio would answer it: `target` the path (and query), `body` the
    form-encoded body, `host` the host the client meant (its region and edge). Logged in
    `requests` and `hosts`; 503 while `down`; Basic auth checked."""
    with api.lock:
        api.requests.append(f"{method} {target}")
        api.hosts.append(host)
    if api.down:
        return _error(503, 20503, "Service Unavailable")
    if not api.authorised(authorization):
        return _error(401, 20003, "Authenticate")
    path, _, query = target.partition("?")
    match = re.match(ACCOUNT, path)
    if match is None or match.group(1) != api.account_sid:
        return NOT_FOUND
    if conf.handles(path):
        return _conferences(api, method, path, query, body)
    if method == "GET":
        return _get(api, path)
    if method == "POST":
        return _post(api, path, parse_qs(body, keep_blank_values=True))
    if method == "DELETE":
        return _delete(api, path)
    return _error(405, 20004, "Method not allowed")


def _conferences(api: TwilioApi, method: str, path: str, query: str, body: str) -> Answer:
    def page(resource: str, key: str, items: list[object]) -> dict[str, object]:
        return _page(api, resource, key, items)

    if method == "GET":
        asked = {k: v[-1] for k, v in parse_qs(query).items()}
        return conf.get(api.rooms, path, asked, page)
    if method == "POST":
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        return conf.post(api.rooms, path, form, api.statuses)
    if method == "DELETE":
        return conf.delete(api.rooms, path, api.statuses)
    return _error(405, 20004, "Method not allowed")
