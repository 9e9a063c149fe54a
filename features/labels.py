"""Labels: what happened to a student in the ``horizon`` school weeks after ``as_of``.

For every student enrolled at the end of ``as_of`` (the same population as :func:`features.snapshot`):

* ``outcome_in_horizon``: the outcome recorded in weeks ``(as_of, as_of + horizon]`` ("vsv", "switch",
  "graduated"), or "enrolled" when there is none;
* ``vsv``: 1 when that outcome is vsv, else 0. A switch to another programme is never vsv;
* ``label_mature``: the horizon has passed, ``as_of + horizon <= max_week`` (by default the last week in
  ``attendance_weeks``). An immature "enrolled" label may still turn into an outcome, so train and
  evaluate on mature labels only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import DEFAULT_HORIZON
from data.tables import RawTables
from data.vocabulary import OUTCOMES, VSV_OUTCOMES
from features.population import enrolled_students

STILL_ENROLLED = "enrolled"


def labels(
    tables: RawTables, as_of: int, horizon: int = DEFAULT_HORIZON, max_week: int | None = None
) -> pd.DataFrame:
    """Columns ``student_id``, ``vsv``, ``outcome_in_horizon``, ``label_mature``, sorted by ``student_id``.

    Raises :class:`ValueError` on a horizon below 1 week, an unknown outcome, or a student with more
    than one outcome row.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, got {horizon}")
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
    in_horizon = outcomes.loc[
        (outcomes["week"] > as_of) & (outcomes["week"] <= as_of + horizon), ["student_id", "outcome"]
    ]
    out = enrolled.merge(in_horizon, on="student_id", how="left", validate="one_to_one")
    out["outcome_in_horizon"] = out.pop("outcome").fillna(STILL_ENROLLED).astype(str)
    # Leaving without a startkwalificatie, also after completing a programme that gives none.
    out["vsv"] = out["outcome_in_horizon"].isin(VSV_OUTCOMES).astype(np.int8)
    out["label_mature"] = as_of + horizon <= max_week
    return out[["student_id", "vsv", "outcome_in_horizon", "label_mature"]]
