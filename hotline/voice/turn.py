"""One voice step's context (`Turn`): the app's services, the step's unit of work and the
time it is about, with what every step does with them: read (or create) the call, apply a
lifecycle event to it, ask whether an option is staffed, and turn a decision into an outcome.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hotline.calls import lifecycle as lc
from hotline.calls import service, store
from hotline.calls.models import CallState
from hotline.calls.store import StoredCall
from hotline.conference import store as parties
from hotline.hours import closures
from hotline.services import Services
from hotline.uow import UnitOfWork
from hotline.voice import flow
from hotline.voice.outcomes import Decided, MissingCallSid, Outcome
from hotline.voice.params import VoiceParams


@dataclass(slots=True)  # not frozen: built once per webhook, the cheaper __init__
class Turn:
    """What a step is handed besides Twilio's parameters.

    `alone`: the unit of work has no transaction (PostgreSQL, AUTOCOMMIT): each statement
    commits itself, so the step may send one, and only if it is the whole step
    (`service.NotAlone` otherwise, before anything more is written)."""

    services: Services
    uow: UnitOfWork
    now: dt.datetime  # now, or a spooled fact's own time
    alone: bool = False
    # A fact the spool kept while the database was away, applied afterwards: it records what
    # happened (the fallback served the caller), it decides nothing for a caller any more.
    replayed: bool = False

    async def call(self, p: VoiceParams) -> StoredCall:
        """This webhook's call; a CallSid never seen (lost state) is created so it goes on."""
        if not p.valid_call_sid():
            raise MissingCallSid
        session = self.uow.session
        call = await store.get_call(session, p.call_sid, lock=True)
        if call is not None:  # every later webhook: without computing a new one's values
            return call
        return await store.ensure_call(
            session,
            **self._new(p),
            now=self.now,
            new=True,  # looked up already
        )

    async def parent(self, call_sid: str) -> StoredCall | None:
        """The caller's call, on the counsellor's leg or a callback's (our URL names it)."""
        if not call_sid:
            return None
        return await store.get_call(self.uow.session, call_sid, lock=True)

    async def by_id(self, call_id: int) -> StoredCall | None:
        """A call by its id (a conference party's leg names it so), locked."""
        return await store.get_call_by_id(self.uow.session, call_id, lock=True)

    async def arrive(self, p: VoiceParams) -> service.Outcome:
        """Twilio's first webhook of a call: the call, most likely new, and its arrival."""
        if not p.valid_call_sid():
            raise MissingCallSid
        s = self.services
        return await service.arrive(
            self.uow.session,
            s.router,
            lc.Arrived(),
            self.now,
            limits=s.limits,
            alone=self.alone,
            **self._new(p),
        )

    def _new(self, p: VoiceParams) -> dict[str, Any]:
        """What a new call is stored with."""
        cfg = self.services.cfg
        period = cfg.period_at(self.now)
        return {
            "call_sid": p.call_sid,
            "entry": cfg.entry_for(p.to),
            "period_id": period.id if period else "none",
            "caller": store.caller_hash(self.services.settings.caller_secret, p.caller),
            "menu_id": period.menu if period else cfg.default_menu,  # cfg.menu_at, once
        }

    async def polled(self, p: VoiceParams) -> StoredCall:
        """A hold poll's call: marked seen as it is read when it is holding (one statement),
        otherwise read, or created, as any webhook's."""
        if p.valid_call_sid():
            call = await store.polled(self.uow.session, p.call_sid, self.now)
            if call is not None:
                return call
        if self.alone:  # not holding: read, or created, in a transaction
            raise service.NotAlone
        return await self.call(p)

    async def apply(self, call: StoredCall, event: lc.Event) -> service.Outcome:
        s, was_open = self.services, call.state not in lc.TERMINAL
        out = await service.apply(
            self.uow.session, s.router, call, event, self.now, limits=s.limits, alone=self.alone
        )
        if was_open and call.state in lc.TERMINAL and (call.leg_sid or call.conference_sid):
            # Ended otherwise than by its conference's end (the caller's status first): nobody
            # is left in its conference in our records.
            await parties.all_left(self.uow.session, call.id, self.now)
        return out

    async def staffed(self, call: StoredCall, option_id: str, language: str | None) -> bool | None:
        """May the caller who chose this option join its queue: within its hours, not closed
        by an operator, and a line on duty for it (None: the call is past choosing)."""
        s, session = self.services, self.uow.session
        if call.state == CallState.MENU:
            return await closures.may_join(session, s.cfg, s.router, option_id, language, self.now)
        return await service.staffed(session, s.router, call, option_id, language, self.now)

    def decided(
        self, call: StoredCall, decision: lc.Decision, notice: flow.Notice | None = None
    ) -> Decided:
        """The lifecycle's decision, to be said as it is (a Dial's target resolved here)."""
        target = None
        if isinstance(decision, lc.Dial):
            routed = self.services.router.lines.get(decision.line_id)
            target = routed.target if routed is not None else None
        return Decided(decision, call.id, call.call_sid, call.callback_tries, notice, target)

    async def answer(
        self, call: StoredCall, decision: lc.Decision, notice: flow.Notice | None = None
    ) -> Outcome:
        """`decided`, except that a closed message says what holds now (the option's opening
        time, the keys and other lines open now), which needs the operators' closures."""
        if not isinstance(decision, lc.Closed | lc.QueueFull):
            return self.decided(call, decision, notice)
        said = await self.closed(call.menu_id, call.option_id, decision.language)
        if isinstance(decision, lc.QueueFull):  # open, but full: no opening time to say
            return dataclasses.replace(said, full=True, opens_at=None)
        return said

    async def closed(
        self,
        menu_id: str | None,
        option_id: str | None,
        language: str | None,
        *,
        from_menu: bool = False,
    ) -> flow.Closed:
        """The closed message as it holds now (`flow.closed`, with the operators' closures).
        The other keys it names are those a caller may join now, a line on duty for them too
        (`closures.may_join`, one statement a key): a key open by its hours with nobody on
        duty would only close again, and the menu comes back only for keys that can answer."""
        s, session = self.services, self.uow.session
        shut = flow.closed(
            s.cfg,
            menu_id=menu_id,
            option_id=option_id,
            language=language,
            now=self.now,
            closed_by_hand=await closures.closed_ids(session),
            from_menu=from_menu,
        )
        menu = s.cfg.menus.get(menu_id or s.cfg.default_menu)
        if not shut.open_keys or menu is None:
            return shut
        keys = []
        for key, name in shut.open_keys:
            choice = menu.keys[key]
            assert choice.option is not None  # flow.closed names option keys only
            if await closures.may_join(
                session, s.cfg, s.router, choice.option, choice.language, self.now
            ):
                keys.append((key, name))
        again = shut.menu_id if keys else None
        return dataclasses.replace(shut, open_keys=tuple(keys), menu_id=again)
