"""Scores: on demand for a feature row (data team), and a student's stored score for a week."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from data.questionnaire import Questionnaire
from data.scores import StoredScore
from features.register import features_by_name
from models.reasons import domain_summary, questionnaire_signals
from serving.deps import ContextDep, Guard, ModelDep, SessionDep, require
from serving.queries import score_view
from serving.routes.common import api_router, errors, found_score, in_reach, not_found, student_in_reach
from serving.schemas import (
    DomainOut,
    FeatureRowIn,
    OnDemandScoreOut,
    StudentAlertOut,
    StudentId,
    StudentScoreOut,
    Week,
    from_record,
)
from workflows.audit import AuditEntry
from workflows.safeguarding import student_alerts
from workflows.scoring import score_one
from workflows.users import DATA_TEAM, READ_STUDENTS

router = api_router("/api/v1", ["scores"])
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "score_on_demand"))]
Reader = Annotated[Guard, Depends(require(READ_STUDENTS, "read_score"))]


def _check_columns(body: FeatureRowIn, expected: tuple[str, ...]) -> None:
    missing = [name for name in expected if name not in body.features]
    unknown = [name for name in body.features if name not in expected]
    errors = [
        {"type": "missing", "loc": ("body", "features", name), "msg": "model input missing", "input": None}
        for name in missing
    ] + [
        {
            "type": "extra_forbidden",
            "loc": ("body", "features", name),
            "msg": "not a model input",
            "input": None,
        }
        for name in unknown
    ]
    if errors:
        raise RequestValidationError(errors)


@router.post(
    "/scores",
    response_model=OnDemandScoreOut,
    summary="Score and explain one feature row on demand (data team)",
    responses=errors(422, 503),
)
async def score_row(body: FeatureRowIn, model: ModelDep, _: DataTeam) -> OnDemandScoreOut:
    _check_columns(body, model.model.features)
    row = await run_in_threadpool(score_one, model.model, body.features, body.insufficient_data)
    return from_record(OnDemandScoreOut, row, model_version=model.version)


@router.get(
    "/students/{student_id}/alerts",
    response_model=list[StudentAlertOut],
    summary="A student's zorgmeldingen: reason and status (the zorgteam's notes stay with the zorgteam)",
    responses=errors(404),
)
def student_alert_list(student_id: StudentId, session: SessionDep, guard: Reader) -> list[StudentAlertOut]:
    team = student_in_reach(session, guard, student_id, "read_student_alerts", None)
    guard.allow([AuditEntry("read_student_alerts", student_id, team)])
    return [StudentAlertOut.model_validate(a) for a in student_alerts(session, student_id)]


def _domains(score: StoredScore, questionnaire: Questionnaire) -> list[DomainOut]:
    """The domain balance of a score, each with this week's reasons of that domain."""
    register = features_by_name([r.feature for r in score.reasons], questionnaire)
    return [
        from_record(
            DomainOut,
            balance,
            reasons=[r.text for r in score.reasons if register[r.feature].domain == balance.domain],
        )
        for balance in domain_summary(score.shap_values)
    ]


@router.get(
    "/students/{student_id}/scores/{week}",
    response_model=StudentScoreOut,
    summary="A student's stored score for a week, with its reasons",
    responses=errors(404),
)
def student_score(
    student_id: StudentId, week: Week, session: SessionDep, ctx: ContextDep, guard: Reader
) -> StudentScoreOut:
    # One round trip: the student's current team, the score and its override (404, 403, 404 as before).
    view = score_view(session, student_id, week)
    if view is None:
        raise not_found(f"Student {student_id} is onbekend.")
    team = in_reach(guard, student_id, view.team, "read_score", week)
    score = found_score(view.score, student_id, week)
    guard.allow([AuditEntry("read_score", student_id, team, week)])
    return from_record(
        StudentScoreOut,
        score,
        team=team,
        override=view.override,
        signals=questionnaire_signals(score.feature_values, ctx.questionnaire),
        domains=_domains(score, ctx.questionnaire),
    )
