"""The routing benchmark (`python -m bench.routing`): the driver is __main__.py.

Each part in its own module: `assignment` (one pass, steady state and cold start) and `hold`
(callers polling the hold, sustained and in a burst); `load` is the hold's load generator,
`instruments` times a pass step by step, `machine` reads what the service, PostgreSQL and the
machine spent, `figures` holds the targets and the printed rows.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: config/menus.yaml, the service's cwd
