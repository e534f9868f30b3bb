"""What the conference room hands on once a unit of work has committed (pure: no I/O).

`RoomCount` is a metric fact, published by `hotline.metrics.observe` after the commit, never
for a rolled-back action (the names are in docs/metrics.md). `RoomChanged` tells whoever
shows live calls (the console's per-process hub) that a call's room changed, or that a
counsellor asked for help: it carries ids, never a number.
"""

from __future__ import annotations

from dataclasses import dataclass

# Closed label sets (never input): what a metric's labels may say.
TARGETS = ("queue", "partner", "support", "interpreter", "emergency", "supervisor")
MODES = ("warm", "cold")
SERVICES = ("fire", "police")
OUTCOMES = ("connected", "failed")
SUPERVISION = ("listen", "coach", "join")


@dataclass(frozen=True, slots=True)
class RoomCount:
    """One fact for the live metrics.

    kind: `hold` (option), `transfer` (option, target, mode), `three_way` (option, target),
    `emergency` (service, outcome), `supervision` (mode), `help` (org)."""

    kind: str
    option: str | None = None
    target: str | None = None
    mode: str | None = None
    service: str | None = None
    outcome: str | None = None
    org: str | None = None


@dataclass(frozen=True, slots=True)
class RoomChanged:
    """A call's room changed (`what`: hold, resume, party, ...), or help was asked (`help`)."""

    call_id: int
    org_id: str | None
    what: str


def emergency_outcome(service: str | None, joined: bool) -> RoomCount | None:
    """The fact of an emergency party settled by Twilio's callback: joined (`connected`) or
    never joined (`failed`). For the store that records the party's callback; None when the
    party's target names no service."""
    if service not in SERVICES:
        return None
    return RoomCount("emergency", service=service, outcome="connected" if joined else "failed")
