"""Bands cut per week of the programme year: "hoog" holds about the top 5% and "verhoogd" the top 20% in
every week, where one cut for the whole year drifts with the season of risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from data.calendar import WEEKS_PER_YEAR
from data.vocabulary import BAND_ELEVATED, BAND_HIGH, BAND_LOW
from models.risk_model import BandThresholds, Calibrator, band_week, fit_band_thresholds, top_cut


def seasonal_scores(seed: int, per_week: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose level falls through the year (the first weeks carry the most risk)."""
    rng = np.random.default_rng(seed)
    weeks = np.repeat(np.arange(WEEKS_PER_YEAR), per_week)
    logit = -4.0 + 1.5 * np.exp(-weeks / 6.0) + rng.normal(0.0, 0.8, len(weeks))
    return 1.0 / (1.0 + np.exp(-logit)), weeks


def shares_per_week(bands: np.ndarray, weeks: np.ndarray, which: tuple[str, ...]) -> pd.Series:
    return pd.Series(np.isin(bands, which)).groupby(weeks).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_week_cuts_hold_the_shares_every_week_where_one_cut_does_not(seed: int) -> None:
    p, weeks = seasonal_scores(seed)
    fitted = fit_band_thresholds(p, weeks, elevated_share=0.20, high_share=0.05)
    fresh_p, fresh_weeks = seasonal_scores(seed + 100)  # new students of the same season
    high = shares_per_week(fitted.band(fresh_p, fresh_weeks), fresh_weeks, (BAND_HIGH,))
    raised = shares_per_week(fitted.band(fresh_p, fresh_weeks), fresh_weeks, (BAND_HIGH, BAND_ELEVATED))
    assert high.between(0.03, 0.08).all(), high.round(3).to_dict()
    assert raised.between(0.15, 0.25).all(), raised.round(3).to_dict()
    single = BandThresholds(fitted.elevated, fitted.high)
    single_high = shares_per_week(single.band(fresh_p, fresh_weeks), fresh_weeks, (BAND_HIGH,))
    assert single_high.max() > 0.15 and single_high.min() < 0.03  # the season a single cut follows


def test_a_model_without_per_week_cuts_bands_as_before() -> None:
    old = BandThresholds(elevated=0.1, high=0.3)
    p = np.array([0.05, 0.1, 0.29, 0.3, 0.9])
    assert list(old.band(p, np.array([0, 5, 10, 20, 39]))) == list(old.band(p))
    assert list(old.band(p)) == [BAND_LOW, BAND_ELEVATED, BAND_ELEVATED, BAND_HIGH, BAND_HIGH]


def test_a_thin_week_borrows_from_its_neighbours_and_high_never_falls_below_elevated() -> None:
    rng = np.random.default_rng(5)
    weeks = np.concatenate([np.full(5000, 10), np.full(3, 11)])
    p = rng.uniform(0, 1, len(weeks))
    fitted = fit_band_thresholds(p, weeks, 0.20, 0.05, window=0, min_rows=400)
    assert fitted.high_by_week is not None
    assert fitted.high_by_week[10] == pytest.approx(top_cut(p[weeks == 10], 0.05))  # its own rows
    assert fitted.high_by_week is not None and fitted.elevated_by_week is not None
    assert abs(fitted.high_by_week[11] - fitted.high_by_week[10]) < 0.02  # not cut on three rows
    assert all(h >= e for h, e in zip(fitted.high_by_week, fitted.elevated_by_week, strict=True))


def test_the_cut_steps_over_a_tie_that_would_swallow_the_band() -> None:
    p = np.concatenate([np.full(900, 0.01), np.full(80, 0.2), np.full(20, 0.5)])  # isotonic-like steps
    assert np.mean(p >= top_cut(p, 0.05)) == pytest.approx(0.02)  # 0.02 is closer to 0.05 than 0.10
    assert np.mean(p >= top_cut(p, 0.09)) == pytest.approx(0.10)


def test_band_week_is_the_week_of_the_programme_year() -> None:
    assert list(band_week(np.array([0.0, 1.0, 39.0, 40.0, 85.0, -3.0]))) == [0, 1, 39, 0, 5, 0]


def test_interpolated_isotonic_ranks_every_student_and_keeps_the_fit() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(-4.0, 1.0, 40_000)
    y = (rng.random(len(raw)) < 1.0 / (1.0 + np.exp(-raw))).astype(int)
    steps = IsotonicRegression(out_of_bounds="clip").fit(raw, y).predict(raw)
    calibrator = Calibrator.fit(raw, y, "isotonic")
    p = calibrator.transform(raw)
    assert len(np.unique(steps)) < 100  # plain isotonic: whole steps of students share a probability
    inside = (raw > calibrator.model.centres[0]) & (raw < calibrator.model.centres[-1])
    assert len(np.unique(p[inside])) == inside.sum()  # every raw score its own probability
    order = np.argsort(raw)
    assert np.all(np.diff(p[order]) >= 0)  # still monotone
    assert p.mean() == pytest.approx(y.mean(), abs=0.001)  # calibration in the large kept
    # each isotonic block's mean is the curve's value at the block's centre
    model = calibrator.model
    assert np.allclose(model.predict(model.centres), model.values)


def test_a_model_trained_before_interpolation_keeps_its_steps() -> None:
    rng = np.random.default_rng(4)
    raw = rng.normal(-4.0, 1.0, 5000)
    y = (rng.random(len(raw)) < 0.05).astype(int)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    old = Calibrator(
        method="isotonic", model=iso, bin_edges=np.array([raw.min(), raw.max()]), bin_counts=np.array([5000])
    )
    assert np.array_equal(old.transform(raw), np.clip(iso.predict(raw), 0.0, 1.0))  # replay unchanged
