"""report tallies: ended calls added up per period, option, entry and Tokyo day

Revision ID: 0010_report_tallies
Revises: 0009_option_closures
Create Date: 2026-11-28 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_report_tallies"
down_revision: str | None = "0009_option_closures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNTALLIED = sa.text("tallied = 0")


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tallied", sa.SmallInteger(), server_default="0", nullable=False)
        )
    op.create_index(
        "ix_calls_untallied",
        "calls",
        ["period_id"],
        postgresql_where=UNTALLIED,
        sqlite_where=UNTALLIED,
    )
    connected = sa.text("connected_at IS NOT NULL")
    op.create_index(
        "ix_calls_connected_waits",
        "calls",
        ["period_id", "connected_at", "waiting_since"],
        postgresql_where=connected,
        sqlite_where=connected,
    )
    op.create_table(
        "call_tallies",
        sa.Column("period_id", sa.String(48), nullable=False),
        sa.Column("option_id", sa.String(48), nullable=False),
        sa.Column("entry", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "calls",
                "connected",
                "closed",
                "abandoned_menu",
                "abandoned_waiting",
                "abandoned_ringing",
                "anonymous",
                "anonymous_connected",
            )
        ),
        sa.PrimaryKeyConstraint("period_id", "option_id", "entry", "day", name="pk_call_tallies"),
    )
    op.create_table(
        "caller_days",
        sa.Column("period_id", sa.String(48), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("caller_hash", sa.String(64), nullable=False),
        sa.Column("reached", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period_id", "day", "caller_hash", name="pk_caller_days"),
    )
    op.create_table(
        "caller_day_totals",
        sa.Column("period_id", sa.String(48), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("caller_days", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period_id", "day", name="pk_caller_day_totals"),
    )


def downgrade() -> None:
    op.drop_table("caller_day_totals")
    op.drop_table("caller_days")
    op.drop_table("call_tallies")
    op.drop_index("ix_calls_connected_waits", table_name="calls")
    op.drop_index("ix_calls_untallied", table_name="calls")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("tallied")
