"""Conference calls (docs/conference.md): the caller and the counsellor meet in a conference of
the call's own, so that a counsellor can hold and resume the caller, consult or bring in a third
party (another option's queue, a partner, a local support organisation, an interpreter, the
emergency services' direct lines), hand the caller over, and a supervisor can listen, coach or
join. This room is Twilio-free: it decides and records; `hotline.ivr` carries the commands
out through `ConferenceControl` (control.py)."""
