"""Twilio's queues, managed: the options' queues set up with their MaxSize, and the callback
queues deleted once their callback is over.

Twilio makes a queue on its first `<Enqueue>` with a MaxSize of 1000 (its maximum is 5000)
and keeps it for ever. So the service sets up every option's queue itself (`set_up`, by
`hotline twilio setup` and at start-up): created if missing, its MaxSize set to the
configured `hold.queue_max_size`, its SID kept in the REST adapter, so that a push never has
to list every queue to find one. An older callback's own queue (`hotline-callback-<id>`,
where its counsellor held for the caller before callbacks met in the call's conference) is
deleted when the callback ends (`DropQueue`, after the
commit), and the upkeep's sweep (`sweep_callback_queues`) deletes any that a push could not
(no SID known in this process, Twilio away, a counsellor still in it, a restart).
"""

from __future__ import annotations

import asyncio
import logging
import re

from hotline.calls import lifecycle, store
from hotline.config import HotlineConfig
from hotline.ivr.rest import QueueSetUp, TwilioFailure, TwilioRest
from hotline.ivr.twiml import callback_queue, queue_name
from hotline.services import Services

log = logging.getLogger(__name__)
CALLBACK_QUEUE = re.compile(r"^hotline-callback-(\d{1,18})$")


def option_queues(cfg: HotlineConfig) -> list[str]:
    """The queue names of every configured option (every period's menus choose among
    them), each once, in the file's order."""
    return list(dict.fromkeys(queue_name(option.id) for option in cfg.options))


async def set_up(cfg: HotlineConfig, rest: TwilioRest) -> list[QueueSetUp]:
    """Create or update every option's queue with the configured MaxSize; idempotent."""
    done = await rest.ensure_queues(option_queues(cfg), cfg.hold.queue_max_size)
    rest.queues_set_up = True
    return done


async def set_up_at_start(services: Services, wait: float) -> asyncio.Task[None] | None:
    """At start-up: set the queues up, waiting at most `wait` seconds. Twilio slow or away
    never stops the service: a warning, and the upkeep tries again each round."""
    rest = services.rest
    if rest is None or not rest.pushes:  # no Twilio runs the hold: no queue to set up
        return None

    async def run() -> None:
        try:
            done = await set_up(services.cfg, rest)
            log.info("Twilio queues set up: %s", ", ".join(f"{q.name} {q.done}" for q in done))
        except TwilioFailure as e:
            log.warning("Twilio queues not set up at start-up (%s): the upkeep tries again", e)

    task = asyncio.create_task(run())
    _, pending = await asyncio.wait({task}, timeout=wait)
    if pending:
        log.warning("Twilio queues: set-up still running after %ss; serving meanwhile", wait)
        return task
    return None


async def drop_callback_queue(rest: TwilioRest, call_id: int, call_sid: str) -> None:
    """Best-effort: delete the queue of a callback that is over (its SID known here: from
    its counsellor's hold polls in this process)."""
    name = callback_queue(call_id)
    try:
        if not await rest.delete_queue(name, rest.callback_queue_sid(call_sid)):
            log.debug("callback queue of call %s: no SID here, left to the sweep", call_id)
    except TwilioFailure as e:
        log.info("callback queue of call %s not deleted (%s): left to the sweep", call_id, e)


async def sweep_callback_queues(services: Services) -> int:
    """Delete every empty callback queue whose callback is over (or unknown); the number
    deleted. Off the webhooks: it lists the account's queues (few, as they are swept)."""
    rest = services.rest
    if rest is None or not rest.pushes:
        return 0
    deleted = 0
    for name, (sid, _, size) in (await rest.list_queues()).items():
        match = CALLBACK_QUEUE.match(name)
        if match is None or size > 0:
            continue
        async with services.unit() as uow:
            call = await store.get_call_by_id(uow.session, int(match.group(1)))
        if call is not None and call.state not in lifecycle.TERMINAL:
            continue  # the callback is still going: its counsellor may hold in it again
        try:
            if await rest.delete_queue(name, sid):
                deleted += 1
        except TwilioFailure as e:
            log.info("callback queue %s not deleted (%s): the next round tries again", name, e)
    return deleted


async def upkeep(services: Services) -> None:
    """One upkeep round of the queues: set-up if not done yet, then the callback sweep.
    Never raises: what fails is logged and tried again at the next round."""
    rest = services.rest
    if rest is None or not rest.pushes:
        return
    try:
        if not rest.queues_set_up:
            await set_up(services.cfg, rest)
        await sweep_callback_queues(services)
    except TwilioFailure as e:
        log.warning("Twilio queues: set-up or sweep not done (%s): the next round tries again", e)
    except Exception:
        log.exception("Twilio queues: upkeep failed; the next round tries again")
