"""caller_flags: callers flagged as repeat or abusive, by the keyed hash of the number

Revision ID: 0014_caller_flags
Revises: 0013_callback_tallies
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0014_caller_flags"
down_revision: str | None = "0013_callback_tallies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "caller_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("from_call_sid", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caller_flags")),
    )
    op.create_index("ix_caller_flags_caller_hash", "caller_flags", ["caller_hash"])
    op.create_index("ix_caller_flags_expires_at", "caller_flags", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_caller_flags_expires_at", table_name="caller_flags")
    op.drop_index("ix_caller_flags_caller_hash", table_name="caller_flags")
    op.drop_table("caller_flags")
