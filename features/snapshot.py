"""One feature row per student enrolled at the end of week ``as_of``: the single implementation that
training and serving both call.

Only what was known by the end of ``as_of`` is used: the tables are cut with
:meth:`data.tables.RawTables.until` first, and every window function works on a grid whose last column is
``as_of`` (:mod:`features.windows`), so neither step can look ahead on its own.

Columns of the result, in order:

* ``student_id``;
* the model inputs, :func:`features.register.model_features` (float64, never NaN: every family documents
  its neutral fill and has ``has_*`` missing-value indicators; see :mod:`features.leading`,
  :mod:`features.lagging`, :mod:`features.context`), ending with the college's declared extensions
  (:mod:`features.school_signals`);
* ``flag_leerplicht_16u``, ``flag_4_weeks_absent``: the legal reporting thresholds (bool), shown next to
  the model, not inputs of it;
* ``insufficient_data`` (bool), see :func:`insufficient_data`.

Bad raw data raises :class:`ValueError` naming the table, the student and the week: duplicate rows,
answers outside the scale, negative or impossible hours, incomplete rows. Rows of students that are not
enrolled and answers to items not in the questionnaire are ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.extensions import cached_extensions
from data.questionnaire import Questionnaire, cached_questionnaire
from data.tables import RawTables
from features.context import age_at, context_features
from features.lagging import (
    ATTENDANCE_WINDOW,
    attendance_features,
    legal_flags,
    progress_features,
    results_as_progress,
)
from features.leading import QUESTIONNAIRE_WINDOW, leading_features
from features.population import enrolled_students
from features.register import excluded_features, model_features
from features.school_signals import extension_features

FLAG_COLUMNS = ("flag_leerplicht_16u", "flag_4_weeks_absent")
# How far back a snapshot reads weekly answers and attendance: loading only weeks after
# ``as_of - LOOKBACK_WEEKS`` gives the same snapshot (progress results are read whole).
LOOKBACK_WEEKS = max(ATTENDANCE_WINDOW, QUESTIONNAIRE_WINDOW)
MIN_WEEKS_SINCE_START = 3


def insufficient_data(
    weeks_since_start: pd.Series, answered_8w: pd.Series, attendance_8w: pd.Series
) -> pd.Series:
    """True when a score would rest on too little: show "te weinig gegevens" instead of trusting it.

    The rule: the student started fewer than :data:`MIN_WEEKS_SINCE_START` weeks ago (research on mbo:
    teachers' judgement beats models in the first weeks), or there are neither questionnaire answers nor
    scheduled attendance hours in the latest 8 weeks.
    """
    nothing_recent = (answered_8w <= 0) & (attendance_8w <= 0)
    out = (weeks_since_start < MIN_WEEKS_SINCE_START) | nothing_recent
    return out.astype(bool).rename("insufficient_data")


def snapshot(tables: RawTables, as_of: int, questionnaire: Questionnaire | None = None) -> pd.DataFrame:
    """Features of every student enrolled at the end of ``as_of``, sorted by ``student_id``."""
    q = questionnaire or cached_questionnaire()
    known = tables.until(as_of)
    enrolled = enrolled_students(known, as_of)
    parts = [
        leading_features(known.questionnaire_answers, enrolled, as_of, q),
        attendance_features(known.attendance_weeks, enrolled, as_of),
        progress_features(
            results_as_progress(known.progress_results, known.assessment_results), enrolled, as_of
        ),
        context_features(enrolled, as_of),
        extension_features(known.school_signals, enrolled, cached_extensions().extensions),
    ]
    joined = pd.concat(parts, axis=1)
    columns = model_features(q)
    missing = [c for c in columns if c not in joined.columns]
    if missing:
        raise RuntimeError(f"features computed do not match the register: missing {missing}")
    flags = legal_flags(
        age_at(enrolled, as_of),
        joined["unauth_hours_4w"].to_numpy(),
        joined["_unauth_streak"].to_numpy(),
    )
    # Columns decided out of the inputs (register ``input: false``) stay in the snapshot, so a model trained
    # before the decision keeps scoring until it is replaced; no new model takes them in.
    retired = [e.name for e in excluded_features() if e.name in joined.columns and e.name not in columns]
    out = joined.loc[:, [*columns, *retired]].reset_index(names="student_id")
    for name in FLAG_COLUMNS:
        out[name] = flags[name].to_numpy(dtype=bool)
    out["insufficient_data"] = insufficient_data(
        out["weeks_since_start"], out["q_response_rate_8w"], out["has_attendance_8w"]
    ).to_numpy()
    if out.empty:
        out = out.astype({c: np.float64 for c in columns})
    return out
