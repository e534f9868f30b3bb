"""calls: the routing pass's queue order as a partial index on waiting calls

Revision ID: 0011_calls_queue
Revises: 0010_report_tallies
Create Date: 2026-11-28 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_calls_queue"
down_revision: str | None = "0010_report_tallies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("state = 'waiting'")


def upgrade() -> None:
    op.create_index(
        "ix_calls_queue",
        "calls",
        ["option_id", "language", sa.text("priority DESC"), "waiting_since", "id"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_calls_queue", table_name="calls")
