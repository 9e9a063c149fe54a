"""identities: the school's student number and name per pseudonym, kept apart from the pseudonymised tables

A new table only; nothing existing changes. The number and the names live here and nowhere else.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("student_number", sa.String(length=40), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=False),
        sa.Column("name_prefix", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["students.student_id"]),
        sa.PrimaryKeyConstraint("student_id"),
    )


def downgrade() -> None:
    op.drop_table("identities")
