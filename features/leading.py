"""Leading indicators: what the student says in the weekly questionnaire, here and now.

All windows end at ``as_of``; the widest is :data:`QUESTIONNAIRE_WINDOW` weeks: the latest
:data:`RECENT_WEEKS` weeks and a baseline of the weeks before them.

Per scale item ``{code}`` of the questionnaire (column names use the item codes of the config):

* ``q_{code}_latest``: the latest answer in the window;
* ``q_{code}_mean_4w``: mean of the answers in the latest 4 weeks;
* ``q_{code}_trend_6w``: least-squares slope (scale points per week) over the answers of the latest 6 weeks;
* ``q_{code}_change``: ``mean_4w`` minus the student's own baseline (mean of the 12 weeks before).

The same four for ``q_index``: the composite wellbeing index, per week the mean over all scale items of
the answer rescaled to 0 (worst) .. 1 (best), using ``higher_is_better``. And:
``q_weeks_since_response``, ``q_response_rate_8w`` (weeks answered / weeks enrolled in the latest 8),
``q_wants_to_talk_4w`` (help item answered "yes" in the latest 4 weeks), ``has_questionnaire_4w`` and
``has_questionnaire_baseline``.

NaN policy (the model never sees a NaN): without answers, ``latest`` and ``mean_4w`` take the scale
midpoint (index: 0.5), ``trend`` and ``change`` take 0 (no movement known), ``q_weeks_since_response``
takes :data:`QUESTIONNAIRE_WINDOW` ("that many or more"), the response rate is 0; the indicators
``has_questionnaire_4w`` / ``has_questionnaire_baseline`` tell the model which values were filled.

Bad data: an answer outside ``scale_min..scale_max`` (or a help answer other than 0/1) raises
:class:`ValueError`; a NaN answer is "not answered"; answers to items that are not in the questionnaire
configuration (a retired item) are ignored.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from data.questionnaire import Questionnaire
from features.grid import GridRows, item_positions, window_rows
from features.windows import (
    FloatArray,
    any_week,
    fill,
    indicator,
    latest,
    ols_slope,
    take_cells,
    weeks_in_window,
    window_mean,
)

QUESTIONNAIRE_WINDOW = 16
RECENT_WEEKS = 4
TREND_WEEKS = 6
RESPONSE_WEEKS = 8
INDEX_NAME = "index"


def _item_codes(rows: GridRows, codes: tuple[str, ...]) -> npt.NDArray[np.int16]:
    """Position of each row's item in ``codes``; -1 for an item not in the configuration."""
    column = rows.source["item"]
    lookup = pd.Index(codes)
    if isinstance(column.dtype, pd.CategoricalDtype):
        per_category = lookup.get_indexer(column.cat.categories.astype(str)).astype(np.int16)
        category = column.cat.codes.to_numpy()[rows.row]
        return np.where(category >= 0, per_category[category], np.int16(-1)).astype(np.int16)
    return lookup.get_indexer(pd.Index(rows.column("item").astype(str))).astype(np.int16)


def _check_scale(rows: GridRows, item: npt.NDArray[np.int16], questionnaire: Questionnaire) -> None:
    value = np.asarray(pd.to_numeric(rows.column("value")))
    help_index = len(questionnaire.items)
    is_help = item == help_index
    scale_bad = ~is_help & ((value < questionnaire.scale_min) | (value > questionnaire.scale_max))
    help_bad = is_help & (value != 0) & (value != 1) & pd.notna(value)
    bad = np.flatnonzero(scale_bad | help_bad)
    if len(bad):
        row = int(bad[0])
        allowed = "0 or 1" if is_help[row] else f"{questionnaire.scale_min}..{questionnaire.scale_max}"
        raise ValueError(
            f"{rows.table}: answer {float(value[row]):g} to item {rows.value_of(row, 'item')!r} for "
            f"{rows.describe(row)} is outside the scale ({allowed})"
        )


def _statistics(grid: FloatArray, neutral: float) -> dict[str, FloatArray]:
    """The four per-item statistics of a (students, weeks) answer grid, NaN filled by policy."""
    last, _ = latest(grid)
    recent = window_mean(grid, RECENT_WEEKS)
    baseline = window_mean(grid, grid.shape[1], skip_last=RECENT_WEEKS)
    return {
        "latest": fill(last, neutral),
        "mean_4w": fill(recent, neutral),
        "trend_6w": fill(ols_slope(grid, TREND_WEEKS), 0.0),
        "change": fill(recent - baseline, 0.0),
    }


def leading_features(
    answers: pd.DataFrame, enrolled: pd.DataFrame, as_of: int, questionnaire: Questionnaire
) -> pd.DataFrame:
    """Questionnaire features, one row per student of ``enrolled`` (index ``student_id``, same order)."""
    ids = pd.Index(enrolled["student_id"])
    n = len(ids)
    rows = window_rows(answers, "questionnaire_answers", ids, as_of, QUESTIONNAIRE_WINDOW, ("value",))
    codes = questionnaire.all_codes
    item = _item_codes(rows, codes)
    known = item >= 0
    rows, item = rows.subset(known), item[known]
    _check_scale(rows, item, questionnaire)
    positions = item_positions(rows, item, len(codes))
    values = rows.column("value")
    del item, rows

    lo, hi = float(questionnaire.scale_min), float(questionnaire.scale_max)
    midpoint = (lo + hi) / 2.0
    columns: dict[str, FloatArray] = {}
    index_sum = np.zeros((n, QUESTIONNAIRE_WINDOW))
    index_count = np.zeros((n, QUESTIONNAIRE_WINDOW))
    for k, spec in enumerate(questionnaire.items):
        grid = take_cells(values, positions[:, :, k])
        for stat, column in _statistics(grid, midpoint).items():
            columns[f"q_{spec.code}_{stat}"] = column
        oriented = (grid - lo) / (hi - lo)
        if not spec.higher_is_better:
            oriented = 1.0 - oriented
        answered = ~np.isnan(oriented)
        index_sum += np.where(answered, oriented, 0.0)
        index_count += answered
        del grid, oriented, answered
    with np.errstate(divide="ignore", invalid="ignore"):
        index_grid = np.where(index_count > 0, index_sum / np.maximum(index_count, 1.0), np.nan)
    for stat, column in _statistics(index_grid, 0.5).items():
        columns[f"q_{INDEX_NAME}_{stat}"] = column

    help_grid = take_cells(values, positions[:, :, len(questionnaire.items)])
    responded = any_week(positions >= 0, axis=2)
    _, since = latest(np.where(responded, 1.0, np.nan))
    enrolled_weeks = weeks_in_window(enrolled["start_week"].to_numpy(dtype=np.int64), as_of, RESPONSE_WEEKS)
    answered_weeks = responded[:, -RESPONSE_WEEKS:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(enrolled_weeks > 0, answered_weeks / np.maximum(enrolled_weeks, 1.0), 0.0)
    columns["q_weeks_since_response"] = fill(since, float(QUESTIONNAIRE_WINDOW))
    columns["q_response_rate_8w"] = np.clip(rate, 0.0, 1.0)
    columns["q_wants_to_talk_4w"] = indicator(any_week(help_grid[:, -RECENT_WEEKS:] == 1.0))
    columns["has_questionnaire_4w"] = indicator(any_week(responded[:, -RECENT_WEEKS:]))
    columns["has_questionnaire_baseline"] = indicator(any_week(responded[:, :-RECENT_WEEKS]))
    return pd.DataFrame(columns, index=ids)
