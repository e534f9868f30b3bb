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

import base64
import json
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request, Response
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse

from hotline.ivr.rest import TwilioRest
from hotline.ivr.stand_in import TwilioApi, answer
from hotline.settings import DEV_ACCOUNT_SID, Settings

DEV_PATH = "/dev/twilio-api"


class InProcess(AsyncTwilioHttpClient):
    """twilio's transport, answered by the stand-in in this process: no connection is made
    (no session either: `pool_connections=False`, and `request` never opens one)."""

    def __init__(self, api: TwilioApi) -> None:
        super().__init__(pool_connections=False)
        self.api = api

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        meant = urlsplit(url)  # Twilio's URL, for the region and edge: only its path is used
        target = meant.path + ("?" + urlencode(params, doseq=True) if params else "")
        basic = None
        if auth is not None:
            basic = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        body = urlencode(data or {}, doseq=True)
        status, payload = answer(self.api, method.upper(), target, body, basic, meant.netloc)
        text = "" if status == 204 else json.dumps(payload)
        return TwilioResponse(status, text, {"Content-Type": "application/json"})


class DevRest(TwilioRest):
    """The REST client of a development service without an account: the same `TwilioRest`,
    its transport the stand-in in this process."""

    def _transport(self) -> AsyncTwilioHttpClient:
        assert self.stand_in is not None
        return InProcess(self.stand_in)


def rest(settings: Settings) -> TwilioRest:
    """The REST client of a development service without an account: its stand-in in-process,
    its base the service's own origin (nothing is sent there: `InProcess`)."""
    api = TwilioApi(DEV_ACCOUNT_SID, settings.auth_token, every_call=True)
    api.base_url = settings.public_base + DEV_PATH
    return DevRest(
        DEV_ACCOUNT_SID,
        settings.auth_token,
        api.base_url,
        region=settings.twilio_region,
        edge=settings.twilio_edge,
        stand_in=api,
    )


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
        auth = request.headers.get("authorization")
        status, payload = answer(held, request.method, target, body, auth, request.url.netloc)
        content = b"" if status == 204 else json.dumps(payload).encode()
        return Response(content, status, media_type="application/json")

    methods = ["GET", "POST", "DELETE"]
    app.add_route(DEV_PATH + "/{path:path}", stand_in, methods=methods, include_in_schema=False)
