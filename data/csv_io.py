"""CSV import and export of the raw tables: validated, atomic and idempotent.

* Validated: every problem is reported with file, line, column and value; nothing is written if any row
  of any file in the batch is bad.
* Atomic: one batch is one transaction.
* Idempotent: rows are matched on their key; importing the same file twice changes nothing. A row whose
  key exists with other values replaces the stored values (the newest export wins), and the report says
  how many rows were new, changed and unchanged.

The identity table (``identities``) is the one file whose ``student_number`` is kept: pseudonymised to
``student_id`` like everywhere else and stored beside it, in that table only (it is not one of the
pseudonymised tables of :data:`data.store.TABLE_ORDER`; it is written after them).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from data.calendar import (
    DateRule,
    SchoolCalendar,
    looks_like_day,
    no_school_week,
    parse_day,
    period_of,
    school_week_of,
    school_year_index,
)
from data.contracts import (
    CONTRACTS,
    STUDENT_NUMBER,
    STUDENT_NUMBER_MAX_LENGTH,
    Column,
    TableContract,
    contract,
)
from data.extensions import DECLARE_HINT, Extension, cached_extensions
from data.file_formats import EXCEL_SUFFIXES, FileFormat, FileFormatError, read_table_file
from data.mapping import ImportMapping, apply_mapping
from data.pseudonym import is_pseudonym, pseudonymise_column
from data.questionnaire import Questionnaire
from data.schema import Base
from data.spreadsheet import neutralise_text_columns, restore
from data.store import TABLE_ORDER, ensure_schema, read_table

MAX_REPORTED_ERRORS = 25
# What runs inside the import's transaction after the rows are written: it gets the connection and the
# validated frames by table (the rows the import actually parsed, students as pseudonyms).
AfterWrite = Callable[[Connection, Mapping[str, pd.DataFrame]], object]
ATTENDANCE_TOLERANCE = 0.01


# Problems kept per column and kind: a file that is wrong throughout gives a short report (and bounded
# memory), with the rest counted in ``RowError.also`` of the last one listed.
EXAMPLES_PER_PROBLEM = 100


@dataclass(frozen=True)
class RowError:
    """One problem in one cell (or row) of a file; ``also`` counts further lines with the same problem in
    the same column that are not listed one by one."""

    file: str
    line: int  # line in the file, header = line 1
    column: str
    problem: str
    also: int = 0

    def __str__(self) -> str:
        more = f" (and {self.also} more lines with this problem)" if self.also else ""
        return f"{self.file}, line {self.line}, column '{self.column}': {self.problem}{more}"


class CsvImportError(ValueError):
    """Raised when a batch has bad rows; nothing was written."""

    def __init__(self, errors: Sequence[RowError | str]):
        self.errors = list(errors)
        self.total = sum(1 + e.also if isinstance(e, RowError) else 1 for e in self.errors)
        listed = self.errors[:MAX_REPORTED_ERRORS]
        shown = [str(e) for e in listed]
        more = self.total - sum(1 + e.also if isinstance(e, RowError) else 1 for e in listed)
        suffix = f"\n... and {more} more problems" if more > 0 else ""
        super().__init__(
            f"import refused, nothing was written ({self.total} problems):\n  " + "\n  ".join(shown) + suffix
        )


@dataclass(frozen=True)
class ImportReport:
    """What one file did to the store."""

    table: str
    file: str
    rows: int
    inserted: int
    updated: int
    # What the file turned out to be ("CSV, Windows-1252, semicolon-separated, decimal comma") and what the
    # import did that the school should know (a column left out, an undated outcome given a week).
    file_format: str = ""
    notes: tuple[str, ...] = ()

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


@dataclass
class ParsedTable:
    table: TableContract
    file: str
    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    file_format: FileFormat | None = None
    # Rows (index labels of ``frame``) whose week the file left empty and the import week stands in for.
    undated: pd.Index = field(default_factory=lambda: pd.Index([]))
    # Declared extensions given as columns of the students file, as school_signals rows (at the start week).
    signals: pd.DataFrame | None = None


def table_from_filename(path: Path, mapping: ImportMapping | None = None) -> str:
    """``attendance_weeks.csv`` (or ``.xlsx``) -> ``attendance_weeks``, or the table the mapping file names
    for the file; a clear error for unknown names."""
    mapped = mapping.table_of(path.name) if mapping is not None else None
    if mapped is not None:
        return mapped
    name = path.name.split(".")[0]
    if name not in CONTRACTS:
        raise ValueError(
            f"{path}: cannot tell the table from the file name; name it <table>.csv or <table>.xlsx with "
            f"table one of {', '.join(CONTRACTS)}, name it under files: in a mapping file (--mapping), or "
            "pass --table"
        )
    return name


def _read_file(path: Path) -> tuple[pd.DataFrame, FileFormat]:
    try:
        return read_table_file(path)
    except FileNotFoundError:
        raise CsvImportError([f"{path}: file not found"]) from None
    except FileFormatError as exc:
        raise CsvImportError([str(exc)]) from None


def _row_errors(file: str, index: pd.Index, column: str, problem: Callable[[Any], str]) -> list[RowError]:
    """Errors for the rows at ``index`` (line = row + 2): the first :data:`EXAMPLES_PER_PROBLEM` listed,
    the rest counted on the last one listed."""
    shown = index[:EXAMPLES_PER_PROBLEM]
    errors = [RowError(file, int(i) + 2, column, problem(i)) for i in shown]
    if len(index) > len(shown):
        last = errors[-1]
        errors[-1] = RowError(last.file, last.line, last.column, last.problem, len(index) - len(shown))
    return errors


def _cell_errors(
    file: str, frame: pd.DataFrame, mask: pd.Series, column: str, problem: str
) -> list[RowError]:
    def text(i: Any) -> str:
        return problem.format(value=frame.at[i, column] if column in frame else "")

    return _row_errors(file, frame.index[mask.to_numpy()], column, text)


def parse(
    path: Path,
    table: str,
    key: str,
    questionnaire: Questionnaire,
    mapping: ImportMapping | None = None,
    import_week: int | None = None,
    calendar: SchoolCalendar | None = None,
) -> ParsedTable:
    """Read and validate one file (CSV or ``.xlsx``, through ``mapping`` when given); cell values become
    typed columns and students become pseudonyms."""
    raw, file_format = _read_file(path)
    if mapping is not None:
        try:
            raw = apply_mapping(raw, table, mapping, str(path))
        except ValueError as exc:
            raise CsvImportError([str(exc)]) from None
    parsed = parse_frame(raw, str(path), table, key, questionnaire, import_week, calendar)
    parsed.file_format = file_format
    return parsed


UNEXPECTED_HINT = (
    "; a column under another name is renamed with a mapping file (vsv import --mapping, see the README); "
    "a school-specific signal is used once declared: " + DECLARE_HINT
)


def parse_frame(
    raw: pd.DataFrame,
    file: str,
    table: str,
    key: str,
    questionnaire: Questionnaire,
    import_week: int | None = None,
    calendar: SchoolCalendar | None = None,
) -> ParsedTable:
    """Validate one table's rows given as text cells (a CSV file's, or a form's); ``file`` names them in
    errors. The one validation of every way rows come in (files, uploads, the questionnaire page).
    ``import_week`` stands in for an outcome's empty week (None: an undated outcome is refused);
    ``calendar`` reads dates in week columns (None: a date is refused, with a message)."""
    spec = contract(table)
    errors: list[RowError] = []
    notes: list[str] = []
    id_columns = [c for c in ("student_number", "student_id") if c in raw.columns]
    declared = cached_extensions().by_name()
    wide = [c for c in raw.columns if spec.name == "students" and c in declared]
    wide_cells, raw = raw[wide], raw.drop(columns=wide)
    expected = set(spec.column_names)
    may_be_absent = {c.name for c in spec.columns if c.default is not None or c.may_be_left_out}
    missing = sorted(expected - set(raw.columns) - may_be_absent)
    unknown = sorted(set(raw.columns) - expected - {"student_number", "student_id"})
    if spec.identifying and id_columns != [STUDENT_NUMBER]:
        errors.append(
            RowError(
                file,
                1,
                STUDENT_NUMBER,
                f"the {spec.name} file needs the column 'student_number' (the school's own number) "
                "and no 'student_id'",
            )
        )
    elif len(id_columns) != 1:
        errors.append(
            RowError(
                file,
                1,
                "student_number",
                "the file needs exactly one of the columns 'student_number' or 'student_id'",
            )
        )
    for name in missing:
        errors.append(RowError(file, 1, name, "required column is missing"))
    for name in unknown:
        allowed = ", ".join(spec.column_names)
        errors.append(RowError(file, 1, name, f"unexpected column; allowed: {allowed}{UNEXPECTED_HINT}"))
    if len(raw.columns) == 1 and (missing or unknown):
        errors.insert(
            0,
            RowError(
                file,
                1,
                str(raw.columns[0]),
                "the header is a single column: the file is not separated by commas, semicolons or tabs",
            ),
        )
    if errors:
        return ParsedTable(spec, file, pd.DataFrame(), errors)

    for col in spec.columns:
        if col.default is not None and col.name not in raw.columns:
            raw = raw.assign(**{col.name: col.default})
            notes.append(f"column {col.name!r} is not in the file: every row is {col.default!r}")
        elif col.may_be_left_out and col.name not in raw.columns:
            raw = raw.assign(**{col.name: ""})
    frame = raw.apply(lambda s: restore(s.str.strip()))
    out = pd.DataFrame(index=frame.index)
    id_col = id_columns[0]
    empty_id = frame[id_col].eq("")
    errors += _cell_errors(file, frame, empty_id, id_col, "empty student identifier")
    if id_col == "student_id":
        bad_id = ~empty_id & ~frame[id_col].map(is_pseudonym)
        errors += _cell_errors(
            file, frame, bad_id, id_col, "'{value}' is not a pseudonym (20 hex characters)"
        )
        out["student_id"] = frame[id_col]
    else:
        out["student_id"] = pseudonymise_column(frame[id_col].where(~empty_id, "?"), key)
    if spec.identifying:
        # Kept in clear in this table only (and pseudonymised above like everywhere else).
        too_long = frame[id_col].str.len() > STUDENT_NUMBER_MAX_LENGTH
        errors += _cell_errors(
            file, frame, too_long, id_col, f"longer than {STUDENT_NUMBER_MAX_LENGTH} characters"
        )
        out[STUDENT_NUMBER] = frame[id_col]

    for col in spec.columns:
        values = frame[col.name]
        if spec.identifying and col.kind == "str":
            # Names arrive from many systems: one Unicode form (NFC), so that "é" is one character.
            values = values.map(lambda v: unicodedata.normalize("NFC", v))
        if col.default is not None:
            values = values.mask(values.eq(""), col.default)
        empty = values.eq("")
        if not col.optional:
            errors += _cell_errors(file, frame, empty, col.name, "empty value")
        if col.kind == "str":
            parsed: pd.Series = values.astype(object).mask(empty, None) if col.optional else values
            if col.choices is not None:
                bad = ~empty & ~values.isin(col.choices)
                errors += _cell_errors(
                    file, frame, bad, col.name, "'{value}' is not one of " + ", ".join(col.choices)
                )
            if col.max_length is not None:
                bad = values.str.len() > col.max_length
                errors += _cell_errors(file, frame, bad, col.name, f"longer than {col.max_length} characters")
        else:
            if col.dates is not None:
                values, date_errors, converted = _dates_as_weeks(file, frame, col, values, calendar)
                errors += date_errors
                if converted:
                    notes.append(
                        f"column {col.name!r}: {converted:,} dates read as school weeks through the school "
                        f"calendar ({DATE_RULE_NOTES[col.dates]})"
                    )
            parsed = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce")
            not_number = ~empty & parsed.isna()
            errors += _cell_errors(file, frame, not_number, col.name, "'{value}' is not a number")
            if col.kind == "int":
                not_int = parsed.notna() & (parsed != np.round(parsed))
                errors += _cell_errors(file, frame, not_int, col.name, "'{value}' is not a whole number")
            for bound, op, word in ((col.min, parsed.lt, "below"), (col.max, parsed.gt, "above")):
                if bound is not None:
                    errors += _cell_errors(
                        file,
                        frame,
                        parsed.notna() & op(bound),
                        col.name,
                        f"'{{value}}' is {word} the allowed {bound:g}",
                    )
        out[col.name] = parsed

    errors += _table_rules(spec, file, frame, out, questionnaire)
    signals = None
    if wide:
        cells = wide_cells.apply(lambda c: restore(c.str.strip()))
        signals, signal_errors = _wide_signals(file, cells, out, [declared[c] for c in wide])
        errors += signal_errors
    undated = pd.Index([])
    if spec.name == "outcomes":
        undated = out.index[out["week"].isna() & frame["week"].eq("")]
        if len(undated) and import_week is None:
            errors += _row_errors(
                file,
                undated,
                "week",
                lambda _: (
                    "empty week, and the school calendar has no school week for today to stand in "
                    "for it: fill in the week"
                ),
            )
        elif len(undated):
            out.loc[undated, "week"] = import_week
            notes.append(
                f"{len(undated):,} outcomes without a week: the import week {import_week} stands in "
                "(a week stored earlier for the same outcome is kept)"
            )
    key_cols = ["student_id", *spec.key]
    dupes = out.duplicated(key_cols, keep="first") & ~empty_id
    errors += _row_errors(
        file,
        out.index[dupes.to_numpy()],
        ",".join(key_cols),
        lambda _: "duplicate of an earlier row with the same key",
    )
    if not errors:
        for col in spec.columns:
            if col.kind == "int":
                # An optional whole number may be empty: pandas' nullable integer (NULL in the store).
                nullable = col.optional and bool(out[col.name].isna().any())
                out[col.name] = out[col.name].astype("Int64" if nullable else "int64")
            elif col.kind == "float":
                out[col.name] = out[col.name].astype("float64")
    if signals is not None and not errors:
        notes.append(
            f"{len(signals):,} values of school-specific signals ({', '.join(wide)}) stored in "
            "school_signals at each student's start week"
        )
    return ParsedTable(
        spec, file, out, sorted(errors, key=lambda e: e.line), notes, undated=undated, signals=signals
    )


def _signal_errors(
    file: str, cells: pd.DataFrame, column: str, values: pd.Series, extension: Extension
) -> list[RowError]:
    """A declared extension's values within its min and max."""
    errors: list[RowError] = []
    for bound, op, word in ((extension.min, values.lt, "below"), (extension.max, values.gt, "above")):
        if bound is not None:
            errors += _cell_errors(
                file,
                cells,
                values.notna() & op(bound),
                column,
                f"'{{value}}' is {word} the allowed {bound:g} of the extension {extension.name}",
            )
    return errors


def _wide_signals(
    file: str, cells: pd.DataFrame, students: pd.DataFrame, extensions: list[Extension]
) -> tuple[pd.DataFrame, list[RowError]]:
    """Declared extensions given as columns of the students file: school_signals rows at the start week
    (an empty cell: no value)."""
    errors: list[RowError] = []
    parts = []
    for extension in extensions:
        values = pd.to_numeric(cells[extension.name].str.replace(",", ".", regex=False), errors="coerce")
        not_number = cells[extension.name].ne("") & values.isna()
        errors += _cell_errors(file, cells, not_number, extension.name, "'{value}' is not a number")
        errors += _signal_errors(file, cells, extension.name, values, extension)
        given = values.notna()
        parts.append(
            pd.DataFrame(
                {
                    "student_id": students.loc[given, "student_id"],
                    "week": students.loc[given, "start_week"],
                    "feature": extension.name,
                    "value": values[given].astype("float64"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True), errors


DATE_RULE_NOTES: dict[DateRule, str] = {
    "in_school_week": "each date must fall in a school week",
    "on_or_before": "a date in a holiday counts in the school week before it",
    "on_or_after": "a date in a holiday counts in the school week after it",
}


def _dates_as_weeks(
    file: str, frame: pd.DataFrame, col: Column, values: pd.Series, calendar: SchoolCalendar | None
) -> tuple[pd.Series, list[RowError], int]:
    """``values`` with every date cell replaced by its school week (as text), the errors of the dates that
    are none, and how many cells were dates. Dates repeat (a weekly file holds a few hundred): each
    distinct text is read once."""
    assert col.dates is not None
    days = [cell for cell in pd.unique(values) if isinstance(cell, str) and looks_like_day(cell)]
    if not days:
        return values, [], 0
    weeks: dict[str, str] = {}
    problems: dict[str, str] = {}
    for cell in days:
        if calendar is None:
            problems[cell] = f"'{cell}' is a date, and there is no school calendar to read it: give the week"
            continue
        try:
            day = parse_day(cell)
        except ValueError as exc:
            problems[cell] = str(exc)
            continue
        week = school_week_of(calendar, day, col.dates)
        if week is None:
            problems[cell] = (
                f"'{cell}' is in no school week: {no_school_week(calendar, day)} (a weekly row needs a "
                "date in a school week)"
            )
        else:
            weeks[cell] = str(week)
    is_day = values.isin(days)
    bad = values.isin(list(problems))
    errors = _row_errors(file, frame.index[bad.to_numpy()], col.name, lambda i: problems[str(values.at[i])])
    converted = values.map(weeks)
    return converted.fillna(values).astype(str), errors, int(is_day.sum())


def _table_rules(
    spec: TableContract, file: str, frame: pd.DataFrame, out: pd.DataFrame, questionnaire: Questionnaire
) -> list[RowError]:
    """Checks across columns that the per-column contract cannot express."""
    errors: list[RowError] = []
    if spec.name == "attendance_weeks":
        parts = out["present_hours"] + out["authorised_absence_hours"] + out["unauthorised_absence_hours"]
        bad = (
            parts.notna()
            & out["scheduled_hours"].notna()
            & (parts > out["scheduled_hours"] + ATTENDANCE_TOLERANCE)
        )
        errors += _cell_errors(
            file, frame, bad, "present_hours", "present plus absent hours exceed the scheduled hours"
        )
    if spec.name == "questionnaire_answers":
        known = set(questionnaire.all_codes)
        item = frame["item"]
        bad_item = item.ne("") & ~item.isin(known)
        errors += _cell_errors(
            file, frame, bad_item, "item", "'{value}' is not an item of the questionnaire configuration"
        )
        value = out["value"]
        is_help = item.eq(questionnaire.help_item.code)
        scale_item = item.isin(questionnaire.item_codes)
        out_of_scale = (
            scale_item
            & value.notna()
            & ((value < questionnaire.scale_min) | (value > questionnaire.scale_max))
        )
        errors += _cell_errors(
            file,
            frame,
            out_of_scale,
            "value",
            f"'{{value}}' is outside the scale {questionnaire.scale_min}-{questionnaire.scale_max}",
        )
        bad_help = is_help & value.notna() & ~value.isin([0, 1])
        errors += _cell_errors(file, frame, bad_help, "value", "'{value}' must be 0 (no) or 1 (yes)")
    if spec.name == "progress_results":
        dated = out["week"].notna() & out["period"].notna()
        in_period = _by_week(out["week"].where(dated, 0).astype("int64"), period_of)
        wrong = dated & in_period.ne(out["period"])
        periods: dict[Any, int] = in_period[wrong].to_dict()
        errors += _row_errors(
            file,
            out.index[wrong.to_numpy()],
            "period",
            lambda i: (
                f"period {frame.at[i, 'period']} does not hold week {frame.at[i, 'week']}, which is in "
                f"period {periods[i]} of its school year: a result counts in the week it was recorded"
            ),
        )
    if spec.name == "school_signals":
        declared = cached_extensions().by_name()
        feature = frame["feature"]
        undeclared = feature.ne("") & ~feature.isin(list(declared))
        errors += _cell_errors(
            file, frame, undeclared, "feature", "'{value}' is not a declared extension; " + DECLARE_HINT
        )
        for extension in declared.values():
            mine = feature.eq(extension.name)
            if mine.any():
                errors += _signal_errors(file, frame.loc[mine], "value", out.loc[mine, "value"], extension)
    if spec.identifying and "email" in frame:
        email = frame["email"]
        bad_email = email.ne("") & ~email.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+")
        errors += _cell_errors(file, frame, bad_email, "email", "'{value}' is not an e-mail address")
    return errors


def _check_students_known(engine: Engine, parsed: list[ParsedTable]) -> list[RowError]:
    """Every row must belong to a student in the store or in the students file of this batch."""
    known = (
        set(read_table(engine, "students")["student_id"])
        if any(p.table.name != "students" for p in parsed)
        else set()
    )
    for p in parsed:
        if p.table.name == "students":
            known |= set(p.frame["student_id"])
    errors: list[RowError] = []
    for p in parsed:
        if p.table.name == "students":
            continue
        unknown = ~p.frame["student_id"].isin(known)
        column = STUDENT_NUMBER if p.table.identifying else "student"
        errors += _row_errors(
            p.file,
            p.frame.index[unknown.to_numpy()],
            column,
            lambda _: "student is not in the students table; import students first",
        )
    return errors


def _copy_rows(conn: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> None:
    """Bulk-write ``frame`` into ``table``: COPY on PostgreSQL, executemany elsewhere."""
    rows = frame[list(columns)].itertuples(index=False, name=None)
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor: Any = dbapi.cursor()
    try:
        if conn.dialect.name == "postgresql":
            buffer = io.StringIO()
            frame[list(columns)].to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL)
            buffer.seek(0)
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
        else:
            nullable = [c for c in columns if isinstance(frame[c].dtype, pd.Int64Dtype)]
            if nullable:  # sqlite3 binds None, not pandas' NA
                cells = frame[nullable].astype(object).mask(frame[nullable].isna(), None)
                rows = (
                    frame[list(columns)]
                    .assign(**{c: cells[c] for c in nullable})
                    .itertuples(index=False, name=None)
                )
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def write_frame(conn: Connection, spec: TableContract, frame: pd.DataFrame) -> tuple[int, int]:
    """Upsert ``frame`` into its table inside the caller's transaction; returns (inserted, updated). A
    column the contract lets a file leave out (:attr:`Column.may_be_left_out`) may be absent: NULL."""
    columns = spec.all_columns
    absent = {c.name: None for c in spec.columns if c.may_be_left_out and c.name not in frame.columns}
    if absent:
        frame = frame.assign(**absent)
    stage = f"stage_{spec.name}"
    conn.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE TEMP TABLE {stage} (LIKE {spec.name}) ON COMMIT DROP"))
    else:
        conn.execute(text(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {spec.name} WHERE 0"))
    _copy_rows(conn, stage, columns, frame)
    key = ("student_id", *spec.key)
    match = " AND ".join(f"t.{k} = s.{k}" for k in key)
    updated = 0
    values = [c for c in columns if c not in key]
    if values:
        sets = ", ".join(f"{c} = s.{c}" for c in values)
        match_update = " AND ".join(f"{spec.name}.{k} = s.{k}" for k in key)
        # Optional columns may hold NULL: compare them null-safely (NULL <> 'x' is not true in SQL).
        optional = {c.name for c in spec.columns if c.optional}
        distinct = "IS DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS NOT"
        differs = " OR ".join(f"{spec.name}.{c} {distinct if c in optional else '<>'} s.{c}" for c in values)
        result = conn.execute(
            text(f"UPDATE {spec.name} SET {sets} FROM {stage} AS s WHERE {match_update} AND ({differs})")
        )
        updated = result.rowcount
    inserted = conn.execute(
        text(
            f"INSERT INTO {spec.name} ({', '.join(columns)}) SELECT {', '.join('s.' + c for c in columns)} "
            f"FROM {stage} AS s WHERE NOT EXISTS (SELECT 1 FROM {spec.name} AS t WHERE {match})"
        )
    ).rowcount
    conn.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    return inserted, updated


def append_frame(conn: Connection, spec: TableContract, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows to their table without matching keys (COPY on PostgreSQL): for loading a
    store whose table holds none of them yet (seeding a benchmark); a key that exists fails the
    transaction. :func:`write_frame` is the import's idempotent upsert."""
    absent = {c.name: None for c in spec.columns if c.may_be_left_out and c.name not in frame.columns}
    _copy_rows(conn, spec.name, spec.all_columns, frame.assign(**absent) if absent else frame)
    return len(frame)


def upsert_rows(conn: Connection, spec: TableContract, frame: pd.DataFrame) -> None:
    """Upsert a handful of validated rows (one student's submission) inside the caller's transaction: one
    ``INSERT ... ON CONFLICT (key) DO UPDATE`` (PostgreSQL and SQLite), the same result as
    :func:`write_frame` without its staging table, which is the right tool for whole files."""
    if frame.empty:
        return
    table = Base.metadata.tables[spec.name]
    key = ["student_id", *spec.key]
    rows = [
        {c: (v.item() if hasattr(v, "item") else v) for c, v in zip(spec.all_columns, row, strict=True)}
        for row in frame[list(spec.all_columns)].itertuples(index=False, name=None)
    ]
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(rows)
    values = [c for c in spec.all_columns if c not in key]
    conn.execute(
        statement.on_conflict_do_update(index_elements=key, set_={c: statement.excluded[c] for c in values})
        if values
        else statement.on_conflict_do_nothing(index_elements=key)
    )


def import_files(
    engine: Engine,
    paths: Iterable[Path],
    key: str,
    questionnaire: Questionnaire,
    table: str | None = None,
    after_write: AfterWrite | None = None,
    mapping: ImportMapping | None = None,
    import_week: int | None = None,
    calendar: SchoolCalendar | None = None,
) -> list[ImportReport]:
    """Validate every file, then write them all in one transaction (students first).

    Raises :class:`CsvImportError` listing every problem, before anything is written. ``after_write``
    runs inside the same transaction after the rows are written (e.g. raising safeguarding alerts) and
    is handed the validated frames by table, so what it does follows from exactly the rows imported,
    whatever the files' header layout or names; the import and what it triggers commit or roll back
    together (an exception in the hook writes nothing). ``mapping`` renames a school's columns and values
    (:mod:`data.mapping`); ``import_week`` stands in for an outcome without a week; ``calendar`` reads
    dates where weeks are expected (:attr:`data.contracts.Column.dates`).
    """
    ensure_schema(engine)
    paths = list(paths)
    if not paths:
        raise CsvImportError(["no files to import"])
    parsed: list[ParsedTable] = []
    problems: list[RowError | str] = []
    for path in paths:
        try:
            name = table or table_from_filename(path, mapping)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        try:
            p = parse(path, name, key, questionnaire, mapping, import_week, calendar)
        except CsvImportError as exc:
            problems += exc.errors
            continue
        parsed.append(p)
        problems += p.errors
        if p.signals is not None and not p.errors:
            parsed.append(
                ParsedTable(contract("school_signals"), p.file, p.signals, file_format=p.file_format)
            )
    if problems:
        raise CsvImportError(problems)
    problems += _check_students_known(engine, parsed)
    if problems:
        raise CsvImportError(problems)
    problems += _check_across_tables(engine, parsed)
    if problems:
        raise CsvImportError(problems)
    _keep_stored_weeks(engine, parsed)
    order = list(CONTRACTS)  # students first; the identity table comes after the tables of TABLE_ORDER
    parsed.sort(key=lambda p: order.index(p.table.name))
    reports: list[ImportReport] = []
    with engine.begin() as conn:
        for p in parsed:
            inserted, updated = write_frame(conn, p.table, p.frame)
            described = p.file_format.describe() if p.file_format is not None else ""
            reports.append(
                ImportReport(p.table.name, p.file, len(p.frame), inserted, updated, described, tuple(p.notes))
            )
        if after_write is not None:
            after_write(conn, {p.table.name: p.frame for p in parsed})
    return reports


def _weeks_of(engine: Engine, parsed: list[ParsedTable], table: str, column: str) -> pd.Series:
    """Each student's ``column`` of ``table`` (start week, outcome week): from the batch's file where it has
    the student, else stored."""
    stored = read_table(engine, table)[["student_id", column]]
    batch = [p.frame[["student_id", column]] for p in parsed if p.table.name == table]
    both = pd.concat([*batch, stored], ignore_index=True).drop_duplicates("student_id", keep="first")
    return both.set_index("student_id")[column]


ROW_NOUN = {
    "outcomes": "outcome",
    "attendance_weeks": "attendance week",
    "progress_results": "result",
    "assessment_results": "assessment result",
}
# Results belong to the enrolment: none after its last week (the outcome's week).
RESULT_TABLES = ("progress_results", "assessment_results")
BEFORE_START_HINT = {
    "outcomes": "; an enrolment withdrawn before its start is no enrolment: leave the student out of the "
    "export",
}


def _outside(
    p: ParsedTable, bound: pd.Series, wrong: pd.Series, text: Callable[[int, int], str]
) -> list[RowError]:
    """Errors for the rows of ``p`` where ``wrong``, each told by ``text(week, bound)``."""
    weeks: dict[Any, int] = p.frame.loc[wrong, "week"].astype("int64").to_dict()
    bounds: dict[Any, int] = bound[wrong].astype("int64").to_dict()
    return _row_errors(p.file, p.frame.index[wrong.to_numpy()], "week", lambda i: text(weeks[i], bounds[i]))


def _before_start_text(what: str, hint: str) -> Callable[[int, int], str]:
    def text(week: int, first: int) -> str:
        return f"{what} in week {week} is before the student's start week {first} (students table){hint}"

    return text


def _after_end_text(what: str) -> Callable[[int, int], str]:
    def text(week: int, last: int) -> str:
        return (
            f"{what} in week {week} is after the student's last week {last} (outcomes table): a result "
            "belongs to the enrolment"
        )

    return text


def _check_across_tables(engine: Engine, parsed: list[ParsedTable]) -> list[RowError]:
    """Checks between tables, with the file, line and column of the row at fault: an outcome before the
    student's start week; a weekly row or a result before it (a row of another enrolment, or a wrong
    start week); a result after the student's last week (the outcome's week)."""
    checked = [p for p in parsed if p.table.name in ROW_NOUN]
    if not checked:
        return []
    start = _weeks_of(engine, parsed, "students", "start_week")
    end = (
        _weeks_of(engine, parsed, "outcomes", "week")
        if any(p.table.name in RESULT_TABLES for p in checked)
        else pd.Series(dtype="float64")
    )
    errors: list[RowError] = []
    for p in checked:
        what = ROW_NOUN[p.table.name]
        started = p.frame["student_id"].map(start)
        errors += _outside(
            p,
            started,
            started.notna() & (p.frame["week"] < started),
            _before_start_text(what, BEFORE_START_HINT.get(p.table.name, "")),
        )
        if p.table.name in RESULT_TABLES:
            left = p.frame["student_id"].map(end)
            errors += _outside(
                p,
                left,
                left.notna() & (p.frame["week"] > left),
                _after_end_text(what),
            )
    return errors + _check_one_kind_of_results(engine, parsed)


def _by_week(weeks: pd.Series, of: Callable[[int], int]) -> pd.Series:
    """``of`` (a fact of data.calendar) for every week, computed once per distinct week."""
    return weeks.map({int(w): of(int(w)) for w in pd.unique(weeks)})


def _periods(frame: pd.DataFrame) -> pd.Series:
    """(student, school year, period) of each result row, as one text key."""
    week = frame["week"].astype("int64")
    year, period = _by_week(week, school_year_index), _by_week(week, period_of)
    return frame["student_id"].astype(str) + "/" + year.astype(str) + "/" + period.astype(str)


def _check_one_kind_of_results(engine: Engine, parsed: list[ParsedTable]) -> list[RowError]:
    """A period of a student has per-period results or per-assessment results, not both: both would count
    the same credits twice. An assessment result in a period with a per-period result (in this batch or
    stored) is refused."""
    assessments = [p for p in parsed if p.table.name == "assessment_results"]
    if not assessments:
        return []
    batch = [p.frame[["student_id", "week"]] for p in parsed if p.table.name == "progress_results"]
    stored = read_table(engine, "progress_results")[["student_id", "week"]]
    per_period = set(_periods(pd.concat([*batch, stored], ignore_index=True)))
    errors: list[RowError] = []
    for p in assessments:
        both = _periods(p.frame).isin(per_period)
        errors += _row_errors(
            p.file,
            p.frame.index[both.to_numpy()],
            "week",
            lambda _: (
                "the student has a per-period result (progress_results) for this period: give per-period "
                "or per-assessment results for a period, not both"
            ),
        )
    return errors


def _keep_stored_weeks(engine: Engine, parsed: list[ParsedTable]) -> None:
    """An undated outcome the store already holds (same student, same outcome) keeps its stored week, so
    that importing the same export again changes nothing."""
    for p in parsed:
        if p.table.name != "outcomes" or not len(p.undated):
            continue
        stored = read_table(engine, "outcomes").set_index("student_id")
        rows = p.frame.loc[p.undated]
        known = rows["student_id"].map(stored["outcome"]).eq(rows["outcome"])
        keep = known[known].index
        p.frame.loc[keep, "week"] = rows.loc[keep, "student_id"].map(stored["week"]).to_numpy()


TABLE_SUFFIXES = (".csv", *EXCEL_SUFFIXES)


def table_files(directory: Path, mapping: ImportMapping | None = None) -> list[Path]:
    """The ``<table>.csv`` (or ``.xlsx``) files in ``directory`` and those the mapping file names, in
    import order (the identity table last, when the folder holds it); a clear error when there are none."""
    names = [*TABLE_ORDER, *(name for name in CONTRACTS if name not in TABLE_ORDER)]
    by_table: dict[str, list[Path]] = {name: [] for name in names}
    for name in names:
        candidates = [directory / f"{name}{suffix}" for suffix in TABLE_SUFFIXES]
        by_table[name] += [path for path in candidates if path.exists()]
    if mapping is not None:
        for file_name, name in mapping.files.items():
            path = directory / file_name
            if not path.exists():
                raise CsvImportError([f"{path}: named in the mapping file {mapping.source}, but not found"])
            by_table[name].append(path)
    files = [path for name in names for path in by_table[name]]
    if not files:
        raise CsvImportError(
            [f"{directory}: no <table>.csv or <table>.xlsx files found (tables: {', '.join(names)})"]
        )
    return files


def import_directory(
    engine: Engine,
    directory: Path,
    key: str,
    questionnaire: Questionnaire,
    after_write: AfterWrite | None = None,
    mapping: ImportMapping | None = None,
    import_week: int | None = None,
    calendar: SchoolCalendar | None = None,
) -> list[ImportReport]:
    """Import every ``<table>.csv`` (``.xlsx``, or file the mapping names) in ``directory`` as one batch."""
    return import_files(
        engine,
        table_files(directory, mapping),
        key,
        questionnaire,
        after_write=after_write,
        mapping=mapping,
        import_week=import_week,
        calendar=calendar,
    )


def export_table(engine: Engine, table: str, path: Path) -> int:
    """Write one table as CSV (students as pseudonyms), written to a temporary file and then renamed.
    Text that a spreadsheet would run as a formula is defused (:mod:`data.spreadsheet`).

    The identity table is written as it is imported: by ``student_number`` (no pseudonym beside it).
    """
    spec = contract(table)
    ensure_schema(engine)
    columns = [STUDENT_NUMBER, *spec.column_names] if spec.identifying else list(spec.all_columns)
    frame = neutralise_text_columns(read_table(engine, table)[columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return len(frame)
