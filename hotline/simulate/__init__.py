"""The capacity simulator: callers, lines and the real routing engine, in simulated time.

`hotline simulate` runs a period's demand (synthetic from the published figures, or the
stored calls) against a supply (the configured lines, or a staffing plan) under policies
side by side, on `hotline.routing.engine.assign` and the table the service builds.
"""

from pathlib import Path

# Where `hotline simulate` writes its latest run, and the console's reports page finds it.
LATEST_DIR = Path("var/simulations")
