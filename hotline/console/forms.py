"""Form handling shared by the console pages: who acts, and errors placed beside their field."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.models import ConsoleUser
from hotline.common.audit import Actor
from hotline.common.crypto import Box, box_for
from hotline.config import HotlineConfig, Records
from hotline.console.web import UserDep
from hotline.deps import ConfigDep, NowDep, SessionDep, SettingsDep
from hotline.errors import Invalid
from hotline.settings import Settings

FIELD_LABELS = {
    "age_group": "推定年代",
    "gender": "性別",
    "categories": "相談の類型",
    "support": "対応内容",
    "seriousness": "深刻度",
    "summary": "概要",
    "status": "状態",
    "destination_type": "つなぎ先の種類",
    "destination_name": "つなぎ先の名称",
    "notes": "メモ",
    "kind": "対応",
    "on_date": "日付",
    "note": "メモ",
}


def actor(request: Request, user: ConsoleUser) -> Actor:
    """A console user acts like an API key of their organisation and role, for the audit log."""
    ip = request.client.host if request.client else "unknown"
    return Actor(None, user.org_id, user.role, f"web:{user.name}@{ip}"[:64], user_id=user.id)


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a console page handler works with, gathered by one dependency."""

    request: Request
    user: ConsoleUser
    session: AsyncSession
    cfg: HotlineConfig
    settings: Settings
    now: dt.datetime

    @property
    def who(self) -> Actor:
        return actor(self.request, self.user)

    @property
    def box(self) -> Box:
        return box_for(self.settings)

    @property
    def lists(self) -> Records:
        return self.cfg.records


async def context(
    request: Request,
    user: UserDep,
    session: SessionDep,
    cfg: ConfigDep,
    settings: SettingsDep,
    now: NowDep,
) -> Ctx:
    return Ctx(request, user, session, cfg, settings, now)


CtxDep = Annotated[Ctx, Depends(context)]


def field_errors(exc: Exception) -> dict[str, str]:
    """{field: message in Japanese} from a pydantic error or the service's `Invalid`; any
    other refusal (Forbidden, NotFound...) is raised again."""
    if not isinstance(exc, ValidationError | Invalid):
        raise exc
    errors: list[Any] = list(exc.errors())
    out: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = loc[0] if loc else "form"
        out[field] = _message(err)
    return out or {"form": "入力を確認してください。"}


def _message(err: dict[str, Any]) -> str:
    kind = str(err.get("type", ""))
    if "too_long" in kind:
        return "長すぎます。短くしてください。"
    if kind in {"missing", "too_short", "string_type", "list_type"}:  # left empty
        return "この項目は必須です。"
    if "allowed" in (err.get("ctx") or {}):
        return "選択肢から選んでください。"
    if "date" in kind:
        return "日付を正しく入力してください。"
    return "入力を確認してください。"


def one(form: Any, name: str) -> str | None:
    value = str(form.get(name, "")).strip()
    return value or None


def many(form: Any, name: str) -> list[str]:
    return [str(v) for v in form.getlist(name) if str(v).strip()]
