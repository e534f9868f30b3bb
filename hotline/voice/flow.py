"""The caller's path through the voice guidance, as pure decisions: no I/O, no Twilio objects.

The voice steps (`hotline.voice.steps`) turn Twilio's parameters into these inputs, call a
function here and store what it decided; the edge renders the decision (`hotline.ivr.twiml`).
Every function is deterministic in its inputs, so a retried webhook gets the same answer.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
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
    # The schedule, carried in the next poll's URL: the queue time of the last announcement
    # and the place in line said then (-1: none), and the seconds until the next thing is
    # due (an announcement or the maximum wait's choice): the music or pause ends by then.
    announced: int = -1
    said: int = -1
    until_due: int | None = None


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
    # A caller not taken, whatever the hours (config.TURNED_PARTS): `blocked`, `withheld_186`
    # or `withheld_refused` is said instead of the closed sentence, and no other key.
    turned: str | None = None


def turned_away(cfg: HotlineConfig, turned: str, language: str | None, now: dt.datetime) -> Closed:
    """What a caller not taken hears: why, in neutral words, then (except to a caller asked
    to call again with 186) the other lines open now; the emergency numbers always."""
    lines = () if turned == "withheld_186" else tuple(referrals_open(cfg, language, now))
    return Closed(language, lines=lines, turned=turned)


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


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the hold announces: every `every` seconds of the caller's time in the queue; an
    unchanged place in line again only every `repeat` seconds."""

    every: int
    repeat: int

    def due(self, announced: int, elapsed: float) -> bool:
        """Is an announcement (place in line, offer, staffing check) due at this poll? Also
        when the time went back (a queue time counted afresh): the schedule starts again."""
        return announced < 0 or elapsed < announced or elapsed - announced >= self.every


def hold(
    option_id: str,
    language: str | None,
    segment: int,
    ahead: int | None,
    schedule: Schedule,
    *,
    elapsed: float = 0.0,
    announced: int = -1,
    said: int = -1,
    max_wait: int | None = None,
    chose: bool = False,
    callback: bool = False,
    music: bool = False,
) -> Hold:
    """Reassure every segment, with varied messages; say the honest place in line at the
    announcements, never a promise, and only when it moved or has not been said for a while
    (no 「次はあなたの番です」 over and over while nothing moves). Announcements come every
    `schedule.every` seconds of `elapsed` (the caller's time in the queue), whatever the
    music: the segment's music or pause ends when the next one is due. The callback
    (`callback`: this option's callers may ask for one) is offered at the announcements,
    though its key works all through the hold. From `max_wait` seconds the caller is offered
    the choice, once, at the first poll at or after it."""
    due = schedule.due(announced, elapsed)
    choice = max_wait is not None and not chose and elapsed >= max_wait
    now = int(elapsed)
    say = (
        due
        and ahead is not None
        and (
            ahead != said or announced < 0 or now // schedule.repeat > announced // schedule.repeat
        )
    )
    if due:
        announced, said = now, ahead if ahead is not None else said
    next_due = announced + schedule.every
    if max_wait is not None and not (chose or choice):
        next_due = min(next_due, max_wait)
    return Hold(
        option_id,
        language,
        segment,
        ahead=ahead if say else None,
        waited=elapsed,
        offer_callback=callback and due and not choice,
        choice=choice,
        choice_callback=callback,
        message=max(segment - 1, 0),
        music=music,
        chose=chose or choice,
        announced=announced,
        said=said,
        until_due=max(1, math.ceil(next_due - elapsed)),
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
