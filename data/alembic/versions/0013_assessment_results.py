"""assessment_results: results per assessment, for a school without per-period results

Issue 17: a school's system records each toets, examen or beoordeling (date, credits, passed, mark); the
features count them like per-period results, in the week of the result.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_results",
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("assessment", sa.String(length=80), nullable=False),
        sa.Column("credits", sa.Float(), nullable=False),
        sa.Column("passed", sa.SmallInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["students.student_id"]),
        sa.PrimaryKeyConstraint("student_id", "week", "assessment"),
    )


def downgrade() -> None:
    op.drop_table("assessment_results")
