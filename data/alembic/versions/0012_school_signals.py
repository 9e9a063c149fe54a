"""school_signals: a college's own signals, declared in the extension register

Issue 17: a school brings the signals it has (a deprivation band, earlier attempts, credits studied
before) as declared extensions (data/extensions.py), in a long table: student, week, feature, value.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 02:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_signals",
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["students.student_id"]),
        sa.PrimaryKeyConstraint("student_id", "week", "feature"),
    )


def downgrade() -> None:
    op.drop_table("school_signals")
