"""Import of the staff's history: the coachklas capacity, the coachklas placements and the mentors' actions.

A college that starts with Vroegsignaal has years of this history in its own records, and the synthetic
school writes its own (``<out>/staff/``). ``vsv import-history DIR`` reads, from one folder, whichever of

* ``coachklas_capacity.csv``: from_week, capacity[, reason]
* ``coachklas_placements.csv``: student_number (or student_id), start_week, end_week (inclusive; empty
  while the student is in the class), outcome (returned, stayed, left, diploma; empty or ``stayed`` while
  the placement runs)[, reason]
* ``actions.csv``: student_number (or student_id), week, action (a code of the configured action types)[,
  note], follow_up_on (YYYY-MM-DD or empty), outcome (resolved, ongoing, referred, student_left or empty),
  outcome_week (with the outcome)

it finds. Student numbers are pseudonymised with the same keyed hash as every other import
(:func:`data.pseudonym.pseudonymise_column`), and every student must be in the store.

* **Validated**: every problem is listed with file, line (the header is line 1), column and value, and
  nothing is written when there is any (:class:`data.csv_io.CsvImportError`).
* **Atomic**: the whole folder is one transaction.
* **Idempotent**: the rows of a history import are marked with the user ``historie-import``
  (:data:`HISTORY_USER`). A table's file is the whole history of that table: its rows that are already
  stored from an earlier history import stay as they are (same ids), stored history rows that are no
  longer in the file are removed, new ones are added. Importing the same folder twice changes nothing;
  what people recorded in the service (another user) is never touched. A table without a file is left
  alone.

:func:`store_history` is the same path for frames in memory (the generator's, through
:func:`data.synthetic.writer.store_school`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, insert, select

from data.action_types import ActionTypes
from data.calendar import WEEK_MAX, WEEK_MIN, SchoolCalendar, week_friday, week_monday
from data.csv_io import EXAMPLES_PER_PROBLEM, CsvImportError, RowError
from data.pseudonym import is_pseudonym, pseudonymise_column
from data.schema import CoachklasCapacity, CoachklasPlacement, Student, StudentAction
from data.spreadsheet import restore
from data.store import ensure_schema
from data.vocabulary import ACTION_OUTCOMES, PLACEMENT_OUTCOMES

HISTORY_USER = "historie-import"
CAPACITY, PLACEMENTS, ACTIONS = "coachklas_capacity", "coachklas_placements", "actions"
HISTORY_TABLES = (CAPACITY, PLACEMENTS, ACTIONS)
TEXT_MAX_LENGTH = 2000
CAPACITY_MAX = 10_000
STILL_RUNNING = "stayed"  # the outcome of a placement that had not ended when the history was written
SCHOOL_TZ = ZoneInfo("Europe/Amsterdam")
RECORDED_AT = time(16, 0)  # history rows are dated the Friday of their week at 16:00 (school time)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Kind = Literal["int", "str", "date"]


@dataclass(frozen=True)
class HistoryColumn:
    """One column of a history file. ``omissible`` columns may be left out of the file altogether."""

    name: str
    kind: Kind
    optional: bool = False
    omissible: bool = False
    choices: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None


def _week(name: str, optional: bool = False) -> HistoryColumn:
    return HistoryColumn(name, "int", optional=optional, min=WEEK_MIN, max=WEEK_MAX)


def _text(name: str) -> HistoryColumn:
    return HistoryColumn(name, "str", optional=True, omissible=True)


HISTORY_COLUMNS: dict[str, tuple[HistoryColumn, ...]] = {
    CAPACITY: (
        _week("from_week"),
        HistoryColumn("capacity", "int", min=0, max=CAPACITY_MAX),
        _text("reason"),
    ),
    PLACEMENTS: (
        _week("start_week"),
        _week("end_week", optional=True),
        HistoryColumn("outcome", "str", optional=True, choices=PLACEMENT_OUTCOMES),
        _text("reason"),
    ),
    ACTIONS: (
        _week("week"),
        HistoryColumn("action", "str"),  # checked against the configured action types
        _text("note"),
        HistoryColumn("follow_up_on", "date", optional=True),
        HistoryColumn("outcome", "str", optional=True, choices=ACTION_OUTCOMES),
        _week("outcome_week", optional=True),
    ),
}
# The tables with a student column (student_number or student_id).
PER_STUDENT = (PLACEMENTS, ACTIONS)


@dataclass(frozen=True)
class ParsedHistory:
    """One validated history file: typed columns (students as pseudonyms) and the line of each row."""

    table: str
    file: str
    frame: pd.DataFrame
    student_column: str | None  # the file's student column, for messages
    student_ok: pd.Series | None = None  # rows with a well-formed student identifier


@dataclass(frozen=True)
class HistoryReport:
    """What one history file did to the store."""

    table: str
    file: str
    rows: int
    inserted: int
    removed: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted


# --- reading and validating ----------------------------------------------------------------------------


def _errors(file: str, lines: Sequence[int], column: str, problem: Sequence[str] | str) -> list[RowError]:
    """Errors for ``lines``: the first :data:`EXAMPLES_PER_PROBLEM` listed, the rest counted on the last."""
    texts = [problem] * len(lines) if isinstance(problem, str) else list(problem)
    shown = [RowError(file, int(line), column, text) for line, text in zip(lines, texts, strict=True)]
    if len(shown) > EXAMPLES_PER_PROBLEM:
        last = shown[EXAMPLES_PER_PROBLEM - 1]
        rest = len(shown) - EXAMPLES_PER_PROBLEM
        shown = [
            *shown[: EXAMPLES_PER_PROBLEM - 1],
            RowError(last.file, last.line, last.column, last.problem, rest),
        ]
    return shown


def _bad(file: str, frame: pd.DataFrame, mask: pd.Series, column: str, problem: str) -> list[RowError]:
    """Errors for the rows of ``mask``; ``{value}`` in ``problem`` is the cell's text."""
    rows = frame.index[mask.to_numpy(dtype=bool)]
    texts = [problem.format(value=frame.at[i, column]) if column in frame else problem for i in rows]
    return _errors(file, [int(i) + 2 for i in rows], column, texts)


def read_history_csv(path: Path) -> pd.DataFrame:
    """A history file as text cells (stripped, spreadsheet quoting undone), header names stripped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CsvImportError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise CsvImportError([f"{path}, line {line}: holds a NUL byte (\\0); save the file as CSV UTF-8"])
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CsvImportError([f"{path}: not a readable CSV file ({exc})"]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda s: restore(s.str.strip())) if len(frame.columns) else frame


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame in memory as the text cells a file would hold (missing values empty, whole numbers without
    a decimal point, dates as YYYY-MM-DD): so frames and files go through the same checks."""

    def cell(value: Any) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        if isinstance(value, date):
            return value.isoformat()
        return str(value).strip()

    out = pd.DataFrame({c: [cell(v) for v in frame[c].tolist()] for c in frame.columns}, index=frame.index)
    return out.reset_index(drop=True)


def parse_history(
    table: str,
    raw: pd.DataFrame,
    file: str,
    key: str,
    action_types: ActionTypes,
    calendar: SchoolCalendar,
) -> tuple[ParsedHistory, list[RowError]]:
    """Check one history file's text cells; returns the typed rows and every problem found."""
    columns = HISTORY_COLUMNS[table]
    errors: list[RowError] = []
    names = {c.name for c in columns}
    student_columns = [c for c in ("student_number", "student_id") if c in raw.columns]
    if table in PER_STUDENT and len(student_columns) != 1:
        errors.append(
            RowError(
                file,
                1,
                "student_number",
                "the file needs exactly one of the columns 'student_number' or 'student_id'",
            )
        )
    allowed = names | ({"student_number", "student_id"} if table in PER_STUDENT else set())
    for name in sorted(set(raw.columns) - allowed):
        errors.append(RowError(file, 1, name, f"unexpected column; allowed: {', '.join(sorted(allowed))}"))
    for column in columns:
        if column.name not in raw.columns and not column.omissible:
            errors.append(RowError(file, 1, column.name, "required column is missing"))
    student_column = student_columns[0] if len(student_columns) == 1 else None
    if errors:
        return ParsedHistory(table, file, pd.DataFrame(), student_column), errors

    cells = raw.copy()
    for column in columns:
        if column.name not in cells:
            cells[column.name] = ""
    out = pd.DataFrame(index=cells.index)
    bad_rows = pd.Series(False, index=cells.index)

    def check(mask: pd.Series, column: str, problem: str) -> None:
        nonlocal bad_rows
        bad_rows = bad_rows | mask
        errors.extend(_bad(file, cells, mask, column, problem))

    student_ok = pd.Series(True, index=cells.index)
    if student_column is not None:
        ids = cells[student_column]
        empty_id = ids.eq("")
        check(empty_id, student_column, "empty student identifier")
        if student_column == "student_id":
            bad_id = ~empty_id & ~ids.map(is_pseudonym).astype(bool)
            check(bad_id, student_column, "'{value}' is not a pseudonym (20 hex characters)")
            student_ok = ~empty_id & ~bad_id
            out["student_id"] = ids
        else:
            student_ok = ~empty_id
            out["student_id"] = pseudonymise_column(ids.where(~empty_id, "?"), key)
    for column in columns:
        values = cells[column.name]
        empty = values.eq("")
        if not column.optional:
            check(empty, column.name, "empty value")
        out[column.name], problems = _typed(column, values, empty)
        for mask, problem in problems:
            check(mask, column.name, problem)
    ok = ~bad_rows
    for mask, column_name, problem in _table_rules(table, out[ok], action_types, calendar):
        check(mask.reindex(cells.index, fill_value=False), column_name, problem)
    parsed = ParsedHistory(table, file, out, student_column, student_ok)
    return parsed, sorted(errors, key=lambda e: e.line)


Check = tuple[pd.Series, str]


def _typed(column: HistoryColumn, values: pd.Series, empty: pd.Series) -> tuple[pd.Series, list[Check]]:
    """A column's typed values and its problems (the rows, and what is wrong with them)."""
    if column.kind == "str":
        checks: list[Check] = [
            (values.str.len() > TEXT_MAX_LENGTH, f"longer than {TEXT_MAX_LENGTH} characters")
        ]
        if column.choices is not None:
            checks.append(
                (
                    ~empty & ~values.isin(column.choices),
                    "'{value}' is not one of " + ", ".join(column.choices),
                )
            )
        return values.astype(object).mask(empty, None), checks
    if column.kind == "date":
        parsed = values.map(_iso_date)
        return parsed.astype(object).mask(parsed.isna(), None), [
            (~empty & parsed.isna(), "'{value}' is not a date (write YYYY-MM-DD)")
        ]
    number = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce")
    checks = [
        (~empty & number.isna(), "'{value}' is not a number"),
        (number.notna() & (number != np.round(number)), "'{value}' is not a whole number"),
    ]
    if column.min is not None:
        checks.append((number < column.min, f"'{{value}}' is below the allowed {column.min}"))
    if column.max is not None:
        checks.append((number > column.max, f"'{{value}}' is above the allowed {column.max}"))
    whole = number.where(number == np.round(number))
    return whole.astype("Int64"), checks


def _iso_date(text: str) -> date | None:
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _monday_or_none(calendar: SchoolCalendar, week: int) -> date | None:
    try:
        return week_monday(calendar, week)
    except ValueError:
        return None


def _table_rules(
    table: str, out: pd.DataFrame, action_types: ActionTypes, calendar: SchoolCalendar
) -> list[tuple[pd.Series, str, str]]:
    """Checks across columns and rows that the per-column rules cannot express, on the rows that passed
    those: (rows, column, problem)."""
    rules: list[tuple[pd.Series, str, str]] = []
    if table == CAPACITY:
        double = out["from_week"].duplicated(keep="first")
        rules.append((double, "from_week", "week {value} has a capacity on an earlier line already"))
    elif table == PLACEMENTS:
        start, end, outcome = out["start_week"], out["end_week"], out["outcome"]
        running = end.isna()
        rules += [
            (end.notna() & (end < start), "end_week", "the end week {value} is before the start week"),
            (
                running & outcome.notna() & outcome.ne(STILL_RUNNING),
                "outcome",
                f"'{{value}}' needs an end week; a placement without one is still running (leave the outcome "
                f"empty or write '{STILL_RUNNING}')",
            ),
            (
                ~running & (outcome.isna() | outcome.eq(STILL_RUNNING)),
                "outcome",
                "a placement with an end week needs how it ended: "
                + ", ".join(o for o in PLACEMENT_OUTCOMES if o != STILL_RUNNING),
            ),
            (
                _overlapping(out),
                "start_week",
                "overlaps another placement of the student (one place at a time)",
            ),
        ]
    elif table == ACTIONS:
        week, outcome_week, outcome = out["week"], out["outcome_week"], out["outcome"]
        mondays = [_monday_or_none(calendar, int(w)) for w in week.tolist()]
        early = [
            f is not None and m is not None and f < m
            for f, m in zip(out["follow_up_on"].tolist(), mondays, strict=True)
        ]
        rules += [
            (
                ~out["action"].isin(action_types.codes),
                "action",
                "'{value}' is not a configured action type; known: " + ", ".join(action_types.codes),
            ),
            (
                outcome_week.notna() & (outcome_week < week),
                "outcome_week",
                "the outcome week {value} is before the action's week",
            ),
            (
                outcome.notna() & outcome_week.isna(),
                "outcome_week",
                "an outcome needs the week it was recorded",
            ),
            (outcome.isna() & outcome_week.notna(), "outcome", "an outcome week needs the outcome"),
            (
                pd.Series(early, index=out.index, dtype=bool),
                "follow_up_on",
                "the follow-up date {value} is before the action's week",
            ),
        ]
    return [(mask.astype(bool), column, problem) for mask, column, problem in rules]


def _overlapping(out: pd.DataFrame) -> pd.Series:
    """Placements that start before the student's previous placement (by start week) has ended."""
    ordered = out.assign(_end=out["end_week"].fillna(WEEK_MAX + 1)).sort_values(
        ["student_id", "start_week"], kind="stable"
    )
    previous_end = ordered.groupby("student_id")["_end"].shift()
    clash = (previous_end.notna() & (ordered["start_week"] <= previous_end)).astype(bool)
    return clash.reindex(out.index, fill_value=False)


def _with_id(p: ParsedHistory) -> pd.Series:
    return p.student_ok if p.student_ok is not None else pd.Series(True, index=p.frame.index)


def unknown_students(conn: Connection, parsed: Sequence[ParsedHistory]) -> list[RowError]:
    """Rows whose student is not in the store's students table."""
    wanted = {
        s for p in parsed if p.student_column is not None for s in p.frame.loc[_with_id(p), "student_id"]
    }
    if not wanted:
        return []
    known: set[str] = set()
    ids = sorted(wanted)
    for first in range(0, len(ids), 5000):
        chunk = ids[first : first + 5000]
        known |= set(conn.execute(select(Student.student_id).where(Student.student_id.in_(chunk))).scalars())
    errors: list[RowError] = []
    for p in parsed:
        if p.student_column is None:
            continue
        missing = _with_id(p) & ~p.frame["student_id"].isin(known)
        lines = [int(i) + 2 for i in p.frame.index[missing.to_numpy(dtype=bool)]]
        errors += _errors(
            p.file, lines, p.student_column, "student is not in the students table; import students first"
        )
    return errors


# --- writing -------------------------------------------------------------------------------------------


def recorded_at(calendar: SchoolCalendar, week: int | None, fallback: datetime) -> datetime:
    """When a history row is taken to have been recorded: the Friday of ``week`` at 16:00 school time, or
    ``fallback`` (the time of the import) for a week outside the calendar."""
    if week is None:
        return fallback
    try:
        friday = week_friday(calendar, week)
    except ValueError:
        return fallback
    return datetime.combine(friday, RECORDED_AT, tzinfo=SCHOOL_TZ).astimezone(UTC)


def _native(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _rows(p: ParsedHistory, calendar: SchoolCalendar, now: datetime) -> list[dict[str, Any]]:
    """The store's rows for a validated history file (content columns plus who and when)."""
    records = [{k: _native(v) for k, v in row.items()} for row in p.frame.to_dict(orient="records")]
    out: list[dict[str, Any]] = []
    for r in records:
        if p.table == CAPACITY:
            row = {"from_week": r["from_week"], "capacity": r["capacity"], "reason": r["reason"]}
            row["at"] = recorded_at(calendar, r["from_week"], now)
        elif p.table == PLACEMENTS:
            row = {
                "student_id": r["student_id"],
                "start_week": r["start_week"],
                "end_week": r["end_week"],
                "outcome": r["outcome"],
                "note": r["reason"],
                "decision_id": None,
                "at": recorded_at(calendar, r["start_week"], now),
                "ended_by": HISTORY_USER if r["end_week"] is not None else None,
                "ended_at": recorded_at(calendar, r["end_week"], now) if r["end_week"] is not None else None,
            }
        else:
            recorded = r["outcome"] is not None
            row = {
                "student_id": r["student_id"],
                "week": r["week"],
                "action": r["action"],
                "note": r["note"],
                "follow_up_on": r["follow_up_on"],
                "outcome": r["outcome"],
                "outcome_week": r["outcome_week"],
                "at": recorded_at(calendar, r["week"], now),
                "outcome_by": HISTORY_USER if recorded else None,
                "outcome_at": recorded_at(calendar, r["outcome_week"], now) if recorded else None,
            }
        row["user_name"] = HISTORY_USER
        out.append(row)
    return out


# The columns that make two history rows the same row (who and when are not compared).
_CONTENT: dict[str, tuple[str, ...]] = {
    CAPACITY: ("from_week", "capacity", "reason"),
    PLACEMENTS: ("student_id", "start_week", "end_week", "outcome", "note"),
    ACTIONS: ("student_id", "week", "action", "note", "follow_up_on", "outcome", "outcome_week"),
}
_TABLES: dict[str, tuple[Table, str]] = {
    CAPACITY: (CoachklasCapacity.__table__, "capacity_id"),  # type: ignore[dict-item]
    PLACEMENTS: (CoachklasPlacement.__table__, "placement_id"),  # type: ignore[dict-item]
    ACTIONS: (StudentAction.__table__, "action_id"),  # type: ignore[dict-item]
}


def _signature(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in _CONTENT[table])


def write_history(
    conn: Connection, parsed: Sequence[ParsedHistory], calendar: SchoolCalendar, now: datetime | None = None
) -> list[HistoryReport]:
    """Make the stored history rows of each table equal to its file, inside the caller's transaction: keep
    the identical ones, remove the others, add the new ones (rows of other users are never touched)."""
    moment = now or datetime.now(UTC)
    reports: list[HistoryReport] = []
    for p in sorted(parsed, key=lambda q: HISTORY_TABLES.index(q.table)):
        table, id_column = _TABLES[p.table]
        content = [table.c[c] for c in _CONTENT[p.table]]
        stored = conn.execute(
            select(table.c[id_column], *content)
            .where(table.c.user_name == HISTORY_USER)
            .order_by(table.c[id_column])
        ).all()
        waiting: dict[tuple[Any, ...], list[int]] = {}
        for record in stored:
            waiting.setdefault(tuple(record[1:]), []).append(int(record[0]))
        new_rows = _rows(p, calendar, moment)
        to_insert: list[dict[str, Any]] = []
        for row in new_rows:
            ids = waiting.get(_signature(p.table, row))
            if ids:
                ids.pop(0)
            else:
                to_insert.append(row)
        to_remove = [i for ids in waiting.values() for i in ids]
        for first in range(0, len(to_remove), 5000):
            conn.execute(delete(table).where(table.c[id_column].in_(to_remove[first : first + 5000])))
        if to_insert:
            conn.execute(insert(table), to_insert)
        reports.append(HistoryReport(p.table, p.file, len(new_rows), len(to_insert), len(to_remove)))
    return reports


# --- the two ways in -----------------------------------------------------------------------------------


def history_files(directory: Path) -> dict[str, Path]:
    """The history files in ``directory`` by table; a clear error when there are none."""
    if not directory.is_dir():
        raise CsvImportError([f"{directory}: not a folder"])
    found = {t: directory / f"{t}.csv" for t in HISTORY_TABLES if (directory / f"{t}.csv").is_file()}
    if not found:
        expected = ", ".join(f"{t}.csv" for t in HISTORY_TABLES)
        raise CsvImportError([f"{directory}: no history files found (expected one or more of {expected})"])
    return found


def import_history(
    engine: Engine,
    directory: Path,
    key: str,
    calendar: SchoolCalendar,
    action_types: ActionTypes,
    now: datetime | None = None,
) -> list[HistoryReport]:
    """Validate the history files in ``directory`` and write them in one transaction (see the module).

    Raises :class:`CsvImportError` listing every problem; then nothing was written."""
    ensure_schema(engine)
    parsed: list[ParsedHistory] = []
    problems: list[RowError | str] = []
    for table, path in history_files(directory).items():
        try:
            raw = read_history_csv(path)
        except CsvImportError as exc:
            problems += exc.errors
            continue
        p, errors = parse_history(table, raw, str(path), key, action_types, calendar)
        parsed.append(p)
        problems += errors
    with engine.connect() as conn:
        problems += unknown_students(conn, parsed)
    if problems:
        raise CsvImportError(problems)
    with engine.begin() as conn:
        return write_history(conn, parsed, calendar, now)


def store_history(
    conn: Connection,
    frames: Mapping[str, pd.DataFrame],
    calendar: SchoolCalendar,
    action_types: ActionTypes,
    key: str = "",
    now: datetime | None = None,
) -> list[HistoryReport]:
    """The history import for frames in memory, inside the caller's transaction: the same checks and the
    same writing as the files. Frames by ``student_id`` (as :func:`data.tables.from_generated` gives them)
    need no ``key``; frames by ``student_number`` are pseudonymised with it."""
    parsed: list[ParsedHistory] = []
    problems: list[RowError | str] = []
    for table, frame in frames.items():
        if table not in HISTORY_TABLES:
            raise ValueError(f"unknown history table {table!r}; known: {', '.join(HISTORY_TABLES)}")
        p, errors = parse_history(table, as_text(frame), f"{table} (in memory)", key, action_types, calendar)
        parsed.append(p)
        problems += errors
    problems += unknown_students(conn, parsed)
    if problems:
        raise CsvImportError(problems)
    return write_history(conn, parsed, calendar, now)
