"""The weekly scoring job over HTTP (data team)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from serving.deps import ContextDep, Guard, ModelDep, require
from serving.routes.common import api_router, errors, not_found
from serving.schemas import ScoreWeekIn, ScoreWeekOut
from workflows.audit import AuditEntry
from workflows.users import DATA_TEAM
from workflows.weekly_job import NoStudentsError, score_week

router = api_router("/api/v1/jobs", ["weekly job"])
DataTeam = Annotated[Guard, Depends(require(DATA_TEAM, "score_week"))]


@router.post(
    "/score-week",
    response_model=ScoreWeekOut,
    summary="Score, explain and store every enrolled student for a week (replaces an earlier run)",
    responses=errors(404, 422, 503),
)
def run_score_week(body: ScoreWeekIn, ctx: ContextDep, model: ModelDep, guard: DataTeam) -> ScoreWeekOut:
    try:
        result = score_week(
            ctx.engine,
            model.model,
            model.version,
            body.week,
            ctx.questionnaire,
            chunk_students=ctx.settings.score_chunk_students,
        )
    except NoStudentsError as exc:
        raise not_found(str(exc)) from exc
    guard.allow([AuditEntry("score_week", week=body.week, detail=f"{result.students} studenten")])
    return ScoreWeekOut(
        week=result.week,
        model_version=result.model_version,
        students=result.students,
        replaced=result.replaced,
        seconds={k: round(v, 3) for k, v in result.seconds.items()},
    )
