"""Property tests of the window functions every feature family is built from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.windows import (
    DuplicateRowsError,
    latest,
    ols_slope,
    scatter_positions,
    take_cells,
    trailing_streak,
    weeks_in_window,
    window_mean,
    window_rate,
)

WIDTH = st.integers(min_value=1, max_value=16)


@st.composite
def hour_grids(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled and present hours per (student, week); NaN = no row that week."""
    n = draw(st.integers(min_value=1, max_value=6))
    width = draw(WIDTH)
    scheduled = draw(arrays(np.float64, (n, width), elements=st.sampled_from([0.0, 4.0, 8.0, 24.0, np.nan])))
    share = draw(arrays(np.float64, (n, width), elements=st.floats(0.0, 1.0)))
    present = np.where(np.isnan(scheduled), np.nan, np.floor(scheduled * share))
    return scheduled, present


@st.composite
def answer_grids(draw: st.DrawFn) -> np.ndarray:
    """1-5 answers per (student, week) with missing weeks (NaN), possibly no answers at all."""
    n = draw(st.integers(min_value=1, max_value=6))
    width = draw(WIDTH)
    return draw(arrays(np.float64, (n, width), elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])))


@given(hour_grids(), st.integers(min_value=1, max_value=20))
def test_rates_are_in_unit_interval_or_nan_without_schedule(
    grids: tuple[np.ndarray, np.ndarray], last: int
) -> None:
    scheduled, present = grids
    rate = window_rate(present, scheduled, last)
    assert rate.shape == (scheduled.shape[0],)
    defined = ~np.isnan(rate)
    assert np.all((rate[defined] >= 0.0) & (rate[defined] <= 1.0))
    nothing_scheduled = np.nansum(scheduled[:, -last:], axis=1) == 0
    np.testing.assert_array_equal(~defined, nothing_scheduled)


@given(answer_grids(), st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=8))
def test_window_mean_is_mean_of_answered_weeks(grid: np.ndarray, last: int, skip: int) -> None:
    got = window_mean(grid, last, skip_last=skip)
    window = grid[:, -last:] if last < grid.shape[1] else grid
    window = window[:, : max(window.shape[1] - skip, 0)]
    for i in range(grid.shape[0]):
        answered = window[i][~np.isnan(window[i])] if window.shape[1] else np.array([])
        if answered.size:
            assert got[i] == pytest.approx(answered.mean())
            assert 1.0 <= got[i] <= 5.0
        else:
            assert np.isnan(got[i])


@given(answer_grids())
def test_latest_is_last_answered_week(grid: np.ndarray) -> None:
    value, age = latest(grid)
    for i in range(grid.shape[0]):
        answered = np.flatnonzero(~np.isnan(grid[i]))
        if answered.size:
            assert value[i] == grid[i, answered[-1]]
            assert age[i] == grid.shape[1] - 1 - answered[-1]
        else:
            assert np.isnan(value[i]) and np.isnan(age[i])


@settings(deadline=None)
@given(answer_grids(), st.integers(min_value=2, max_value=10))
def test_slope_skips_missing_weeks_and_matches_least_squares(grid: np.ndarray, last: int) -> None:
    slope = ols_slope(grid, last)
    window = grid[:, -last:] if last < grid.shape[1] else grid
    for i in range(grid.shape[0]):
        x = np.flatnonzero(~np.isnan(window[i]))
        if x.size >= 2:
            expected = np.polyfit(x.astype(float), window[i, x], 1)[0]
            assert slope[i] == pytest.approx(expected, abs=1e-9)
            assert abs(slope[i]) <= 4.0  # a 1-5 scale cannot move faster than 4 points per week
        else:
            assert np.isnan(slope[i])


def _naive_streak(hit: np.ndarray, counted: np.ndarray) -> int:
    streak = 0
    for h, c in zip(hit[::-1], counted[::-1], strict=True):
        if not c:
            continue
        if not h:
            break
        streak += 1
    return streak


@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.tuples(
            arrays(np.bool_, (n, 8)),
            arrays(np.bool_, (n, 8)),
        )
    )
)
def test_streak_counts_trailing_weeks_and_skips_uncounted(flags: tuple[np.ndarray, np.ndarray]) -> None:
    hit, counted = flags
    got = trailing_streak(hit, counted)
    assert np.all((got >= 0) & (got <= hit.shape[1]))
    for i in range(hit.shape[0]):
        assert got[i] == _naive_streak(hit[i], counted[i])


def test_empty_history_gives_nan_or_zero_not_an_error() -> None:
    empty = np.full((3, 16), np.nan)
    assert np.isnan(window_rate(empty, empty, 4)).all()
    assert np.isnan(window_mean(empty, 4)).all()
    assert np.isnan(window_mean(empty, 16, skip_last=4)).all()
    assert np.isnan(ols_slope(empty, 6)).all()
    value, age = latest(empty)
    assert np.isnan(value).all() and np.isnan(age).all()
    none = np.zeros((3, 16), dtype=bool)
    np.testing.assert_array_equal(trailing_streak(none, none), 0.0)
    zero_students = np.full((0, 16), np.nan)
    assert window_rate(zero_students, zero_students, 4).shape == (0,)
    assert latest(zero_students)[0].shape == (0,)


@given(st.integers(-120, 120), st.integers(0, 120), st.integers(1, 16))
def test_weeks_in_window_is_bounded(start: int, as_of: int, last: int) -> None:
    start = min(start, as_of)
    weeks = weeks_in_window(np.array([start]), as_of, last)[0]
    assert 0 <= weeks <= last
    assert weeks == min(last, as_of - max(start, 0) + 1)


@given(st.lists(st.integers(0, 29), max_size=30))
def test_scatter_round_trips_or_names_the_duplicate(cells: list[int]) -> None:
    array = np.array(cells, dtype=np.int64)
    if len(set(cells)) < len(cells):
        with pytest.raises(DuplicateRowsError) as info:
            scatter_positions(array, 30)
        assert cells[info.value.row] in cells[: info.value.row] or cells.count(cells[info.value.row]) > 1
        return
    positions = scatter_positions(array, 30)
    values = np.arange(len(cells), dtype=np.float64) * 10
    laid_out = take_cells(values, positions)
    for row, cell in enumerate(cells):
        assert laid_out[cell] == values[row]
    assert np.isnan(laid_out[np.setdiff1d(np.arange(30), array)]).all()
