"""Weekly monitoring reports: listed for the data team and auditors, opened as HTML, run on demand."""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from data.calendar import SchoolCalendar
from data.context import DeploymentContext
from data.rounds import RoundResponse, round_responses
from data.store import load_raw_tables, read_table
from data.vocabulary import LEVEL_NL, REGIONAL_VSV_TARGETS
from monitoring.config import load_config
from monitoring.effect_reports import load_results
from monitoring.trend import load_trend
from monitoring.weekly import ReportEntry, list_reports, monitor_week, report_dir
from monitoring.yearly import yearly_rates
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


class YearlyRateOut(BaseModel):
    """A yearly vsv rate (see monitoring.yearly): of the students enrolled about 1 October, the share who
    left without a startkwalificatie that school year."""

    school_year: str = Field(description="e.g. 2024-2025 (from the school calendar)")
    kind: str = Field(description="all, level or team")
    group: str
    label: str
    enrolled: int
    vsv: int
    rate: float | None
    target: float | None = Field(description="The regional target for a level, else null.")
    complete: bool = Field(description="False while the school year has not ended in the store.")


def school_year_name(calendar: SchoolCalendar, index: int) -> str:
    return calendar.years[index].name if index < len(calendar.years) else f"schooljaar {index + 1}"


@router.get(
    "/yearly",
    response_model=list[YearlyRateOut],
    summary="Yearly vsv rates per school year, level and team (the national dashboards' figure)",
)
def yearly(ctx: ContextDep, guard: Reader) -> list[YearlyRateOut]:
    latest = ctx.latest_week()
    if latest is None:
        return []
    students = read_table(ctx.engine, "students")
    outcomes = read_table(ctx.engine, "outcomes")
    guard.allow([AuditEntry("read_yearly_rates")])
    return [
        YearlyRateOut(
            school_year=school_year_name(ctx.calendar, r.school_year),
            kind=r.kind,
            group=r.group,
            label=LEVEL_NL.get(int(r.group), r.group) if r.kind == "level" else r.group,
            enrolled=r.enrolled,
            vsv=r.vsv,
            rate=r.rate,
            target=REGIONAL_VSV_TARGETS.get(int(r.group)) if r.kind == "level" else None,
            complete=r.complete,
        )
        for r in yearly_rates(students, outcomes, latest)
    ]


@router.get(
    "/effects",
    response_model=list[dict[str, Any]],
    summary="The latest `vsv effect` result per measure (estimate, 95% interval, naive difference, balance, "
    "warnings)",
)
def effects(ctx: ContextDep, guard: Reader) -> list[dict[str, Any]]:
    guard.allow([AuditEntry("read_effects")])
    return load_results(ctx.reports_dir)


class TrendOut(BaseModel):
    """One weekly report's status and key figures, for the trend over the weeks (null: not measured)."""

    week: int
    status: str
    status_nl: str = Field(description="The status in the words of monitoring.status.STATUS_NL")
    alerts: list[str] = Field(description="The checks that alerted, in Dutch")
    judged: bool = Field(description="Enough matured labels to judge performance and calibration")
    roc_auc: float | None
    precision_at_k: float | None
    capacity_share: float | None = Field(description="The share of students in the top k (e.g. 0.05)")
    observed_rate: float | None
    observed_low: float | None
    observed_high: float | None
    mean_probability: float | None
    calibration_alert: bool
    drifted: int | None = Field(description="Model inputs that drifted, whatever their family")
    compared: int | None
    response_rate: float | None
    reference_response_rate: float | None
    response_alert: bool


@router.get(
    "/trend",
    response_model=list[TrendOut],
    summary="Status and key figures of the champion's weekly reports, oldest week first",
)
def trend(ctx: ContextDep, _: Reader) -> list[TrendOut]:
    return [TrendOut(**asdict(p)) for p in load_trend(ctx.reports_dir)]


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


def _rounds_of(ctx: DeploymentContext, week: int) -> list[RoundResponse]:
    with ctx.engine.connect() as conn:
        return round_responses(conn, weeks=[week])


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
    rounds = await run_in_threadpool(_rounds_of, ctx, chosen)
    try:
        await run_in_threadpool(
            partial(monitor_week, rounds=rounds),
            tables,
            model.model,
            chosen,
            audit,
            load_config(),
            ctx.questionnaire,
            out_dir,
            label,
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    guard.allow([AuditEntry("run_monitoring", week=chosen, detail=label)])
    entry = next(e for e in list_reports(ctx.reports_dir) if e.summary.parent == out_dir)
    return _out(entry)
