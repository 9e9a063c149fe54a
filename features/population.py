"""Who is scored at a week: the students enrolled at the end of week ``as_of``.

A student is enrolled at the end of week ``W`` when ``start_week <= W`` and they have no outcome row with
``week <= W``. The outcome week is the last week a student was enrolled, so a student whose outcome week
equals ``W`` left during ``W`` and is not scored. Only data with ``week <= as_of`` is consulted.
"""

from __future__ import annotations

import pandas as pd

from data.tables import RawTables

STUDENT_COLUMNS = (
    "student_id",
    "level",
    "route",
    "prior_education",
    "start_week",
    "age_at_start",
    "expected_duration_years",
)
REQUIRED_COMPLETE = ("level", "route", "start_week", "age_at_start", "expected_duration_years")


def enrolled_students(tables: RawTables, as_of: int) -> pd.DataFrame:
    """The students rows of everyone enrolled at the end of ``as_of``, sorted by ``student_id``.

    Raises :class:`ValueError` on a duplicate ``student_id`` or a missing required attribute of an
    enrolled student (the error names the student and the column).
    """
    students = tables.students
    missing_columns = [c for c in STUDENT_COLUMNS if c not in students.columns]
    if missing_columns:
        raise ValueError(f"students: missing columns {missing_columns}")
    started = students.loc[students["start_week"] <= as_of, list(STUDENT_COLUMNS)]
    duplicated = started["student_id"].duplicated()
    if duplicated.any():
        sid = started.loc[duplicated, "student_id"].iloc[0]
        raise ValueError(f"students: student {sid} occurs more than once; student_id must be unique")
    outcomes = tables.outcomes
    departed = outcomes.loc[outcomes["week"] <= as_of, "student_id"]
    enrolled = started.loc[~started["student_id"].isin(departed)]
    for column in REQUIRED_COMPLETE:
        missing = enrolled[column].isna()
        if missing.any():
            sid = enrolled.loc[missing, "student_id"].iloc[0]
            raise ValueError(f"students: student {sid} has no {column}")
    return enrolled.sort_values("student_id", kind="stable").reset_index(drop=True)
