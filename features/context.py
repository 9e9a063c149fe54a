"""Context: what the school knows about the student's programme and entry, as of ``as_of``.

* ``level`` (1 = entree .. 4), ``route_bbl`` (1 = BBL, 0 = BOL, missing when the route is ``onbekend``);
* ``year_of_study``: ``1 + (as_of - start_week) // 40``, capped at ``expected_duration_years``;
* ``weeks_since_start``: ``as_of - start_week``;
* ``over_18``: ``age_at_start + (as_of - start_week) / 40 >= 18`` (the legal regime changes at 18; the
  age itself is deliberately not a feature: it was one of the proxies in the DUO case);
* ``prior_{category}``: prior education one-hot over :data:`PRIOR_EDUCATION_CATEGORIES`, plus
  ``prior_other`` for a missing value, ``overig`` or ``onbekend``. One-hot rather than codes, so that each
  category has its own line in the register (justification, Dutch description, proxy check) and its own
  explanation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from data.vocabulary import LEVELS, PRIOR_EDUCATION, ROUTES, UNKNOWN
from features.windows import FloatArray, indicator

PRIOR_EDUCATION_CATEGORIES = PRIOR_EDUCATION
PRIOR_OTHER = "other"


def prior_feature_names() -> tuple[str, ...]:
    return tuple(f"prior_{c}" for c in (*PRIOR_EDUCATION_CATEGORIES, PRIOR_OTHER))


def age_at(enrolled: pd.DataFrame, as_of: int) -> FloatArray:
    """Age in years at the end of ``as_of`` (40 school weeks to a year)."""
    start = enrolled["start_week"].to_numpy(dtype=np.float64)
    out: FloatArray = enrolled["age_at_start"].to_numpy(dtype=np.float64) + (as_of - start) / WEEKS_PER_YEAR
    return out


def context_features(enrolled: pd.DataFrame, as_of: int) -> pd.DataFrame:
    """Context features, one row per student of ``enrolled`` (index ``student_id``, same order).

    Raises :class:`ValueError` on a level outside 1..4 or a route other than BOL/BBL.
    """
    level = enrolled["level"]
    bad_level = ~level.isin(LEVELS)
    if bad_level.any():
        sid = enrolled.loc[bad_level, "student_id"].iloc[0]
        raise ValueError(f"students: student {sid} has level {level[bad_level].iloc[0]!r}, expected 1..4")
    route = enrolled["route"].astype(str).str.upper()
    unknown_route = route.eq(UNKNOWN.upper())
    bad_route = ~route.isin(ROUTES) & ~unknown_route
    if bad_route.any():
        sid = enrolled.loc[bad_route, "student_id"].iloc[0]
        raise ValueError(
            f"students: student {sid} has route {route[bad_route].iloc[0]!r}, expected BOL, BBL or onbekend"
        )

    start = enrolled["start_week"].to_numpy(dtype=np.int64)
    since = as_of - start
    duration = enrolled["expected_duration_years"].to_numpy(dtype=np.int64)
    columns: dict[str, FloatArray] = {
        "level": level.to_numpy(dtype=np.float64),
        # An unknown route is missing (NaN), which the booster handles, not a guess of BOL.
        "route_bbl": np.where(unknown_route.to_numpy(), np.nan, indicator(route == "BBL")),
        "year_of_study": np.minimum(1 + since // WEEKS_PER_YEAR, np.maximum(duration, 1)).astype(np.float64),
        "weeks_since_start": since.astype(np.float64),
        "over_18": indicator(age_at(enrolled, as_of) >= 18.0),
    }
    prior = enrolled["prior_education"].astype("string").str.strip().str.lower()
    known = prior.isin(PRIOR_EDUCATION_CATEGORIES).fillna(False).to_numpy(dtype=bool)
    for category in PRIOR_EDUCATION_CATEGORIES:
        columns[f"prior_{category}"] = indicator((prior == category).fillna(False))
    columns[f"prior_{PRIOR_OTHER}"] = indicator(~known)
    return pd.DataFrame(columns, index=pd.Index(enrolled["student_id"]))
