"""counsellor care: breaks after hard calls and after long talk, debrief requests

A line owes a break after a call marked hard (or after talk past the organisation's limit),
takes it when its wrap-up ends, and keeps how long it has talked without a pause. A hard call
opens a debrief request for the coordinators: the line, the organisation and the call's row,
never the caller's number or the record.

Revision ID: 0015_counsellor_care
Revises: 0013_callback_tallies
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0015_counsellor_care"
down_revision: str | None = "0014_caller_flags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lines") as batch:
        batch.add_column(
            sa.Column("break_owed_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("break_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("break_until", hotline.db.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("talk_run_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("talk_ended_at", hotline.db.UTCDateTime(), nullable=True))
    op.create_table(
        "debrief_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.String(48), nullable=False),
        sa.Column("line_id", sa.String(48), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", hotline.db.UTCDateTime(), nullable=True),
        sa.Column("closed_at", hotline.db.UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.String(120), nullable=True),
    )
    op.create_index("ix_debrief_requests_state", "debrief_requests", ["state", "org_id"])


def downgrade() -> None:
    op.drop_index("ix_debrief_requests_state", table_name="debrief_requests")
    op.drop_table("debrief_requests")
    with op.batch_alter_table("lines") as batch:
        for name in (
            "talk_ended_at",
            "talk_run_seconds",
            "break_until",
            "break_reason",
            "break_owed_seconds",
        ):
            batch.drop_column(name)
