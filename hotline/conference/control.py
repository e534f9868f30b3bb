"""What the conference room asks of Twilio, as a protocol: `hotline.ivr.conference` carries it
out through the `twilio` client (the participants API), and the composition root hands it in.
Nothing here knows Twilio; a phone number passes through only as `to` and is never kept.

Every method raises `ControlFailed` when Twilio did not do it: `unavailable` (network, 5xx,
timeout: the same request may work later) or `rejected` (4xx: a participant or conference that
is not there, an invalid number).
"""

from __future__ import annotations

from typing import Literal, Protocol


class ControlFailed(RuntimeError):
    def __init__(self, why: Literal["unavailable", "rejected"], code: int | None = None) -> None:
        super().__init__(f"Twilio did not do it: {why} (code {code})")
        self.why, self.code = why, code


class ConferenceControl(Protocol):
    async def hold(
        self, conference_sid: str, leg_sid: str, *, on: bool, language: str | None
    ) -> None:
        """Hold (the caller hears the calm on-hold words in `language`) or resume a leg."""
        ...

    async def add_party(  # noqa: PLR0913 - Twilio's participant, each one argument
        self,
        conference_sid: str,
        *,
        call_id: int,
        party_id: int,
        label: str,
        to: str,
        org_id: str | None,
        muted: bool = False,
        coach_leg_sid: str | None = None,
    ) -> str:
        """Dial `to` into the conference (showing the hotline's or `org_id`'s number),
        labelled `label`; its status comes back on the party's callback. `muted`: listens
        only; `coach_leg_sid`: heard by that leg alone (coaching). Returns the leg's CallSid."""
        ...

    async def update_party(
        self,
        conference_sid: str,
        leg_sid: str,
        *,
        muted: bool | None = None,
        coach_leg_sid: str | None = None,
        coaching: bool | None = None,
        end_conference_on_exit: bool | None = None,
    ) -> None:
        """Mute or unmute a leg, start or stop coaching, or say whether the conference ends
        when it leaves (a counsellor handing the caller over must not end it)."""
        ...

    async def remove_party(self, conference_sid: str, leg_sid: str) -> None:
        """Take a leg out of the conference (it hangs up)."""
        ...

    async def to_queue(self, call_sid: str, option_id: str, language: str | None) -> None:
        """Take the caller out of the conference into an option's queue (a cold transfer)."""
        ...

    async def end(self, conference_sid: str) -> None:
        """End the conference: every leg in it hangs up."""
        ...
