"""codes of real school exports: a route "onbekend" and the outcome "completed_no_sq" fit their columns

Issue 17: every enumeration of the data contract takes "overig" and "onbekend", and an enrolment may end
"completed_no_sq" (completed without a startkwalificatie). students.route was VARCHAR(3) (BOL, BBL) and
outcomes.outcome VARCHAR(12); both are widened (PostgreSQL enforces the length; SQLite does not, and its
tables are left as they are rather than rebuilt).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WIDENED = (("students", "route", 3, 10), ("outcomes", "outcome", 12, 20))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, old, new in WIDENED:
        op.alter_column(table, column, type_=sa.String(length=new), existing_type=sa.String(length=old))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, old, new in WIDENED:
        op.alter_column(table, column, type_=sa.String(length=old), existing_type=sa.String(length=new))
