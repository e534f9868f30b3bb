"""lines: one presence state (offline, ready, ... away), wrap-up, missed offers; its history

Revision ID: 0007_line_presence
Revises: 0006_queue_errors
Create Date: 2026-11-28 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0007_line_presence"
down_revision: str | None = "0006_queue_errors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The old statuses in the new words: available -> ready, break -> away (break), off -> offline.
OLD_TO_NEW = (("available", "ready", None), ("break", "away", "break"), ("off", "offline", None))


def upgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("away_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("wrap_up_until", hotline.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_call_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("missed_in_row", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("after_call", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("after_reason", sa.String(length=16), nullable=True))
    lines = sa.table("lines", sa.column("status", sa.String), sa.column("away_reason", sa.String))
    for old, new, reason in OLD_TO_NEW:
        op.execute(
            lines.update().where(lines.c.status == old).values(status=new, away_reason=reason)
        )
    op.create_table(
        "line_presence_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=48), nullable=False),
        sa.Column("org_id", sa.String(length=48), nullable=False),
        sa.Column("presence", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("at", hotline.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_presence_log")),
    )
    with op.batch_alter_table("line_presence_log", schema=None) as batch_op:
        batch_op.create_index("ix_line_presence_log_line_at", ["line_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("line_presence_log", schema=None) as batch_op:
        batch_op.drop_index("ix_line_presence_log_line_at")
    op.drop_table("line_presence_log")
    lines = sa.table("lines", sa.column("status", sa.String))
    for old, new, _ in OLD_TO_NEW:
        op.execute(lines.update().where(lines.c.status == new).values(status=old))
    op.execute(
        lines.update()
        .where(lines.c.status.in_(["reserved", "ringing", "talking", "wrap_up"]))
        .values(status="available")
    )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_column("after_reason")
        batch_op.drop_column("after_call")
        batch_op.drop_column("missed_in_row")
        batch_op.drop_column("last_call_id")
        batch_op.drop_column("wrap_up_until")
        batch_op.drop_column("away_reason")
