"""Requests to Twilio that a committed transition asked for: a callback's two legs, the
counsellor's leg of a conference call (`RingLeg`) and the caller taken out of its conference
back to the queue (`Requeue`: `hotline.ivr.requeue`, which also retries it).

The lifecycle names them as effects (`RingCounsellor`, `RingCaller`); the calls service puts
them in the step's unit of work (`calls.store.Pushed`, `hotline.uow`), which hands them here
only after its transaction has committed, so Twilio is never asked to ring for a change that was
rolled back. A development service's own stand-in (`dev_account`) is asked to ring, never to
dequeue or drop a queue: no Twilio holds its callers. Each runs as a task of its own, off the
webhook that caused it, through the one
REST adapter (`TwilioRest`). A request Twilio does not take is a lifecycle event of its own,
applied in a short transaction: the counsellor's line is let go and the request waits in its
place (`CounsellorUnreached`), or the caller's try ends (`CallerLegEnded`, failed).

A process killed between the commit and the push loses the push, never the call: the routing
sweeps take a callback whose leg was never heard from back to its place in the queue
(`WentSilent` after the ringing bound).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hotline.calls import lifecycle, service, store
from hotline.calls.store import Pushed
from hotline.common.crypto import box_for
from hotline.conference.control import ControlFailed
from hotline.config import HotlineConfig
from hotline.ivr.conference import Conference, TwilioConference
from hotline.ivr.queues import drop_callback_queue
from hotline.ivr.requeue import Requeues
from hotline.ivr.rest import TwilioFailure, TwilioRejected, TwilioRest
from hotline.ivr.twiml import Renderer, queue_name
from hotline.ivr.twiml_conference import conference_name
from hotline.services import Services
from hotline.voice.params import printable

log = logging.getLogger(__name__)
LEG_RING_SECONDS = 25  # the counsellor's leg of a conference call rings this long, as a Dial


class Pushes:
    """The after-commit hook for `Pushed` facts; `drain()` waits for those under way."""

    def __init__(self, services: Services, rest: TwilioRest) -> None:
        self.services, self.rest = services, rest
        self.tasks: set[asyncio.Task[None]] = set()
        self.requeues = Requeues(services, rest)  # the redirects out of a conference owed

    def __call__(self, facts: list[object]) -> None:
        for fact in facts:
            if isinstance(fact, Pushed):
                task = asyncio.get_running_loop().create_task(self._run(fact))
                self.tasks.add(task)  # a reference, until it is done
                task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait until no push is under way (pushes may cause more: wait for those too)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _run(self, fact: Pushed) -> None:
        try:
            match fact.effect:
                case lifecycle.RingCounsellor(line_id=line):
                    await self._ring_counsellor(fact, line)
                case lifecycle.RingCaller(attempt=attempt):
                    await self._ring_caller(fact, attempt)
                case lifecycle.Dequeue() if self.rest.pushes:
                    await self._dequeue(fact)
                case lifecycle.DropQueue() if self.rest.pushes:
                    await drop_callback_queue(self.rest, fact.call_id, fact.call_sid)
                case lifecycle.RingLeg(line_id=line):
                    await self._ring_leg(fact, line)
                case lifecycle.Requeue():
                    await self._requeue(fact)
                case lifecycle.FreeCounsellor(leg_sid=leg, line_id=line):
                    await self._free_counsellor(fact, leg, line)
                case lifecycle.EndConference():
                    await self._end_conference(fact)
        except Exception:  # a push must never take the process down; the sweeps recover
            log.exception("push %s for call %s failed", type(fact.effect).__name__, fact.call_id)

    @property
    def cfg(self) -> HotlineConfig:
        return self.services.cfg

    @property
    def renderer(self) -> Renderer:
        return self.services.renderer

    async def _ring_counsellor(self, fact: Pushed, line_id: str) -> None:
        routed = self.services.router.lines.get(line_id)
        urls = self.renderer.urls
        try:
            if routed is None:
                raise TwilioFailure(f"line {line_id} is no longer configured")
            sip = routed.line.sip
            created = await self.rest.create_call(
                to=routed.target,
                from_=self.cfg.caller_id_for(routed.org) or "",
                url=urls.whisper(fact.call_sid, line_id),
                # Our whisper failing (or past Twilio's 15 s): the counsellor hears, without
                # the database, that this call is not put through, and the leg ends; the
                # callback is tried again later (its status callback: not reached).
                fallback_url=urls.fallback_whisper("accept"),
                status_callback=urls.callback_status(fact.call_sid, "counsellor", line=line_id),
                timeout=self.cfg.callback.counsellor_ring_seconds,
                # the same digest credentials as the line's <Sip> noun of a forwarded call
                sip_auth=(sip.username, routed.line.sip_password or "") if sip else None,
            )
            log.info("callback of call %s: line %s rung (%s)", fact.call_id, line_id, created.sid)
        except TwilioFailure as e:
            log.warning("callback of call %s: line %s not rung: %s", fact.call_id, line_id, e)
            await self._apply(fact, lambda: lifecycle.CounsellorUnreached(line_id))

    async def _ring_leg(self, fact: Pushed, line_id: str) -> None:
        """The counsellor's leg of a conference call: the whisper, then 1 joins the call's
        conference, where the caller hears the ringback. Not placed: the caller goes back to
        the head of the queue (`LegEnded`, failed) and the line is let go."""
        routed = self.services.router.lines.get(line_id)
        urls = self.renderer.urls
        try:
            if routed is None:
                raise TwilioFailure(f"line {line_id} is no longer configured")
            sip = routed.line.sip
            created = await self.rest.create_call(
                to=routed.target,
                # the hotline's (or the organisation's) number, never the caller's
                from_=self.cfg.caller_id_for(routed.org) or "",
                url=urls.whisper(fact.call_sid, line_id),
                # Our whisper failing: the counsellor hears, without the database, that this
                # call is not put through, and the leg ends; its status requeues the caller.
                fallback_url=urls.fallback_whisper("accept"),
                status_callback=urls.leg_status(fact.call_sid, line_id),
                timeout=LEG_RING_SECONDS,
                sip_auth=(sip.username, routed.line.sip_password or "") if sip else None,
            )
            log.info(
                "call %s: line %s rung for its conference (%s)", fact.call_id, line_id, created.sid
            )
        except TwilioFailure as e:
            log.warning("call %s: line %s not rung: %s", fact.call_id, line_id, e)
            failed = lifecycle.DialOutcome.FAILED
            await self._apply(fact, lambda: lifecycle.LegEnded(line_id, failed, ""))

    async def _requeue(self, fact: Pushed) -> None:
        """Take the caller out of the call's conference back to the queue (`/voice/requeue`);
        what Twilio does not take is owed, and retried by the upkeep (`hotline.ivr.requeue`)."""
        await self.requeues.redirect(fact.call_id, fact.call_sid)

    async def _free_counsellor(self, fact: Pushed, leg_sid: str, line_id: str) -> None:
        """A callback's counsellor waiting in the call's conference for a caller who was not
        reached: their leg is taken out of it to the Dial's action, which says why and ends
        it. Twilio away: the conference's waitUrl says it too, and the counsellor hangs up."""
        url = self.renderer.urls.callback_held(fact.call_sid, line_id)
        try:
            await self.rest.update_call(leg_sid, url=url)
            log.info("callback of call %s: the counsellor let go", fact.call_id)
        except TwilioFailure as e:
            log.warning("callback of call %s: the counsellor not let go: %s", fact.call_id, e)

    async def _end_conference(self, fact: Pushed) -> None:
        """End the call's conference (by its SID, else found by its name); best-effort: the
        upkeep ends a conference nobody is in."""
        control = self.services.conference
        if control is None:
            return
        async with self.services.unit() as uow:
            call = await store.get_call(uow.session, fact.call_sid)
            known = call.conference_sid if call is not None else None
        try:
            sids = [known] if known else [c.sid for c in await self._named(fact.call_id)]
            for sid in sids:
                await control.end(sid)
            log.info("call %s: its conference ended", fact.call_id)
        except ControlFailed as e:
            log.warning("call %s: its conference not ended: %s", fact.call_id, e)

    async def _named(self, call_id: int) -> list[Conference]:
        control = self.services.conference
        if not isinstance(control, TwilioConference):
            return []
        return await control.find(conference_name(call_id))

    async def _ring_caller(self, fact: Pushed, attempt: int) -> None:
        number = await self._number(fact)
        urls = self.renderer.urls
        try:
            if number is None:
                raise TwilioFailure("no number to call back")
            created = await self.rest.create_call(
                to=number,
                from_=self.cfg.callback_number or "",
                url=urls.callback_caller(fact.call_sid, attempt),
                # Our greeting failing: the same neutral question, then on a key the apology
                # and the backup organisation's lines (nothing said to anyone else).
                fallback_url=urls.fallback("callback"),
                status_callback=urls.callback_status(fact.call_sid, "caller", attempt=attempt),
                # Shorter than a Japanese voicemail's delay, and answering-machine detection
                # in its synchronous form: Twilio fetches our URL only once it knows who
                # answered, with AnsweredBy, so a machine or fax is hung up on before a word
                # is said (asynchronous AMD would start our words before the answer is known).
                timeout=self.cfg.callback.ring_seconds,
                machine_detection="Enable",
            )
            log.info("callback of call %s: try %s placed (%s)", fact.call_id, attempt, created.sid)
        except TwilioFailure as e:
            # Never the number: only the call, the try and Twilio's error.
            log.warning("callback of call %s: try %s not placed: %s", fact.call_id, attempt, e)
            failed = lifecycle.DialOutcome.FAILED
            await self._apply(fact, lambda: lifecycle.CallerLegEnded(attempt, failed))

    async def _dequeue(self, fact: Pushed) -> None:
        """A line is reserved for a holding caller: take them out of the queue now, to the
        queue result (which dials the line), rather than at their next poll. If Twilio does
        not take it (the caller left the hold meanwhile, an outage), the poll does it."""
        async with self.services.unit() as uow:
            call = await store.get_call(uow.session, fact.call_sid)
            if call is None or call.state != lifecycle.CallState.RESERVED or not call.option_id:
                return
            option, language = call.option_id, call.language
        url = self.renderer.urls.queue_result(option, language, push=True)
        try:
            await self.rest.dequeue(queue_name(option), fact.call_sid, url)
        except TwilioRejected as e:
            # Not in the queue: taken by its poll meanwhile, or gone without a word (a long
            # hold segment hides a hang-up whose callbacks were lost). Twilio knows which.
            log.info("reservation of call %s: not in the queue (%s)", fact.call_id, e.code)
            await self._gone(fact)
        except TwilioFailure as e:
            log.info("reservation of call %s left to its poll: %s", fact.call_id, e)

    async def _gone(self, fact: Pushed) -> None:
        """End a caller Twilio says has hung up (reserved: its line goes to the next)."""
        try:
            answer = await self.rest.call_status(fact.call_sid)
        except TwilioFailure:
            return  # the reservation's own time ends it; a waiting caller's, the sweeps
        if answer.final:
            ended = lifecycle.ForceEnded("twilio")
            await self._apply(fact, lambda: ended, only_in=lifecycle.CallState.RESERVED)

    async def _number(self, fact: Pushed) -> str | None:
        """The number to call back, opened from the call (sealed with the records' key)."""
        async with self.services.unit() as uow:
            call = await store.get_call(uow.session, fact.call_sid)
            sealed = call.callback_number if call is not None else None
        return box_for(self.services.settings).open(sealed) if sealed else None

    async def _apply(
        self,
        fact: Pushed,
        event: Callable[[], lifecycle.Event],
        only_in: lifecycle.CallState | None = None,
    ) -> None:
        services = self.services
        now = services.clock()
        async with services.unit() as uow:
            call = await store.get_call(uow.session, fact.call_sid, lock=True)
            if call is None or (only_in is not None and call.state != only_in):
                return
            await service.apply(
                uow.session, services.router, call, event(), now, limits=services.limits
            )
        log.debug("push outcome applied to %s", printable(fact.call_sid))
