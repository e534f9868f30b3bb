"""calls: callback requests (issue 12) and the queue index that serves them in turn

A callback request stays the same row, in the same queue, with its waiting time and priority:
the routing pass's queue index now covers callback requests too. The number to call back is
kept sealed (the records' key) only until the callback is done or given up.

Revision ID: 0012_callback
Revises: 0011_calls_queue
Create Date: 2026-11-28 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0012_callback"
down_revision: str | None = "0011_calls_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = sa.text("state = 'waiting'")
QUEUED = sa.text("state IN ('waiting', 'callback')")
COLUMNS = ["option_id", "language", sa.text("priority DESC"), "waiting_since", "id"]


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_at", hotline.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("callback_number", sa.Text(), nullable=True))
        batch.add_column(sa.Column("callback_until", hotline.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("callback_after", hotline.db.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("callback_tries", sa.SmallInteger(), nullable=False, server_default="0")
        )
    op.drop_index("ix_calls_queue", table_name="calls")
    op.create_index(
        "ix_calls_queue", "calls", COLUMNS, postgresql_where=QUEUED, sqlite_where=QUEUED
    )


def downgrade() -> None:
    op.drop_index("ix_calls_queue", table_name="calls")
    op.create_index("ix_calls_queue", "calls", COLUMNS, postgresql_where=OLD, sqlite_where=OLD)
    with op.batch_alter_table("calls") as batch:
        for name in (
            "callback_tries",
            "callback_after",
            "callback_until",
            "callback_number",
            "callback_at",
        ):
            batch.drop_column(name)
