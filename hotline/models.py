"""Imports every ORM model so that Alembic and tests see the whole schema."""

from hotline.auth.models import ApiKey, ConsoleUser
from hotline.calls.models import Call, CallEvent
from hotline.cases import models as _cases  # noqa: F401
from hotline.common.audit import AuditEntry
from hotline.conference.duty import HelpRequest, SupervisorDuty
from hotline.conference.models import CallParty
from hotline.flags.models import CallerFlag
from hotline.hours.closures import OptionClosure
from hotline.lines.models import Line, LinePresenceLog
from hotline.records import models as _records  # noqa: F401
from hotline.reports import models as _reports  # noqa: F401

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Call",
    "CallEvent",
    "CallParty",
    "CallerFlag",
    "ConsoleUser",
    "HelpRequest",
    "Line",
    "LinePresenceLog",
    "OptionClosure",
    "SupervisorDuty",
]
