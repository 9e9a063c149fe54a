"""A student's case: the actions mentors and the zorgteam record, who follows them up and by when, and what
came of them. Shared by the API and the pages (one implementation of each rule).

* An action's type is one of the college's configured types (``data/action_types.yaml``).
* A follow-up date lies on or after the Monday of the action's week; an outcome's week on or after the
  action's week. The outcome can be recorded later, and again (the latest counts); "loopt nog" keeps the
  follow-up open, with a new date when one is given.
* "Op te volgen": the open follow-ups whose date has come, of students still enrolled: overdue (before
  this school week) or due this school week. "Today" is the real date, except in a store whose latest
  school week already ended (the demo school, or a school whose exports stopped): then it is the Friday
  of that week, so the list answers for the week the data describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from data.action_types import ActionTypes
from data.calendar import SchoolCalendar, week_friday, week_monday
from data.schema import Outcome, Student, StudentAction
from data.vocabulary import ACTION_OUTCOMES

OPEN_OUTCOMES: tuple[str | None, ...] = (None, "ongoing")
FollowUpState = Literal["overdue", "this_week", "later", "none"]


class CaseError(ValueError):
    """A request that breaks a rule of the case: ``field`` names the field, ``message`` says why (Dutch)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_action_type(types: ActionTypes, code: str) -> None:
    if types.get(code) is None:
        raise CaseError("action", f"Onbekend soort actie {code!r}; bekend zijn: {', '.join(types.codes)}.")


def check_follow_up(calendar: SchoolCalendar, week: int, follow_up_on: date | None) -> None:
    """A follow-up date before the action's school week is refused."""
    if follow_up_on is not None and follow_up_on < safe_monday(calendar, week):
        raise CaseError(
            "follow_up_on", f"De opvolgdatum {follow_up_on.isoformat()} ligt vóór de week van de actie."
        )


def check_outcome(action_week: int, outcome: str, outcome_week: int) -> None:
    if outcome not in ACTION_OUTCOMES:
        raise CaseError(
            "outcome", f"Onbekende uitkomst {outcome!r}; bekend zijn: {', '.join(ACTION_OUTCOMES)}."
        )
    if outcome_week < action_week:
        raise CaseError(
            "week", f"De uitkomst (week {outcome_week}) ligt vóór de actie zelf (week {action_week})."
        )


def safe_monday(calendar: SchoolCalendar, week: int) -> date:
    """The Monday of ``week``, or the earliest date when the calendar does not cover it (no check then)."""
    try:
        return week_monday(calendar, week)
    except ValueError:
        return date.min


def store_today(calendar: SchoolCalendar, latest_week: int | None, today: date) -> date:
    """The day follow-ups are judged against (see the module's docstring)."""
    if latest_week is None:
        return today
    try:
        friday = week_friday(calendar, latest_week)
    except ValueError:
        return today
    return min(today, friday)


def follow_up_state(follow_up_on: date | None, outcome: str | None, today: date) -> FollowUpState:
    """Overdue (before this week's Monday), due this week (up to its Sunday), later, or none (no date, or
    closed with an outcome other than "loopt nog")."""
    if follow_up_on is None or outcome not in OPEN_OUTCOMES:
        return "none"
    monday = today - timedelta(days=today.weekday())
    if follow_up_on < monday:
        return "overdue"
    if follow_up_on <= monday + timedelta(days=6):
        return "this_week"
    return "later"


@dataclass(frozen=True, kw_only=True)
class NewAction:
    student_id: str
    week: int
    action: str
    note: str | None
    owner: str | None
    follow_up_on: date | None
    by: str


def check_action(types: ActionTypes, calendar: SchoolCalendar, new: NewAction) -> None:
    check_action_type(types, new.action)
    check_follow_up(calendar, new.week, new.follow_up_on)


def add_action(
    session: Session, types: ActionTypes, calendar: SchoolCalendar, new: NewAction
) -> StudentAction:
    """Record an action (checked by :func:`check_action`); the caller's transaction commits it."""
    check_action(types, calendar, new)
    action = StudentAction(
        student_id=new.student_id,
        week=new.week,
        action=new.action,
        note=new.note,
        owner=new.owner or new.by,
        follow_up_on=new.follow_up_on,
        user_name=new.by,
        at=datetime.now(UTC),
    )
    session.add(action)
    session.flush()
    return action


@dataclass(frozen=True, kw_only=True)
class ActionOutcome:
    outcome: str
    week: int
    note: str | None
    follow_up_on: date | None
    by: str


def check_result(calendar: SchoolCalendar, action: StudentAction, result: ActionOutcome) -> None:
    check_outcome(action.week, result.outcome, result.week)
    if result.follow_up_on is not None:
        check_follow_up(calendar, result.week, result.follow_up_on)


def record_outcome(
    session: Session, calendar: SchoolCalendar, action: StudentAction, result: ActionOutcome
) -> StudentAction:
    """What came of ``action``: its outcome (the latest recorded counts) and, with "loopt nog", a new
    follow-up date when one is given (checked by :func:`check_result`)."""
    check_result(calendar, action, result)
    action.outcome = result.outcome
    action.outcome_week = result.week
    action.outcome_note = result.note
    action.outcome_by = result.by
    action.outcome_at = datetime.now(UTC)
    if result.follow_up_on is not None:
        action.follow_up_on = result.follow_up_on
    session.flush()
    return action


def find_action(session: Session, student_id: str, action_id: int) -> StudentAction | None:
    action = session.get(StudentAction, action_id)
    return action if action is not None and action.student_id == student_id else None


def open_follow_ups(
    session: Session, teams: Sequence[str] | None, today: date, current_week: int | None = None
) -> list[tuple[StudentAction, str]]:
    """The open follow-ups due up to the end of ``today``'s week, oldest date first, with each student's
    current team; ``teams`` None means every team. Students who are no longer enrolled (an outcome row in
    or before ``current_week``, the school week of ``today``; any outcome row when it is None) have nothing
    left to follow up: their actions stay in the timeline, not on the list. An outcome recorded for a later
    week (a store whose data run ahead of the day judged, as a generated school's do) does not hide them."""
    sunday = today - timedelta(days=today.weekday()) + timedelta(days=6)
    left = Outcome.student_id == StudentAction.student_id
    if current_week is not None:
        left = left & (Outcome.week <= current_week)
    query = (
        select(StudentAction, Student.team)
        .join(Student, Student.student_id == StudentAction.student_id)
        .where(
            StudentAction.follow_up_on.is_not(None),
            StudentAction.follow_up_on <= sunday,
            (StudentAction.outcome.is_(None)) | (StudentAction.outcome == "ongoing"),
            ~exists().where(left),
        )
        .order_by(StudentAction.follow_up_on, StudentAction.action_id)
    )
    if teams is not None:
        query = query.where(Student.team.in_(list(teams)))
    return [(a, team) for a, team in session.execute(query).all()]
