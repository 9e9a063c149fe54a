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

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copy of the audit chain's hash as of this revision (a migration never imports application code;
# tests/security/test_audit_chain.py checks that this copy and workflows.audit agree).
GENESIS = "0" * 64
HASHED_FIELDS = (
    "at",
    "user_id",
    "user_name",
    "role",
    "action",
    "method",
    "path",
    "student_id",
    "team",
    "week",
    "allowed",
    "detail",
)


def _timestamp(value: object) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(row: Mapping[Any, Any], seq: int, prev_hash: str) -> str:
    content: dict[str, object] = {name: row[name] for name in HASHED_FIELDS}
    content["at"] = _timestamp(row["at"])
    content["allowed"] = bool(row["allowed"])
    content["seq"] = seq
    content["prev_hash"] = prev_hash
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
