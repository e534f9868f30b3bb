"""What records need of linkage cases, which live above them in `hotline.cases`.

A record that needs linkage opens a case; a record shows its case's id and status; a
coordinator reads only the records behind a case; a period's export counts its cases by status;
key rotation re-seals the cases' texts too. Records ask these of a `Linkage` handed to them
(`hotline.cases.service.LINKAGE`, wired by `create_app` and the `hotline` command), as the
calls service is handed its `Routing`: `hotline.cases` imports `hotline.records`, never the
other way round.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.common.audit import Actor
from hotline.records.models import ConsultationRecord

# An ORM model and the name of a column holding text sealed with the records' box.
Sealed = tuple[type[Any], str]


@dataclass(frozen=True, slots=True)
class CaseRef:
    """What a record shows of its linkage case."""

    id: int
    status: str


class Linkage(Protocol):
    """Linkage cases as records see them (implemented by `hotline.cases.service.Linkage`)."""

    @property
    def sealed(self) -> Sequence[Sealed]:
        """The cases' columns sealed with the records' box, re-sealed on key rotation."""

    async def of_record(self, session: AsyncSession, record_id: int) -> CaseRef | None: ...

    async def open_for(
        self, session: AsyncSession, *, who: Actor, record: ConsultationRecord, now: dt.datetime
    ) -> CaseRef: ...

    async def statuses(self, session: AsyncSession, period_id: str) -> Counter[str]: ...
