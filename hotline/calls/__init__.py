"""Calls: the stored state of each call and its append-only event log.

    lifecycle.py   `transition`, the one pure function a call moves through, and its dispatch;
                   its declarations beside it: states.py, events.py, decisions.py,
                   effects.py, ending.py (the end of a call), callback.py (the callback branch)
    service.py     applies a transition; store.py: the calls in the database (Core and ORM)
    models.py      ORM tables; table.py: the lifecycle as a table (README and tests)

store.py is over 500 lines on purpose for now: the unit of work and the one representation
of a call on the write path (issue 22, items 3 and 4) rewrite it; it is split after them,
not under them.
"""
