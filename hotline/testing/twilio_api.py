"""The local stand-in of Twilio's REST API, for the tests: it lives with the terminal phone
(`hotline.phone.twilio_api`), which runs it for `hotline call --callback`."""

from hotline.phone.twilio_api import Created, TwilioApi, twilio_api

__all__ = ["Created", "TwilioApi", "twilio_api"]
