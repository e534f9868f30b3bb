"""conference calls: the call's conference and its parties

A connected call's caller and counsellor meet in a conference of the call's own; the call keeps
its conference's SID, the counsellor leg's CallSid and the conference's phase (talking, on hold,
consulting, three-way, handed over). Each party brought in (a third party, a supervisor) has a
row in call_parties: its kind, its directory or line id (never a number), its leg's CallSid,
its status, who asked and when.

Revision ID: 0016_conference
Revises: 0015_counsellor_care
Create Date: 2026-12-05 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotline.db

revision: str = "0016_conference"
down_revision: str | None = "0015_counsellor_care"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("conference_sid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("leg_sid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("phase", sa.String(16), nullable=True))
    op.create_table(
        "call_parties",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "call_id",
            sa.Integer(),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("target_id", sa.String(96), nullable=True),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("leg_sid", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("held", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("muted", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("coaching", sa.SmallInteger(), nullable=False, server_default="0"),
        sa.Column("asked_by", sa.String(120), nullable=True),
        sa.Column("asked_at", hotline.db.UTCDateTime(), nullable=False),
        sa.Column("joined_at", hotline.db.UTCDateTime(), nullable=True),
        sa.Column("left_at", hotline.db.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=True),
    )
    op.create_index("ix_call_parties_call", "call_parties", ["call_id", "role"])
    op.create_index("ix_call_parties_leg", "call_parties", ["leg_sid"])


def downgrade() -> None:
    op.drop_index("ix_call_parties_leg", table_name="call_parties")
    op.drop_index("ix_call_parties_call", table_name="call_parties")
    op.drop_table("call_parties")
    with op.batch_alter_table("calls") as batch:
        for name in ("phase", "leg_sid", "conference_sid"):
            batch.drop_column(name)
