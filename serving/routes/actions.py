"""What mentors did, and band overrides: recorded beside the model's score, which never changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, status
from sqlalchemy import select

from data.schema import BandOverride, StudentAction
from serving.deps import Guard, SessionDep, require
from serving.queries import override_out
from serving.routes.common import api_router, errors, score_or_404, student_in_reach
from serving.schemas import ActionIn, ActionOut, OverrideIn, OverrideOut, StudentId
from workflows.audit import AuditEntry
from workflows.users import READ_STUDENTS, WRITE_ACTIONS

router = api_router("/api/v1/students/{student_id}", ["actions and overrides"])
Writer = Annotated[Guard, Depends(require(WRITE_ACTIONS, "record"))]
Reader = Annotated[Guard, Depends(require(READ_STUDENTS, "read_actions"))]
ERRORS = errors(404, 422)


def _action_out(a: StudentAction) -> ActionOut:
    return ActionOut(
        action_id=a.action_id,
        student_id=a.student_id,
        week=a.week,
        action=a.action,
        note=a.note,
        by=a.user_name,
        at=a.at,
    )


@router.post(
    "/actions",
    response_model=ActionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record what was done: contacted, referred to the onderwijsmakelaar, coachklas, nothing needed",
    responses=ERRORS,
)
def record_action(student_id: StudentId, body: ActionIn, session: SessionDep, guard: Writer) -> ActionOut:
    team = student_in_reach(session, guard, student_id, "record_action", body.week)
    guard.allow([AuditEntry("record_action", student_id, team, body.week, body.action.value)])
    action = StudentAction(
        student_id=student_id,
        week=body.week,
        action=body.action.value,
        note=body.note,
        user_name=guard.user.name,
        at=datetime.now(UTC),
    )
    session.add(action)
    session.flush()
    return _action_out(action)


@router.get(
    "/actions", response_model=list[ActionOut], summary="A student's recorded actions", responses=ERRORS
)
def list_actions(student_id: StudentId, session: SessionDep, guard: Reader) -> list[ActionOut]:
    team = student_in_reach(session, guard, student_id, "read_actions", None)
    guard.allow([AuditEntry("read_actions", student_id, team)])
    rows = session.execute(
        select(StudentAction).where(StudentAction.student_id == student_id).order_by(StudentAction.action_id)
    ).scalars()
    return [_action_out(a) for a in rows]


@router.post(
    "/overrides",
    response_model=OverrideOut,
    status_code=status.HTTP_201_CREATED,
    summary="Override the band of a stored score with a reason (the model's score stays as it is)",
    responses=ERRORS,
)
def override_band(student_id: StudentId, body: OverrideIn, session: SessionDep, guard: Writer) -> OverrideOut:
    team = student_in_reach(session, guard, student_id, "override_band", body.week)
    score = score_or_404(session, student_id, body.week)
    guard.allow([AuditEntry("override_band", student_id, team, body.week, body.band.value)])
    override = BandOverride(
        student_id=student_id,
        week=body.week,
        model_band=score.band,
        band=body.band.value,
        reason=body.reason,
        user_name=guard.user.name,
        at=datetime.now(UTC),
    )
    session.add(override)
    session.flush()
    return override_out(override)


@router.get(
    "/overrides", response_model=list[OverrideOut], summary="A student's band overrides", responses=ERRORS
)
def list_overrides(student_id: StudentId, session: SessionDep, guard: Reader) -> list[OverrideOut]:
    team = student_in_reach(session, guard, student_id, "read_overrides", None)
    guard.allow([AuditEntry("read_overrides", student_id, team)])
    rows = session.execute(
        select(BandOverride).where(BandOverride.student_id == student_id).order_by(BandOverride.override_id)
    ).scalars()
    return [override_out(o) for o in rows]
