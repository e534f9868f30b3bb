"""Twilio request check: the body within a size limit, and X-Twilio-Signature over it.

The signature is computed by Twilio over the URL it requested, which behind a TLS proxy is
not `request.url`; so we rebuild it from the configured public base URL. There is no switch
to turn the check off: tests sign their requests for real.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlparse

from fastapi import Depends, HTTPException, Request
from twilio.request_validator import RequestValidator, add_port, remove_port

from hotline.services import services_of
from hotline.settings import Settings

log = logging.getLogger(__name__)

# The only answers of a voice route that are not TwiML with 200, documented in the schema.
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not UTF-8 form data, or CallSid is missing or malformed"},
    403: {"description": "no valid X-Twilio-Signature over the public URL and parameters"},
    413: {"description": "the body is larger than HOTLINE_MAX_BODY_BYTES"},
}


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, "request body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def public_url(request: Request, base: str) -> str:
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def twilio_params(request: Request, settings: Settings) -> dict[str, str]:
    """The posted parameters of a genuine Twilio request; 403 without a valid signature."""
    body = await _read_limited(request, settings.max_body_bytes)
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise HTTPException(400, "body is not UTF-8 form data") from None
    if not signed_by_twilio(request, params, settings):
        log.warning("rejected webhook with a bad or missing signature: %s", request.url.path)
        raise HTTPException(403, "invalid Twilio signature")
    return params


def signed_by_twilio(request: Request, params: dict[str, str], settings: Any) -> bool:
    """Does X-Twilio-Signature match these parameters, over our public URL?"""
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        return False
    # What `RequestValidator.validate` accepts (the URL without and with its default port),
    # the form Twilio signs (the URL as configured) first, and the other only when that
    # fails: validate computes both signatures every time.
    url = urlparse(public_url(request, settings.public_base))
    forms = (add_port, remove_port) if url.port else (remove_port, add_port)
    validator, sent = RequestValidator(settings.auth_token), signature.encode()
    return any(
        hmac.compare_digest(validator.compute_signature(form(url), params).encode(), sent)
        for form in forms
    )


async def signed_params(request: Request) -> dict[str, str]:
    """`twilio_params` as a dependency (the fallback's routes)."""
    return await twilio_params(request, services_of(request.app).settings)


TwilioParams = Annotated[dict[str, str], Depends(signed_params)]
