"""The emergency entries of a consultation record: each emergency escalation of the call (the
prefecture's fire or police command centre dialled into it: who escalated, when, to whom,
and whether the line connected), shown on the call's record and pre-filling its form with
the most serious level (緊急).

The escalations live in the conference room (`hotline.conference`, its `call_parties`), above
records: records ask them of the `Escalations` handed to them (`hotline.conference.escalations
.ESCALATIONS`, wired by `create_app`), as they ask linkage cases of their `Linkage`; records
never import the conference room.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import Role
from hotline.common.audit import Actor
from hotline.config import Records as Lists
from hotline.errors import Forbidden, NotFound
from hotline.records import store

URGENT = "緊急"  # the form's seriousness an escalated call is pre-filled with, when listed


class EmergencyOut(BaseModel):
    """One escalation of the call: never a number (the prefecture and the service name it)."""

    party_id: int
    prefecture: str
    service: str  # fire | police
    asked_by: str | None
    asked_at: dt.datetime
    status: str  # dialling | joined | left | failed
    outcome: str | None


class Escalations(Protocol):
    """A call's emergency escalations (implemented by the conference room)."""

    async def of_call(self, session: AsyncSession, call_id: int) -> list[EmergencyOut]: ...


class DraftOut(BaseModel):
    """What the record form of a call starts with: the seriousness an escalated call is
    pre-filled with (None: nothing to pre-fill), and its emergency entries."""

    call_sid: str
    seriousness: str | None
    emergencies: list[EmergencyOut]


def urgent(lists: Lists) -> str:
    """The form's most serious level: 緊急 when listed, else the list's last (its highest)."""
    return URGENT if URGENT in lists.seriousness else lists.seriousness[-1]


async def draft(
    session: AsyncSession, *, who: Actor, lists: Lists, escalations: Escalations, call_sid: str
) -> DraftOut:
    """The record form of a call the counsellor's organisation took, pre-filled: an escalated
    call starts at the most serious level, its escalations shown."""
    if who.role != Role.COUNSELLOR:
        raise Forbidden("records are written by counsellors")
    call = await store.call_by_sid(session, call_sid)
    if call is None:
        raise NotFound("unknown call")
    if call.org_id != who.org_id:
        raise Forbidden("this call was not taken by your organisation")
    found = await escalations.of_call(session, call.id)
    return DraftOut(
        call_sid=call_sid, seriousness=urgent(lists) if found else None, emergencies=found
    )
