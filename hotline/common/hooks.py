"""Hooks one room hands another through the app, typed once: the records room calls
`RecordSaved` and the lines room provides it (`hotline.lines.care.record_saved`), neither
importing the other."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.common.audit import Actor


class RecordSaved(Protocol):
    """A saved record ends its line's wrap-up, and a record marked hard (`hard`) or at a hard
    risk level (`seriousness`) marks the call hard: the hook the app hands in
    (`hotline.lines.care.record_saved`); records reach lines and routing only through it."""

    async def __call__(
        self,
        session: AsyncSession,
        call_sid: str,
        now: dt.datetime,
        *,
        who: Actor,
        seriousness: str,
        hard: bool,
    ) -> None: ...
