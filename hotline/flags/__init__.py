"""Caller flags: coordinators and operators mark a caller, by the keyed hash of the number the
calls table keeps (never the number), as a repeat caller (a neutral note in the counsellor's
whisper) or abusive (the caller hears a polite message with other lines, until the flag
expires). Each flag has a reason and an expiry (24 hours to 5 years), is audited, and is
purged once expired; an expired flag stops acting at once, before the purge."""
