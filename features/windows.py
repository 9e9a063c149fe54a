"""Window functions on dense week grids: the arithmetic every feature family shares.

A *week grid* is a 2-D array of shape ``(students, width)``: column ``width - 1`` is the week ``as_of``,
column ``0`` is ``as_of - width + 1``. Nothing later than ``as_of`` has a column, so a function on a grid
cannot look past ``as_of``. Missing weeks are ``NaN`` (values) or ``False`` (flags) or ``0`` (hours).

Every function is vectorised over students, returns one value per student and never raises on an
empty history: where a statistic is undefined it returns ``NaN`` and the caller decides the fill (see
:mod:`features.snapshot` for the NaN policy).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class DuplicateRowsError(ValueError):
    """Two rows claim the same cell (student, week[, item]) of a week grid."""

    def __init__(self, row: int) -> None:
        super().__init__(f"duplicate row at position {row}")
        self.row = row


def _last(grid: npt.NDArray[np.generic], last: int) -> npt.NDArray[np.generic]:
    """The trailing ``last`` columns (weeks) of a grid; all of it when ``last`` exceeds its width."""
    if last < 1:
        raise ValueError(f"a window must cover at least 1 week, got {last}")
    return grid[:, -last:] if last < grid.shape[1] else grid


def scatter_positions(cells: npt.NDArray[np.integer], size: int) -> npt.NDArray[np.signedinteger]:
    """For each of ``size`` grid cells the row that fills it, or -1; raise on two rows for one cell.

    ``cells`` holds, per input row, its flat cell index in ``[0, size)``. The result maps cells back to
    rows (int32 when the rows fit, to halve the memory of large grids), so any column of the input can be
    laid out on the grid with :func:`take_cells`.
    """
    dtype = np.int32 if len(cells) < np.iinfo(np.int32).max else np.int64
    positions: npt.NDArray[np.signedinteger] = np.full(size, -1, dtype=dtype)
    rows = np.arange(len(cells), dtype=dtype)
    positions[cells] = rows
    lost = positions[cells] != rows
    if lost.any():
        raise DuplicateRowsError(int(np.flatnonzero(lost)[0]))
    return positions


def take_cells(values: npt.NDArray[np.generic], positions: npt.NDArray[np.signedinteger]) -> FloatArray:
    """Lay ``values`` (one per input row) out on the cells of :func:`scatter_positions`; empty -> NaN."""
    out = np.full(positions.shape, np.nan, dtype=np.float64)
    filled = positions >= 0
    out[filled] = np.asarray(values)[positions[filled]].astype(np.float64)
    return out


def window_sum(hours: FloatArray, last: int) -> FloatArray:
    """Sum over the trailing ``last`` weeks, treating missing (NaN) weeks as 0."""
    out: FloatArray = np.nansum(_last(hours, last), axis=1)
    return out


def window_rate(numerator: FloatArray, denominator: FloatArray, last: int) -> FloatArray:
    """``sum(numerator) / sum(denominator)`` over the trailing ``last`` weeks, clipped to [0, 1].

    NaN where the denominator sums to 0 (nothing scheduled, no history): there is no rate to report.
    """
    num = window_sum(numerator, last)
    den = window_sum(denominator, last)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    out: FloatArray = np.clip(rate, 0.0, 1.0)
    return out


def window_mean(values: FloatArray, last: int, skip_last: int = 0) -> FloatArray:
    """Mean of the answered (non-NaN) weeks in the trailing ``last`` weeks, ignoring the final ``skip_last``.

    With ``skip_last=4`` and ``last=16`` this is the mean of the 12 weeks before the latest 4: a
    student's own baseline. NaN when no week in the window has a value.
    """
    grid = _last(values, last)
    if skip_last:
        grid = grid[:, : max(grid.shape[1] - skip_last, 0)]
    if grid.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    count = np.sum(~np.isnan(grid), axis=1)
    total = np.nansum(grid, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def latest(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The most recent non-NaN value per row, and how many weeks before ``as_of`` it was (NaN if none)."""
    width = values.shape[1]
    has = ~np.isnan(values)
    any_value = has.any(axis=1)
    from_end = np.argmax(has[:, ::-1], axis=1)  # 0 = answered in week as_of
    column = width - 1 - from_end
    picked = values[np.arange(values.shape[0]), column]
    value = np.where(any_value, picked, np.nan)
    age = np.where(any_value, from_end.astype(np.float64), np.nan)
    return value, age


def ols_slope(values: FloatArray, last: int) -> FloatArray:
    """Least-squares slope (units per week) over the answered weeks among the trailing ``last`` weeks.

    Weeks without a value are left out, not imputed. NaN with fewer than two answered weeks.
    """
    grid = _last(values, last)
    x = np.broadcast_to(np.arange(grid.shape[1], dtype=np.float64), grid.shape)
    has = ~np.isnan(grid)
    n = has.sum(axis=1).astype(np.float64)
    y = np.where(has, grid, 0.0)
    xs = np.where(has, x, 0.0)
    sx = xs.sum(axis=1)
    sy = y.sum(axis=1)
    sxx = (xs * xs).sum(axis=1)
    sxy = (xs * y).sum(axis=1)
    denominator = n * sxx - sx * sx
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * sxy - sx * sy) / denominator
    out: FloatArray = np.where((n >= 2) & (denominator > 0), slope, np.nan)
    return out


def trailing_streak(hit: BoolArray, counted: BoolArray) -> FloatArray:
    """Consecutive most-recent counted weeks in which ``hit`` holds.

    Weeks that are not ``counted`` (no row, nothing scheduled) neither extend nor break the streak. The
    streak is capped by the grid width: a value equal to the width means "at least this many weeks".
    """
    hit = hit & counted
    breaker = counted & ~hit
    width = hit.shape[1]
    any_breaker = breaker.any(axis=1)
    last_breaker = np.where(any_breaker, width - 1 - np.argmax(breaker[:, ::-1], axis=1), -1)
    after = np.arange(width)[None, :] > last_breaker[:, None]
    out: FloatArray = (hit & after).sum(axis=1).astype(np.float64)
    return out


def weeks_in_window(start_week: IntArray, as_of: int, last: int, first_week: int = 0) -> FloatArray:
    """How many of the trailing ``last`` weeks up to ``as_of`` a student was enrolled and the store existed.

    The store starts at ``first_week`` (week 0: :mod:`data.calendar`); a student counts from
    ``start_week``. Never negative.
    """
    begin = np.maximum(np.maximum(start_week, as_of - last + 1), first_week)
    out: FloatArray = np.clip(as_of - begin + 1, 0, last).astype(np.float64)
    return out


def fill(values: FloatArray | pd.Series, neutral: float) -> FloatArray:
    """``values`` with NaN replaced by ``neutral`` (the caller documents why that value is neutral)."""
    arr = np.asarray(values, dtype=np.float64)
    out: FloatArray = np.where(np.isnan(arr), neutral, arr)
    return out


def any_week(flags: npt.ArrayLike, axis: int = 1) -> BoolArray:
    """True where any week (along ``axis``) is flagged."""
    out: BoolArray = np.asarray(np.any(flags, axis=axis), dtype=np.bool_)
    return out


def indicator(flags: npt.ArrayLike) -> FloatArray:
    """A 0/1 model column from booleans."""
    out: FloatArray = np.asarray(flags, dtype=np.float64)
    return out
