"""What several rooms share, and may all import: it imports no room of its own.

audit.py    the append-only audit log (its table, `audit_log`) and the acting principal
            (`Actor`): records, linkage cases, option closures and the operator's hand on
            calls and lines all write it
crypto.py   the Fernet box that seals what callers confide (records, case notes)
http.py     what the records, cases and options routers share: the route class that keeps
            input out of errors, the acting principal, the sealing box, the configured
            lists, and the documented errors
text.py     text both databases can store (no NUL, no unpaired surrogate): the edge's one
            rule, a 422 on the API and the console, an absent value on the voice webhooks
"""
