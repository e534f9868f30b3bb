"""option_closures: options an operator closed at once (emergency), until reopened

Revision ID: 0009_option_closures
Revises: 0008_sessions_audit
Create Date: 2026-11-28 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0009_option_closures"
down_revision: str | None = "0008_sessions_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "option_closures",
        sa.Column("option_id", sa.String(length=48), nullable=False),
        sa.Column("closed_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("option_id", name=op.f("pk_option_closures")),
    )


def downgrade() -> None:
    op.drop_table("option_closures")
