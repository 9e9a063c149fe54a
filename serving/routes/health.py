"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from data.store import TABLE_ORDER, current_tables, schema_problem
from serving.deps import EngineDep, ModelStoreDep
from serving.schemas import HealthOut, ReadinessOut

router = APIRouter(tags=["health"])
SERVING_TABLES = ("users", "audit_log", "scores", "safeguarding_alerts")


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadinessOut,
    summary="Readiness: store migrated and reachable, model loaded (503 otherwise)",
    responses={503: {"model": ReadinessOut, "description": "Not ready: see `problems`"}},
)
def ready(engine: EngineDep, models: ModelStoreDep, response: Response) -> ReadinessOut:
    problems: list[str] = []
    database = True
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        missing = sorted({*TABLE_ORDER, *SERVING_TABLES} - current_tables(engine))
        if missing:
            problems.append(f"de database mist tabellen {missing}: voer `vsv db upgrade` uit")
        elif (behind := schema_problem(engine)) is not None:
            problems.append(f"database niet bijgewerkt ({behind})")
    except Exception as exc:
        database = False
        problems.append(f"database niet bereikbaar: {type(exc).__name__}")
    current = models.current
    if current is None:
        problems.append(f"geen model geladen{': ' + models.load_error if models.load_error else ''}")
    if problems:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessOut(
        ready=not problems,
        database=database,
        model_loaded=current is not None,
        model_version=current.version if current else None,
        problems=problems,
    )
