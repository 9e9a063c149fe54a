"""Coachklas intake: the highest-need candidates for the free places, and the coordinator's decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, status
from sqlalchemy import select

from data.schema import CoachklasDecision, CoachklasPlacement, Student
from data.vocabulary import DECISION_PLACED, PLACEMENT_OUTCOME_NL
from serving.deps import Guard, GuardDep, SessionDep, require
from serving.queries import decided_students, latest_decisions, latest_overrides, top_scores, week_is_scored
from serving.routes.common import api_router, errors, field_error, not_found, score_or_404, student_in_reach
from serving.schemas import (
    CandidateOut,
    CandidatesOut,
    CapacityIn,
    CapacityOut,
    DecisionIn,
    DecisionOut,
    IntakeOut,
    OptionalWeekQuery,
    PlacementEndIn,
    PlacementOut,
    WeekQuery,
    from_record,
)
from workflows import coachklas as rules
from workflows.audit import AuditEntry
from workflows.coachklas import candidates_to_show
from workflows.identity import display_names, name_fields
from workflows.users import COACHKLAS_READ, COACHKLAS_WRITE, CurrentUser

router = api_router("/api/v1/coachklas", ["coachklas"])
Reader = Annotated[Guard, Depends(require(COACHKLAS_READ, "read_coachklas"))]
Writer = Annotated[Guard, Depends(require(COACHKLAS_WRITE, "write_coachklas"))]
ERRORS = errors(404, 422)
CONFLICT_ERRORS = errors(404, 409, 422)


def _decision_out(d: CoachklasDecision) -> DecisionOut:
    return DecisionOut(
        decision_id=d.decision_id,
        student_id=d.student_id,
        week=d.week,
        decision=d.decision,
        reason=d.reason,
        by=d.user_name,
        at=d.at,
    )


@router.get(
    "/candidates",
    response_model=CandidatesOut,
    summary="Candidates for the free places, ranked by need (placed and refused students left out)",
    responses=ERRORS,
)
def candidates(
    week: WeekQuery,
    places: Annotated[int, Query(ge=1, le=500, description="Free places in the coachklas.")],
    session: SessionDep,
    guard: Reader,
) -> CandidatesOut:
    if not week_is_scored(session, week):
        raise not_found(f"Week {week} is nog niet gescoord.")
    rows = top_scores(session, week, decided_students(session, week), places)
    ids = [r.student_id for r in rows]
    overrides = latest_overrides(session, ids, week)
    decisions = latest_decisions(session, ids)
    names = display_names(session, guard.user, ids)  # empty for the roles that see no names
    guard.allow([AuditEntry("read_coachklas_candidates", week=week, students=ids)])
    out = [
        from_record(
            CandidateOut,
            r,
            rank=i,
            override_band=o.band if (o := overrides.get(r.student_id)) else None,
            previous_decision=decisions.get(r.student_id),
            **name_fields(names, r.student_id),
        )
        for i, r in enumerate(rows, start=1)
    ]
    return CandidatesOut(week=week, places=places, candidates=out)


def _placement_error(exc: rules.PlacementError, body: object) -> Exception:
    if exc.conflict:
        return HTTPException(status.HTTP_409_CONFLICT, detail=exc.message)
    return field_error(exc.field, exc.message, body)


@router.post(
    "/decisions",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a decision on a candidate: placed (starts a placement that week), not placed or later",
    responses=CONFLICT_ERRORS,
)
def decide(body: DecisionIn, session: SessionDep, guard: GuardDep) -> DecisionOut:
    # The role is checked here, after the body, so that a refusal is logged with the student concerned.
    guard.check_role(COACHKLAS_WRITE, AuditEntry("coachklas_decision", body.student_id, None, body.week))
    team = student_in_reach(session, guard, body.student_id, "coachklas_decision", body.week)
    score_or_404(session, body.student_id, body.week)
    placing = body.decision.value == DECISION_PLACED
    if placing:  # checked before the audit entry and the writes (the decision and the place, or neither)
        try:
            rules.check_place(session, body.student_id, body.week)
        except rules.PlacementError as exc:
            raise _placement_error(exc, body.model_dump(mode="json")) from None
    guard.allow([AuditEntry("coachklas_decision", body.student_id, team, body.week, body.decision.value)])
    decision = CoachklasDecision(
        student_id=body.student_id,
        week=body.week,
        decision=body.decision.value,
        reason=body.reason,
        user_name=guard.user.name,
        at=datetime.now(UTC),
    )
    session.add(decision)
    session.flush()
    if placing:
        rules.start_placement(
            session,
            student_id=body.student_id,
            week=body.week,
            decision_id=decision.decision_id,
            note=body.reason,
            by=guard.user.name,
        )
    return _decision_out(decision)


def _capacity_out(c: rules.Capacity) -> CapacityOut:
    return CapacityOut(
        week=c.week, capacity=c.places, stored=c.stored, from_week=c.from_week, set_by=c.set_by
    )


@router.get("/capacity", response_model=CapacityOut, summary="The coachklas capacity in force in a week")
def capacity(week: WeekQuery, session: SessionDep, guard: Reader) -> CapacityOut:
    guard.allow([AuditEntry("read_coachklas_capacity", week=week)])
    return _capacity_out(rules.capacity_at(session, week))


@router.post(
    "/capacity",
    response_model=CapacityOut,
    status_code=status.HTTP_201_CREATED,
    summary="Set the number of places from a week on (not below the places already taken); audited",
    responses=ERRORS,
)
def set_capacity(body: CapacityIn, session: SessionDep, guard: Writer) -> CapacityOut:
    try:
        rules.check_capacity(session, body.from_week, body.capacity)
    except rules.PlacementError as exc:
        raise _placement_error(exc, body.model_dump(mode="json")) from None
    guard.allow(
        [AuditEntry("set_coachklas_capacity", week=body.from_week, detail=f"{body.capacity} plaatsen")]
    )
    stored = rules.set_capacity(
        session, from_week=body.from_week, places=body.capacity, reason=body.reason, by=guard.user.name
    )
    return _capacity_out(stored)


def placements_out(
    session: SessionDep, user: CurrentUser, placements: list[CoachklasPlacement], week: int | None
) -> list[PlacementOut]:
    ids = [p.student_id for p in placements]
    teams = dict(
        session.execute(select(Student.student_id, Student.team).where(Student.student_id.in_(ids))).all()
    )
    names = display_names(session, user, ids)
    return [
        PlacementOut(
            placement_id=p.placement_id,
            student_id=p.student_id,
            team=teams.get(p.student_id, ""),
            start_week=p.start_week,
            end_week=p.end_week,
            outcome=p.outcome,
            outcome_label=PLACEMENT_OUTCOME_NL.get(p.outcome) if p.outcome else None,
            note=p.note,
            by=p.user_name,
            weeks=max(
                0, (p.end_week if p.end_week is not None else (week or p.start_week)) - p.start_week + 1
            ),
            **name_fields(names, p.student_id),
        )
        for p in placements
    ]


@router.get(
    "/placements",
    response_model=list[PlacementOut],
    summary="Who is in the coachklas in a week (default: every placement, newest start first)",
    responses=ERRORS,
)
def placements(session: SessionDep, guard: Reader, week: OptionalWeekQuery = None) -> list[PlacementOut]:
    rows = rules.placements_at(session, week) if week is not None else rules.placement_history(session)
    guard.allow([AuditEntry("read_coachklas_placements", week=week, students=[p.student_id for p in rows])])
    return placements_out(session, guard.user, rows, week)


@router.post(
    "/placements/{placement_id}/end",
    response_model=PlacementOut,
    summary="End a placement (its last week in the class) with its outcome",
    responses=CONFLICT_ERRORS,
)
def end_placement(
    placement_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PlacementEndIn,
    session: SessionDep,
    guard: Writer,
) -> PlacementOut:
    placement = session.get(CoachklasPlacement, placement_id)
    if placement is None:
        raise not_found(f"Plaatsing {placement_id} is onbekend.")
    team = student_in_reach(session, guard, placement.student_id, "end_coachklas_placement", body.end_week)
    try:
        rules.check_end(placement, body.end_week, body.outcome.value)
    except rules.PlacementError as exc:
        raise _placement_error(exc, body.model_dump(mode="json")) from None
    guard.allow(
        [AuditEntry("end_coachklas_placement", placement.student_id, team, body.end_week, body.outcome.value)]
    )
    rules.end_placement(
        session,
        placement,
        end_week=body.end_week,
        outcome=body.outcome.value,
        note=body.note,
        by=guard.user.name,
    )
    return placements_out(session, guard.user, [placement], body.end_week)[0]


@router.get(
    "/intake",
    response_model=IntakeOut,
    summary="The week's intake against the stored capacity: who is in the class, free places, candidates",
    responses=ERRORS,
)
def intake(week: WeekQuery, session: SessionDep, guard: Reader) -> IntakeOut:
    decisions = decisions_of_week(week, session, guard)
    cap = rules.capacity_at(session, week)
    in_class = rules.placements_at(session, week)
    # Who is in the class is shown too: one entry naming them (the candidates and decisions log their own).
    shown = [p.student_id for p in in_class]
    guard.allow([AuditEntry("read_coachklas_placements", week=week, students=shown)])
    free = max(cap.places - len(in_class), 0)
    ranked = candidates(week, candidates_to_show(free), session, guard)
    return IntakeOut(
        week=week,
        capacity=_capacity_out(cap),
        occupied=len(in_class),
        free=free,
        placed=placements_out(session, guard.user, in_class, week),
        decisions=decisions,
        candidates=ranked.candidates,
    )


@router.get("/decisions", response_model=list[DecisionOut], summary="Decisions of a week", responses=ERRORS)
def decisions_of_week(week: WeekQuery, session: SessionDep, guard: Reader) -> list[DecisionOut]:
    rows = list(
        session.execute(
            select(CoachklasDecision)
            .where(CoachklasDecision.week == week)
            .order_by(CoachklasDecision.decision_id)
        ).scalars()
    )
    guard.allow([AuditEntry("read_coachklas_decisions", week=week, students=[d.student_id for d in rows])])
    return [_decision_out(d) for d in rows]
