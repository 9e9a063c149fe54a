"""Safeguarding alerts: questionnaire answers that ask for help go to the zorgteam at once.

An alert is raised for the help item answered 1 ("I would like to talk to someone"), and for every answer
at or beyond an item's ``alert_at_or_below`` / ``alert_at_or_above`` threshold in the questionnaire
configuration. Raising is independent of the model and of the weekly job: it runs on every ingest (and at
start-up, and with ``vsv safeguarding scan``, for answers imported another way). One alert per answer:
raising again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Table, and_, exists, func, insert, literal, select

from data.questionnaire import Questionnaire
from data.schema import QuestionnaireAnswer, SafeguardingAlert

OPEN, ACKNOWLEDGED, CLOSED = "open", "in behandeling", "gesloten"
STATUSES = (OPEN, ACKNOWLEDGED, CLOSED)


@dataclass(frozen=True)
class AlertRule:
    """Answers to ``item`` at or below (or at or above) ``threshold`` raise an alert with ``reason``."""

    item: str
    below: bool
    threshold: int
    reason: str


def alert_rules(q: Questionnaire) -> list[AlertRule]:
    """The rules of a questionnaire configuration, with their plain-Dutch reasons."""
    rules = [AlertRule(q.help_item.code, below=False, threshold=1, reason=f"{q.help_item.description}: ja")]
    for item in q.items:
        if item.alert_at_or_below is not None:
            reason = f"{item.description}: antwoord {item.alert_at_or_below} of lager"
            rules.append(AlertRule(item.code, True, item.alert_at_or_below, reason))
        if item.alert_at_or_above is not None:
            reason = f"{item.description}: antwoord {item.alert_at_or_above} of hoger"
            rules.append(AlertRule(item.code, False, item.alert_at_or_above, reason))
    return rules


def raise_alerts(conn: Connection, q: Questionnaire, since_week: int | None = None) -> int:
    """Raise alerts for alarming answers (from ``since_week`` on); returns how many were raised.

    One alert per student and item stays open until the zorgteam closes it: further alarming answers to
    the same item while it is open do not raise another (no alert fatigue), and the earliest alarming
    week is the one raised. Re-running never raises an alert twice for the same answer.
    """
    now = datetime.now(UTC)
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
        ).join(
            earliest,
            and_(
                chosen.c.student_id == earliest.c.student_id,
                chosen.c.week == earliest.c.week,
                chosen.c.item == rule.item,
            ),
        )
        columns = ["student_id", "week", "item", "value", "reason", "status", "raised_at"]
        statement = insert(alert).from_select(columns, source).returning(alert.c.alert_id)
        total += len(conn.execute(statement).all())
    return total


def first_answer_week(frames: Mapping[str, pd.DataFrame]) -> int | None:
    """The earliest week among the questionnaire answers an import parsed (alerts are raised from there)."""
    answers = frames.get("questionnaire_answers")
    if answers is None or answers.empty:
        return None
    return int(answers["week"].min())


class AlertsOnImport:
    """An ``after_write`` hook for :func:`data.csv_io.import_files`: raises alerts inside the import's
    own transaction, from the answers the import validated; ``raised`` says how many.

    It works on the parsed rows, never by re-reading the files, so no header layout, file name or
    ``--table`` choice can make it skip a call for help; if raising fails the whole import fails.
    """

    def __init__(self, questionnaire: Questionnaire) -> None:
        self.questionnaire = questionnaire
        self.since: int | None = None
        self.raised = 0

    def __call__(self, conn: Connection, frames: Mapping[str, pd.DataFrame]) -> None:
        self.since = first_answer_week(frames)
        if self.since is not None:
            self.raised = raise_alerts(conn, self.questionnaire, since_week=self.since)
