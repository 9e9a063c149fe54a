"""The weekly scoring job: snapshot, score, explain and store every enrolled student for one week.

Chunked by students (``chunk_students``, :data:`DEFAULT_CHUNK_STUDENTS`): the enrolled students are split
into ranges of their pseudonym, and each range is loaded, snapshotted, scored, explained and written to a
staging table on its own, so memory is bounded by the chunk at any size of college. The week is then
swapped in by one transaction that deletes that week's earlier rows and moves the staged rows in: a re-run
replaces the week (idempotent), and a crash anywhere, in any chunk or in the swap, leaves the store as it
was (earlier weeks, and the week's previous rows, intact), so the job can simply be run again. The staging
table is a temporary table of the job's own connection: nothing of a crashed run stays behind. On
PostgreSQL the staged rows are written with ``COPY``.

One chunk is the same computation as no chunking: every feature and score is per student.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Column, Connection, Engine, MetaData, Table, insert, select, text

from data.questionnaire import Questionnaire
from data.schema import Score, Student
from data.store import StudentRange, ensure_schema, latest_week, load_raw_tables
from features import LOOKBACK_WEEKS, snapshot
from models.risk_model import RiskModel
from workflows.scoring import score_rows

__all__ = ["DEFAULT_CHUNK_STUDENTS", "NoStudentsError", "WeekResult", "latest_week", "score_week"]

# Called inside the swap's transaction, after the week's old rows are deleted and before the staged rows
# move in (tests use it to simulate a crash); it gets the connection and the staging table's name.
BeforeWrite = Callable[[Connection, str], None]
DEFAULT_CHUNK_STUDENTS = 50_000
STAGE = "stage_week_scores"
JSON_COLUMNS = ("feature_values", "shap_values", "reasons")


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


def _previous(conn: Connection, week: int, students: StudentRange) -> dict[str, float]:
    query = select(Score.student_id, Score.probability).where(Score.week == week - 1)
    low, high = students
    if low is not None:
        query = query.where(Score.student_id >= low)
    if high is not None:
        query = query.where(Score.student_id < high)
    return {student_id: probability for student_id, probability in conn.execute(query).all()}


def student_chunks(conn: Connection, week: int, chunk_students: int) -> list[StudentRange]:
    """Ranges of pseudonyms (``[low, high)``, None = open) of at most ``chunk_students`` students who had
    started by ``week`` (the snapshot decides who of them is enrolled)."""
    if chunk_students < 1:
        raise ValueError(f"chunk_students must be at least 1, got {chunk_students}")
    ids = conn.execute(
        select(Student.student_id).where(Student.start_week <= week).order_by(Student.student_id)
    ).scalars()
    firsts = [sid for i, sid in enumerate(ids) if i % chunk_students == 0]
    if not firsts:
        return []
    return [
        (None if i == 0 else low, firsts[i + 1] if i + 1 < len(firsts) else None)
        for i, low in enumerate(firsts)
    ]


def _stage_table() -> Table:
    """A temporary table shaped like ``scores`` (no foreign keys: a temporary table may not have them)."""
    columns = [
        Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key)
        for c in Score.__table__.columns
    ]
    return Table(STAGE, MetaData(), *columns, prefixes=["TEMPORARY"])


def _copy_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` into ``table``: ``COPY`` on PostgreSQL (JSON as the text SQLAlchemy would store),
    one executemany elsewhere."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    names = [c.name for c in table.columns]
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(json.dumps(row[n]) if n in JSON_COLUMNS else row[n] for n in names))
    finally:
        cursor.close()


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


@dataclass
class _Totals:
    students: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - since
        return now


def _stage_chunk(
    conn: Connection,
    stage: Table,
    model: RiskModel,
    version: str,
    week: int,
    students: StudentRange,
    questionnaire: Questionnaire | None,
    totals: _Totals,
) -> None:
    """Load, snapshot, score, explain and stage one range of students."""
    t = time.perf_counter()
    tables = load_raw_tables(
        conn.engine, until_week=week, since_week=week - LOOKBACK_WEEKS, students=students
    )
    t = totals.add("load", t)
    frame = snapshot(tables, as_of=week, questionnaire=questionnaire)
    t = totals.add("snapshot", t)
    if frame.empty:
        return
    scored = model.score(frame)
    t = totals.add("score_explain", t)
    rows = [computed.as_columns() for computed in score_rows(frame, scored, model)]
    teams = dict(zip(tables.students["student_id"], tables.students["team"], strict=True))
    _with_context(rows, frame, teams, _previous(conn, week, students), week, version)
    t = totals.add("rows", t)
    _copy_rows(conn, stage, rows)
    conn.commit()  # the temporary table only: nothing of the week is visible yet
    totals.add("stage", t)
    totals.students += len(rows)


def score_week(
    engine: Engine,
    model: RiskModel,
    version: str,
    week: int,
    questionnaire: Questionnaire | None = None,
    before_write: BeforeWrite | None = None,
    chunk_students: int = DEFAULT_CHUNK_STUDENTS,
) -> WeekResult:
    """Score week ``week`` and store it, replacing any earlier run of that week, ``chunk_students``
    students at a time (module docstring). Raises :class:`NoStudentsError` when nobody was enrolled."""
    ensure_schema(engine)
    totals = _Totals()
    started = time.perf_counter()
    stage = _stage_table()
    with engine.connect() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
        stage.create(conn)
        chunks = student_chunks(conn, week, chunk_students)
        conn.commit()
        try:
            for students in chunks:
                _stage_chunk(conn, stage, model, version, week, students, questionnaire, totals)
            if totals.students == 0:
                raise NoStudentsError(f"geen ingeschreven studenten in week {week}")
            t = time.perf_counter()
            replaced = _swap(conn, stage, week, before_write)
            totals.add("store", t)
        finally:
            conn.rollback()
            conn.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
            conn.commit()
    totals.seconds["total"] = time.perf_counter() - started
    return WeekResult(week, version, totals.students, replaced, totals.seconds)


def _swap(conn: Connection, stage: Table, week: int, before_write: BeforeWrite | None) -> int:
    """One transaction: the week's earlier rows out, the staged rows in."""
    names = ", ".join(c.name for c in stage.columns)
    with conn.begin():
        replaced = conn.execute(text("DELETE FROM scores WHERE week = :week"), {"week": week}).rowcount
        if before_write is not None:
            before_write(conn, stage.name)
        conn.execute(text(f"INSERT INTO scores ({names}) SELECT {names} FROM {stage.name}"))
    return int(replaced)
