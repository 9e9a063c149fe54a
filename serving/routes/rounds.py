"""The response of the questionnaire rounds Vroegsignaal asks itself: per team and round (counts only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from data.calendar import week_label_or_fallback
from data.rounds import RoundResponse, round_responses
from serving.deps import ContextDep, Guard, SessionDep, require
from serving.routes.common import api_router
from serving.schemas import OptionalWeekQuery, TeamName
from workflows.audit import AuditEntry
from workflows.users import ROUND_RESPONSE_READ, CurrentUser

router = api_router("/api/v1/rounds", ["questionnaire rounds"])
Reader = Annotated[Guard, Depends(require(ROUND_RESPONSE_READ, "read_round_response"))]


class RoundResponseOut(BaseModel):
    """One round (a team's questionnaire of one week): links, and how far the students got."""

    week: int
    week_label: str = Field(description="the school week as people read it")
    team: str
    students: int = Field(description="personal links in the round (the team's enrolled students)")
    sent: int = Field(
        description="links that reached the student (e-mail accepted, or handed out in the CSV)"
    )
    opened: int
    answered: int
    reminded: int
    waiting: int = Field(description="invitations still in the outbox")
    failed: int = Field(description="invitations whose last attempt failed (retried by `vsv rounds send`)")
    response_rate: float | None = Field(description="answered / students")


def visible_rounds(user: CurrentUser, rows: list[RoundResponse]) -> list[RoundResponse]:
    """The rounds of the teams ``user`` may see (a mentor: own teams)."""
    return [r for r in rows if user.may_see_team(r.team)]


@router.get(
    "", response_model=list[RoundResponseOut], summary="Response per team and round (a mentor: own teams)"
)
def rounds(
    session: SessionDep,
    ctx: ContextDep,
    guard: Reader,
    week: OptionalWeekQuery = None,
    team: Annotated[TeamName | None, Query(description="only this team")] = None,
) -> list[RoundResponseOut]:
    if team is not None:
        guard.check_team(AuditEntry("read_round_response", team=team, week=week), team)
    found = visible_rounds(
        guard.user,
        round_responses(session, weeks=[week] if week is not None else None, teams=[team] if team else None),
    )
    guard.allow([AuditEntry("read_round_response", team=team, week=week, detail=f"{len(found)} rondes")])
    return [
        RoundResponseOut(
            week=r.week,
            week_label=week_label_or_fallback(ctx.calendar, r.week),
            team=r.team,
            students=r.students,
            sent=r.sent,
            opened=r.opened,
            answered=r.answered,
            reminded=r.reminded,
            waiting=r.waiting,
            failed=r.failed,
            response_rate=r.rate,
        )
        for r in found
    ]
