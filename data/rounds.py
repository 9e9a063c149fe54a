"""The response of questionnaire rounds, per team and round: the one set of numbers that the mentor's
page, the data team's page, the API and monitoring all read (:func:`round_responses`).

* ``students``: links in the round (the team's enrolled students when it opened);
* ``sent``: links that reached the student: an invitation e-mail accepted by the SMTP server, or a link
  handed out in the CSV of links;
* ``opened``: links whose page was opened at least once; ``answered``: links with a submitted questionnaire;
* ``reminded``: links whose reminder e-mail was sent;
* ``waiting`` and ``failed``: invitations still in the outbox, and those whose last attempt failed (an
  e-mail not yet sent when the student answers is cancelled: it counts as neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Exists

from data.schema import LinkToken, OutboxMessage, QuestionnaireRound, RoundLink

KIND_INVITE, KIND_REMINDER = "invite", "reminder"
QUEUED, SENT, FAILED = "queued", "sent", "failed"
CANCELLED = "cancelled"  # not sent: the student answered before it went out
CHANNEL_EMAIL, CHANNEL_CSV = "email", "csv"


@dataclass(frozen=True)
class RoundResponse:
    """The response of one round (one team, one week)."""

    round_id: int
    week: int
    team: str
    students: int
    sent: int
    opened: int
    answered: int
    reminded: int
    waiting: int
    failed: int

    @property
    def rate(self) -> float | None:
        """Answered as a share of the links in the round (None for an empty round)."""
        return self.answered / self.students if self.students else None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def message_in(kind: str, status: str) -> Exists:
    """The link (``round_links`` of the enclosing query) has an e-mail of ``kind`` in ``status``."""
    return exists().where(
        and_(
            OutboxMessage.link_id == RoundLink.link_id,
            OutboxMessage.kind == kind,
            OutboxMessage.status == status,
        )
    )


def reached() -> ColumnElement[bool]:
    """The link reached the student: its invitation was sent, or it was handed out in the CSV of links."""
    csv_issued = exists().where(
        and_(LinkToken.link_id == RoundLink.link_id, LinkToken.channel == CHANNEL_CSV)
    )
    return or_(message_in(KIND_INVITE, SENT), csv_issued)


def round_responses(
    bind: Session | Connection,
    weeks: Sequence[int] | None = None,
    teams: Sequence[str] | None = None,
) -> list[RoundResponse]:
    """The response of every round (of ``weeks`` and ``teams`` when given), newest week first, then team."""
    query = (
        select(
            QuestionnaireRound.round_id,
            QuestionnaireRound.week,
            QuestionnaireRound.team,
            func.count(RoundLink.link_id).label("students"),
            _count(reached()).label("sent"),
            _count(RoundLink.opened_at.is_not(None)).label("opened"),
            _count(RoundLink.answered_at.is_not(None)).label("answered"),
            _count(message_in(KIND_REMINDER, SENT)).label("reminded"),
            _count(message_in(KIND_INVITE, QUEUED)).label("waiting"),
            _count(message_in(KIND_INVITE, FAILED)).label("failed"),
        )
        .outerjoin(RoundLink, RoundLink.round_id == QuestionnaireRound.round_id)
        .group_by(QuestionnaireRound.round_id, QuestionnaireRound.week, QuestionnaireRound.team)
        .order_by(QuestionnaireRound.week.desc(), QuestionnaireRound.team)
    )
    if weeks is not None:
        query = query.where(QuestionnaireRound.week.in_(list(weeks)))
    if teams is not None:
        query = query.where(QuestionnaireRound.team.in_(list(teams)))
    return [
        RoundResponse(
            round_id=int(r.round_id),
            week=int(r.week),
            team=str(r.team),
            students=int(r.students),
            sent=int(r.sent),
            opened=int(r.opened),
            answered=int(r.answered),
            reminded=int(r.reminded),
            waiting=int(r.waiting),
            failed=int(r.failed),
        )
        for r in bind.execute(query).all()
    ]


def total(rows: Sequence[RoundResponse], week: int, team: str = "alle teams") -> RoundResponse:
    """The rounds of ``rows`` added up into one (round_id 0), e.g. a week over all teams."""
    return RoundResponse(
        round_id=0,
        week=week,
        team=team,
        students=sum(r.students for r in rows),
        sent=sum(r.sent for r in rows),
        opened=sum(r.opened for r in rows),
        answered=sum(r.answered for r in rows),
        reminded=sum(r.reminded for r in rows),
        waiting=sum(r.waiting for r in rows),
        failed=sum(r.failed for r in rows),
    )
