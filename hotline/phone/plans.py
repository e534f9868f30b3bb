"""What `hotline call --transfer` and `--supervise` ask the terminal phone to play once the
counsellor has accepted: the words of the command line, checked (syntax here, for argparse;
against menus.yaml in `check`), so that a bad one is refused before anything is dialled.

    --transfer partner|support|interpreter:ID[:warm|cold|three-way]   (default warm)
    --transfer queue:OPTION[:cold]                                    (always cold)
    --transfer emergency:[PREFECTURE:]fire|police                     (consult, then three-way)
    --supervise listen|coach|join[:SUPERVISOR]     (default: the organisation's first)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import cast

from hotline.config import HotlineConfig
from hotline.config.directory import PREFECTURES, DirectoryKind, entries

DIRECTORY = ("partner", "support", "interpreter")
KINDS = (*DIRECTORY, "queue", "emergency")
MODES = ("warm", "cold", "three-way")
SERVICES = ("fire", "police")
SUPERVISION = ("listen", "coach", "join")

TRANSFER_HELP = (
    "after the counsellor accepts, play the console bringing someone in: "
    "KIND:ID[:MODE] with KIND partner, support or interpreter (ID from menus.yaml "
    "`directory:`) and MODE warm (default: the caller held while the counsellor talks to "
    "them first, then handed over), three-way (talk first, then all three; the counsellor "
    "drops them and ends the call) or cold (straight in, then handed over); queue:OPTION "
    "(a cold transfer to another option's queue, e.g. queue:women); emergency:[PREFECTURE:]"
    "fire|police (e.g. emergency:長野県:fire: the command centre's direct line, the caller "
    "kept on the line; the shipped menus.yaml has none, so the service refuses it and says "
    "what to do). Needs a development service; its API key: HOTLINE_API_KEY, else one made "
    "for the call in the development database"
)
SUPERVISE_HELP = (
    "after the counsellor accepts, a supervisor on duty listens (muted), coaches (heard by "
    "the counsellor only) or joins: listen|coach|join[:SUPERVISOR_ID] (default: the "
    "organisation's first configured supervisor; only organisations with "
    "`supervisors:` in menus.yaml, e.g. sisc: keys 3 and 4)"
)


@dataclass(frozen=True)
class Transfer:
    """Someone brought into the call: a directory entry, a queue or an emergency line."""

    kind: str  # partner, support, interpreter, queue, emergency
    target: str  # the directory id, the option id, or the service (fire, police)
    mode: str  # warm, cold, three-way (a queue: cold; an emergency line: three-way)
    prefecture: str | None = None  # an emergency line's (None: the organisation's)


@dataclass(frozen=True)
class Supervision:
    mode: str  # listen, coach, join
    supervisor: str | None  # one of the organisation's configured supervisors (None: first)


Plan = Transfer | Supervision


def _bad(spec: str, why: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{spec!r}: {why}")


def transfer(spec: str) -> Transfer:
    """`--transfer`'s value, its syntax checked."""
    kind, _, rest = spec.partition(":")
    words = rest.split(":") if rest else []
    if kind not in KINDS:
        raise _bad(spec, f"KIND is one of {', '.join(KINDS)} (KIND:ID[:MODE])")
    if not words or not all(words):
        raise _bad(spec, f"{kind}: what? e.g. {_example(kind)}")
    if kind == "emergency":
        return _emergency(spec, words)
    if len(words) > 2:
        raise _bad(spec, f"too many parts: {_example(kind)}")
    mode = words[1] if len(words) == 2 else ("cold" if kind == "queue" else "warm")
    if mode not in MODES:
        raise _bad(spec, f"MODE is one of {', '.join(MODES)}")
    if kind == "queue" and mode != "cold":
        raise _bad(spec, "a transfer to a queue is cold: nobody is there to talk to first")
    return Transfer(kind, words[0], mode)


def _emergency(spec: str, words: list[str]) -> Transfer:
    if len(words) > 2:
        raise _bad(spec, "emergency:[PREFECTURE:]fire|police, e.g. emergency:長野県:fire")
    service = words[-1]
    if service not in SERVICES:
        raise _bad(spec, "the service is fire (消防・救急) or police (警察)")
    prefecture = words[0] if len(words) == 2 else None
    if prefecture is not None and prefecture not in PREFECTURES:
        raise _bad(spec, "the prefecture as written in Japanese, e.g. 長野県 or 東京都")
    return Transfer("emergency", service, "three-way", prefecture)


def _example(kind: str) -> str:
    return {
        "queue": "queue:women",
        "emergency": "emergency:長野県:fire",
    }.get(kind, f"{kind}:ID:warm")


def supervision(spec: str) -> Supervision:
    """`--supervise`'s value, its syntax checked."""
    mode, _, who = spec.partition(":")
    if mode not in SUPERVISION:
        raise _bad(
            spec, f"listen, coach or join (optionally :SUPERVISOR_ID), e.g. {SUPERVISION[1]}"
        )
    if ":" in spec and not who:
        raise _bad(spec, "a supervisor's id after the colon, e.g. coach:sisc-sv-01")
    return Supervision(mode, who or None)


def check(cfg: HotlineConfig, plan: Plan) -> str | None:
    """What in menus.yaml makes the plan impossible (None: nothing): an unknown directory
    entry or option. Whether an emergency line is configured is the service's to say."""
    if isinstance(plan, Supervision):
        ids = [s.id for o in cfg.organisations for s in o.supervisors]
        if not ids:
            return "no organisation in menus.yaml has `supervisors:`: nobody can supervise"
        if plan.supervisor is not None and plan.supervisor not in ids:
            return f"no supervisor {plan.supervisor!r} in menus.yaml; known: {', '.join(ids)}"
        return None
    if plan.kind == "queue":
        if not cfg.has_option(plan.target):
            known = ", ".join(o.id for o in cfg.options)
            return f"no option {plan.target!r} in menus.yaml; known: {known}"
        return None
    kind = cast(DirectoryKind, plan.kind)
    if plan.kind in DIRECTORY and cfg.directory_entry(kind, plan.target) is None:
        known = ", ".join(e.id for e in entries(cfg, kind)) or "none"
        return f"no {plan.kind} {plan.target!r} in menus.yaml's directory; known: {known}"
    return None


def describe(plan: Plan) -> str:
    """The plan in words, for the screen."""
    if isinstance(plan, Supervision):
        who = plan.supervisor or "the organisation's first supervisor"
        return f"a supervisor on duty ({who}) will {plan.mode}"
    if plan.kind == "emergency":
        where = plan.prefecture or "the organisation's prefecture"
        return (
            f"the counsellor will escalate to the {plan.target} command centre of {where} "
            "(consult first, then a three-way call)"
        )
    if plan.kind == "queue":
        return f"the counsellor will transfer the caller to the queue of {plan.target} (cold)"
    return f"the counsellor will bring in the {plan.kind} {plan.target} ({plan.mode})"
