"""The audit trail, for auditors: who looked at which student, when, and whether it was allowed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy import select

from data.schema import AuditLog
from serving.deps import Guard, SessionDep, require
from serving.routes.common import api_router
from serving.schemas import AuditEntryOut, Day, StudentId, UserName
from workflows.audit import AuditEntry, concerning, students_of
from workflows.users import AUDIT_LOG_READ

router = api_router("/api/v1/audit", ["audit"])
Auditor = Annotated[Guard, Depends(require(AUDIT_LOG_READ, "read_audit_log"))]


@router.get(
    "/log",
    response_model=list[AuditEntryOut],
    summary="Audit log entries, newest first",
)
def audit_log(
    session: SessionDep,
    guard: Auditor,
    student_id: Annotated[StudentId | None, Query()] = None,
    user_name: Annotated[UserName | None, Query()] = None,
    since: Annotated[Day | None, Query(description="from this day on (UTC), inclusive")] = None,
    until: Annotated[Day | None, Query(description="up to and including this day (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntryOut]:
    guard.allow([AuditEntry("read_audit_log", student_id=student_id, detail=user_name)])
    query = select(AuditLog)
    if student_id is not None:  # also the views that showed the student among others
        query = query.where(concerning(student_id))
    if user_name is not None:
        query = query.where(AuditLog.user_name == user_name)
    # The day filters are part of the query, before the limit (a filter after it would hide older days).
    if since is not None:
        query = query.where(AuditLog.at >= datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:
        query = query.where(AuditLog.at < datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC))
    rows = list(session.execute(query.order_by(AuditLog.audit_id.desc()).limit(limit)).scalars())
    named = students_of(session, [r.audit_id for r in rows])
    return [
        AuditEntryOut.model_validate(r, from_attributes=True).model_copy(
            update={"students": list(named.get(r.audit_id, ()))}
        )
        for r in rows
    ]
