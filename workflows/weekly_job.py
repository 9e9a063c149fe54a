"""The weekly scoring job: snapshot, score, explain and store every enrolled student for one week.

All of a week's rows are written in one transaction that first deletes that week's earlier rows: a re-run
replaces the week (idempotent), and a crash anywhere leaves the store as it was (earlier weeks, and the
week's previous rows, intact), so the job can simply be run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select

from data.questionnaire import Questionnaire
from data.schema import Score
from data.store import ensure_schema, latest_week, load_raw_tables
from features import LOOKBACK_WEEKS, snapshot
from models.risk_model import RiskModel
from workflows.scoring import score_rows

__all__ = ["NoStudentsError", "WeekResult", "latest_week", "score_week"]

BeforeWrite = Callable[[Connection, list[dict[str, Any]]], None]


class NoStudentsError(LookupError):
    """No student was enrolled in the week asked for."""


@dataclass(frozen=True)
class WeekResult:
    """What one run of the job did, with the time of each step in seconds."""

    week: int
    model_version: str
    students: int
    replaced: int
    seconds: dict[str, float] = field(default_factory=dict)


def _previous(conn: Connection, week: int) -> dict[str, float]:
    rows = conn.execute(select(Score.student_id, Score.probability).where(Score.week == week - 1)).all()
    return {student_id: probability for student_id, probability in rows}


def _with_context(
    rows: list[dict[str, Any]],
    frame: pd.DataFrame,
    teams: dict[str, str],
    previous: dict[str, float],
    week: int,
    version: str,
) -> None:
    now = datetime.now(UTC)
    for row, student_id in zip(rows, frame["student_id"].tolist(), strict=True):
        before = previous.get(student_id)
        row.update(
            student_id=student_id,
            week=week,
            team=teams[student_id],
            model_version=version,
            scored_at=now,
            previous_probability=before,
            change=None if before is None else row["probability"] - before,
        )


def score_week(
    engine: Engine,
    model: RiskModel,
    version: str,
    week: int,
    questionnaire: Questionnaire | None = None,
    before_write: BeforeWrite | None = None,
) -> WeekResult:
    """Score week ``week`` and store it, replacing any earlier run of that week.

    ``before_write`` is called inside the transaction, after the old rows are deleted (tests use it to
    simulate a crash).
    """
    ensure_schema(engine)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    tables = load_raw_tables(engine, until_week=week, since_week=week - LOOKBACK_WEEKS)
    seconds["load"] = time.perf_counter() - started
    t = time.perf_counter()
    frame = snapshot(tables, as_of=week, questionnaire=questionnaire)
    seconds["snapshot"] = time.perf_counter() - t
    if frame.empty:
        raise NoStudentsError(f"geen ingeschreven studenten in week {week}")
    t = time.perf_counter()
    scored = model.score(frame)
    seconds["score_explain"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = [computed.as_columns() for computed in score_rows(frame, scored, model)]
    teams = dict(zip(tables.students["student_id"], tables.students["team"], strict=True))
    seconds["rows"] = time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as conn:
        _with_context(rows, frame, teams, _previous(conn, week), week, version)
        replaced = conn.execute(delete(Score).where(Score.week == week)).rowcount
        if before_write is not None:
            before_write(conn, rows)
        conn.execute(insert(Score), rows)
    seconds["store"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    return WeekResult(week, version, len(rows), replaced, seconds)
