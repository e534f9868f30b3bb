"""Webhook requests as Twilio sends them: its parameters, signed with the auth token."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from hotline.testing.secrets import TEST_TOKEN

NUMBER_9999 = "+815055559999"  # the entry numbers of config/menus.yaml
NUMBER_0120 = "+81120494949"
CALLER = "+819011112222"


class Signer:
    """X-Twilio-Signature over a URL and the posted parameters, as Twilio computes it."""

    def __init__(self, token: str = TEST_TOKEN) -> None:
        self.validator = RequestValidator(token)

    def headers(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}


def inbound_params(call_sid: str, caller: str = CALLER, to: str = NUMBER_9999) -> dict[str, str]:
    """What Twilio posts with every webhook of an inbound call in progress."""
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": to,
        "Caller": caller,
        "Called": to,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "CallStatus": "in-progress",
    }


def numbered_caller(n: int) -> str:
    """A distinct mobile number per n (for benchmarks that play many callers)."""
    return f"+8190{n % 100_000_000:08d}"
