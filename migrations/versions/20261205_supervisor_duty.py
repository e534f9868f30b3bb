"""supervisor duty and help requests

A supervisor (role `supervisor`, a console account or an API key of the organisation) goes on
and off duty as one of the organisation's configured supervisors (`organisations[].supervisors`
in menus.yaml: whose phone a supervision dials). A counsellor's help request from a live call
goes to the supervisors on duty of the call's organisation: one row each, kept until a
supervisor takes or closes it. Never a caller's number: the call's row id and its line.

Revision ID: 0017_supervisor_duty
Revises: 0016_conference
Create Date: 2026-12-05 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0017_supervisor_duty"
down_revision: str | None = "0016_conference"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supervisor_duty",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.String(48), nullable=False),
        sa.Column("supervisor_id", sa.String(48), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("on_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("off_at", hotline.db.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_supervisor_duty_org", "supervisor_duty", ["org_id", "off_at"])
    op.create_table(
        "help_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.String(48), nullable=False),
        sa.Column(
            "call_id",
            sa.Integer(),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line_id", sa.String(48), nullable=True),
        sa.Column("asked_by", sa.String(120), nullable=False),
        sa.Column("asked_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("on_duty", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("handled_by", sa.String(120), nullable=True),
        sa.Column("handled_at", hotline.db.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_help_requests_org", "help_requests", ["org_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_help_requests_org", table_name="help_requests")
    op.drop_table("help_requests")
    op.drop_index("ix_supervisor_duty_org", table_name="supervisor_duty")
    op.drop_table("supervisor_duty")
