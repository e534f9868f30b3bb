"""The `Principal` dependency: the API key in `Authorization: Bearer KEY`, checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hotline.auth import store
from hotline.auth.models import Role
from hotline.deps import SessionDep
from hotline.errors import Forbidden, Unauthorized


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    org_id: str
    role: Role

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}")


async def principal(request: Request, session: SessionDep) -> Principal:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("missing API key (Authorization: Bearer KEY)")
    row = await store.find(session, key.strip())
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(row.id, row.org_id, Role(row.role))


PrincipalDep = Annotated[Principal, Depends(principal)]
