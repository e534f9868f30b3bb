"""Development without a Twilio account: the REST stand-in inside the service's own process.

A development service with no `TWILIO_ACCOUNT_SID` (and no `HOTLINE_TWILIO_API_BASE` of a
stand-in the developer runs) still places callbacks, so that `hotline call --callback` can play
one: its REST client (`TwilioRest`, twilio's `Client`) is given a transport that answers from a
stand-in held in this process (`hotline.ivr.stand_in`), never a socket. Its base URL is the
service's own (`public_base` + `/dev/twilio-api`), so even its logs name no address that another
program could hold; the auth token, sent by twilio's client as Basic auth, never leaves the
process. The terminal phone reads the calls the service placed at that same path of the
service (`GET /dev/twilio-api/2010-04-01/Accounts/{sid}/Calls.json`, Basic auth with the
development token), and plays them.

This account places calls, and that is all it is used for: no Twilio runs the hold, so nothing
is pushed to it (no dequeue: a freed line is taken at the caller's next poll, and the hold is
the plain short segment without music), no queue is set up, no call is reconciled with it
(`TwilioRest.stand_in`). Production refuses its account SID (`hotline.settings`).
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response

from hotline.ivr.rest import STAND_IN_PATH as DEV_PATH
from hotline.ivr.rest import TwilioRest
from hotline.ivr.stand_in import TwilioApi, answer
from hotline.settings import DEV_ACCOUNT_SID, Settings


def rest(settings: Settings) -> TwilioRest:
    """The REST client of a development service without an account: its stand-in in-process."""
    api = TwilioApi(DEV_ACCOUNT_SID, settings.auth_token)
    api.base_url = settings.public_base + DEV_PATH
    return TwilioRest(DEV_ACCOUNT_SID, settings.auth_token, api.base_url, stand_in=api)


def mount(app: FastAPI, rest: TwilioRest | None) -> None:
    """Serve the in-process stand-in at `/dev/twilio-api` of the service (development only,
    Basic auth with the development account and token, as Twilio checks): where the terminal
    phone finds the calls to play."""
    api = rest.stand_in if rest is not None else None
    if api is None:
        return
    held: TwilioApi = api

    async def stand_in(request: Request) -> Response:
        target = request.url.path.removeprefix(DEV_PATH)
        if request.url.query:
            target += "?" + request.url.query
        body = (await request.body()).decode("utf-8", "replace")
        status, payload = answer(
            held, request.method, target, body, request.headers.get("authorization")
        )
        content = b"" if status == 204 else json.dumps(payload).encode()
        return Response(content, status, media_type="application/json")

    methods = ["GET", "POST", "DELETE"]
    app.add_route(DEV_PATH + "/{path:path}", stand_in, methods=methods, include_in_schema=False)
