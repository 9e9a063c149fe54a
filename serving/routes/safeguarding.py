"""Safeguarding alerts for the zorgteam: list, acknowledge, close with a note."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy import select

from data.schema import SafeguardingAlert, Student
from serving.deps import Guard, SessionDep, require
from serving.routes.common import errors, not_found
from serving.schemas import AlertCloseIn, AlertNoteIn, AlertOut
from workflows.audit import AuditEntry
from workflows.safeguarding import ACKNOWLEDGED, CLOSED, OPEN
from workflows.users import SAFEGUARDING_READ, SAFEGUARDING_WRITE

AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="alert number")]
router = APIRouter(prefix="/api/v1/safeguarding", tags=["safeguarding"])
Reader = Annotated[Guard, Depends(require(SAFEGUARDING_READ, "read_alerts"))]
Writer = Annotated[Guard, Depends(require(SAFEGUARDING_WRITE, "handle_alert"))]
ERRORS = errors(404, 409, 422)


def _out(alert: SafeguardingAlert, team: str) -> AlertOut:
    return AlertOut(
        alert_id=alert.alert_id,
        student_id=alert.student_id,
        team=team,
        week=alert.week,
        item=alert.item,
        value=alert.value,
        reason=alert.reason,
        status=alert.status,
        raised_at=alert.raised_at,
        handled_by=alert.handled_by,
        handled_at=alert.handled_at,
        note=alert.note,
    )


@router.get("/alerts", response_model=list[AlertOut], summary="Alerts, newest first")
def list_alerts(
    session: SessionDep,
    guard: Reader,
    alert_status: Annotated[
        str | None, Query(alias="status", pattern="^(open|in behandeling|gesloten)$")
    ] = OPEN,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    query = select(SafeguardingAlert, Student.team).join(
        Student, Student.student_id == SafeguardingAlert.student_id
    )
    if alert_status is not None:
        query = query.where(SafeguardingAlert.status == alert_status)
    rows = session.execute(query.order_by(SafeguardingAlert.alert_id.desc()).limit(limit)).all()
    guard.allow([AuditEntry("read_alert", a.student_id, team, a.week) for a, team in rows])
    return [_out(a, team) for a, team in rows]


def _handle(session: SessionDep, guard: Guard, alert_id: int, new_status: str, note: str | None) -> AlertOut:
    row = session.execute(
        select(SafeguardingAlert, Student.team)
        .join(Student, Student.student_id == SafeguardingAlert.student_id)
        .where(SafeguardingAlert.alert_id == alert_id)
    ).first()
    if row is None:
        raise not_found(f"Melding {alert_id} bestaat niet.")
    alert, team = row
    if alert.status == CLOSED:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"Melding {alert_id} is al gesloten.")
    guard.allow([AuditEntry("handle_alert", alert.student_id, team, alert.week, new_status)])
    alert.status = new_status
    alert.handled_by = guard.user.name
    alert.handled_at = datetime.now(UTC)
    if note:
        alert.note = note
    session.flush()
    return _out(alert, team)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertOut,
    summary="Take an alert into handling",
    responses=ERRORS,
)
def acknowledge(alert_id: AlertId, body: AlertNoteIn, session: SessionDep, guard: Writer) -> AlertOut:
    return _handle(session, guard, alert_id, ACKNOWLEDGED, body.note)


@router.post(
    "/alerts/{alert_id}/close",
    response_model=AlertOut,
    summary="Close an alert with a note",
    responses=ERRORS,
)
def close(alert_id: AlertId, body: AlertCloseIn, session: SessionDep, guard: Writer) -> AlertOut:
    return _handle(session, guard, alert_id, CLOSED, body.note)
