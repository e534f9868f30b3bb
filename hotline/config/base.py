"""What every part of menus.yaml's schema shares: the frozen model, ids, keys, the time zone,
and the error a bad file raises."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

TOKYO = ZoneInfo("Asia/Tokyo")
KEY_RE = re.compile(r"^[0-9*#]$")
ID_RE = r"^[a-z0-9][a-z0-9_\-]*$"
Id = Annotated[str, Field(pattern=ID_RE, max_length=48)]


class ConfigError(ValueError):
    """menus.yaml is unreadable or invalid; the message names the field."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
