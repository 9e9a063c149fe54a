"""The append-only audit trail: who asked for which student's data, when, and whether it was allowed.

Every entry is written in its own short transaction, so a denied or failed request still leaves its
trace, and an entry is written *before* data are returned: no access without a trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from data.schema import AuditLog
from serving.auth import CurrentUser


@dataclass(frozen=True)
class AuditEntry:
    """What one request did to (or asked of) one student, team or week."""

    action: str
    student_id: str | None = None
    team: str | None = None
    week: int | None = None
    detail: str | None = None


def write_audit(
    engine: Engine,
    user: CurrentUser,
    method: str,
    path: str,
    entries: Iterable[AuditEntry],
    allowed: bool,
) -> None:
    """Append ``entries`` to the audit log in one transaction."""
    now = datetime.now(UTC)
    rows = [
        {
            "at": now,
            "user_id": user.user_id,
            "user_name": user.name,
            "role": user.role.value,
            "action": e.action,
            "method": method,
            "path": path[:300],
            "student_id": e.student_id,
            "team": e.team,
            "week": e.week,
            "allowed": allowed,
            "detail": e.detail,
        }
        for e in entries
    ]
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(insert(AuditLog), rows)
