"""The routing pass: which waiting caller gets which free line, and the operator's hand on it.

    engine.py      the assignment rule, pure (no I/O, no clock)
    store.py       `Router`: the pass around the engine over the stored state (reservations,
                   release and marks of lines, the staffing checks a caller's choice asks)
    ticker.py      the periodic pass (tier delays that elapse, reservations that expire)
    operator.py    an operator ends a call or frees a line by hand (through the lifecycle,
                   then a pass); cli.py: `hotline calls end`, `hotline lines free`
    table.py       a readable table of who answers each key (`hotline routes`)

What is here and what is not: a module stays here when it decides or runs the pass. Freeing
a line by hand (operator.py) releases the line a call holds and runs a pass: it is about the
pass, not about the line's presence, so it stays. A line's presence (its states, the
counsellors' changes, the lines API) is `hotline.lines`; option hours and closures are
`hotline.hours`. The pass imports both; neither imports the pass: what they ask of it (run a
pass, the lines serving an option now) they declare as a protocol that `Router` fits.
"""
