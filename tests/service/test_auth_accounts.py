"""Console accounts (hotline.auth.accounts): what creating one refuses, and why."""

from __future__ import annotations

import pytest

from hotline.auth import accounts
from hotline.auth.models import Role
from hotline.errors import Conflict, Invalid


async def create(app, name: str, password: str):  # type: ignore[no-untyped-def]
    async with app.state.sessions.begin() as s:
        return await accounts.create(
            s,
            name=name,
            org_id="inochi",
            role=Role.COUNSELLOR,
            password=password,
            now=app.state.clock(),
        )


async def test_a_short_password_is_refused_naming_the_field_not_the_password(app) -> None:
    with pytest.raises(Invalid) as refused:
        await create(app, "tanaka", "short")
    assert refused.value.field == "password" and "10 characters" in refused.value.message
    assert "short" not in refused.value.message


async def test_a_taken_name_is_refused_naming_the_existing_account(app) -> None:
    first = await create(app, "tanaka", "correct horse battery")
    with pytest.raises(Conflict) as refused:
        await create(app, "tanaka", "another long password")
    assert refused.value.context == {"account_id": first.id}
