"""bench/requests_per_call.py plays each call topology as Twilio would and counts what it
sends and what the service asks of the REST API: checked here against a made-up service that
answers the TwiML of each topology (the real service is the bench's own run)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from bench.requests_per_call import ACCOUNT, Twilio, drive, rest_kind, table
from hotline.ivr.stand_in import TwilioApi, answer
from hotline.testing.secrets import TEST_TOKEN

BASE = "http://service.test"
ROOM = (
    '<Conference statusCallback="{base}/voice/conference" '
    'statusCallbackEvent="start end join leave hold"{wait}>hotline-call-1</Conference>'
)


def xml(body: str) -> Response:
    return Response(f"<Response>{body}</Response>", media_type="application/xml")


def service(api: TwilioApi, topology: str) -> FastAPI:
    """Webhooks answering as the service does, with a two-leg bridge or a conference; the
    conference's counsellor leg placed through the stand-in, as the service's REST client."""
    app = FastAPI()
    auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TEST_TOKEN}".encode()).decode()

    async def hook(request: Request) -> Response:
        path = request.url.path
        if path == "/voice/incoming":
            return xml(f'<Gather action="{BASE}/voice/menu"><Say>menu</Say></Gather>')
        if path == "/voice/menu":
            wait = f'waitUrl="{BASE}/voice/wait" action="{BASE}/voice/queue-result"'
            return xml(f"<Enqueue {wait}>hotline-loneliness</Enqueue>")
        if path == "/voice/wait":
            return xml("<Leave/>")
        if path == "/voice/queue-result":
            return xml(f'<Dial action="{BASE}/voice/dial-result">{target()}</Dial>')
        if path == "/voice/whisper":
            return xml(f'<Gather action="{BASE}/voice/whisper-accept"><Say>1</Say></Gather>')
        if path == "/voice/whisper-accept" and topology == "conference":
            return xml(f"<Dial>{ROOM.format(base=BASE, wait='')}</Dial>")
        if path in {"/voice/dial-result", "/voice/ringback"}:
            return xml("<Hangup/>")
        return Response(status_code=204)

    def target() -> str:
        if topology == "bridge":
            return f'<Sip url="{BASE}/voice/whisper">sip:line01@inochi.example.invalid</Sip>'
        form = {"To": "sip:line01@inochi.example.invalid", "From": "+815055559999"}
        form |= {"Url": f"{BASE}/voice/whisper", "StatusCallback": f"{BASE}/voice/leg-status"}
        body = urlencode({**form, "StatusCallbackEvent": ["ringing", "completed"]}, doseq=True)
        answer(api, "POST", f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json", body, auth)
        return ROOM.format(base=BASE, wait=f' waitUrl="{BASE}/voice/ringback"')

    app.add_route("/{path:path}", hook, methods=["POST"])
    return app


async def played(topology: str, calls: int = 2) -> tuple[list[Any], str]:
    api = TwilioApi(ACCOUNT, TEST_TOKEN)
    transport = httpx.ASGITransport(app=service(api, topology))
    async with httpx.AsyncClient(transport=transport) as client:
        ledgers, before = await drive(Twilio(client, api), BASE, calls, quiet=0.0)
    return ledgers, table(ledgers, before)


async def test_the_bridge_costs_eight_webhooks_and_no_rest_request() -> None:
    ledgers, shown = await played("bridge")
    assert all(x.flow == "bridge" and x.connected and not x.problems for x in ledgers)
    assert all(sum(x.webhooks.values()) == 8 and not x.rest for x in ledgers)
    assert "2 of 2 calls connected cleanly" in shown


async def test_the_conference_counts_the_rooms_and_the_legs_callbacks() -> None:
    ledgers, shown = await played("conference")
    assert all(x.flow == "conference" and x.connected and not x.problems for x in ledgers)
    first = ledgers[0]
    assert first.webhooks["/voice/conference"] == 6  # join x2, start, leave x2, end
    assert first.webhooks["/voice/leg-status"] == 2  # the events the leg asked for
    assert first.webhooks["/voice/ringback"] == 1
    assert sum(first.webhooks.values()) == 17
    assert first.rest == {"POST Calls.json": 1}
    assert ledgers[1].rest == {"POST Calls.json": 1}  # each call its own
    assert "topology: {'conference': 2}" in shown


@pytest.mark.parametrize(
    ("request_line", "kind"),
    [
        (f"POST /2010-04-01/Accounts/{ACCOUNT}/Calls.json", "POST Calls.json"),
        (
            f"POST /2010-04-01/Accounts/{ACCOUNT}/Queues/QU{'a' * 32}/Members/CA{'b' * 32}.json",
            "POST Queues/{QU}/Members/{CA}.json",
        ),
        (
            f"GET /2010-04-01/Accounts/{ACCOUNT}/Conferences/CF{'c' * 32}/Participants.json?x=1",
            "GET Conferences/{CF}/Participants.json",
        ),
    ],
)
def test_rest_requests_are_counted_by_resource(request_line: str, kind: str) -> None:
    assert rest_kind(request_line) == kind
