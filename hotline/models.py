"""Imports every ORM model so that Alembic and tests see the whole schema."""

from hotline.calls.models import Call, CallEvent

__all__ = ["Call", "CallEvent"]
