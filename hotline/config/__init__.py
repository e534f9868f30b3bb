"""The operators' file, config/menus.yaml: its schema, its cross-checks and its loader.

A bad file stops the service at start-up with `ConfigError`, whose message names the field
(as a dotted path into the YAML) and says what is wrong.

This module is the face the rest of the service imports; the subjects live beside it:

    base.py         the frozen model, ids, keys, TOKYO, ConfigError
    words.py        what is said: sentences, closed and hold words, music, callbacks, voices,
                    caller languages, messages, and the placeholders each may use
    care.py         looking after counsellors: breaks after hard calls, the talk limit
    directory.py    who a counsellor can bring into a call: emergency direct lines per
                    prefecture, partners, support organisations, interpreters, supervisors
    targets.py      what is dialled: an E.164 number or SIP URI, a SIP line's credentials
    hours.py        weekly windows, the calendar of day types, referrals
    schema.py       lines, organisations, staffing, options, menus, periods, records, and the
                    whole file (`HotlineConfig`) with its lookups
    crosschecks.py  the checks across sections, run when the whole file is validated
    checks.py       what Twilio accepts (numbers, SIP URIs, voices, recordings); voices.py
    loader.py       strict YAML, validation, errors that name the field (`parse`, `load`)
"""

from hotline.config.base import (
    ID_RE,
    KEY_RE,
    TOKYO,
    ConfigError,
    Id,
    Model,
)
from hotline.config.care import Care, CareOverride
from hotline.config.directory import (
    PREFECTURES,
    DirectLine,
    Directory,
    DirectoryEntry,
    DirectoryKind,
    EmergencyLines,
    Interpreter,
    Partner,
    Service,
    Supervisor,
    SupportOrg,
    stale_checks,
)
from hotline.config.hours import (
    DAY_TYPES,
    DAYS,
    Calendar,
    Hours,
    HoursSpec,
    Referral,
)
from hotline.config.loader import (
    load,
    parse,
)
from hotline.config.schema import (
    CASE_STATUSES,
    Choice,
    EntryNumber,
    HotlineConfig,
    Label,
    Labels,
    Line,
    Menu,
    Option,
    Organisation,
    Period,
    Records,
    RecordsExport,
    Staffing,
    Tier,
    Tiers,
)
from hotline.config.targets import SipAuth
from hotline.config.words import (
    CLOSED_PARTS,
    CLOSED_PLACEHOLDERS,
    HOLD_PARTS,
    HOLD_PLACEHOLDERS,
    PLACEHOLDERS,
    TWILIO_HOLD_MUSIC,
    WHEN_FIELDS,
    WHISPERED,
    CallbackConfig,
    ClosedWords,
    HoldSettings,
    HoldWords,
    Language,
    Messages,
    Music,
    Prompt,
    Speech,
    Voice,
)

__all__ = [
    "Care",
    "CareOverride",
    "CASE_STATUSES",
    "CLOSED_PARTS",
    "CLOSED_PLACEHOLDERS",
    "Calendar",
    "CallbackConfig",
    "Choice",
    "ClosedWords",
    "ConfigError",
    "DirectLine",
    "Directory",
    "DirectoryEntry",
    "DirectoryKind",
    "EmergencyLines",
    "Interpreter",
    "PREFECTURES",
    "Partner",
    "Service",
    "Supervisor",
    "SupportOrg",
    "stale_checks",
    "DAYS",
    "DAY_TYPES",
    "EntryNumber",
    "HOLD_PARTS",
    "HOLD_PLACEHOLDERS",
    "HoldSettings",
    "HoldWords",
    "HotlineConfig",
    "Hours",
    "HoursSpec",
    "ID_RE",
    "Id",
    "KEY_RE",
    "Label",
    "Labels",
    "Language",
    "Line",
    "Menu",
    "Messages",
    "Model",
    "Music",
    "Option",
    "Organisation",
    "PLACEHOLDERS",
    "Period",
    "Prompt",
    "Records",
    "RecordsExport",
    "Referral",
    "SipAuth",
    "Speech",
    "Staffing",
    "TOKYO",
    "TWILIO_HOLD_MUSIC",
    "Tier",
    "Tiers",
    "Voice",
    "WHEN_FIELDS",
    "WHISPERED",
    "load",
    "parse",
]
