"""API models of hotline.cases (separate from the ORM models).

Choice fields (status, destination type, action kind) are plain strings: their allowed values
live in config (`records:`) and are checked by the service. Notes are bounded; a longer text is
refused with 422 (never truncated, never echoed).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from hotline.common.text import Stored, Text
from hotline.records.schemas import Choice, In

NOTES_MAX = 4000
NOTE_MAX = 1000


class ActionIn(In):
    kind: Choice
    on_date: dt.date
    note: Text | None = Field(default=None, max_length=NOTE_MAX)


class ActionOut(BaseModel):
    id: int
    kind: str
    on_date: dt.date
    note: str | None
    created_at: dt.datetime


class CasePatch(In):
    status: Annotated[str, Field(min_length=1, max_length=48), Stored] | None = None
    destination_type: Choice | None = None
    destination_name: Annotated[str, Field(max_length=200), Stored] | None = None
    notes: Text | None = Field(default=None, max_length=NOTES_MAX)


class CaseSummary(BaseModel):
    """A case in a list: no notes (they are read one case at a time, and audited)."""

    id: int
    record_id: int
    call_sid: str
    org_id: str
    period_id: str
    option_id: str | None
    seriousness: str
    status: str
    status_label: str
    destination_type: str | None
    destination_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CaseOut(CaseSummary):
    notes: str | None
    actions: list[ActionOut]
