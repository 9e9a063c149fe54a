"""For auditors: a stored score with its full inputs, SHAP values, base value and model version, and a
replay that recomputes it from those inputs with that model version."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status

from serving.deps import Guard, ModelStoreDep, SessionDep, require
from serving.routes.common import api_router, errors, score_or_404, student_in_reach
from serving.schemas import DifferenceOut, ExplanationOut, ReplayOut, StudentId, Week, from_record
from workflows.audit import AuditEntry
from workflows.scoring import replay
from workflows.users import EXPLAIN

router = api_router("/api/v1/explanations", ["explanations"])
Auditor = Annotated[Guard, Depends(require(EXPLAIN, "explain"))]
ERRORS = errors(404)


@router.get(
    "/{student_id}/{week}",
    response_model=ExplanationOut,
    summary="A stored score with everything it was computed from",
    responses=ERRORS,
)
def explanation(student_id: StudentId, week: Week, session: SessionDep, guard: Auditor) -> ExplanationOut:
    team = student_in_reach(session, guard, student_id, "explain", week)
    score = score_or_404(session, student_id, week)
    guard.allow([AuditEntry("explain", student_id, team, week)])
    return from_record(ExplanationOut, score)


@router.get(
    "/{student_id}/{week}/replay",
    response_model=ReplayOut,
    summary="Recompute a stored score from its stored inputs with its model version; exact comparison",
    responses=ERRORS | errors(503),
)
def replay_score(
    student_id: StudentId, week: Week, session: SessionDep, guard: Auditor, models: ModelStoreDep
) -> ReplayOut:
    team = student_in_reach(session, guard, student_id, "replay", week)
    score = score_or_404(session, student_id, week)
    try:
        model = models.version(score.model_version)
    except (LookupError, OSError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Modelversie {score.model_version} is niet te laden: {exc}",
        ) from exc
    guard.allow([AuditEntry("replay", student_id, team, week)])
    differences = replay(model.model, score)
    return ReplayOut(
        student_id=student_id,
        week=week,
        model_version=model.version,
        identical=not differences,
        differences=[DifferenceOut(field=d.field, stored=d.stored, replayed=d.replayed) for d in differences],
    )
