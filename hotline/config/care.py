"""Looking after counsellors (`care` in menus.yaml): a break after a hard call, a limit on talk
without a break, and which record risk levels make a call hard. The file's top-level `care`
is every organisation's default; an organisation's own `care` overrides any of its keys.
See docs/counsellor-care.md."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from hotline.config.base import Model

# The shared record form's risk levels (records.seriousness) that make a call hard.
HARD_SERIOUSNESS = ["高い", "緊急"]


class Care(Model):
    """`hard_call_break_minutes`: after a call marked hard (by its counsellor, or by a record
    saved at a hard risk level) the line takes this break, after its wrap-up, before another
    call; 0: no break, the debrief request only. `max_consecutive_talk_minutes`: talk without
    a pause of `consecutive_break_minutes` between conversations, after which the line takes
    such a break by itself (null: no limit). `hard_seriousness`: the record's risk levels
    (records.seriousness) that mark the call hard."""

    hard_call_break_minutes: int = Field(default=15, ge=0, le=240)
    max_consecutive_talk_minutes: int | None = Field(default=120, ge=10, le=720)
    consecutive_break_minutes: int = Field(default=10, ge=1, le=120)
    hard_seriousness: list[str] = Field(default_factory=lambda: list(HARD_SERIOUSNESS))


class CareOverride(Model):
    """An organisation's own `care`: the keys it gives, over the file's `care`."""

    hard_call_break_minutes: int | None = Field(default=None, ge=0, le=240)
    max_consecutive_talk_minutes: int | None = Field(default=None, ge=10, le=720)
    consecutive_break_minutes: int | None = Field(default=None, ge=1, le=120)
    hard_seriousness: list[str] | None = None


def merged(default: Care, own: CareOverride | None) -> Care:
    """The organisation's care: its own keys over the default. An organisation cannot lift the
    default's talk limit by writing null (null is "not given"); it may set a long one."""
    if own is None:
        return default
    given = {k: v for k, v in own.model_dump().items() if v is not None}
    return default.model_copy(update=given)


def care_problems(
    default: Care, own: list[CareOverride | None], levels: list[str]
) -> Iterator[str]:
    """Risk levels that are not the record form's (`records.seriousness`)."""
    given: list[tuple[str, list[str] | None]] = [("care", default.hard_seriousness)]
    for i, care in enumerate(own):
        given.append((f"organisations.{i}.care", care.hard_seriousness if care else None))
    for where, hard in given:
        for level in hard or []:
            if level not in levels:
                yield f"{where}.hard_seriousness: {level!r} is not one of records.seriousness"
