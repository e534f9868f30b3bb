"""report tallies: callbacks (issue 12) counted beside the per-attempt figures

The tallies gain the inbound calls that booked a callback (abandoned at stage `callback`) and
what became of the requests. 接続完了 now leaves callback conversations out (they are
`callbacks_connected`), and a caller-day is reached by either. Tallies written before this
revision counted a connected callback as 接続完了: if any tallied call is a callback, the
tallies are emptied and every call is counted again by the next catch-up (callbacks only
exist since 0012, so on a database upgraded from before it nothing is recounted).

Revision ID: 0013_callback_tallies
Revises: 0012_callback
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_callback_tallies"
down_revision: str | None = "0012_callback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "abandoned_callback",
    "callbacks_requested",
    "callbacks_connected",
    "callbacks_failed",
    "callbacks_expired",
    "callbacks_attempted",
)


def upgrade() -> None:
    with op.batch_alter_table("call_tallies") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    _recount_if_callbacks_tallied()


def downgrade() -> None:
    # 0012 counted a callback's conversation as 接続完了: its tallies are counted again.
    _recount_if_callbacks_tallied()
    with op.batch_alter_table("call_tallies") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)


def _recount_if_callbacks_tallied() -> None:
    """Empty the tallies (the next catch-up counts every call again) if a callback is in them."""
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM calls WHERE callback_at IS NOT NULL AND tallied <> 0 LIMIT 1")
    )
    if found.first() is None:
        return
    for table in ("call_tallies", "caller_days", "caller_day_totals"):
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(sa.text("UPDATE calls SET tallied = 0 WHERE tallied <> 0"))
