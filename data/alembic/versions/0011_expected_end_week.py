"""a student's own expected last week: programmes of other lengths and intakes other than September

Issue 17: a programme of 30 weeks, or a February intake, has an expected end that start_week +
expected_duration_years * 40 cannot say. students.expected_end_week is nullable: empty means that rule.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("students", sa.Column("expected_end_week", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("students") as batch:
        batch.drop_column("expected_end_week")
