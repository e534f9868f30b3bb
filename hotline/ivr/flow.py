"""The caller's path through the voice guidance, as pure decisions: no I/O, no Twilio objects.

Webhooks turn Twilio's parameters into these inputs, call a function here, store what it
decided and render the decision with `twiml.py`. Every function is deterministic in its
inputs, so a retried webhook gets the same answer.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Set
from dataclasses import dataclass

from hotline.config import HotlineConfig, Referral
from hotline.routing.schedule import option_open, option_opens_at, referrals_open


class Notice(enum.StrEnum):
    INVALID = "invalid"  # a key the menu does not offer
    NO_INPUT = "no_input"  # silence until the Gather timed out
    DEFAULT_CHOSEN = "default_chosen"  # retries used up: sent to the default option


@dataclass(frozen=True, slots=True)
class Ask:
    """Play a menu and gather one key."""

    menu_id: str
    attempt: int
    notice: Notice | None = None
    greet: bool = False


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hold the caller in the queue of an option."""

    option_id: str
    language: str | None
    priority: int
    notice: Notice | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """One short hold segment; `ahead` is said when given (callers before this one)."""

    option_id: str
    language: str | None
    segment: int
    ahead: int | None = None


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    """A line is reserved for this caller: leave the hold and dial it."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The option cannot take the caller now: say so in the caller's language, when it
    opens (if its hours say), which other keys of the menu are open now, and which other
    lines are open now; then end."""

    language: str | None = None
    opens_at: dt.datetime | None = None  # Asia/Tokyo
    open_keys: tuple[tuple[str, str], ...] = ()  # (key, option name), in key order
    lines: tuple[Referral, ...] = ()


Decision = Ask | Enqueue | Hold | LeaveQueue | Closed


def closed(
    cfg: HotlineConfig,
    *,
    menu_id: str | None,
    option_id: str | None,
    language: str | None,
    now: dt.datetime,
    closed_by_hand: Set[str] = frozenset(),
) -> Closed:
    """What the closed message says at `now`: only what is true at that moment."""
    opens_at = None
    if option_id is not None and option_id not in closed_by_hand:
        opens_at = option_opens_at(cfg, option_id, language, now)
    keys: list[tuple[str, str]] = []
    menu = cfg.menus.get(menu_id or cfg.default_menu)
    for key, choice in sorted(menu.keys.items()) if menu and language is None else ():
        other = choice.option
        if other is None or other == option_id or other in closed_by_hand:
            continue
        if option_open(cfg, other, choice.language, now):
            keys.append((key, cfg.option(other).name))
    lines = tuple(referrals_open(cfg, language, now))
    return Closed(language, opens_at, tuple(keys), lines)


def start(cfg: HotlineConfig, menu_id: str) -> Ask:
    return Ask(menu_id=menu_id, attempt=1, greet=True)


def choose(cfg: HotlineConfig, menu_id: str, attempt: int, digits: str | None) -> Ask | Enqueue:
    """What a key (or silence, `digits` None or empty) does in a menu at a given attempt."""
    if menu_id not in cfg.menus:
        menu_id = cfg.default_menu
    menu = cfg.menus[menu_id]
    key = (digits or "").strip()
    if key and key == menu.repeat_key:
        return Ask(menu_id=menu_id, attempt=attempt)
    choice = menu.keys.get(key) if len(key) == 1 else None
    if choice is not None:
        if choice.menu is not None:
            return Ask(menu_id=choice.menu, attempt=1)
        return _enqueue(cfg, choice.option, choice.language)
    notice = Notice.INVALID if key else Notice.NO_INPUT
    if attempt >= menu.retries:
        default = menu.default
        return _enqueue(cfg, default.option, default.language, Notice.DEFAULT_CHOSEN)
    return Ask(menu_id=menu_id, attempt=attempt + 1, notice=notice)


def _enqueue(
    cfg: HotlineConfig, option_id: str | None, language: str | None, notice: Notice | None = None
) -> Enqueue:
    assert option_id is not None  # config validation guarantees options on option choices
    return Enqueue(option_id, language, cfg.option(option_id).priority, notice)


def hold(
    option_id: str, language: str | None, segment: int, ahead: int | None, announce_every: int
) -> Hold:
    """Reassure every segment; say the honest place in line now and then, never a promise."""
    announce = ahead is not None and announce_every > 0 and (segment - 1) % announce_every == 0
    return Hold(option_id, language, segment, ahead if announce else None)
