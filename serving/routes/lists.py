"""Weekly risk lists per team."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query

from models.reasons import questionnaire_signals
from serving.deps import ContextDep, Guard, SessionDep, require
from serving.queries import team_list
from serving.routes.common import api_router, errors, not_found
from serving.schemas import BandName, RiskListItemOut, RiskListOut, TeamName, Week, from_record
from workflows.audit import AuditEntry
from workflows.identity import name_fields
from workflows.risk_list import alerts_first, filtered, new_this_week, shown_band, visible_to
from workflows.users import READ_STUDENTS

router = api_router("/api/v1/risk-lists", ["risk lists"])
Reader = Annotated[Guard, Depends(require(READ_STUDENTS, "read_risk_list"))]


@router.get(
    "/{team}/{week}",
    response_model=RiskListOut,
    summary="A team's risk list for a week: sorted by risk, with reasons, legal flags and latest action",
    responses=errors(404),
)
def risk_list(
    team: TeamName,
    week: Week,
    session: SessionDep,
    ctx: ContextDep,
    guard: Reader,
    band: Annotated[BandName | None, Query(description="only this (shown) band")] = None,
    new_only: Annotated[bool, Query(description="only students new in verhoogd or hoog this week")] = False,
    order: Annotated[
        Literal["risk", "alerts_first"], Query(description="by risk rank, or open zorgmeldingen first")
    ] = "risk",
) -> RiskListOut:
    # The team asked for must be the user's; its rows are the students *now* in that team (in any week).
    guard.check_team(AuditEntry("read_risk_list", team=team, week=week), team)
    listed = team_list(session, guard.user, team, week)  # one round trip
    rows = visible_to(guard.user, listed.scores)
    if not rows:
        raise not_found(f"Geen scores voor team {team} in week {week}.")
    last_week = {sid: shown_band(band, override) for sid, (band, override) in listed.last_week.items()}
    items = []
    for rank, row in enumerate(rows, start=1):
        override_band = listed.override_bands.get(row.student_id)
        shown = shown_band(row.band, override_band)
        items.append(
            from_record(
                RiskListItemOut,
                row,
                rank=rank,
                override_band=override_band,
                latest_action=listed.actions.get(row.student_id),
                shown_band=shown,
                new_this_week=new_this_week(shown, last_week.get(row.student_id)),
                open_alert=row.student_id in listed.alerts,
                alert_reasons=listed.alerts.get(row.student_id, []),
                signals=questionnaire_signals(row.feature_values, ctx.questionnaire),
                **name_fields(listed.names, row.student_id),
            )
        )
    items = filtered(items, band, new_only)
    if order == "alerts_first":
        items = alerts_first(items)
    guard.allow([AuditEntry("read_risk_list", team=team, week=week, students=[i.student_id for i in items])])
    return RiskListOut(team=team, week=week, model_version=rows[0].model_version, students=items)
