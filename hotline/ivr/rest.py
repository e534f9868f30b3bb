"""Twilio's REST API, through the `twilio` library's client, behind one small class.

The service asks Twilio only what a webhook could not tell it: the true status of a call whose
callbacks were lost (reconciliation). The client is twilio's own `Client`; its base URL comes
from settings (`HOTLINE_TWILIO_API_BASE`), so that tests and the terminal phone point it at a
local stand-in on 127.0.0.1 and the production code path is the one tested. twilio's client is
synchronous (its async client needs aiohttp): each request runs in a worker thread, off the
event loop, with a short timeout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hotline.ivr.params import FINAL_STATUSES, printable

log = logging.getLogger(__name__)


class TwilioUnavailable(RuntimeError):
    """Twilio did not answer (network, 5xx, timeout): the caller decides what to do without."""


@dataclass(frozen=True, slots=True)
class CallStatusAnswer:
    status: str

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class TwilioRest:
    """The REST calls this service makes, each one method."""

    def __init__(
        self, account_sid: str, auth_token: str, base_url: str | None = None, timeout: float = 5
    ) -> None:
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if base_url:  # a stand-in of api.twilio.com (tests, the terminal phone)
            self.client.api.base_url = base_url.rstrip("/")

    async def call_status(self, call_sid: str) -> CallStatusAnswer:
        """The call's status as Twilio knows it now."""

        def fetch() -> str:
            return str(self.client.calls(call_sid).fetch().status)

        try:
            return CallStatusAnswer(await asyncio.to_thread(fetch))
        except (TwilioException, OSError) as e:
            log.warning("Twilio REST: no status for call %s: %s", printable(call_sid), type(e))
            raise TwilioUnavailable(str(type(e).__name__)) from None
