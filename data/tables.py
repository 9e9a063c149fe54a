"""The raw tables in memory: what features are computed from.

Every table is keyed by ``student_id`` (a pseudonym, see :mod:`data.pseudonym`). Weeks are global school
weeks (:mod:`data.calendar`). Protected attributes are *not* part of :class:`RawTables`: they live in the
audit-only table ``audit_attributes`` and are loaded only by auditing code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from data.contracts import contract
from data.pseudonym import pseudonymise_column

MODEL_TABLES = (
    "students",
    "questionnaire_answers",
    "attendance_weeks",
    "progress_results",
    "outcomes",
    "assessment_results",
    "school_signals",
)
DTYPES: dict[str, str] = {"int": "int64", "float": "float64", "str": "object"}


def empty_table(name: str) -> pd.DataFrame:
    """An empty raw table with its contract's columns and types (a college without assessments or
    declared signals has such a table)."""
    spec = contract(name)
    columns = {"student_id": pd.Series(dtype="object")}
    columns |= {c.name: pd.Series(dtype=DTYPES[c.kind]) for c in spec.columns}
    return pd.DataFrame(columns)


def no_signals() -> pd.DataFrame:
    return empty_table("school_signals")


def no_assessments() -> pd.DataFrame:
    return empty_table("assessment_results")


@dataclass(frozen=True)
class RawTables:
    """The raw tables a feature snapshot and labels are computed from.

    Columns (see the CSV contract in the README):

    * students: student_id, programme, sector, level (1 = entree .. 4), route (BOL/BBL), team,
      prior_education, start_week, age_at_start, expected_duration_years
    * questionnaire_answers: student_id, week, item, value (1-5; the help item is 0/1)
    * attendance_weeks: student_id, week, scheduled_hours, present_hours, authorised_absence_hours,
      unauthorised_absence_hours
    * progress_results: student_id, week, period, credits_expected, credits_obtained, units_failed
    * outcomes: student_id, week (last week enrolled), outcome (vsv / switch / graduated)
    * assessment_results: student_id, week, assessment, credits, passed, score (a school without
      per-period results; empty otherwise)
    * school_signals: student_id, week, feature, value (a college's declared extensions, data.extensions;
      empty when it has none)
    """

    students: pd.DataFrame
    questionnaire_answers: pd.DataFrame
    attendance_weeks: pd.DataFrame
    progress_results: pd.DataFrame
    outcomes: pd.DataFrame
    assessment_results: pd.DataFrame = field(default_factory=no_assessments)
    school_signals: pd.DataFrame = field(default_factory=no_signals)

    def latest_week(self) -> int | None:
        """The latest week with attendance or answers (the same fact as :func:`data.store.latest_week`)."""
        weeks = [int(t["week"].max()) for t in (self.attendance_weeks, self.questionnaire_answers) if len(t)]
        return max(weeks) if weeks else None

    def until(self, as_of: int) -> RawTables:
        """Only what was known by the end of week ``as_of`` (students who started by then).

        Tables with nothing after ``as_of`` are returned as they are (no copy): at national scale a copy
        of the answers table costs gigabytes.
        """

        def upto(frame: pd.DataFrame, column: str) -> pd.DataFrame:
            keep = frame[column] <= as_of
            return frame if bool(keep.all()) else frame[keep]

        return RawTables(
            students=upto(self.students, "start_week"),
            questionnaire_answers=upto(self.questionnaire_answers, "week"),
            attendance_weeks=upto(self.attendance_weeks, "week"),
            progress_results=upto(self.progress_results, "week"),
            outcomes=upto(self.outcomes, "week"),
            assessment_results=upto(self.assessment_results, "week"),
            school_signals=upto(self.school_signals, "week"),
        )


def from_generated(tables: dict[str, pd.DataFrame], key: str) -> tuple[RawTables, dict[str, pd.DataFrame]]:
    """Generator output -> :class:`RawTables` plus the remaining tables (audit, truth), pseudonymised.

    This is the in-memory twin of ``vsv import``: the same keyed hash replaces the student number.
    """
    converted: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        out = frame.copy()
        out.insert(0, "student_id", pseudonymise_column(out.pop("student_number"), key))
        converted[name] = out
    raw = RawTables(**{name: converted.pop(name) for name in MODEL_TABLES if name in converted})
    return raw, converted
