"""calls: queue failures in a row, for the cap on re-enqueueing

Revision ID: 0006_queue_errors
Revises: 0005_last_seen
Create Date: 2026-11-28 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0006_queue_errors"
down_revision: str | None = "0005_last_seen"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("queue_errors", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("queue_error_at", hotline.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("queue_error_at")
        batch_op.drop_column("queue_errors")
