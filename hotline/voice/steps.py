"""The voice path's steps, one per Twilio webhook: Twilio's parameters in, the outcome to say out.

Each step reads the call, turns the request into a lifecycle event, lets
`hotline.calls.service` apply it, and returns what the caller (or the counsellor) hears next
(`hotline.voice.outcomes`). Where a call goes next is decided in `hotline.calls.lifecycle`;
the menus' own decisions are `hotline.voice.flow`'s. A step runs in the unit of work its
`Turn` carries and never commits: the edge commits before it answers (`hotline.ivr.webhooks`).

The callback's steps come last: the caller's keys while holding (`hold_key`), then the two
legs we create through Twilio's REST API (`hotline.ivr.pushes`): the counsellor's first (the
whisper, then a wait in the call's conference while the caller is called), then the
caller's, whose 1 joins them there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import phonenumbers

from hotline.calls import lifecycle as lc
from hotline.calls import store
from hotline.calls.models import CallState
from hotline.calls.service import NotAlone
from hotline.calls.store import StoredCall
from hotline.common.crypto import box_for
from hotline.conference import store as parties
from hotline.config import HotlineConfig
from hotline.config.checks import check_number
from hotline.flags import store as flags
from hotline.flags.models import FlagKind
from hotline.hours.schedule import referrals_open
from hotline.voice import flow, params
from hotline.voice.outcomes import (
    BackToHold,
    CallbackConfirm,
    CallbackGreeting,
    CallbackRefused,
    CounsellorWaits,
    FullOffer,
    LinesNow,
    NotReached,
    Outcome,
    Whisper,
)
from hotline.voice.params import VoiceParams
from hotline.voice.turn import Turn
from hotline.voice.urls import Query

__all__ = ["NotAlone", "Step", "Turn"]

Step = Callable[[Turn, VoiceParams, Query], Awaitable[Outcome]]
# Is this request's step most likely one statement (`Turn.alone`)?
Alone = Callable[[HotlineConfig, VoiceParams, Query], bool]


def always(cfg: HotlineConfig, p: VoiceParams, q: Query) -> bool:
    return True


def option_or_default(cfg: HotlineConfig, option_id: str | None) -> str:
    if option_id and cfg.has_option(option_id):
        return option_id
    return cfg.menus[cfg.default_menu].default.option or cfg.options[0].id


async def arrive(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """A call comes in: its first menu (one statement: the INSERT logs the arrival, after one
    indexed read of the caller's flags when the number is not withheld). A caller flagged as
    abusive hears the polite message with the other lines instead, and the call ends."""
    cfg = t.services.cfg
    caller = store.caller_hash(t.services.settings.caller_secret, p.caller)
    # A replayed arrival is not turned away: the fallback served that caller (no flag is read
    # while the database is away; a fault never refuses a caller).
    blocked = not t.replayed and caller is not None
    if blocked and FlagKind.ABUSIVE in await flags.kinds_for(t.uow.session, caller, t.now):
        if t.alone:
            raise NotAlone  # two writes: the arrival and its end, in one transaction
        out = await t.arrive(p)
        await t.apply(out.call, lc.TurnedAway("blocked"))
        return flow.turned_away(cfg, "blocked", None, t.now)
    out = await t.arrive(p)
    return flow.start(cfg, out.call.menu_id)


async def menu(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """A key of a menu (or none): the next menu, or the option chosen and its queue."""
    cfg = t.services.cfg
    call = await t.call(p)
    menu_id = q.menu_id if q.menu_id in cfg.menus else call.menu_id
    choice = flow.choose(cfg, menu_id, q.attempt, p.digits)
    if isinstance(choice, flow.Ask):
        await t.apply(call, lc.MenuAnswered(menu_id, q.attempt, p.digits))
        return choice
    refused = await _withheld(t, call, choice)
    if refused is not None:
        return refused
    staffed = await t.staffed(call, choice.option_id, choice.language)
    shut = None  # closed now: what the caller hears, and whether the menu comes again
    if staffed is False and call.state == CallState.MENU:
        # A key pressed gets the menu again; the default after silences does not, or a
        # caller who went silent would go round the menu for ever.
        again = choice.notice is None
        shut = await t.closed(menu_id, choice.option_id, choice.language, from_menu=again)
    event = lc.OptionChosen(
        choice.option_id,
        choice.language,
        choice.priority,
        staffed=staffed is not False,
        menu_id=menu_id,
        attempt=q.attempt,
        digits=p.digits,
        default=choice.notice is not None,
        to_menu=shut is not None and shut.menu_id is not None,
    )
    out = await t.apply(call, event)
    if shut is not None and isinstance(out.decision, lc.Closed):
        return shut
    return await t.answer(call, out.decision, choice.notice)


def schedule(cfg: HotlineConfig) -> flow.Schedule:
    return flow.Schedule(cfg.hold.announce_every_seconds, cfg.hold.position_repeat_seconds)


async def _withheld(t: Turn, call: StoredCall, choice: flow.Enqueue) -> Outcome | None:
    """A withheld number (非通知: no hash was kept) choosing an option that does not take one
    (its `withheld` policy): what they hear, and the call ends. None: the caller goes on."""
    cfg = t.services.cfg
    policy = cfg.option(choice.option_id).withheld
    if policy == "accept" or call.caller_hash is not None:
        return None
    if call.state not in (CallState.MENU, CallState.ABANDONED):  # past the menu already
        return None
    await t.apply(call, lc.TurnedAway("withheld", choice.option_id, choice.language))
    said = "withheld_186" if policy == "ask_186" else "withheld_refused"
    return flow.turned_away(cfg, said, choice.language, t.now)


def wait_alone(cfg: HotlineConfig, p: VoiceParams, q: Query) -> bool:
    """A hold poll that announces nothing (Twilio's QueueTime says none is due) is one
    statement (marked seen as it is read); without a QueueTime we cannot tell before reading
    the call, so it takes the transaction."""
    if p.queue_time is None:
        return False
    return not schedule(cfg).due(_announced(q, p.queue_time), p.queue_time)


def _announced(q: Query, elapsed: int) -> int:
    """The last announcement's queue time; back from a key (`k=1`), this poll's: the caller
    just heard an answer (or declined the callback), and hears no offer again at once."""
    return elapsed if q.keyed and q.announced < 0 else q.announced


async def wait(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """A hold poll (the queue's waitUrl): the next segment, or out of the hold."""
    s = t.services
    cfg = s.cfg
    call = await t.polled(p)
    option_id = option_or_default(cfg, q.option_id or call.option_id)
    language = q.language if q.language in cfg.languages else None
    # The caller's time in the queue: Twilio's QueueTime, else since they began waiting.
    elapsed = p.queue_time
    if elapsed is None:
        elapsed = int((t.now - (call.waiting_since or call.created_at)).total_seconds())
    announced = _announced(q, elapsed)
    checked = schedule(cfg).due(announced, elapsed)
    staffed: bool | None = None
    ahead: int | None = None  # counted only when it will be said
    session = t.uow.session
    if call.state == CallState.MENU:  # lost state: joins the hold's option
        staffed = await s.router.staffed_for(session, option_id, language, t.now)
    elif checked and call.state == CallState.WAITING and call.option_id:
        # Whether the option is still staffed and the place in line: one statement.
        staffed, ahead = await s.router.staffed_and_ahead(session, call, t.now)
    priority = cfg.option(option_id).priority
    out = await t.apply(call, lc.HoldPolled(option_id, language, priority, staffed))
    if not isinstance(out.decision, lc.Hold):
        return await t.answer(call, out.decision)
    if checked and ahead is None:  # the call joined the queue in this step (lost state)
        ahead = await store.waiting_ahead(session, call)
    option = cfg.option(out.decision.option_id)
    return flow.hold(
        out.decision.option_id,
        out.decision.language,
        q.segment,
        ahead,
        schedule(cfg),
        elapsed=elapsed,
        announced=announced,
        said=q.said,
        max_wait=option.max_wait_seconds,
        chose=q.chose,
        # Offered only where it could be kept: the option's policy, a number we call back,
        # and (when the place in line is known) a wait estimate within the request's time.
        callback=flow.callback_offer(
            cfg, out.decision.option_id, out.decision.language, number_kind(p.caller), t.now, ahead
        ).ok
        and s.pushes is not None,
        # Hold music only where a freed line pushes the caller out of the hold (REST
        # dequeue): with polling alone, a caller would hear of a line when the track ends.
        music=s.rest is not None and s.rest.pushes and cfg.hold.music is not None,
    )


async def queue_result(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The caller left the queue (the Enqueue's action): what the lifecycle makes of it."""
    call = await t.call(p)
    redirected = p.queue_result == params.QueueResult.REDIRECTED
    if q.push or (redirected and call.state != CallState.WAITING):
        # We took the caller out of the queue (REST member update): as if the hold said
        # <Leave/>. Twilio may also request this action with `redirected` for that dequeue:
        # the same step as the push's (and the pull's) leave, so whichever comes first dials
        # the line and the others hear the same answer: one offer never dials twice.
        out = await t.apply(call, lc.QueueLeft(lc.QueueOutcome.LEAVE, "leave"))
        return t.decided(call, out.decision)
    if redirected:
        # A waiting call we did not take out (no push, no line held): someone redirected it
        # (Twilio's console). The lifecycle puts the caller back in the queue.
        out = await t.apply(call, lc.QueueLeft(lc.QueueOutcome.REDIRECTED, "redirected"))
        return t.decided(call, out.decision)
    if q.step == "full":  # refused by a full queue, the callback declined (no key)
        return await _full_over(t, call)
    outcome = params.queue_outcome(p.queue_result, p.call_sid)
    if outcome == lc.QueueOutcome.FULL and call.state == CallState.WAITING:
        offered = await _full_offer(t, call, p)
        if offered is not None:
            return offered
    out = await t.apply(call, lc.QueueLeft(outcome, p.queue_result))
    return await t.answer(call, out.decision)  # a full queue: what is open now


async def _full_offer(t: Turn, call: StoredCall, p: VoiceParams) -> FullOffer | None:
    """A caller the full queue refused, who may be called back: the full message and the
    callback's terms. The call stays waiting (in our queue, not Twilio's) until they answer:
    the confirm key books the callback (`hold_key`, step "full"), anything else ends it as
    refused by the full queue (`_full_over`)."""
    option_id = option_or_default(t.services.cfg, call.option_id)
    offer = await _offer(t, call, p, option_id, call.language)
    if not offer.ok or offer.until is None:
        return None
    said = await t.answer(call, lc.QueueFull(call.language))
    assert isinstance(said, flow.Closed)
    number = t.services.cfg.callback_number or ""
    return FullOffer(said, option_id, call.language, offer.until, number)


async def _full_over(t: Turn, call: StoredCall) -> Outcome:
    """The callback offered after a full queue was not taken: the call ends as refused by
    the full queue (a line held for it meanwhile is dialled instead)."""
    if call.state == CallState.RESERVED:
        out = await t.apply(call, lc.QueueLeft(lc.QueueOutcome.LEAVE, "leave"))
        return t.decided(call, out.decision)
    out = await t.apply(call, lc.QueueLeft(lc.QueueOutcome.FULL, "queue-full"))
    if isinstance(out.decision, lc.QueueFull):
        return t.decided(call, lc.Goodbye(call.language))  # all was said with the offer
    return t.decided(call, out.decision)


async def whisper(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """Runs on the counsellor's leg once it answers (Dial <Number url=...>)."""
    call = await t.parent(q.call_sid)
    if call is None:
        return "whisper_declined"  # the caller is gone
    out = await t.apply(call, lc.WhisperAnswered(q.line_id))
    if not isinstance(out.decision, lc.Whisper):
        return t.decided(call, out.decision)
    option = t.services.cfg.option(call.option_id).name if call.option_id else ""
    waited = (t.now - (call.waiting_since or call.created_at)).total_seconds()
    # A callback's counsellor is rung first: told so, and that the caller is called on 1.
    callback = call.callback_at is not None
    # A caller flagged as a repeat caller: a neutral note to the counsellor, never the reason.
    repeat = FlagKind.REPEAT in await flags.kinds_for(t.uow.session, call.caller_hash, t.now)
    return Whisper(call.call_sid, q.line_id, option, call.language, waited, callback, repeat)


async def whisper_accept(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The counsellor's key after the whisper: 1 takes the call, anything else refuses it."""
    call, line = await t.parent(q.call_sid), t.services.router.lines.get(q.line_id)
    if call is None or line is None:
        return "whisper_declined"
    event: lc.Event = (
        lc.Accepted(q.line_id, line.org_id, p.call_sid)
        if p.digits == "1"
        else lc.Refused(q.line_id)
    )
    out = await t.apply(call, event)
    if isinstance(out.decision, lc.Bridge) and out.decision.conference:
        # The caller's and the counsellor's parties of the call's conference.
        await parties.own_parties(
            t.uow.session,
            call.id,
            line_id=q.line_id,
            leg_sid=p.call_sid or None,
            caller_sid=call.call_sid,
            now=t.now,
        )
    return t.decided(call, out.decision)


async def dial_result(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The line's Dial ended (its action): a conversation over, or the next line."""
    call = await t.call(p)
    outcome = params.dial_outcome(p.dial_call_status, p.call_sid)
    out = await t.apply(call, lc.DialEnded(q.line_id, outcome, p.dial_call_sid))
    return t.decided(call, out.decision)


async def status(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The call's status callback: its end, when final."""
    call = await t.call(p)
    final = params.status_is_final(p.call_status)
    await t.apply(call, lc.StatusReported(p.call_status, p.sequence_number, final))
    return "no_content"


# -- callback ---------------------------------------------------------------------------------


# The number types we call back: a Japanese mobile (070/080/090) or geographic number
# (phonenumbers' FIXED_LINE; some ranges it cannot tell apart are FIXED_LINE_OR_MOBILE).
# Not free-dial (0120/0800: a caller's own phone never shows one, and a company's switchboard
# is not where a caller waits for us), not 050 IP phones or others (the rule: mobile
# and geographic only), not a foreign number (Twilio's geographic permissions, and a call
# abroad from a Japanese hotline is not what the caller asked for).
CALLABLE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def number_kind(number: str) -> flow.NumberKind:
    """Can this caller's number be called back? Never logged: its text holds the number."""
    if number.strip().lower() in store.ANONYMOUS:
        return "withheld"
    try:
        check_number(number.strip())
    except ValueError:
        return "withheld"  # unknown, or not a number we could dial
    parsed = phonenumbers.parse(number.strip())
    if phonenumbers.region_code_for_number(parsed) != "JP":
        return "not_callable"
    if phonenumbers.number_type(parsed) not in CALLABLE_TYPES:
        return "not_callable"
    return "callable"


async def hold_key(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """A key pressed while holding: the callback key, its confirmation, or the choice offered
    after the option's maximum wait (1 keep waiting, 2 callback, 3 other lines open now)."""
    cfg = t.services.cfg
    call = await t.call(p)
    option_id = option_or_default(cfg, call.option_id or q.option_id)
    language = call.language if call.state != CallState.MENU else (q.language or None)
    segment, key = q.segment, (p.digits or "").strip()
    chose = q.chose or q.step == "choice"  # the maximum wait's choice was offered
    if q.step == "full":  # the callback offered after a full queue
        if key == cfg.callback.confirm_key and call.state == CallState.WAITING:
            booked = await _book(t, call, p, option_id, language, segment, chose)
            if not isinstance(booked, CallbackRefused):
                return booked
        return await _full_over(t, call)
    if call.state == CallState.RESERVED:
        return "leave"  # a line is held for them: take it, whatever the key
    choice = flow.choice_key(key) if q.step == "choice" else None
    if choice == "lines":
        return LinesNow(language, referrals_open(cfg, language, t.now), option_id, segment)
    asked = choice == "callback" or (q.step == "" and key == cfg.callback.key)
    if q.step == "confirm" and key == cfg.callback.confirm_key:
        return await _book(t, call, p, option_id, language, segment, chose)
    if q.step == "confirm":
        return BackToHold(option_id, language, segment, chose, kept=True)
    if not asked:
        return BackToHold(option_id, language, segment, chose)
    offer = await _offer(t, call, p, option_id, language)
    if not offer.ok or offer.until is None:
        why = offer.reason or "unavailable"
        return CallbackRefused(language, why, option_id, segment, chose)
    number = cfg.callback_number or ""
    return CallbackConfirm(language, option_id, segment, offer.until, number, chose)


async def _offer(
    t: Turn, call: StoredCall, p: VoiceParams, option_id: str, language: str | None
) -> flow.CallbackOffer:
    cfg = t.services.cfg
    ahead = None
    if call.state == CallState.WAITING:  # the wait estimate: the callers before this one
        ahead = await store.waiting_ahead(t.uow.session, call)
    offer = flow.callback_offer(cfg, option_id, language, number_kind(p.caller), t.now, ahead)
    if offer.ok and t.services.pushes is None:  # no REST account: we could not call back
        return flow.CallbackOffer(False, "unavailable", None)
    return offer


async def _book(
    t: Turn,
    call: StoredCall,
    p: VoiceParams,
    option_id: str,
    language: str | None,
    segment: int,
    chose: bool,
) -> Outcome:
    offer = await _offer(t, call, p, option_id, language)  # again: the hours may have moved on
    if not offer.ok or offer.until is None:
        why = offer.reason or "unavailable"
        return CallbackRefused(language, why, option_id, segment, chose)
    sealed = box_for(t.services.settings).seal(p.caller.strip())
    assert sealed is not None
    out = await t.apply(call, lc.CallbackAsked(sealed, offer.until))
    if isinstance(out.decision, lc.CallbackBooked | lc.LeaveQueue):
        return t.decided(call, out.decision)
    return "leave"  # the call moved on: its queue result decides


async def callback_caller(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """Our call to the caller answered (`step` empty): a neutral question, press 1 if it is
    you; their key (`step=key`): 1 joins the counsellor who is holding for them. Nothing
    that names the hotline or the request is said on this leg before the 1."""
    call = await t.parent(q.call_sid)
    if call is None:
        return NotReached()
    attempt, language = q.attempt, call.language
    current = call.state == CallState.CALLING and attempt == call.callback_tries + 1
    if q.step != "key":
        if p.answered_by in params.MACHINES:
            # A voicemail box or a fax (Twilio's detection): hung up on before a word, so
            # that nothing is recorded; the leg's status then counts the try as not reached.
            return NotReached()
        if current:
            return CallbackGreeting(call.call_sid, language, attempt)
        return NotReached()
    if (p.digits or "").strip() != "1":
        # Not 1 (someone else may have answered): the leg ends without a word.
        return NotReached()
    out = await t.apply(call, lc.CallerAnswered(attempt))
    if isinstance(out.decision, lc.JoinCounsellor):
        return t.decided(call, out.decision)
    return NotReached()


async def callback_hold(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The counsellor's wait in the call's conference while the caller is called (its
    waitUrl): a pause while we try; when the try is over without the caller, say so (the
    service takes their leg out of the conference, `FreeCounsellor`)."""
    call = await t.parent(q.call_sid)
    on_it = call is not None and call.line_id == q.line_id
    trying = on_it and call is not None and call.state in (CallState.CALLING, CallState.CONNECTED)
    return CounsellorWaits(q.call_sid, q.line_id, over=not trying)


async def callback_held(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The counsellor's leg out of the call's conference (its Dial's action): after the
    conversation, it ends; taken out because the caller was not reached, told so first."""
    call = await t.parent(q.call_sid)
    if call is not None and call.connected_at is not None:
        return "hang_up"
    return "no_answer"


async def callback_over(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The caller's leg of a callback after its conversation (its Dial ended): end it; the
    leg's final status ends the call."""
    return "hang_up"


async def callback_status(t: Turn, p: VoiceParams, q: Query) -> Outcome:
    """The final status of a leg we created. The counsellor's: like a dial result of the
    line. The caller's: the try is over (not reached, or after the conversation)."""
    call = await t.parent(q.call_sid)
    if call is None or not params.status_is_final(p.call_status):
        return "no_content"
    outcome = params.dial_outcome(p.call_status, p.call_sid)
    event: lc.Event
    if q.leg == "counsellor":
        event = lc.DialEnded(q.line_id, outcome, p.call_sid)
    else:
        event = lc.CallerLegEnded(q.attempt, outcome)
    await t.apply(call, event)
    return "no_content"
