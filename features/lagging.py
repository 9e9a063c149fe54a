"""Lagging indicators: attendance and study progress from the school systems, and the legal flags.

Attendance (windows end at ``as_of``, at most :data:`ATTENDANCE_WINDOW` weeks back):

* ``att_rate_2w``, ``att_rate_4w``, ``att_rate_8w``: present hours / scheduled hours;
* ``att_rate_change_4w``: rate of the latest 4 weeks minus the rate of the 4 weeks before;
* ``unauth_hours_4w``, ``unauth_rate_4w``, ``auth_rate_4w``: (un)authorised absence in the latest 4 weeks;
* ``weeks_absent_streak``: consecutive most-recent weeks with hours scheduled and none present (weeks
  without a row or without scheduled hours are skipped: they neither extend nor break the streak);
* ``has_attendance_8w``: any scheduled hours recorded in the latest 8 weeks.

Progress (period results, and per-assessment results in the week of each, up to ``as_of``;
:func:`results_as_progress`): ``credits_ratio_year`` (obtained / expected in the current
school year), ``credits_ratio_total`` (the same over everything in the store), ``credits_behind_year``
(expected minus obtained), ``units_failed_year`` and ``has_progress_year``.

NaN policy: a rate without scheduled hours takes the rate of the nearest longer window, else 1.0 ("no
evidence of absence"); a change without both halves is 0; a credit ratio without results is 1.0 ("no
evidence of delay"); hours, streaks and counts are 0 without rows. The ``has_*`` indicators tell the
model which values were filled. A student without attendance rows is therefore scored, with
``has_attendance_8w = 0`` (and flagged ``insufficient_data`` if there are no answers either).

Bad data: duplicate (student_id, week) rows, negative hours or credits, present hours above scheduled
hours, or a row with some hours missing raise :class:`ValueError` naming table, student and week.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import period_of, year_start
from features.grid import GridRows, column_grid, weekly_positions, window_rows
from features.windows import FloatArray, any_week, fill, indicator, trailing_streak, window_rate, window_sum

FIRST_WEEK = 0  # the first school week in the store (data.calendar)
ATTENDANCE_WINDOW = 16
HOURS = ("scheduled_hours", "present_hours", "authorised_absence_hours", "unauthorised_absence_hours")
CREDITS = ("credits_expected", "credits_obtained", "units_failed")

# Leerplichtwet (DOMAIN.md): under 18, report 16 hours of unauthorised absence within 4 school weeks;
# 18 up to 23, report 4 weeks of uninterrupted unauthorised absence.
LEERPLICHT_HOURS = 16.0
LEERPLICHT_WEEKS = 4
RMC_WEEKS = 4
RMC_MIN_AGE = 18.0
RMC_MAX_AGE = 23.0


def _first_bad(rows: GridRows, bad: np.ndarray, problem: str) -> None:
    hits = np.flatnonzero(bad)
    if len(hits):
        raise ValueError(f"{rows.table}: {problem} for {rows.describe(int(hits[0]))}")


def _check_hours(rows: GridRows) -> None:
    hours = np.column_stack([pd.to_numeric(rows.column(c)).astype(np.float64) for c in HOURS])
    _first_bad(rows, any_week(np.isnan(hours)), f"incomplete row (all of {', '.join(HOURS)} are needed)")
    _first_bad(rows, any_week(hours < 0), "negative hours")
    _first_bad(rows, hours[:, 1] > hours[:, 0], "more present hours than scheduled hours")


def _first_known(*candidates: FloatArray, default: float) -> FloatArray:
    """Per student the first non-NaN candidate, else ``default``."""
    out = candidates[0]
    for candidate in candidates[1:]:
        out = np.where(np.isnan(out), candidate, out)
    return fill(out, default)


def attendance_features(attendance: pd.DataFrame, enrolled: pd.DataFrame, as_of: int) -> pd.DataFrame:
    """Attendance features plus the streak the legal flag needs (``_unauth_streak``, not a model input)."""
    ids = pd.Index(enrolled["student_id"])
    rows = window_rows(attendance, "attendance_weeks", ids, as_of, ATTENDANCE_WINDOW, HOURS)
    _check_hours(rows)
    positions = weekly_positions(rows)
    scheduled, present, authorised, unauthorised = (column_grid(rows, c, positions) for c in HOURS)

    rate = {k: window_rate(present, scheduled, k) for k in (2, 4, 8)}
    previous = window_rate(present[:, :-4], scheduled[:, :-4], 4)
    counted = np.nan_to_num(scheduled) > 0
    absent = counted & (np.nan_to_num(present) == 0)
    fully_unauthorised = absent & (np.nan_to_num(unauthorised) > 0)
    out = {
        "att_rate_2w": _first_known(rate[2], rate[4], rate[8], default=1.0),
        "att_rate_4w": _first_known(rate[4], rate[8], default=1.0),
        "att_rate_8w": _first_known(rate[8], default=1.0),
    }
    out["att_rate_change_4w"] = fill(rate[4] - previous, 0.0)
    out["unauth_hours_4w"] = window_sum(unauthorised, 4)
    out["unauth_rate_4w"] = fill(window_rate(unauthorised, scheduled, 4), 0.0)
    out["auth_rate_4w"] = fill(window_rate(authorised, scheduled, 4), 0.0)
    out["weeks_absent_streak"] = trailing_streak(absent, counted)
    out["has_attendance_8w"] = indicator(any_week(counted[:, -8:]))
    out["_unauth_streak"] = trailing_streak(fully_unauthorised, counted)
    return pd.DataFrame(out, index=ids)


def results_as_progress(progress: pd.DataFrame, assessments: pd.DataFrame) -> pd.DataFrame:
    """Per-period results with a school's per-assessment results added as progress rows, one per student
    and week of results: ``credits_expected`` the credits the week's assessments are worth,
    ``credits_obtained`` those of the passed ones, ``units_failed`` the assessments not passed (the mark
    is kept in the store, not used). The import refuses a period with both kinds of results; the features
    then count each credit once. Without assessments, ``progress`` itself (no copy)."""
    if assessments.empty:
        return progress
    passed = assessments["passed"].to_numpy(dtype=np.float64)
    credits = assessments["credits"].to_numpy(dtype=np.float64)
    rows = pd.DataFrame(
        {
            "student_id": assessments["student_id"].to_numpy(),
            "week": assessments["week"].to_numpy(dtype=np.int64),
            "credits_expected": credits,
            "credits_obtained": credits * passed,
            "units_failed": 1.0 - passed,
        }
    )
    weekly = rows.groupby(["student_id", "week"], as_index=False, sort=False).sum()
    weekly["period"] = weekly["week"].map(period_of)
    if progress.empty:
        return weekly
    combined = pd.concat([progress, weekly], ignore_index=True)
    if combined.duplicated(["student_id", "week"]).any():  # in-memory tables the import did not check
        sums = combined.groupby(["student_id", "week"], as_index=False, sort=False)[list(CREDITS)].sum()
        combined = sums.assign(period=sums["week"].map(period_of))
    return combined


def progress_features(progress: pd.DataFrame, enrolled: pd.DataFrame, as_of: int) -> pd.DataFrame:
    """Credits and failed units of the current school year and of everything in the store up to ``as_of``."""
    ids = pd.Index(enrolled["student_id"])
    n = len(ids)
    week = progress["week"].to_numpy()
    rows = window_rows(progress, "progress_results", ids, as_of, max(as_of + 1 - FIRST_WEEK, 1), ())
    student = rows.student
    duplicated = pd.DataFrame({"s": student, "w": rows.offset}).duplicated().to_numpy()
    _first_bad(rows, duplicated, "more than one row (each (student_id, week) may occur once)")
    values = np.column_stack([pd.to_numeric(rows.column(c)).astype(np.float64) for c in CREDITS])
    _first_bad(rows, any_week(np.isnan(values)), f"incomplete row (all of {', '.join(CREDITS)} are needed)")
    _first_bad(rows, any_week(values < 0), "negative credits or units")

    this_year = week[rows.row] >= year_start(as_of)
    sums = {
        (column, scope): np.bincount(student[mask], weights=values[mask, j], minlength=n).astype(np.float64)
        for j, column in enumerate(CREDITS)
        for scope, mask in (("year", this_year), ("total", np.ones(len(student), dtype=bool)))
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = {
            scope: np.where(
                sums["credits_expected", scope] > 0,
                sums["credits_obtained", scope] / np.maximum(sums["credits_expected", scope], 1e-12),
                np.nan,
            )
            for scope in ("year", "total")
        }
    out = {
        "credits_ratio_year": fill(ratio["year"], 1.0),
        "credits_ratio_total": fill(ratio["total"], 1.0),
        "credits_behind_year": sums["credits_expected", "year"] - sums["credits_obtained", "year"],
        "units_failed_year": sums["units_failed", "year"],
        "has_progress_year": (sums["credits_expected", "year"] > 0).astype(np.float64),
    }
    return pd.DataFrame(out, index=ids)


def legal_flags(age: FloatArray, unauth_hours_4w: FloatArray, unauth_streak: FloatArray) -> pd.DataFrame:
    """The Leerplichtwet reporting thresholds staff act on anyway, shown next to the model.

    * ``flag_leerplicht_16u``: under 18 and at least 16 unauthorised hours in the latest 4 school weeks;
    * ``flag_4_weeks_absent``: 18 up to 23 and at least 4 consecutive school weeks fully absent with
      unauthorised absence (no hours present, some unauthorised).
    """
    return pd.DataFrame(
        {
            "flag_leerplicht_16u": (age < RMC_MIN_AGE) & (unauth_hours_4w >= LEERPLICHT_HOURS),
            "flag_4_weeks_absent": (age >= RMC_MIN_AGE) & (age < RMC_MAX_AGE) & (unauth_streak >= RMC_WEEKS),
        }
    )
