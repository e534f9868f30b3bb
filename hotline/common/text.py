"""Text that the databases can store: the one rule at the edge, for every room.

PostgreSQL refuses a NUL (U+0000) in text ("invalid byte sequence for encoding UTF8: 0x00"),
and neither driver can encode an unpaired surrogate (U+D800 to U+DFFF, which a JSON body may
carry as `"\\ud800"`) into UTF-8: either, let through to a statement, is a server error.
The API and the console refuse such a value with a 422 (`Text`, `OptionalText`, and the
`Query`/`Path` parameters typed with them); the voice webhooks read it as absent
(`storable`), since Twilio never sends one.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> bool:
    """Can both databases store `value` as text (no NUL, no unpaired surrogate)?"""
    return UNSTORABLE.search(value) is None


def _refuse_unstorable(value: object) -> object:
    if isinstance(value, str) and not storable(value):
        raise PydanticCustomError(
            "text_unstorable", "text must not contain a NUL character or an unpaired surrogate"
        )
    return value


Stored = AfterValidator(_refuse_unstorable)
Text = Annotated[str, Stored]
