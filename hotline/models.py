"""Imports every ORM model so that Alembic and tests see the whole schema."""

from hotline.auth.models import ApiKey
from hotline.calls.models import Call, CallEvent
from hotline.routing.models import Line

__all__ = ["ApiKey", "Call", "CallEvent", "Line"]
