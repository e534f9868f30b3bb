"""When options and lines are open: hours by the calendar, and options closed by hand.

    calendar.py      the calendar of opening hours, pure: day types, open at a moment, the
                     next opening
    schedule.py      hours, pure: is a line scheduled, is an option (or a language under it)
                     open, when it opens and closes, which other lines are open now
    closures.py      options an operator closed at once and reopened (stored, audited), and
                     `may_join`: hours, closures and a signed-in line, checked at a choice
    options_api.py   the options API (`/api/options`)

What is here and what is not: a module is here when it answers "open now?" for an option or
a line, or changes what the answer is by hand. The routing pass imports these rules (a line
off its hours is not offered); this package does not import the pass: `may_join` asks the
lines that may serve an option through `closures.Serving`, a protocol `Router` fits, and
counts the signed-in ones with `hotline.lines.queries`.
"""
