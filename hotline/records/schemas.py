"""API models of hotline.records (separate from the ORM models).

Choice fields are plain strings here: their allowed values live in config (`records:`) and
are checked by the service, which answers 422 naming the field and the allowed values.
Free text is bounded; a longer text is refused with 422 (never truncated, never echoed), and so
is text that a database cannot store (a NUL, an unpaired surrogate: `hotline.common.text`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hotline.common.text import Stored, Text
from hotline.records.emergency import EmergencyOut

SUMMARY_MAX = 4000

Choice = Annotated[str, Field(min_length=1, max_length=64), Stored]
Choices = Annotated[list[Choice], Field(max_length=20)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordIn(In):
    call_sid: Text = Field(min_length=1, max_length=64)
    age_group: Choice
    gender: Choice | None = None
    categories: Annotated[list[Choice], Field(min_length=1, max_length=20)]
    support: Choices = []
    seriousness: Choice
    linkage_needed: bool = False
    summary: Text | None = Field(default=None, max_length=SUMMARY_MAX)
    # The caller agreed that counsellors of this organisation may see that they called before.
    consent_history: bool = False
    # The call was hard for the counsellor: a break and a debrief request (not stored with
    # the record; docs/counsellor-care.md). A hard risk level (seriousness) does it too.
    hard_call: bool = False


def _none_is_empty(value: list[str] | None) -> list[str]:
    return [] if value is None else value


class RecordPatch(In):
    """Only the fields given change; the call and organisation never do."""

    age_group: Choice | None = None
    gender: Choice | None = None
    categories: Annotated[list[Choice], Field(min_length=1, max_length=20)] | None = None
    # null: no support given (an empty list), as a record is created without it; the list
    # column holds a list, never null (a null there was a 500 on reading it back).
    support: Annotated[Choices | None, AfterValidator(_none_is_empty)] = None
    seriousness: Choice | None = None
    linkage_needed: bool | None = None
    summary: Text | None = Field(default=None, max_length=SUMMARY_MAX)
    consent_history: bool | None = None


class RecordOut(BaseModel):
    id: int
    call_sid: str
    org_id: str
    age_group: str
    gender: str | None
    categories: list[str]
    support: list[str]
    seriousness: str
    linkage_needed: bool
    summary: str | None
    consent_history: bool
    case_id: int | None
    case_status: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # The call's emergency escalations (records.emergency), on a record read alone.
    emergencies: list[EmergencyOut] = []


class CallOut(BaseModel):
    """A call the organisation took, and whether it has its record yet."""

    call_sid: str
    connected_at: dt.datetime | None
    option_id: str | None
    language: str | None
    waited_seconds: int | None
    record_id: int | None


class HistoryOut(BaseModel):
    """Earlier records of the same caller in this organisation (with the caller's consent)."""

    earlier_records: int
    dates: list[dt.date]  # the days of those consultations (calls), Asia/Tokyo
    caller_known: bool  # False: the number was withheld, so no earlier call can be found


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    key_id: int | None
    org_id: str
    role: str
    action: str
    entity: str
    entity_id: str | None
    client: str
    detail: dict[str, object]


class FormOut(BaseModel):
    """The configured lists, so that a client can draw the form."""

    age_groups: list[str]
    genders: list[str]
    categories: list[str]
    support: list[str]
    seriousness: list[str]
    destination_types: list[str]
    action_kinds: list[str]
    case_statuses: dict[str, str]
