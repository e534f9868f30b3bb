"""The `Principal` dependency: the API key in `Authorization: Bearer KEY`, checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from hotline.auth import store
from hotline.auth.models import Role
from hotline.deps import SessionDep


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    org_id: str
    role: Role

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def principal(request: Request, session: SessionDep) -> Principal:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(401, "missing API key (Authorization: Bearer KEY)", UNAUTHORIZED)
    row = await store.find(session, key.strip())
    if row is None or row.revoked_at is not None:
        raise HTTPException(401, "unknown or revoked API key", UNAUTHORIZED)
    return Principal(row.id, row.org_id, Role(row.role))


PrincipalDep = Annotated[Principal, Depends(principal)]
