"""audit entries that name the students they showed (audit_students), append-only like audit_log

A request that shows many students (a risk list, an export, the zorgteam's queue, the coachklas
candidates) writes one audit entry; its students are rows of ``audit_students`` (audit_id, student_id),
indexed by student, written in the transaction that appends the entry and covered by the entry's hash.
Entries written before this revision keep their hash (an entry without students is hashed as before)
and their chain; nothing is rewritten. UPDATE, DELETE and TRUNCATE are refused by triggers, as on
audit_log (migrations 0002 and 0003).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "audit_students"
SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_students_no_{op} BEFORE {OP} ON audit_students "
    "BEGIN SELECT RAISE(ABORT, 'audit_students is append-only'); END"
)
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_students_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_students is append-only';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = (
    "CREATE TRIGGER audit_students_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_students "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_students_append_only()"
)


def _append_only() -> None:
    """Refuse UPDATE and DELETE (PostgreSQL: and TRUNCATE) on audit_students at the database level."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        return
    for name in ("update", "delete"):
        op.execute(SQLITE_TRIGGER.format(op=name, OP=name.upper()))


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS audit_students_append_only ON {TABLE}")
        op.execute("DROP FUNCTION IF EXISTS audit_students_append_only()")
        return
    for name in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_students_no_{name}")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_log.audit_id"]),
        sa.PrimaryKeyConstraint("audit_id", "student_id"),
    )
    op.create_index("ix_audit_students_student_id", TABLE, ["student_id", "audit_id"], unique=False)
    _append_only()


def downgrade() -> None:
    _drop_append_only()
    op.drop_index("ix_audit_students_student_id", table_name=TABLE)
    op.drop_table(TABLE)
