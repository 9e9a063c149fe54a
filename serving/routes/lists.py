"""Weekly risk lists per team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from serving.audit import AuditEntry
from serving.auth import READ_STUDENTS
from serving.deps import Guard, SessionDep, require
from serving.queries import latest_actions, latest_overrides, team_scores
from serving.routes.common import errors, not_found
from serving.schemas import RiskListItemOut, RiskListOut, Week

router = APIRouter(prefix="/api/v1/risk-lists", tags=["risk lists"])
Reader = Annotated[Guard, Depends(require(READ_STUDENTS, "read_risk_list"))]


@router.get(
    "/{team}/{week}",
    response_model=RiskListOut,
    summary="A team's risk list for a week: sorted by risk, with reasons, legal flags and latest action",
    responses=errors(404),
)
def risk_list(team: str, week: Week, session: SessionDep, guard: Reader) -> RiskListOut:
    guard.check_team(AuditEntry("read_risk_list", team=team, week=week), team)
    rows = team_scores(session, team, week)
    if not rows:
        raise not_found(f"Geen scores voor team {team} in week {week}.")
    ids = [r["student_id"] for r in rows]
    actions = latest_actions(session, ids)
    overrides = latest_overrides(session, ids, week)
    guard.allow([AuditEntry("read_risk_list", s, team, week) for s in ids])
    items = [
        RiskListItemOut(
            rank=i,
            student_id=r["student_id"],
            probability=r["probability"],
            lower=r["lower"],
            upper=r["upper"],
            band=r["band"],
            band_uncertain=r["band_uncertain"],
            override_band=o.band if (o := overrides.get(r["student_id"])) else None,
            change=r["change"],
            reasons=[reason["text"] for reason in r["reasons"]],
            flag_leerplicht_16u=r["flag_leerplicht_16u"],
            flag_4_weeks_absent=r["flag_4_weeks_absent"],
            insufficient_data=r["insufficient_data"],
            latest_action=actions.get(r["student_id"]),
        )
        for i, r in enumerate(rows, start=1)
    ]
    return RiskListOut(team=team, week=week, model_version=rows[0]["model_version"], students=items)
