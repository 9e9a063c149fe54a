"""Labels: what happened to a student in the label window after ``as_of``.

Two kinds of label window (:data:`LabelKind`, the training configuration's ``label``):

* ``horizon`` (the default): weeks ``(as_of, as_of + horizon]``;
* ``programme_end``: weeks ``(as_of, expected_end]``, with ``expected_end`` the student's expected last
  week (:func:`expected_end_week`): "does the student leave before the end of the programme".

For every student enrolled at the end of ``as_of`` (the same population as :func:`features.snapshot`):

* ``outcome_in_horizon``: the outcome recorded in the label window ("vsv", "switch", "graduated"), or
  "enrolled" when there is none (the column keeps its name for both kinds);
* ``vsv``: 1 when that outcome is vsv, else 0. A switch to another programme is never vsv;
* ``label_mature``: the label can no longer change by the end of ``max_week`` (by default the last week in
  ``attendance_weeks``). ``horizon``: ``as_of + horizon <= max_week``. ``programme_end``: the window has
  closed (``expected_end <= max_week``) or the student already has an outcome in ``(as_of, max_week]``
  (an outcome seen is final). An immature "enrolled" label may still turn into an outcome, so train and
  evaluate on mature labels only. Selecting rows on an outcome seen early favours leavers, so training
  folds and monitoring select ``programme_end`` rows on their closed window (:func:`window_end`) instead.

A ``programme_end`` student still enrolled after their expected end (``expected_end <= as_of``) has an empty
window: label 0 and mature.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

from data.calendar import DEFAULT_HORIZON, WEEKS_PER_YEAR
from data.tables import RawTables
from data.vocabulary import OUTCOMES, VSV_OUTCOMES
from features.population import enrolled_students

STILL_ENROLLED = "enrolled"
LabelKind = Literal["horizon", "programme_end"]
LABEL_KINDS: tuple[LabelKind, ...] = get_args(LabelKind)
DEFAULT_LABEL: LabelKind = "horizon"
# Optional column of the students table: the expected last week, when the school's export gives it.
EXPECTED_END_COLUMN = "expected_end_week"


def expected_end_week(students: pd.DataFrame) -> pd.Series:
    """Each student's expected last week (float, NaN where unknown), aligned with ``students``' index.

    ``expected_end_week`` where the frame has that column and the value is not null; else
    ``start_week + expected_duration_years * WEEKS_PER_YEAR - 1``.
    """
    derived = (
        pd.to_numeric(students["start_week"]).astype("float64")
        + pd.to_numeric(students["expected_duration_years"]).astype("float64") * WEEKS_PER_YEAR
        - 1
    )
    if EXPECTED_END_COLUMN not in students.columns:
        return derived.rename(EXPECTED_END_COLUMN)
    given = pd.to_numeric(students[EXPECTED_END_COLUMN]).astype("float64")
    return given.where(given.notna(), derived).rename(EXPECTED_END_COLUMN)


def window_end(
    rows: pd.DataFrame, students: pd.DataFrame, label: LabelKind, horizon: int = DEFAULT_HORIZON
) -> pd.Series:
    """The last week of each row's label window (int64, aligned with ``rows``' index).

    ``rows`` has ``student_id`` and ``as_of``. ``horizon``: ``as_of + horizon``; ``programme_end``: the
    student's :func:`expected_end_week`. Raises :class:`ValueError` on an unknown kind, a student missing
    from ``students`` or without an expected end, or a student who occurs twice in ``students``.
    """
    if label == "horizon":
        return (rows["as_of"].astype(np.int64) + horizon).rename("window_end")
    if label != "programme_end":
        raise ValueError(f"label must be one of {LABEL_KINDS}, got {label!r}")
    wanted = students.loc[students["student_id"].isin(rows["student_id"])]
    duplicated = wanted["student_id"].duplicated()
    if duplicated.any():
        sid = wanted.loc[duplicated, "student_id"].iloc[0]
        raise ValueError(f"students: student {sid} occurs more than once; student_id must be unique")
    ends = expected_end_week(wanted).set_axis(wanted["student_id"].to_numpy())
    out = rows["student_id"].map(ends)
    if out.isna().any():
        sid = rows.loc[out.isna(), "student_id"].iloc[0]
        raise ValueError(
            f"students: student {sid} has no expected end ({EXPECTED_END_COLUMN}, or start_week and "
            "expected_duration_years)"
        )
    return out.astype(np.int64).rename("window_end")


def labels(
    tables: RawTables,
    as_of: int,
    horizon: int = DEFAULT_HORIZON,
    max_week: int | None = None,
    label: LabelKind = DEFAULT_LABEL,
) -> pd.DataFrame:
    """Columns ``student_id``, ``vsv``, ``outcome_in_horizon``, ``label_mature``, sorted by ``student_id``.

    ``label`` chooses the window (module docstring). Raises :class:`ValueError` on a horizon below 1 week,
    an unknown label kind or outcome, or a student with more than one outcome row.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, got {horizon}")
    if label not in LABEL_KINDS:
        raise ValueError(f"label must be one of {LABEL_KINDS}, got {label!r}")
    outcomes = tables.outcomes
    unknown = ~outcomes["outcome"].isin(OUTCOMES)
    if unknown.any():
        row = outcomes.loc[unknown].iloc[0]
        raise ValueError(
            f"outcomes: student {row['student_id']} has outcome {row['outcome']!r}, "
            f"expected one of {OUTCOMES}"
        )
    duplicated = outcomes["student_id"].duplicated()
    if duplicated.any():
        sid = outcomes.loc[duplicated, "student_id"].iloc[0]
        raise ValueError(f"outcomes: student {sid} has more than one outcome row")
    if max_week is None:
        weeks = tables.attendance_weeks["week"]
        max_week = int(weeks.max()) if len(weeks) else as_of
    enrolled = enrolled_students(tables, as_of)[["student_id"]]
    end = window_end(enrolled.assign(as_of=as_of), tables.students, label, horizon)
    later = outcomes.loc[outcomes["week"] > as_of, ["student_id", "week", "outcome"]]
    out = enrolled.merge(later, on="student_id", how="left", validate="one_to_one")
    in_window = out["week"] <= end
    out["outcome_in_horizon"] = out.pop("outcome").where(in_window).fillna(STILL_ENROLLED).astype(str)
    # Leaving without a startkwalificatie, also after completing a programme that gives none.
    out["vsv"] = out["outcome_in_horizon"].isin(VSV_OUTCOMES).astype(np.int8)
    mature = end <= max_week
    if label == "programme_end":
        mature |= out["week"] <= max_week  # an outcome seen is final
    out["label_mature"] = mature.to_numpy(dtype=bool)
    return out[["student_id", "vsv", "outcome_in_horizon", "label_mature"]]
