"""Who the service dials: a target (an E.164 number or a SIP URI with Twilio's parameters)
and, for a SIP target, its credentials, whose password stays out of menus.yaml.

Shared by the organisations' lines and their supervisors (`Dialled`), so that both are
checked the same way and a missing password stops the service at start-up naming the
line or the supervisor, rather than failing the first call put through to it."""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from hotline.config.base import Id, Model
from hotline.config.checks import check_number, check_sip_uri


class SipAuth(Model):
    """Credentials of a SIP line (`<Sip username password>`); the password stays out of
    menus.yaml: `password_env` names the environment variable that holds it."""

    username: str = Field(min_length=1, max_length=128)
    password_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: object) -> object:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a password never goes in menus.yaml: put it in an environment variable "
                "and name that variable in password_env"
            )
        return data


def check_target(target: str) -> None:
    """An E.164 number or a sip: URI, each checked as Twilio would take it."""
    if target.startswith("sip:"):
        check_sip_uri(target)
    elif target.startswith("+"):
        check_number(target)
    else:
        raise ValueError(f"{target!r} is neither an E.164 number nor a sip: URI")


class Dialled(Model):
    """Something the service rings: an id, its target, and a SIP target's credentials."""

    noun: ClassVar[str] = "line"  # how errors name it: "line 'sisc-01': ..."

    id: Id
    target: str  # E.164 number, or a SIP URI with Twilio's parameters (;transport=tls ...)
    sip: SipAuth | None = None
    _password: str | None = PrivateAttr(default=None)

    @field_validator("target")
    @classmethod
    def _target(cls, target: str) -> str:
        check_target(target)
        return target

    @model_validator(mode="after")
    def _credentials(self) -> Dialled:
        if self.sip is None:
            return self
        if not self.target.startswith("sip:"):
            raise ValueError(f"{self.noun} {self.id!r}: 'sip' credentials go with a sip: target")
        # Read once at start-up: a missing variable stops the service, naming the line,
        # rather than failing the first caller put through to it.
        password = os.environ.get(self.sip.password_env)
        if not password:
            raise ValueError(
                f"{self.noun} {self.id!r}: environment variable {self.sip.password_env} "
                "(its SIP password) is not set"
            )
        self._password = password
        return self

    @property
    def sip_password(self) -> str | None:
        return self._password
