"""Safeguarding alerts (zorgmeldingen): questionnaire answers that ask for help go to the zorgteam at once.

An alert is raised for the help item answered 1 ("I would like to talk to someone"), and for every answer
at or beyond an item's ``alert_at_or_below`` / ``alert_at_or_above`` threshold in the questionnaire
configuration. Raising is independent of the model and of the weekly job.

* **Never missed.** Imports raise alerts inside their own transaction from the rows they parsed
  (:class:`AlertsOnImport`); if raising fails the import fails. ``vsv safeguarding scan`` and the service's
  start-up scan are the repair path for answers that arrived another way.
* **Only what can still be acted on.** Only answers in the recency window (the latest
  ``alert_window_weeks`` school weeks in the store) raise an alert; older answers in a history import are
  stored and raise nothing. Alerts of students who are no longer enrolled close themselves, with that reason.
* **No flood.** One alert per student and item stays open until the zorgteam closes it.
* **Severity.** "Wil praten" first (1), then answers past a threshold (2).
* **A due time.** The same school day: 17:00 (Amsterdam time) on the day it was raised, or the next school
  day when it came in after that or in a weekend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    Connection,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from data.questionnaire import Questionnaire
from data.schema import AlertEvent, Outcome, QuestionnaireAnswer, SafeguardingAlert, Student, User
from data.store import latest_week
from workflows.users import SAFEGUARDING_WRITE

OPEN, ACKNOWLEDGED, CLOSED = "open", "in behandeling", "gesloten"
STATUSES = (OPEN, ACKNOWLEDGED, CLOSED)
ACTIVE = "actief"  # a queue filter: open or in behandeling
SEVERITY_HELP, SEVERITY_THRESHOLD = 1, 2
SEVERITY_NL = {SEVERITY_HELP: "wil praten", SEVERITY_THRESHOLD: "antwoord voorbij de drempel"}
CLOSED_HANDLED, CLOSED_LEFT = "afgehandeld", "niet meer ingeschreven"
SYSTEM_USER = "Vroegsignaal"
SCHOOL_TZ = ZoneInfo("Europe/Amsterdam")
SCHOOL_DAY_ENDS = time(17, 0)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 25, 200
ALERT_COLUMNS = ("student_id", "week", "item", "value", "reason", "status", "raised_at", "severity", "due_at")


@dataclass(frozen=True)
class AlertRule:
    """Answers to ``item`` at or below (or at or above) ``threshold`` raise an alert with ``reason``."""

    item: str
    below: bool
    threshold: int
    reason: str
    severity: int

    def met(self, value: int) -> bool:
        """Whether an answer ``value`` to the rule's item raises an alert."""
        return value <= self.threshold if self.below else value >= self.threshold


def alert_rules(q: Questionnaire) -> list[AlertRule]:
    """The rules of a questionnaire configuration, with their plain-Dutch reasons, most severe first."""
    rules = [
        AlertRule(
            q.help_item.code, below=False, threshold=1, reason=f"{q.help_item.description}: ja", severity=1
        )
    ]
    for item in q.items:
        if item.alert_at_or_below is not None:
            reason = f"{item.description}: antwoord {item.alert_at_or_below} of lager"
            rules.append(AlertRule(item.code, True, item.alert_at_or_below, reason, SEVERITY_THRESHOLD))
        if item.alert_at_or_above is not None:
            reason = f"{item.description}: antwoord {item.alert_at_or_above} of hoger"
            rules.append(AlertRule(item.code, False, item.alert_at_or_above, reason, SEVERITY_THRESHOLD))
    return rules


def due_time(raised_at: datetime) -> datetime:
    """When an alert raised at ``raised_at`` must have been picked up: the end of that school day, or of
    the next school day when it came in after the day ended or in a weekend (UTC)."""
    local = raised_at.astimezone(SCHOOL_TZ)
    day = local.date()
    if local.timetz().replace(tzinfo=None) >= SCHOOL_DAY_ENDS:
        day += timedelta(days=1)
    while day.weekday() >= 5:  # Saturday, Sunday
        day += timedelta(days=1)
    return datetime.combine(day, SCHOOL_DAY_ENDS, tzinfo=SCHOOL_TZ).astimezone(UTC)


def window_start(latest: int | None, window_weeks: int) -> int | None:
    """The first school week of the recency window ending at ``latest`` (None for an empty store)."""
    return None if latest is None else latest - window_weeks + 1


def raise_alerts(
    conn: Connection,
    q: Questionnaire,
    since_week: int | None = None,
    now: datetime | None = None,
    student_ids: Sequence[str] | None = None,
) -> int:
    """Raise alerts for alarming answers from ``since_week`` on; returns how many were raised.

    ``student_ids`` limits the scan to those students (the questionnaire page scans the one student who
    just answered, in the same request); None scans everyone.

    One alert per student and item stays open until the zorgteam closes it: further alarming answers to
    the same item while it is open do not raise another, and the earliest alarming week is the one
    raised. Re-running never raises an alert twice for the same answer. Callers pass the recency window's
    first week as ``since_week`` (see :func:`window_start`).
    """
    now = now or datetime.now(UTC)
    due = due_time(now)
    answer = QuestionnaireAnswer.__table__.alias("a")
    chosen = QuestionnaireAnswer.__table__.alias("c")
    alert: Table = SafeguardingAlert.__table__  # type: ignore[assignment]
    total = 0
    for rule in alert_rules(q):
        beyond = answer.c.value <= rule.threshold if rule.below else answer.c.value >= rule.threshold
        same_answer = exists().where(
            and_(
                alert.c.student_id == answer.c.student_id,
                alert.c.week == answer.c.week,
                alert.c.item == answer.c.item,
            )
        )
        still_open = exists().where(
            and_(
                alert.c.student_id == answer.c.student_id,
                alert.c.item == answer.c.item,
                alert.c.status != CLOSED,
            )
        )
        where = [answer.c.item == rule.item, beyond, ~same_answer, ~still_open]
        if since_week is not None:
            where.append(answer.c.week >= since_week)
        if student_ids is not None:
            where.append(answer.c.student_id.in_(list(student_ids)))
        earliest = (
            select(answer.c.student_id, func.min(answer.c.week).label("week"))
            .where(*where)
            .group_by(answer.c.student_id)
            .subquery()
        )
        source = select(
            chosen.c.student_id,
            chosen.c.week,
            chosen.c.item,
            chosen.c.value,
            literal(rule.reason),
            literal(OPEN),
            literal(now),
            literal(rule.severity),
            literal(due),
        ).join(
            earliest,
            and_(
                chosen.c.student_id == earliest.c.student_id,
                chosen.c.week == earliest.c.week,
                chosen.c.item == rule.item,
            ),
        )
        columns = [
            "student_id",
            "week",
            "item",
            "value",
            "reason",
            "status",
            "raised_at",
            "severity",
            "due_at",
        ]
        statement = insert(alert).from_select(columns, source).returning(alert.c.alert_id)
        total += len(conn.execute(statement).all())
    return total


REOPENED = "heropend"


def reopen_for_live_answer(
    conn: Connection, q: Questionnaire, student_id: str, week: int, answers: Mapping[str, int], now: datetime
) -> int:
    """Reopen the closed alerts of ``student_id`` for ``week`` whose rule the student's own answers meet
    again (one alert row per student, week and item: a call for help after the zorgteam closed the week's
    alert must not vanish). Each gets a new raise and due time and an event; returns how many."""
    alert: Table = SafeguardingAlert.__table__  # type: ignore[assignment]
    reopened = 0
    for rule in alert_rules(q):
        value = answers.get(rule.item)
        if value is None or not rule.met(value):
            continue
        other = alert.alias("other")
        open_already = exists().where(  # one alert per student and item stays open
            other.c.student_id == student_id, other.c.item == rule.item, other.c.status != CLOSED
        )
        ids = (
            conn.execute(
                update(alert)
                .where(
                    alert.c.student_id == student_id,
                    alert.c.week == week,
                    alert.c.item == rule.item,
                    alert.c.status == CLOSED,
                    ~open_already,
                )
                .values(
                    status=OPEN,
                    value=value,
                    raised_at=now,
                    due_at=due_time(now),
                    handled_by=None,
                    handled_at=None,
                    closed_reason=None,
                    assigned_to=None,
                )
                .returning(alert.c.alert_id)
            )
            .scalars()
            .all()
        )
        for alert_id in ids:
            conn.execute(
                insert(AlertEvent).values(
                    alert_id=alert_id,
                    at=now,
                    user_name=SYSTEM_USER,
                    action=REOPENED,
                    note="de student vroeg opnieuw om hulp in de vragenlijst",
                )
            )
        reopened += len(ids)
    return reopened


def close_for_leavers(conn: Connection, until_week: int | None, now: datetime | None = None) -> int:
    """Close the open alerts of students whose enrolment ended by ``until_week`` (vsv, switch or diploma),
    with that reason and an event in each alert's history; returns how many were closed."""
    if until_week is None:
        return 0
    now = now or datetime.now(UTC)
    left = select(Outcome.student_id).where(Outcome.week <= until_week)
    ids = list(
        conn.execute(
            select(SafeguardingAlert.alert_id).where(
                SafeguardingAlert.status != CLOSED, SafeguardingAlert.student_id.in_(left)
            )
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(
        update(SafeguardingAlert)
        .where(SafeguardingAlert.alert_id.in_(ids))
        .values(status=CLOSED, closed_reason=CLOSED_LEFT, handled_by=SYSTEM_USER, handled_at=now)
    )
    conn.execute(
        insert(AlertEvent),
        [
            {"alert_id": i, "at": now, "user_name": SYSTEM_USER, "action": "gesloten", "note": CLOSED_LEFT}
            for i in ids
        ],
    )
    return len(ids)


@dataclass(frozen=True)
class ScanResult:
    raised: int
    closed_for_leavers: int
    window_from_week: int | None


def scan(conn: Connection, q: Questionnaire, window_weeks: int, since_week: int | None = None) -> ScanResult:
    """Raise alerts for the recency window (from ``since_week`` when that is later) and close the alerts of
    students who left; the repair path (`vsv safeguarding scan`, the service's start-up)."""
    latest = latest_week(conn)
    start = window_start(latest, window_weeks)
    if since_week is not None and (start is None or since_week > start):
        start = since_week
    raised = raise_alerts(conn, q, start) if latest is not None else 0
    return ScanResult(raised, close_for_leavers(conn, latest), start)


def first_answer_week(frames: Mapping[str, pd.DataFrame]) -> int | None:
    """The earliest week among the questionnaire answers an import parsed (alerts are raised from there)."""
    answers = frames.get("questionnaire_answers")
    if answers is None or answers.empty:
        return None
    return int(answers["week"].min())


class AlertsOnImport:
    """An ``after_write`` hook for :func:`data.csv_io.import_files`: raises alerts inside the import's
    own transaction, from the answers the import validated, within the recency window; and closes the
    alerts of students the import records as having left. ``raised`` and ``closed`` say how many.

    It works on the parsed rows, never by re-reading the files, so no header layout, file name or
    ``--table`` choice can make it skip a call for help; if raising fails the whole import fails.
    """

    def __init__(
        self, questionnaire: Questionnaire, window_weeks: int, *, students_only: bool = False
    ) -> None:
        self.questionnaire = questionnaire
        self.window_weeks = window_weeks
        # True: answers given now (a student's own submission, in its request): scan only the students whose
        # rows were written, from their first week, whatever the recency window (they are not history).
        self.students_only = students_only
        self.since: int | None = None
        self.raised = 0
        self.closed = 0

    def __call__(self, conn: Connection, frames: Mapping[str, pd.DataFrame]) -> None:
        first = first_answer_week(frames)
        latest = latest_week(conn)
        if first is not None:
            start = window_start(latest, self.window_weeks)
            self.since = first if start is None or self.students_only else max(first, start)
            answers = frames["questionnaire_answers"]
            students = sorted(set(answers["student_id"])) if self.students_only else None
            self.raised = raise_alerts(conn, self.questionnaire, since_week=self.since, student_ids=students)
        if "outcomes" in frames or first is not None:
            self.closed = close_for_leavers(conn, latest)


# --- the zorgteam's queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What the zorgteam asks of its queue. ``status`` is ``actief`` (open or in behandeling), one of
    :data:`STATUSES`, or None for all; ``student`` matches the start of a pseudonym."""

    status: str | None = ACTIVE
    team: str | None = None
    week: int | None = None
    item: str | None = None
    assigned_to: str | None = None
    student: str | None = None


@dataclass(frozen=True)
class QueuedAlert:
    alert: SafeguardingAlert
    team: str
    overdue: bool


@dataclass(frozen=True)
class QueuePage:
    alerts: list[QueuedAlert]
    total: int
    page: int
    page_size: int
    open_count: int
    overdue_count: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class QueueCounts:
    open: int
    active: int
    overdue: int


def _conditions(f: QueueFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.status == ACTIVE:
        where.append(SafeguardingAlert.status != CLOSED)
    elif f.status is not None:
        where.append(SafeguardingAlert.status == f.status)
    if f.team:
        where.append(Student.team == f.team)
    if f.week is not None:
        where.append(SafeguardingAlert.week == f.week)
    if f.item:
        where.append(SafeguardingAlert.item == f.item)
    if f.assigned_to:
        where.append(SafeguardingAlert.assigned_to == f.assigned_to)
    if f.student:
        where.append(SafeguardingAlert.student_id.startswith(f.student.strip().lower(), autoescape=True))
    return where


def queue_counts(session: Session, now: datetime | None = None) -> QueueCounts:
    """Open, active (open or in behandeling) and overdue alerts: for the menu and the start page."""
    now = now or datetime.now(UTC)
    active = SafeguardingAlert.status != CLOSED
    row = session.execute(
        select(
            func.count().filter(SafeguardingAlert.status == OPEN),
            func.count().filter(active),
            func.count().filter(and_(active, SafeguardingAlert.due_at < now)),
        )
    ).one()
    return QueueCounts(open=int(row[0]), active=int(row[1]), overdue=int(row[2]))


def alert_queue(
    session: Session,
    f: QueueFilter,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue with the real total. Active alerts: the newest school week first, then "wil
    praten" before thresholds, then the longest waiting; closed alerts (the archive): last handled first."""
    now = now or datetime.now(UTC)
    where = _conditions(f)
    base = select(SafeguardingAlert, Student.team).join(
        Student, Student.student_id == SafeguardingAlert.student_id
    )
    counted = (
        select(func.count())
        .select_from(SafeguardingAlert)
        .join(Student, Student.student_id == SafeguardingAlert.student_id)
    )
    total = int(session.execute(counted.where(*where)).scalar_one())
    order: list[ColumnElement[Any] | InstrumentedAttribute[Any]]
    if f.status == CLOSED:
        order = [SafeguardingAlert.handled_at.desc(), SafeguardingAlert.alert_id.desc()]
    else:
        order = [
            SafeguardingAlert.week.desc(),
            SafeguardingAlert.severity,
            SafeguardingAlert.raised_at,
            SafeguardingAlert.alert_id,
        ]
    rows = session.execute(
        base.where(*where).order_by(*order).offset((page - 1) * page_size).limit(page_size)
    ).all()
    counts = queue_counts(session, now)
    alerts = [QueuedAlert(a, team, is_overdue(a, now)) for a, team in rows]
    return QueuePage(alerts, total, page, page_size, counts.open, counts.overdue)


def is_overdue(alert: SafeguardingAlert, now: datetime) -> bool:
    if alert.status == CLOSED or alert.due_at is None:
        return False
    due = alert.due_at if alert.due_at.tzinfo else alert.due_at.replace(tzinfo=UTC)
    return due < now


def alert_history(session: Session, alert_ids: Sequence[int]) -> dict[int, list[AlertEvent]]:
    """Each alert's events (assigned, taken into handling, closed), oldest first."""
    if not alert_ids:
        return {}
    events = session.execute(
        select(AlertEvent).where(AlertEvent.alert_id.in_(list(alert_ids))).order_by(AlertEvent.event_id)
    ).scalars()
    out: dict[int, list[AlertEvent]] = {}
    for event in events:
        out.setdefault(event.alert_id, []).append(event)
    return out


def record_event(session: Session, alert_id: int, user_name: str, action: str, note: str | None) -> None:
    session.add(
        AlertEvent(alert_id=alert_id, at=datetime.now(UTC), user_name=user_name, action=action, note=note)
    )


def zorg_colleagues(session: Session) -> list[str]:
    """The names of the people an alert can be given to (zorgteam and admin users with a live token)."""
    return list(
        session.execute(
            select(User.name)
            .where(User.role.in_([r.value for r in SAFEGUARDING_WRITE]), User.revoked_at.is_(None))
            .order_by(User.name)
        ).scalars()
    )


def student_alerts(session: Session, student_id: str) -> list[SafeguardingAlert]:
    """A student's alerts, newest first (callers outside the zorgteam show no notes)."""
    return list(
        session.execute(
            select(SafeguardingAlert)
            .where(SafeguardingAlert.student_id == student_id)
            .order_by(SafeguardingAlert.week.desc(), SafeguardingAlert.alert_id.desc())
        ).scalars()
    )


# The order in which a student's open alerts are shown to mentors: "wil praten" first, newest first.
OPEN_ALERT_ORDER = (SafeguardingAlert.severity, SafeguardingAlert.week.desc(), SafeguardingAlert.alert_id)


def is_open_alert() -> ColumnElement[bool]:
    """An alert that is not closed (what a mentor's list marks)."""
    return SafeguardingAlert.status != CLOSED


def open_alert_reasons(session: Session, student_ids: Sequence[str]) -> dict[str, list[str]]:
    """For mentors: the reasons of each student's alerts that are not closed (never the zorgteam's notes)."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(SafeguardingAlert.student_id, SafeguardingAlert.reason)
        .where(SafeguardingAlert.student_id.in_(list(student_ids)), is_open_alert())
        .order_by(*OPEN_ALERT_ORDER)
    ).all()
    out: dict[str, list[str]] = {}
    for student_id, reason in rows:
        out.setdefault(student_id, []).append(reason)
    return out
