"""The hold through HTTP when a process is overloaded: longer segments, never an error."""

from __future__ import annotations

import pytest

from tests.conftest import Twilio


@pytest.mark.usefixtures("busy")
async def test_an_overloaded_process_plays_longer_hold_segments(twilio: Twilio, app, sid) -> None:
    settings = app.state.settings
    normal = await twilio.call("/voice/wait?o=gender&n=1", sid)
    assert normal.find("Gather/Pause").get("length") == str(settings.hold_segment_seconds)
    # As if three times the comfortable number of other polls were being answered now.
    app.state.hold_load.in_flight = 3 * settings.hold_busy_polls
    try:
        busy = await twilio.call("/voice/wait?o=gender&n=2", sid)
    finally:
        app.state.hold_load.in_flight = 0
    assert int(busy.find("Gather/Pause").get("length")) > settings.hold_segment_seconds
    assert busy[-1].tag == "Redirect"  # still a hold, not an error or a hang-up
