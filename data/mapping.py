"""A column mapping file: a student-information system's export imported without being edited.

YAML, given to ``vsv import --mapping FILE``::

    files:                      # the school's file name -> the contract's table
      Inschrijvingen.csv: students
      Verzuim per week.xlsx: attendance_weeks
    columns:                    # per table: the school's column -> the contract's column
      students:
        Studentnummer: student_number
        Leeftijd bij start: age_at_start
    values:                     # per table and contract column: the school's value -> the contract's
      audit_attributes:
        gender: {M: man, V: vrouw, X: x, "?": onbekend}

Every part is optional. A mapped column the file does not hold, a target that is not a column of the
table, or two school columns mapped onto one are refused with the mapping file's name. Values not in a
value mapping pass unchanged (and are then checked against the contract like any other).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from data.contracts import CONTRACTS, STUDENT_NUMBER
from data.extensions import cached_extensions

STUDENT_COLUMNS = (STUDENT_NUMBER, "student_id")


class ImportMapping(BaseModel):
    """The parsed mapping file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, dict[str, str]]] = {}
    source: str = "(mapping)"

    def table_of(self, file_name: str) -> str | None:
        """The table the mapping names for a file (matched on its name, not its folder)."""
        return self.files.get(file_name)


def _problems(mapping: ImportMapping) -> list[str]:
    problems = []
    for file_name, table in mapping.files.items():
        if table not in CONTRACTS:
            problems.append(f"files: {file_name!r} maps to {table!r}, which is not a table")
    for section in ("columns", "values"):
        for table in getattr(mapping, section):
            if table not in CONTRACTS:
                problems.append(f"{section}: {table!r} is not a table; tables: {', '.join(CONTRACTS)}")
    for table, renames in mapping.columns.items():
        if table not in CONTRACTS:
            continue
        allowed = set(CONTRACTS[table].column_names) | set(STUDENT_COLUMNS)
        if table == "students":  # a declared extension may come as a column of the students file
            allowed |= set(cached_extensions().by_name())
        for school, ours in renames.items():
            if ours not in allowed:
                problems.append(
                    f"columns: {table}: {school!r} maps to {ours!r}, which is not a column of {table} "
                    f"(columns: {', '.join(sorted(allowed))})"
                )
        targets = list(renames.values())
        for ours in sorted({t for t in targets if targets.count(t) > 1}):
            problems.append(f"columns: {table}: more than one column maps to {ours!r}")
    for table, columns in mapping.values.items():
        if table not in CONTRACTS:
            continue
        for column in columns:
            if column not in CONTRACTS[table].column_names:
                problems.append(f"values: {table}: {column!r} is not a column of {table}")
    return problems


def load_mapping(path: Path) -> ImportMapping:
    """Read and check a mapping file; every problem is named in one :class:`ValueError`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"mapping file {path}: cannot be read ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"mapping file {path}: expected a mapping with files, columns and values")
    fields = {key: _as_text(value) for key, value in raw.items()}
    try:
        mapping = ImportMapping.model_validate({**fields, "source": str(path)})
    except (ValidationError, TypeError) as exc:
        raise ValueError(f"mapping file {path}: {exc}") from None
    problems = _problems(mapping)
    if problems:
        raise ValueError(f"mapping file {path}:\n  " + "\n  ".join(problems))
    return mapping


def _scalar(value: object) -> str:
    """YAML reads ``M`` as text but ``1``, ``yes`` or ``~`` as a number, a boolean or null: values are
    matched as the text of the export's cells (``yes`` becomes ``true``: quote it to keep it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _as_text(value: object) -> object:
    """Every key and scalar of a parsed YAML value as text (lists and other shapes are left for the
    model's validation to refuse)."""
    if isinstance(value, dict):
        return {_scalar(k): _as_text(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return _scalar(value)
    return value


def apply_mapping(frame: pd.DataFrame, table: str, mapping: ImportMapping, file: str) -> pd.DataFrame:
    """``frame`` (a file's text cells) with the school's columns renamed and values mapped. Raises
    :class:`ValueError` naming the file when a mapped column is not in it."""
    renames = mapping.columns.get(table, {})
    absent = [school for school in renames if school not in frame.columns]
    if absent:
        raise ValueError(
            f"{file}, line 1: the mapping file {mapping.source} maps column(s) "
            f"{', '.join(map(repr, absent))} of {table}, which the file does not hold "
            f"(its columns: {', '.join(map(str, frame.columns))})"
        )
    out = frame.rename(columns=renames)
    for column, values in mapping.values.get(table, {}).items():
        if column in out.columns:
            stripped = out[column].astype(str).str.strip()
            out[column] = stripped.replace(values)
    return out
