"""The audit trail, for auditors: who looked at which student, when, and whether it was allowed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from data.schema import AuditLog
from serving.audit import AuditEntry
from serving.auth import AUDIT_LOG_READ
from serving.deps import Guard, SessionDep, require
from serving.schemas import AuditEntryOut

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Auditor = Annotated[Guard, Depends(require(AUDIT_LOG_READ, "read_audit_log"))]


@router.get(
    "/log",
    response_model=list[AuditEntryOut],
    summary="Audit log entries, newest first",
)
def audit_log(
    session: SessionDep,
    guard: Auditor,
    student_id: Annotated[str | None, Query(max_length=32)] = None,
    user_name: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntryOut]:
    guard.allow([AuditEntry("read_audit_log", student_id=student_id, detail=user_name)])
    query = select(AuditLog)
    if student_id is not None:
        query = query.where(AuditLog.student_id == student_id)
    if user_name is not None:
        query = query.where(AuditLog.user_name == user_name)
    rows = session.execute(query.order_by(AuditLog.audit_id.desc()).limit(limit)).scalars()
    return [AuditEntryOut.model_validate(r, from_attributes=True) for r in rows]
