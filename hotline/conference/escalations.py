"""The conference room's answer to what records ask of it (`hotline.records.emergency.
Escalations`): a call's emergency escalations, read from its `call_parties`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.conference.models import CallParty, PartyKind
from hotline.records.emergency import EmergencyOut


class Escalations:
    async def of_call(self, session: AsyncSession, call_id: int) -> list[EmergencyOut]:
        stmt = (
            select(CallParty)
            .where(CallParty.call_id == call_id, CallParty.kind == PartyKind.EMERGENCY)
            .order_by(CallParty.id)
        )
        out = []
        for p in (await session.execute(stmt)).scalars():
            prefecture, _, service = (p.target_id or "").rpartition(":")
            out.append(
                EmergencyOut(
                    party_id=p.id,
                    prefecture=prefecture,
                    service=service,
                    asked_by=p.asked_by,
                    asked_at=p.asked_at,
                    status=p.status,
                    outcome=p.outcome,
                )
            )
        return out


ESCALATIONS = Escalations()
