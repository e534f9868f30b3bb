"""What the spool may keep of a voice webhook's parameters (`hotline.ivr.spool`): no caller's
number, only its keyed hash, which the replay reads back as such (`calls.store.caller_hash`)."""

from __future__ import annotations

from hotline.calls import store

# Parameters that carry a phone number: the caller's (From, Caller) on an inbound call, and
# on a callback's caller leg the number we called (To, Called). Our entry numbers (To on an
# inbound call) are not the caller's and stay: the replay needs them.
CALLER_NUMBERS = ("From", "Caller")


def without_numbers(params: dict[str, str], secret: bytes) -> dict[str, str]:
    """What the spool may keep on disk: no caller's number, only its keyed hash (what the
    calls table keeps, `store.caller_hash`), read back as such by the replay."""
    kept = {k: v for k, v in params.items() if not k.endswith(("City", "State", "Zip", "Country"))}
    for name in CALLER_NUMBERS:
        if name in kept:
            hashed = store.caller_hash(secret, kept[name])
            kept[name] = f"{store.HASHED}{hashed}" if hashed else "anonymous"
    if params.get("Direction") == "outbound-api":  # a leg we placed: To is whom we called
        kept.pop("To", None)
        kept.pop("Called", None)
    return kept
