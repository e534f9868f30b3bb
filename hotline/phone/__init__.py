"""The terminal phone: a client of the service that plays Twilio's part (`hotline call`).

Not part of the service: it only speaks HTTP to it, signing requests as Twilio does.
"""
