"""What mentors and the zorgteam did for a student, what came of it, and band overrides (recorded beside
the model's score, which never changes); the follow-ups due; one timeline per student."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query, status
from sqlalchemy import select

from data.action_types import ActionTypes
from data.calendar import week_of_date
from data.schema import (
    AlertEvent,
    BandOverride,
    Outcome,
    SafeguardingAlert,
    Score,
    StudentAction,
)
from data.vocabulary import ACTION_OUTCOME_NL
from serving.deps import ContextDep, Guard, SessionDep, require
from serving.queries import actions_of, coachklas_decisions_of, override_out, overrides_of
from serving.routes.common import api_router, errors, field_error, not_found, score_or_404, student_in_reach
from serving.schemas import (
    ActionIn,
    ActionOut,
    ActionTypeOut,
    FollowUpOut,
    FollowUpsOut,
    OutcomeIn,
    OverrideIn,
    OverrideOut,
    StudentId,
    TeamName,
    TimelineEventOut,
)
from workflows import cases, timeline
from workflows.audit import AuditEntry
from workflows.coachklas import placement_history
from workflows.identity import display_names, name_fields
from workflows.users import READ_STUDENTS, SAFEGUARDING_READ, WRITE_ACTIONS, Role

router = api_router("/api/v1/students/{student_id}", ["actions and overrides"])
cases_router = api_router("/api/v1", ["actions and overrides"])
Writer = Annotated[Guard, Depends(require(WRITE_ACTIONS, "record"))]
Reader = Annotated[Guard, Depends(require(READ_STUDENTS, "read_actions"))]
FollowUpReader = Annotated[Guard, Depends(require(WRITE_ACTIONS, "read_follow_ups"))]
ERRORS = errors(404, 422)


def action_out(a: StudentAction, types: ActionTypes) -> ActionOut:
    return ActionOut(
        action_id=a.action_id,
        student_id=a.student_id,
        week=a.week,
        action=a.action,
        action_label=types.label(a.action),
        note=a.note,
        by=a.user_name,
        at=a.at,
        owner=a.owner,
        follow_up_on=a.follow_up_on,
        outcome=a.outcome,
        outcome_label=ACTION_OUTCOME_NL.get(a.outcome) if a.outcome else None,
        outcome_week=a.outcome_week,
        outcome_note=a.outcome_note,
        outcome_by=a.outcome_by,
    )


@cases_router.get(
    "/action-types", response_model=list[ActionTypeOut], summary="The action types this college records"
)
def action_types(ctx: ContextDep, guard: Reader) -> list[ActionTypeOut]:
    return [ActionTypeOut.model_validate(t, from_attributes=True) for t in ctx.action_types.action_types]


@router.post(
    "/actions",
    response_model=ActionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record what was done (a configured action type), with a note, who follows it up and by when",
    responses=ERRORS,
)
def record_action(
    student_id: StudentId, body: ActionIn, session: SessionDep, ctx: ContextDep, guard: Writer
) -> ActionOut:
    team = student_in_reach(session, guard, student_id, "record_action", body.week)
    new = cases.NewAction(
        student_id=student_id,
        week=body.week,
        action=body.action,
        note=body.note,
        owner=body.owner,
        follow_up_on=body.follow_up_on,
        by=guard.user.name,
    )
    try:  # checked before the audit entry (written first, on a connection of its own) and the write
        cases.check_action(ctx.action_types, ctx.calendar, new)
    except cases.CaseError as exc:
        raise field_error(exc.field, exc.message, body.model_dump(mode="json")) from None
    guard.allow([AuditEntry("record_action", student_id, team, body.week, body.action)])
    action = cases.add_action(session, ctx.action_types, ctx.calendar, new)
    return action_out(action, ctx.action_types)


@router.post(
    "/actions/{action_id}/outcome",
    response_model=ActionOut,
    summary="Record what came of an action (opgelost, loopt nog, doorverwezen, student gestopt)",
    responses=ERRORS,
)
def record_outcome(
    student_id: StudentId,
    action_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: OutcomeIn,
    session: SessionDep,
    ctx: ContextDep,
    guard: Writer,
) -> ActionOut:
    team = student_in_reach(session, guard, student_id, "record_outcome", body.week)
    action = cases.find_action(session, student_id, action_id)
    if action is None:
        raise not_found(f"Actie {action_id} van student {student_id} is onbekend.")
    result = cases.ActionOutcome(
        outcome=body.outcome.value,
        week=body.week,
        note=body.note,
        follow_up_on=body.follow_up_on,
        by=guard.user.name,
    )
    try:
        cases.check_result(ctx.calendar, action, result)
    except cases.CaseError as exc:
        raise field_error(exc.field, exc.message, body.model_dump(mode="json")) from None
    guard.allow(
        [AuditEntry("record_outcome", student_id, team, body.week, f"{action_id}: {body.outcome.value}")]
    )
    cases.record_outcome(session, ctx.calendar, action, result)
    return action_out(action, ctx.action_types)


@router.get(
    "/actions", response_model=list[ActionOut], summary="A student's recorded actions", responses=ERRORS
)
def list_actions(
    student_id: StudentId, session: SessionDep, ctx: ContextDep, guard: Reader
) -> list[ActionOut]:
    team = student_in_reach(session, guard, student_id, "read_actions", None)
    guard.allow([AuditEntry("read_actions", student_id, team)])
    return [action_out(a, ctx.action_types) for a in actions_of(session, student_id)]


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
    return [override_out(o) for o in overrides_of(session, student_id)]


@router.get(
    "/timeline",
    response_model=list[TimelineEventOut],
    summary="Everything around a student, newest first: actions and outcomes, band changes, overrides, "
    "zorgmeldingen and their handling, coachklas decisions and placements, leaving",
    responses=ERRORS,
)
def student_timeline(
    student_id: StudentId, session: SessionDep, ctx: ContextDep, guard: Reader
) -> list[TimelineEventOut]:
    team = student_in_reach(session, guard, student_id, "read_timeline", None)
    guard.allow([AuditEntry("read_timeline", student_id, team)])
    alerts = list(
        session.execute(select(SafeguardingAlert).where(SafeguardingAlert.student_id == student_id)).scalars()
    )
    alert_events = list(
        session.execute(
            select(AlertEvent).where(AlertEvent.alert_id.in_([a.alert_id for a in alerts]))
        ).scalars()
    )
    bands = [
        (int(w), str(b))
        for w, b in session.execute(
            select(Score.week, Score.band).where(Score.student_id == student_id)
        ).all()
    ]
    outcome = session.get(Outcome, student_id)
    events = [
        *timeline.action_events(actions_of(session, student_id), ctx.action_types),
        *timeline.band_changes(bands),
        *timeline.override_events(overrides_of(session, student_id)),
        *timeline.alert_events(alerts, alert_events, show_care_notes=guard.user.role in SAFEGUARDING_READ),
        *timeline.coachklas_events(
            coachklas_decisions_of(session, student_id), placement_history(session, student_id)
        ),
        *timeline.outcome_events(outcome),
    ]
    return [TimelineEventOut.model_validate(e, from_attributes=True) for e in timeline.newest_first(events)]


@cases_router.get(
    "/follow-ups",
    response_model=FollowUpsOut,
    summary="Op te volgen: open follow-ups due this school week or overdue (a mentor: own teams)",
    responses=ERRORS,
)
def follow_ups(
    session: SessionDep,
    ctx: ContextDep,
    guard: FollowUpReader,
    team: Annotated[TeamName | None, Query()] = None,
) -> FollowUpsOut:
    if team is not None:
        guard.check_team(AuditEntry("read_follow_ups", team=team), team)
    teams: list[str] | None = [team] if team is not None else None
    if teams is None and guard.user.role == Role.MENTOR:
        teams = sorted(guard.user.teams)
    today = cases.store_today(ctx.calendar, ctx.latest_week(), datetime.now(UTC).date())
    rows = cases.open_follow_ups(session, teams, today, week_of_date(ctx.calendar, today))
    names = display_names(session, guard.user, [a.student_id for a, _ in rows])
    items = [
        FollowUpOut(
            action=action_out(a, ctx.action_types),
            team=t,
            state=cases.follow_up_state(a.follow_up_on, a.outcome, today),
            **name_fields(names, a.student_id),
        )
        for a, t in rows
    ]
    guard.allow([AuditEntry("read_follow_ups", team=team, students=[i.action.student_id for i in items])])
    return FollowUpsOut(
        today=today,
        overdue=sum(i.state == "overdue" for i in items),
        this_week=sum(i.state == "this_week" for i in items),
        items=items,
    )
