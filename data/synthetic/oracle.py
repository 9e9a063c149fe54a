"""The oracle: the true probability of vsv within a horizon, from the generator's stored hazards.

The generator stores, per student and week, the weekly hazards of vsv, of a switch and of graduating,
following the student's true latent path. The oracle risk at ``as_of`` over ``horizon`` school weeks is

    P(vsv in (as_of, as_of + h]) = sum_k h_vsv(k) * prod_{j<k} (1 - h_vsv(j) - h_switch(j)) (1 - h_grad(j))

It knows the true latent path, including its future shocks, so it is a ceiling no model can reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.calendar import DEFAULT_HORIZON


def oracle_risk(
    truth: pd.DataFrame, as_of: int, horizon: int = DEFAULT_HORIZON, id_column: str = "student_id"
) -> pd.Series:
    """True vsv risk per student over ``(as_of, as_of + horizon]``.

    ``truth`` has the columns of the ``synthetic_truth`` table. Students without hazards in the window
    (they started later) are absent from the result.
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
    risk.name = "oracle_risk"
    return risk
