"""The REST adapter (`hotline.ivr.rest.TwilioRest`, twilio's `Client`) against the local
stand-in of Twilio's API: what it asks Twilio, and what it makes of Twilio's answers.

No database: these are the requests a callback or a pushed reservation will make.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from hotline.ivr.rest import TwilioRejected, TwilioRest, TwilioUnavailable
from hotline.testing.twilio_api import TwilioApi, twilio_api

ACCOUNT = "AC" + "2" * 32
TOKEN = "stand-in-token"
CALLER, HOTLINE = "+819011112222", "+815055559999"
ANSWERED = "https://hotline.example/voice/callback/answered"
STATUS = "https://hotline.example/voice/status"


@pytest.fixture
def api() -> Iterator[TwilioApi]:
    with twilio_api(ACCOUNT, TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
async def rest(api: TwilioApi) -> AsyncIterator[TwilioRest]:
    adapter = TwilioRest(ACCOUNT, TOKEN, base_url=api.base_url, timeout=5)
    yield adapter
    await adapter.aclose()


async def _placed(rest: TwilioRest) -> str:
    call = await rest.create_call(to=CALLER, from_=HOTLINE, url=ANSWERED, status_callback=STATUS)
    return call.sid


async def test_a_call_is_placed_with_its_answer_url_and_final_status_callback(
    rest: TwilioRest, api: TwilioApi
) -> None:
    call = await rest.create_call(
        to=CALLER, from_=HOTLINE, url=ANSWERED, status_callback=STATUS, timeout=30
    )
    assert call.sid.startswith("CA") and call.status == "queued"
    [created] = api.created
    assert (created.sid, created.to, created.from_) == (call.sid, CALLER, HOTLINE)
    assert (created.url, created.method) == (ANSWERED, "POST")
    assert (created.status_callback, created.status_callback_method) == (STATUS, "POST")
    assert created.status_callback_event == ["completed"]  # only the final status
    assert created.timeout == 30
    assert (await rest.call_status(call.sid)).status == "queued"


async def test_a_wrong_token_is_refused_by_twilio(api: TwilioApi) -> None:
    wrong = TwilioRest(ACCOUNT, "not-the-token", base_url=api.base_url)
    with pytest.raises(TwilioRejected) as refused:
        await wrong.create_call(to=CALLER, from_=HOTLINE, url=ANSWERED, status_callback=STATUS)
    await wrong.aclose()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    assert api.created == []


async def test_an_invalid_number_is_rejected_with_twilios_code_and_never_shown(
    rest: TwilioRest, api: TwilioApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.reject_numbers.add(CALLER)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TwilioRejected) as rejected:
        await _placed(rest)
    assert rejected.value.code == 21211 and rejected.value.status == 400
    assert api.created == []
    digits = CALLER.lstrip("+")
    shown = [caplog.text, str(rejected.value), repr(rejected.value)]
    shown += [str(record.args) for record in caplog.records]
    assert caplog.records  # something was logged, only without the number
    assert not any(digits in text for text in shown)


async def test_twilio_down_is_unavailable_for_every_request(
    rest: TwilioRest, api: TwilioApi
) -> None:
    sid = await _placed(rest)
    await rest.ensure_queues(["opt-8"], 5000)
    api.down = True
    with pytest.raises(TwilioUnavailable):
        await _placed(rest)
    with pytest.raises(TwilioUnavailable):
        await rest.update_call(sid, status="canceled")
    with pytest.raises(TwilioUnavailable):
        await rest.dequeue("opt-8", sid, ANSWERED)
    with pytest.raises(TwilioUnavailable):
        await rest.call_status(sid)
    with pytest.raises(TwilioUnavailable):
        await rest.ensure_queues(["opt-8"], 5000)
    with pytest.raises(TwilioUnavailable):
        await rest.delete_queue("opt-8")
    api.down = False
    assert (await rest.call_status(sid)).status == "queued"


async def test_nothing_listening_is_unavailable() -> None:
    with twilio_api(ACCOUNT, TOKEN) as gone:
        base_url = gone.base_url
    rest = TwilioRest(ACCOUNT, TOKEN, base_url=base_url)
    with pytest.raises(TwilioUnavailable):
        await rest.create_call(to=CALLER, from_=HOTLINE, url=ANSWERED, status_callback=STATUS)
    await rest.aclose()


async def test_a_call_is_redirected_and_ended(rest: TwilioRest, api: TwilioApi) -> None:
    sid = await _placed(rest)
    await rest.update_call(sid, url=ANSWERED)
    await rest.update_call(sid, twiml="<Response><Say>…</Say></Response>")
    await rest.update_call(sid, status="canceled")
    assert api.updates == [
        (sid, {"Url": ANSWERED, "Method": "POST"}),
        (sid, {"Twiml": "<Response><Say>…</Say></Response>"}),
        (sid, {"Status": "canceled"}),
    ]
    assert (await rest.call_status(sid)).final


async def test_updating_an_unknown_call_is_rejected(rest: TwilioRest) -> None:
    with pytest.raises(TwilioRejected) as rejected:
        await rest.update_call("CA" + "f" * 32, status="completed")
    assert (rejected.value.status, rejected.value.code) == (404, 20404)


def _listings(api: TwilioApi) -> int:
    return sum(1 for r in api.requests if r.split("?")[0].endswith("/Queues.json"))


async def test_a_waiting_caller_is_dequeued_by_the_queue_sid_kept_at_set_up(
    rest: TwilioRest, api: TwilioApi
) -> None:
    api.queue("opt-1")
    await rest.ensure_queues(["opt-1", "opt-8"], 5000)
    queue = api.queues["opt-8"]
    first, second = "CA" + "a" * 32, "CA" + "b" * 32
    api.members[queue] += [first, second]
    listed = _listings(api)
    await rest.dequeue("opt-8", first, ANSWERED)
    await rest.dequeue("opt-8", second, ANSWERED + "?n=2")
    assert api.dequeued == [("opt-8", first, ANSWERED), ("opt-8", second, ANSWERED + "?n=2")]
    assert api.members[queue] == []
    assert _listings(api) == listed  # no queue listed by a push


async def test_a_push_to_a_queue_whose_sid_is_unknown_lists_nothing(
    rest: TwilioRest, api: TwilioApi
) -> None:
    """No SID kept (set-up not done yet): the push is left to the caller's next poll at
    once, rather than listing every queue of the account inside its timeout."""
    api.members[api.queue("opt-8")] = ["CA" + "c" * 32]
    with pytest.raises(TwilioUnavailable):
        await rest.dequeue("opt-8", "CA" + "c" * 32, ANSWERED)
    assert _listings(api) == 0 and api.dequeued == []
    rest.remember_queue("opt-8", api.queues["opt-8"])  # a hold poll's QueueSid
    await rest.dequeue("opt-8", "CA" + "c" * 32, ANSWERED)
    assert len(api.dequeued) == 1 and _listings(api) == 0


async def test_a_caller_no_longer_in_the_queue_is_rejected(
    rest: TwilioRest, api: TwilioApi
) -> None:
    await rest.ensure_queues(["opt-8"], 5000)
    with pytest.raises(TwilioRejected):  # hung up, or taken by another counsellor
        await rest.dequeue("opt-8", "CA" + "c" * 32, ANSWERED)
    assert api.dequeued == []


async def test_queues_are_created_then_updated_never_twice(
    rest: TwilioRest, api: TwilioApi
) -> None:
    api.queue("opt-1")  # made by Twilio on a first <Enqueue>, with its default MaxSize
    first = await rest.ensure_queues(["opt-1", "opt-8"], 5000)
    assert [(q.name, q.done, q.max_size) for q in first] == [
        ("opt-1", "updated", 5000),
        ("opt-8", "created", 5000),
    ]
    assert {name: api.max_sizes[sid] for name, sid in api.queues.items()} == {
        "opt-1": 5000,
        "opt-8": 5000,
    }
    again = await rest.ensure_queues(["opt-1", "opt-8"], 5000)
    assert [q.done for q in again] == ["unchanged", "unchanged"]
    assert api.queue_creates == ["opt-8"]  # created once
    assert [q.sid for q in again] == [api.queues["opt-1"], api.queues["opt-8"]]
    smaller = await rest.ensure_queues(["opt-8"], 9999)  # past Twilio's maximum: capped
    assert smaller[0].max_size == 5000 and smaller[0].done == "unchanged"


async def test_an_empty_queue_is_deleted_and_a_busy_one_is_not(
    rest: TwilioRest, api: TwilioApi
) -> None:
    await rest.ensure_queues(["opt-1", "opt-8"], 10)
    api.members[api.queues["opt-8"]] = ["CA" + "d" * 32]
    assert await rest.delete_queue("opt-1")
    with pytest.raises(TwilioRejected):  # Twilio removes only an empty queue
        await rest.delete_queue("opt-8")
    assert list(api.queues) == ["opt-8"]
    assert not await rest.delete_queue("opt-3")  # no SID known: nothing asked


async def test_a_sip_line_is_rung_with_its_digest_credentials(rest: TwilioRest, api: TwilioApi):
    target = "sip:line01@inochi.example.invalid"
    await rest.create_call(
        to=target, from_=HOTLINE, url=ANSWERED, status_callback=STATUS, sip_auth=("desk", "pw")
    )
    [created] = api.created
    assert created.to == target
    assert (created.params["SipAuthUsername"], created.params["SipAuthPassword"]) == ("desk", "pw")
