"""The future-knowing oracle: the true probability of vsv within a horizon, from the generator's stored
hazards along the student's realised path.

The generator stores, per student and week, the weekly hazards of vsv, of a switch and of graduating,
following the student's true latent path. The oracle risk at ``as_of`` over ``horizon`` school weeks is

    P(vsv in (as_of, as_of + h]) = sum_k h_vsv(k) * prod_{j<k} (1 - h_vsv(j) - h_switch(j)) (1 - h_grad(j))

It knows the true latent path, including its future shocks and life events, so it is a ceiling no model can
reach (scored as :data:`ORACLE_FUTURE`). The best probability anyone could give in the as-of week itself is
the present-knowledge oracle (:mod:`data.synthetic.present_oracle`, scored as ``oracle_present``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import DEFAULT_HORIZON

ORACLE_FUTURE = "oracle_future"


def oracle_future_risk(
    truth: pd.DataFrame, as_of: int, horizon: int = DEFAULT_HORIZON, id_column: str = "student_id"
) -> pd.Series:
    """True vsv risk per student over ``(as_of, as_of + horizon]``, knowing the realised future path.

    ``truth`` has the columns of the ``synthetic_truth`` table. Students without hazards in the window
    (they started later, or left more than a year before) are absent from the result.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, got {horizon}")
    window = truth[(truth["week"] > as_of) & (truth["week"] <= as_of + horizon)]
    window = window.sort_values([id_column, "week"], kind="stable")
    stay = (1.0 - window["hazard_vsv"] - window["hazard_switch"]).clip(lower=0.0) * (
        1.0 - window["hazard_graduate"]
    )
    survival_after = stay.groupby(window[id_column]).cumprod()
    survival_before = survival_after / stay.replace(0.0, np.nan)
    survival_before = survival_before.fillna(0.0)
    first = ~window[id_column].duplicated()
    survival_before[first] = 1.0
    risk = (window["hazard_vsv"] * survival_before).groupby(window[id_column]).sum()
    risk.name = ORACLE_FUTURE
    return risk


def oracle_risk(
    truth: pd.DataFrame, as_of: int, horizon: int = DEFAULT_HORIZON, id_column: str = "student_id"
) -> pd.Series:
    """The former name of :func:`oracle_future_risk` (the series is named ``oracle_risk``), kept for
    compatibility."""
    return oracle_future_risk(truth, as_of, horizon, id_column).rename("oracle_risk")


def oracle_future_column(
    frame: pd.DataFrame, truth: pd.DataFrame, horizon: int = DEFAULT_HORIZON, id_column: str = "student_id"
) -> pd.Series:
    """:data:`ORACLE_FUTURE` for every (student, ``as_of``) row of ``frame``, aligned with its index; 0 for
    a student without hazards in the window."""
    parts = [
        pd.DataFrame({"as_of": as_of, id_column: risk.index, ORACLE_FUTURE: risk.to_numpy()})
        for as_of in sorted(frame["as_of"].unique())
        for risk in [oracle_future_risk(truth, int(as_of), horizon, id_column)]
    ]
    keys = frame[["as_of", id_column]]
    if not parts:
        return pd.Series(0.0, index=frame.index, name=ORACLE_FUTURE)
    merged = keys.merge(pd.concat(parts), on=["as_of", id_column], how="left", validate="many_to_one")
    return merged[ORACLE_FUTURE].fillna(0.0).set_axis(frame.index).rename(ORACLE_FUTURE)
