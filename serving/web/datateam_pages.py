"""The data team's page (``/web/datateam``): the registered versions with their metrics, champion and
challenger marked; a version compared side by side with the champion, computed by the service when asked
(the comparison ``vsv promote`` runs, on the same test rows); and the promotion of the compared version,
which runs the same check again and stores who, why and when on the version.

Every handler calls the JSON route's own function (:mod:`serving.routes.models`): same role check, same
audit entries. A comparison the check refuses is shown on the page with its Dutch reason (409).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from data.rounds import round_responses
from data.rounds import total as total_rounds
from serving.deps import ContextDep, Guard, ModelStoreDep, SessionDep
from serving.routes import models
from serving.routes.models import ComparisonOut, ModelVersionOut, TestRowCacheDep
from serving.schemas import PromoteIn
from serving.web.pages import TEMPLATES, ModelReader, Promoter, back, render
from serving.web.session import PREFIX, guard_for, protect_forms
from workflows.users import DATA_TEAM

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(protect_forms)])
Comparer = Annotated[Guard, guard_for(DATA_TEAM, "compare_models")]

ROUND_TEAMS_SHOWN = 15
# The metrics shown per version and side by side: (key, Dutch label, higher is better).
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("roc_auc", "ROC-AUC (rangorde)", True),
    ("pr_auc", "PR-AUC", True),
    ("precision_at_k", "precisie in de top {share}", True),
    ("recall_at_k", "gevonden vsv'ers in de top {share}", True),
    ("ece", "ECE (kalibratiefout)", False),
    ("brier", "Brier-score", False),
)
# Differences smaller than this are "gelijk" (side by side, the metrics are shown with four decimals).
SAME_WITHIN = 0.00005
COMPARE_TAKES = (
    "Vergelijken duurt enkele seconden tot een halve minuut: de dienst berekent de gekozen versie en de "
    "champion op alle studentweken van het testjaar. De pagina komt vanzelf terug; klik niet opnieuw."
)


# --- pure helpers -----------------------------------------------------------------------------------------


def share_text(share: float | None) -> str:
    """The capacity share as staff say it: "5%" (default 5%)."""
    points = 100 * (0.05 if share is None else share)
    return f"{points:.0f}%" if round(points, 6).is_integer() else f"{points:.1f}%".replace(".", ",")


def metric_label(key: str, share: float | None) -> str:
    label = next(text for k, text, _ in METRICS if k == key)
    return label.format(share=share_text(share))


def number3(value: float | None) -> str:
    """A metric with three decimals and a decimal comma: "0,762"."""
    return "-" if value is None else f"{value:.3f}".replace(".", ",")


def number4(value: float | None) -> str:
    """A metric side by side, with four decimals (as ``vsv promote`` prints it): "0,7620"."""
    return "-" if value is None else f"{value:.4f}".replace(".", ",")


def thousands(value: int | None) -> str:
    """A count with a thousands dot: "93.504"."""
    return "-" if value is None else f"{value:,}".replace(",", ".")


TEMPLATES.env.filters["number3"] = number3
TEMPLATES.env.filters["thousands"] = thousands


@dataclass(frozen=True)
class MetricRow:
    """One metric of a side-by-side comparison: the candidate's and the champion's value, the difference
    and whether it is better, worse or the same for the candidate."""

    label: str
    candidate: str
    champion: str
    difference: str
    verdict: str  # "beter", "slechter", "gelijk" or "" (nothing to compare with)


def metric_rows(
    comparison: dict[str, dict[str, float | None]], candidate: str, champion: str | None, share: float | None
) -> list[MetricRow]:
    """The comparison's metrics, candidate beside champion, with the difference in words."""
    mine = comparison.get(candidate, {})
    theirs = comparison.get(champion, {}) if champion is not None else {}
    rows = []
    for key, _, higher_is_better in METRICS:
        a, b = mine.get(key), theirs.get(key)
        if a is None or b is None:
            rows.append(MetricRow(metric_label(key, share), number4(a), number4(b), "-", ""))
            continue
        diff = a - b
        better = diff > 0 if higher_is_better else diff < 0
        verdict = "gelijk" if abs(diff) < SAME_WITHIN else "beter" if better else "slechter"
        shown = f"{diff:+.4f}".replace(".", ",").replace("-", "−")
        rows.append(MetricRow(metric_label(key, share), number4(a), number4(b), shown, verdict))
    return rows


def comparison_rows_count(comparison: dict[str, dict[str, float | None]]) -> tuple[int | None, int | None]:
    """(rows, vsv rows) the comparison was computed on (the same for every model)."""
    first = next(iter(comparison.values()), {})
    n, positives = first.get("n"), first.get("positives")
    return (None if n is None else int(n)), (None if positives is None else int(positives))


def label_of(comparison: dict[str, dict[str, float | None]], version: str, role: str) -> str | None:
    """The comparison's row label of ``version`` in ``role`` ("kandidaat"/"champion"), if present."""
    wanted = f"v{version} ({role})"
    return wanted if wanted in comparison else None


def choices(versions: list[ModelVersionOut]) -> list[tuple[str, str, bool]]:
    """The versions to compare with the champion (value, text, selected): every version but the champion,
    newest first; the challenger is preselected (else the newest)."""
    others = [v for v in versions if not v.is_champion]
    preferred = next((v.version for v in others if v.is_challenger), others[0].version if others else None)
    out = []
    for v in others:
        marks = " (challenger)" if v.is_challenger else ""
        made = v.registered_at.strftime("%d-%m-%Y") if v.registered_at else "datum onbekend"
        text = f"versie {v.version}{marks}, {made}, ROC-AUC {number3(v.metrics.get('roc_auc'))}"
        out.append((v.version, text, v.version == preferred))
    return out


def latest_comparison(reports_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest comparison on recent weeks written by ``vsv monitor --compare`` or ``vsv promote``."""
    found = sorted(reports_dir.glob("**/vergelijking.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    data: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    return found[-1], data


def latest_round_week(session: Session) -> dict[str, Any] | None:
    """The newest week's rounds, lowest response first, and their total (None: no rounds yet)."""
    rows = round_responses(session)
    if not rows:
        return None
    week = rows[0].week
    mine = sorted(
        (r for r in rows if r.week == week), key=lambda r: (r.rate if r.rate is not None else 0.0, r.team)
    )
    return {"week": week, "rows": mine, "total": total_rounds(mine, week)}


# --- the page -----------------------------------------------------------------------------------------------


def _comparison_view(result: ComparisonOut, share: float | None) -> dict[str, Any]:
    candidate = label_of(result.comparison, result.version, "kandidaat") or next(iter(result.comparison))
    champion = label_of(result.comparison, result.champion, "champion") if result.champion else None
    n, positives = comparison_rows_count(result.comparison)
    return {
        "result": result,
        "rows": metric_rows(result.comparison, candidate, champion, share),
        "has_champion": champion is not None,
        "n": n,
        "positives": positives,
    }


def _page(
    request: Request,
    session: Session,
    ctx: ContextDep,
    store: ModelStoreDep,
    guard: Guard,
    *,
    compared: ComparisonOut | None = None,
    refusal: str | None = None,
    chosen: str | None = None,
    status_code: int = 200,
) -> Response:
    versions = models.versions(ctx, guard)
    champion = next((v for v in versions if v.is_champion), None)
    share = next((v.capacity_share for v in versions if v.capacity_share is not None), None)
    found = latest_comparison(ctx.reports_dir)
    recent = None if found is None else found[1]
    context = {
        "title": "Datateam: modellen vergelijken en promoveren",
        "current": store.current,
        "versions": versions,
        "champion": champion,
        "choices": [(v, t, v == chosen if chosen else s) for v, t, s in choices(versions)],
        "share": share_text(share),
        "metric_keys": [(key, metric_label(key, share)) for key, _, _ in METRICS],
        "compared": None if compared is None else _comparison_view(compared, share),
        "refusal": refusal,
        "recent": recent,
        "recent_metrics": [(key, metric_label(key, share)) for key, _, _ in METRICS],
        "compare_takes": COMPARE_TAKES,
        "rounds": latest_round_week(session),
        "shown": ROUND_TEAMS_SHOWN,
        "may_promote": guard.user.role in DATA_TEAM,
    }
    return render(request, "datateam.html", guard.user, context, status_code=status_code)


@router.get("/datateam")
def datateam_page(
    request: Request, session: SessionDep, ctx: ContextDep, store: ModelStoreDep, guard: ModelReader
) -> Response:
    return _page(request, session, ctx, store, guard)


class VersionForm(BaseModel):
    """A version chosen from the list."""

    version: str = Field(pattern=r"^\d{1,6}$")


class PromoteForm(VersionForm):
    """Promotion from the data-team page: which version, and why."""

    reason: str = Field(min_length=5, max_length=500)


F = TypeVar("F", bound=BaseModel)


def _form(model: type[F], **data: str) -> F:
    """Validate a form with a Dutch 422 that says what to fix."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        detail = (
            "Geef een reden van minstens 5 tekens (hoogstens 500) voor de promotie."
            if "reason" in fields
            else "Kies een versie uit de lijst."
        )
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from exc


@router.post("/datateam/vergelijk")
def compare_page(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    store: ModelStoreDep,
    cache: TestRowCacheDep,
    guard: Comparer,
    version: Annotated[str, Form()] = "",
) -> Response:
    """The chosen version beside the champion on the same test rows, computed now (logged); a version the
    check refuses is shown with the reason (409)."""
    form = _form(VersionForm, version=version)
    try:
        result = models.compare_version(form.version, ctx, cache, guard)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_409_CONFLICT:
            raise
        return _page(
            request, session, ctx, store, guard, refusal=str(exc.detail), chosen=form.version, status_code=409
        )
    return _page(request, session, ctx, store, guard, compared=result, chosen=form.version)


@router.post("/datateam/promoveer")
def promote_model(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    store: ModelStoreDep,
    cache: TestRowCacheDep,
    guard: Promoter,
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Make the compared version champion with a reason: the check of ``vsv promote`` runs again (the data
    may have changed since the comparison); who, why, when and the comparison are stored on the version and
    logged. A refusal is shown on the page with its reason (409)."""
    form = _form(PromoteForm, version=version, reason=reason)
    body = _form(PromoteIn, reason=form.reason)
    try:
        models.promote_version(form.version, body, ctx, store, cache, guard)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_409_CONFLICT:
            raise
        return _page(
            request, session, ctx, store, guard, refusal=str(exc.detail), chosen=form.version, status_code=409
        )
    return back(PREFIX + "/datateam", "champion")
