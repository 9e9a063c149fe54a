"""Weekly monitoring reports: listed for the data team and auditors, opened as HTML, run on demand."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from data.store import load_raw_tables, read_table
from monitoring.config import load_config
from monitoring.weekly import ReportEntry, list_reports, monitor_week, report_dir
from serving.deps import ContextDep, Guard, ModelDep, require
from serving.routes.common import api_router, errors
from serving.schemas import OptionalWeekQuery, PathSegment
from workflows.audit import AuditEntry
from workflows.users import DATA_TEAM, MODEL_INFO

router = api_router("/api/v1/monitoring", ["monitoring"])
Reader = Annotated[Guard, Depends(require(MODEL_INFO, "read_monitoring"))]
Runner = Annotated[Guard, Depends(require(DATA_TEAM, "run_monitoring"))]
FILES = {"rapport.html": "text/html", "drift.html": "text/html", "summary.json": "application/json"}
REPORT_NOT_FOUND = "Rapport niet gevonden: kies een bestand uit de lijst van /api/v1/monitoring/reports."
FOLDER = re.compile(r"^\d{1,5}(-[a-z]{1,20})?$")


class ReportOut(BaseModel):
    """One weekly report and where to open it."""

    week: int
    model: str
    status: str
    status_nl: str
    created_at: str
    report_url: str
    drift_url: str
    summary_url: str


def _out(entry: ReportEntry) -> ReportOut:
    base = f"/api/v1/monitoring/reports/{entry.summary.parent.name}"
    return ReportOut(
        week=entry.week,
        model=entry.model,
        status=entry.status,
        status_nl=entry.status_nl,
        created_at=entry.created_at,
        report_url=f"{base}/{entry.report.name}",
        drift_url=f"{base}/{entry.drift.name}",
        summary_url=f"{base}/{entry.summary.name}",
    )


@router.get("/reports", response_model=list[ReportOut], summary="Weekly monitoring reports, newest first")
def reports(ctx: ContextDep, _: Reader) -> list[ReportOut]:
    return [_out(e) for e in list_reports(ctx.reports_dir)]


@router.get(
    "/reports/{folder}/{name}",
    summary="Open one report file (rapport.html, drift.html or summary.json)",
    responses={
        200: {"description": "The file", "content": {"text/html": {"schema": {"type": "string"}}}},
        **errors(404),
    },
)
def report_file(folder: PathSegment, name: PathSegment, ctx: ContextDep, _: Reader) -> FileResponse:
    if not FOLDER.match(folder) or name not in FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REPORT_NOT_FOUND)
    path = ctx.reports_dir / folder / name
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REPORT_NOT_FOUND)
    return FileResponse(path, media_type=FILES[name])


@router.post(
    "/run",
    response_model=ReportOut,
    summary="Monitor a week with the model in service (default: the latest week with attendance)",
    responses=errors(404, 503),
)
async def run(
    ctx: ContextDep,
    model: ModelDep,
    guard: Runner,
    week: OptionalWeekQuery = None,
) -> ReportOut:
    last = await run_in_threadpool(ctx.latest_week)
    if last is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="er zijn nog geen weekgegevens ingelezen")
    if week is not None and week > last:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"geen gegevens voor week {week} (laatste: {last})"
        )
    chosen = week if week is not None else last
    tables = await run_in_threadpool(load_raw_tables, ctx.engine, chosen)
    audit = await run_in_threadpool(read_table, ctx.engine, "audit_attributes")
    out_dir = report_dir(ctx.reports_dir, chosen)
    label = f"{ctx.registry.model_name} v{model.version} (champion)"
    try:
        await run_in_threadpool(
            monitor_week, tables, model.model, chosen, audit, load_config(), ctx.questionnaire, out_dir, label
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    guard.allow([AuditEntry("run_monitoring", week=chosen, detail=label)])
    entry = next(e for e in list_reports(ctx.reports_dir) if e.summary.parent == out_dir)
    return _out(entry)
