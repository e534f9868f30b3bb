"""The caller's path through the voice guidance, as pure decisions: no I/O, no Twilio objects.

The voice steps (`hotline.voice.steps`) turn Twilio's parameters into these inputs, call a
function here and store what it decided; the edge renders the decision (`hotline.ivr.twiml`).
Every function is deterministic in its inputs, so a retried webhook gets the same answer.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Set
from dataclasses import dataclass
from typing import Literal

from hotline.config import HotlineConfig, Referral
from hotline.hours.schedule import (
    option_closes_at,
    option_open,
    option_opens_at,
    referrals_open,
)


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
    """One hold segment. Said in the caller's language: message variant `message`, the place
        in line when `ahead` is given (callers before this one), the callback offer when
        `offer_callback`, or, when `choice`, the maximum wait's choice (after `waited` seconds;
        its key 2, a callback, only when `choice_callback`).
        Then music when `music` (only where a freed line pushes the caller out of the hold: a
        track is minutes long), else a short pause. `chose`: the choice has been offered, kept in
        the next segment's URL so that it is offered once. `failures`: this segment was answered
    without the database, after that many failed hold polls or keys in a row (carried in its URLs:
    `hotline.ivr.guard.failure_answer`); 0 on every segment the database answered."""

    option_id: str
    language: str | None
    segment: int
    ahead: int | None = None
    waited: float = 0.0
    offer_callback: bool = False
    choice: bool = False
    choice_callback: bool = True
    message: int = 0
    music: bool = False
    chose: bool = False
    failures: int = 0


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    """A line is reserved for this caller: leave the hold and dial it."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The option cannot take the caller now: say why in the caller's language (`why`:
    nobody on duty, outside its hours, or paused by an operator), when it opens (if its
    hours say), which other keys of the menu are open now, and which other lines are open
    now; then end, or, with `menu_id` (other keys are open), ask that menu again."""

    language: str | None = None
    opens_at: dt.datetime | None = None  # Asia/Tokyo
    open_keys: tuple[tuple[str, str], ...] = ()  # (key, option name), in key order
    lines: tuple[Referral, ...] = ()
    why: Literal["staff", "hours", "paused"] = "staff"
    menu_id: str | None = None
    # Twilio's queue of the option is full: the option is open, but very busy (its words
    # are `closed.<language>.full`; no opening time)
    full: bool = False


Decision = Ask | Enqueue | Hold | LeaveQueue | Closed


def closed(
    cfg: HotlineConfig,
    *,
    menu_id: str | None,
    option_id: str | None,
    language: str | None,
    now: dt.datetime,
    closed_by_hand: Set[str] = frozenset(),
    from_menu: bool = False,
) -> Closed:
    """What the closed message says at `now`: only what is true at that moment.
    `from_menu`: the caller has just pressed the key; when other keys of the menu are open,
    the message ends in that menu again (a closed key never asks the caller to redial)."""
    opens_at = None
    why: Literal["staff", "hours", "paused"] = "staff"
    if option_id is not None and option_id in closed_by_hand:
        why = "paused"  # an operator's closure: no opening time can be promised
    elif option_id is not None:
        opens_at = option_opens_at(cfg, option_id, language, now)
        if cfg.has_option(option_id) and not option_open(cfg, option_id, language, now):
            why = "hours"
    keys: list[tuple[str, str]] = []
    menu = cfg.menus.get(menu_id or cfg.default_menu)
    for key, choice in sorted(menu.keys.items()) if menu and language is None else ():
        other = choice.option
        if other is None or other == option_id or other in closed_by_hand:
            continue
        if option_open(cfg, other, choice.language, now):
            keys.append((key, cfg.option(other).name))
    lines = tuple(referrals_open(cfg, language, now))
    again = (menu_id or cfg.default_menu) if from_menu and keys else None
    return Closed(language, opens_at, tuple(keys), lines, why, again)


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
    option_id: str,
    language: str | None,
    segment: int,
    ahead: int | None,
    announce_every: int,
    *,
    waited: float = 0.0,
    max_wait: int | None = None,
    chose: bool = False,
    callback: bool = False,
    music: bool = False,
) -> Hold:
    """Reassure every segment, with varied messages; say the honest place in line now and
    then, never a promise. The callback (`callback`: this option's callers may ask for one)
    is offered with the place in line, not every few seconds, though its key works all
    through the hold. Past `max_wait` seconds the caller is offered the choice, once."""
    every = max(announce_every, 1)
    announce = announce_every > 0 and (segment - 1) % every == 0
    choice = max_wait is not None and not chose and waited >= max_wait
    return Hold(
        option_id,
        language,
        segment,
        ahead=ahead if announce else None,
        waited=waited,
        offer_callback=callback and announce and not choice,
        choice=choice,
        choice_callback=callback,
        message=max(segment - 1, 0),
        music=music,
        chose=chose or choice,
    )


# The keys of the maximum wait's choice (said in hold_words.X.choice).
CHOICE_KEYS: dict[str, Literal["wait", "callback", "lines"]] = {
    "1": "wait",
    "2": "callback",
    "3": "lines",
}


def choice_key(digits: str | None) -> Literal["wait", "callback", "lines"] | None:
    """What a key pressed at the maximum wait's choice asks for (None: another key)."""
    return CHOICE_KEYS.get((digits or "").strip())


# Whose number we may call back: only a Japanese mobile or geographic number ("callable");
# "withheld": no number (非通知, unknown, not a number); "not_callable": any other (foreign,
# free-dial 0120/0800, 050 IP phones, pagers...: see hotline.voice.steps.number_kind).
NumberKind = Literal["callable", "withheld", "not_callable"]


@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """May this caller be called back now. `reason` when not: "unavailable" (callbacks off,
    not for this option, or the estimated wait passes the latest time we would call),
    "withheld" (no number to call), "not_callable" (a number we do not call back), "closing"
    (the option's hours end within `retry_after_minutes`: no time to call and retry).
    `until`: the latest time the callback is made (the end of the option's hours, or
    `expire_after_minutes` from now for an option open around the clock)."""

    ok: bool
    reason: Literal["withheld", "not_callable", "unavailable", "closing"] | None = None
    until: dt.datetime | None = None


def callback_offer(
    cfg: HotlineConfig,
    option_id: str,
    language: str | None,
    number: NumberKind,
    now: dt.datetime,
    ahead: int | None = None,
) -> CallbackOffer:
    """`ahead`: the callers before this one, when known: the wait is estimated as that many
    times `callback.minutes_per_caller_ahead`, and a callback that would come only after its
    latest time is not offered (it would only expire: a promise we could not keep)."""
    settings = cfg.callback
    if not settings.enabled or not cfg.has_option(option_id) or not cfg.option(option_id).callback:
        return CallbackOffer(False, "unavailable")
    if number != "callable":
        return CallbackOffer(False, number)
    closes = option_closes_at(cfg, option_id, language, now)
    if closes is not None and closes - now <= dt.timedelta(minutes=settings.retry_after_minutes):
        return CallbackOffer(False, "closing")
    until = closes or now + dt.timedelta(minutes=settings.expire_after_minutes)
    if ahead is not None:
        estimate = now + dt.timedelta(minutes=ahead * settings.minutes_per_caller_ahead)
        if estimate > until:
            return CallbackOffer(False, "unavailable")
    return CallbackOffer(True, None, until)
