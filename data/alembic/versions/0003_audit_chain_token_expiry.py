"""audit log hash chain (seq, prev_hash, entry_hash); token expiry and revocation on users

Existing audit entries are chained in audit_id order (the append-only triggers are switched off for
that one UPDATE, inside the migration's transaction, and switched on again). Existing users get no
expiry (NULL): re-issue their tokens with `vsv users add`/`vsv users revoke` to bring them under
VSV_TOKEN_TTL_DAYS.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_log_no_{op} BEFORE {OP} ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
)


def _triggers(enable: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE audit_log {'ENABLE' if enable else 'DISABLE'} TRIGGER audit_log_append_only")
        return
    for name in ("update", "delete"):
        if enable:
            op.execute(SQLITE_TRIGGER.format(op=name, OP=name.upper()))
        else:
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{name}")


def _chain_existing_entries() -> None:
    from serving.audit import GENESIS, HASHED_FIELDS, entry_hash

    bind = op.get_bind()
    columns = ", ".join(("audit_id", *HASHED_FIELDS))
    rows = bind.execute(sa.text(f"SELECT {columns} FROM audit_log ORDER BY audit_id")).mappings().all()
    if not rows:
        return
    _triggers(enable=False)
    head = GENESIS
    for seq, row in enumerate(rows, start=1):
        digest = entry_hash(row, seq, head)
        bind.execute(
            sa.text(
                "UPDATE audit_log SET seq = :seq, prev_hash = :prev, entry_hash = :hash WHERE audit_id = :id"
            ),
            {"seq": seq, "prev": head, "hash": digest, "id": row["audit_id"]},
        )
        head = digest
    _triggers(enable=True)


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("entry_hash", sa.String(length=64), nullable=True))
    _chain_existing_entries()
    op.create_index("uq_audit_log_seq", "audit_log", ["seq"], unique=True)
    op.add_column("users", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "revoked_at")
    op.drop_column("users", "expires_at")
    op.drop_index("uq_audit_log_seq", table_name="audit_log")
    # SQLite drops a column by rebuilding the table, which would lose the triggers: re-create them.
    _triggers(enable=False)
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    _triggers(enable=True)
