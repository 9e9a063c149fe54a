"""Zorgmeldingen for the zorgteam: the queue (filters, paging, real counts), assign, take into handling,
close with a note; every step is kept in the alert's history and the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, status
from sqlalchemy import select

from data.schema import AlertEvent, SafeguardingAlert, Student, User
from serving.deps import Guard, SessionDep, require
from serving.routes.common import api_router, errors, not_found
from serving.schemas import (
    AlertAssignIn,
    AlertCloseIn,
    AlertEventOut,
    AlertNoteIn,
    AlertOut,
    AlertQueueOut,
    ItemCode,
    OptionalWeekQuery,
    StudentId,
    TeamName,
    UserName,
    from_record,
)
from workflows.audit import AuditEntry
from workflows.identity import StudentName, display_names, name_fields
from workflows.safeguarding import (
    ACKNOWLEDGED,
    ACTIVE,
    CLOSED,
    CLOSED_HANDLED,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    OPEN,
    QueueFilter,
    alert_history,
    alert_queue,
    is_overdue,
    record_event,
)
from workflows.users import SAFEGUARDING_READ, SAFEGUARDING_WRITE

AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="alert number")]
router = api_router("/api/v1/safeguarding", ["safeguarding"])
Reader = Annotated[Guard, Depends(require(SAFEGUARDING_READ, "read_alerts"))]
Writer = Annotated[Guard, Depends(require(SAFEGUARDING_WRITE, "handle_alert"))]
ERRORS = errors(404, 409, 422)


def _out(
    alert: SafeguardingAlert,
    team: str,
    now: datetime,
    events: Sequence[AlertEvent] = (),
    names: Mapping[str, StudentName] | None = None,
) -> AlertOut:
    return from_record(
        AlertOut,
        alert,
        team=team,
        overdue=is_overdue(alert, now),
        events=[AlertEventOut.model_validate(e) for e in events],
        **name_fields(names or {}, alert.student_id),
    )


def _queue_filter(
    alert_status: str | None,
    team: str | None,
    week: int | None,
    item: str | None,
    assigned_to: str | None,
    student: str | None,
) -> QueueFilter:
    return QueueFilter(
        status=None if alert_status == "alle" else alert_status,
        team=team or None,
        week=week,
        item=item or None,
        assigned_to=assigned_to or None,
        student=student or None,
    )


StatusQuery = Annotated[
    str,
    Query(
        alias="status",
        pattern="^(actief|open|in behandeling|gesloten|alle)$",
        description="actief (open or in behandeling), open, in behandeling, gesloten (the archive) or alle",
    ),
]


@router.get(
    "/queue",
    response_model=AlertQueueOut,
    summary="The zorgteam's queue: this week first, then 'wil praten', then the longest waiting; filters, "
    "paging, the real count",
)
def queue(
    session: SessionDep,
    guard: Reader,
    alert_status: StatusQuery = ACTIVE,
    team: Annotated[TeamName | None, Query()] = None,
    week: OptionalWeekQuery = None,
    item: Annotated[ItemCode | None, Query(description="questionnaire item code")] = None,
    assigned_to: Annotated[UserName | None, Query()] = None,
    student: Annotated[StudentId | None, Query(description="start of a pseudonym")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> AlertQueueOut:
    now = datetime.now(UTC)
    f = _queue_filter(alert_status, team, week, item, assigned_to, student)
    found = alert_queue(session, f, page, page_size, now)
    history = alert_history(session, [q.alert.alert_id for q in found.alerts])
    shown = [q.alert.student_id for q in found.alerts]
    names = display_names(session, guard.user, shown)  # empty for the roles that see no names
    # One entry per view, naming every student shown (the audit log's student search finds it).
    guard.allow([AuditEntry("read_alerts", students=shown)])
    return AlertQueueOut(
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        pages=found.pages,
        open_count=found.open_count,
        overdue_count=found.overdue_count,
        alerts=[_out(q.alert, q.team, now, history.get(q.alert.alert_id, []), names) for q in found.alerts],
    )


@router.get("/alerts", response_model=list[AlertOut], summary="Alerts in queue order (see /queue for paging)")
def list_alerts(
    session: SessionDep,
    guard: Reader,
    alert_status: Annotated[
        str | None, Query(alias="status", pattern="^(open|in behandeling|gesloten)$")
    ] = OPEN,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    now = datetime.now(UTC)
    found = alert_queue(session, QueueFilter(status=alert_status), 1, limit, now)
    shown = [q.alert.student_id for q in found.alerts]
    names = display_names(session, guard.user, shown)
    guard.allow([AuditEntry("read_alerts", students=shown)])
    return [_out(q.alert, q.team, now, names=names) for q in found.alerts]


def _alert(session: SessionDep, alert_id: int) -> tuple[SafeguardingAlert, str]:
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
    return alert, team


def _one_out(session: SessionDep, guard: Guard, alert: SafeguardingAlert, team: str) -> AlertOut:
    """One alert after a change, with its whole history and the name the user may see."""
    return _out(
        alert,
        team,
        datetime.now(UTC),
        alert_history(session, [alert.alert_id]).get(alert.alert_id, []),
        display_names(session, guard.user, [alert.student_id]),
    )


def _handle(session: SessionDep, guard: Guard, alert_id: int, new_status: str, note: str | None) -> AlertOut:
    alert, team = _alert(session, alert_id)
    guard.allow([AuditEntry("handle_alert", alert.student_id, team, alert.week, new_status)])
    now = datetime.now(UTC)
    alert.status = new_status
    alert.handled_by = guard.user.name
    alert.handled_at = now
    if new_status == ACKNOWLEDGED and alert.assigned_to is None:
        alert.assigned_to = guard.user.name
    if new_status == CLOSED:
        alert.closed_reason = CLOSED_HANDLED
    if note:
        alert.note = note
    record_event(session, alert.alert_id, guard.user.name, new_status, note)
    session.flush()
    return _one_out(session, guard, alert, team)


@router.post(
    "/alerts/{alert_id}/assign",
    response_model=AlertOut,
    summary="Give an alert to a colleague of the zorgteam",
    responses=ERRORS,
)
def assign(alert_id: AlertId, body: AlertAssignIn, session: SessionDep, guard: Writer) -> AlertOut:
    alert, team = _alert(session, alert_id)
    colleague = session.execute(
        select(User).where(User.name == body.to, User.role.in_([r.value for r in SAFEGUARDING_WRITE]))
    ).scalar_one_or_none()
    if colleague is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", "to"],
                    "msg": f"{body.to} is geen collega van het zorgteam",
                    "type": "value_error",
                }
            ],
        )
    guard.allow([AuditEntry("assign_alert", alert.student_id, team, alert.week, body.to)])
    alert.assigned_to = body.to
    record_event(session, alert.alert_id, guard.user.name, "toegewezen", f"aan {body.to}")
    session.flush()
    return _one_out(session, guard, alert, team)


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
