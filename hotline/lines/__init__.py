"""A counsellor line's presence: its live state, how it moves, and who may change it.

    models.py      the ORM rows: a line's one presence state (`Line`) and its log
    presence.py    how a line moves between states, stamped and logged (flush only)
    lines.py       the one rule for the API and the console: a counsellor signs in, steps away,
                   signs out, ends or extends a wrap-up; a saved record ends the wrap-up
    endpoints.py   the lines API (`/api/lines`)
    queries.py     statements over presence that others build on (signed in among n lines)

What is here and what is not: a module is here when its subject is the line's presence as
counsellors and calls change it. The line's hours (is it scheduled now) are
`hotline.hours.schedule`; the pass that reserves, rings and releases lines is
`hotline.routing`, which imports this package. This package does not import the pass: a
presence change asks for one through `lines.Pass`, a protocol `Router` fits. Freeing a line
held by a lost call is the operator's hand on the pass (`hotline.routing.operator`), not a
presence change.
"""
