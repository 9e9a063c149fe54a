"""Coachklas intake: the highest-need candidates for the free places, and the coordinator's decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, status
from sqlalchemy import select

from data.schema import CoachklasDecision
from serving.deps import Guard, GuardDep, SessionDep, require
from serving.queries import decided_students, latest_decisions, latest_overrides, top_scores, week_is_scored
from serving.routes.common import api_router, errors, not_found, score_or_404, student_in_reach
from serving.schemas import (
    CandidateOut,
    CandidatesOut,
    DecisionIn,
    DecisionOut,
    IntakeOut,
    WeekQuery,
    from_record,
)
from workflows.audit import AuditEntry
from workflows.coachklas import DEFAULT_CAPACITY, candidates_to_show, free_places, placed
from workflows.identity import display_names, name_fields
from workflows.users import COACHKLAS_READ, COACHKLAS_WRITE

router = api_router("/api/v1/coachklas", ["coachklas"])
Reader = Annotated[Guard, Depends(require(COACHKLAS_READ, "read_coachklas"))]
ERRORS = errors(404, 422)


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
    guard.allow([AuditEntry("read_coachklas_candidates", r.student_id, r.team, week) for r in rows])
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


@router.post(
    "/decisions",
    response_model=DecisionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record a decision on a candidate: placed, not placed or later, with a reason",
    responses=ERRORS,
)
def decide(body: DecisionIn, session: SessionDep, guard: GuardDep) -> DecisionOut:
    # The role is checked here, after the body, so that a refusal is logged with the student concerned.
    guard.check_role(COACHKLAS_WRITE, AuditEntry("coachklas_decision", body.student_id, None, body.week))
    team = student_in_reach(session, guard, body.student_id, "coachklas_decision", body.week)
    score_or_404(session, body.student_id, body.week)
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
    return _decision_out(decision)


@router.get(
    "/intake",
    response_model=IntakeOut,
    summary="The week's intake against a capacity: places taken, free places, and the ranked candidates",
    responses=ERRORS,
)
def intake(
    week: WeekQuery,
    session: SessionDep,
    guard: Reader,
    capacity: Annotated[
        int, Query(ge=1, le=500, description="Places in the coachklas (default 12).")
    ] = DEFAULT_CAPACITY,
) -> IntakeOut:
    decisions = decisions_of_week(week, session, guard)
    free = free_places(capacity, decisions)
    ranked = candidates(week, candidates_to_show(free), session, guard)
    return IntakeOut(
        week=week,
        capacity=capacity,
        free=free,
        placed=placed(decisions),
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
    guard.allow([AuditEntry("read_coachklas_decisions", d.student_id, None, week) for d in rows])
    return [_decision_out(d) for d in rows]
