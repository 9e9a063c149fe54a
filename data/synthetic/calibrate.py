"""Calibrate the level intercepts of the vsv hazard to the yearly targets (a maintenance tool).

Run ``python -m data.synthetic.calibrate`` after changing the hazard model, and copy the printed intercepts
into :mod:`data.synthetic.params`. The tests check that generated rates stay within tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.synthetic import params as P  # noqa: N812
from data.synthetic.generator import GeneratorConfig, generate


def yearly_rates(tables: dict[str, pd.DataFrame], year: int = 0) -> pd.DataFrame:
    """Per student enrolled at the first week of school year ``year``: did they leave as vsv in that year.

    This is the usual definition of a yearly vsv rate: leavers without startkwalificatie during the year
    among those enrolled at its start.
    """
    first, last = year * 40, year * 40 + 39
    students = tables["students"]
    outcomes = tables["outcomes"]
    ended_before = outcomes.loc[outcomes["week"] < first, "student_number"]
    cohort = students[(students["start_week"] <= first) & ~students["student_number"].isin(ended_before)]
    left = outcomes[(outcomes["week"] >= first) & (outcomes["week"] <= last)]
    merged = cohort.merge(left, on="student_number", how="left")
    merged["vsv"] = merged["outcome"].eq("vsv")
    merged["switch"] = merged["outcome"].eq("switch")
    return merged


def calibrate_intercepts(n_students: int = 60_000, rounds: int = 6, seed: int = 12345) -> dict[int, float]:
    """Adjust the intercepts until the yearly vsv rate per level meets its target."""
    for _ in range(rounds):
        tables = generate(GeneratorConfig(seed=seed, n_students=n_students, n_years=1))
        rates = yearly_rates(tables).groupby("level")["vsv"].mean()
        for level, target in P.TARGET_YEARLY_VSV.items():
            P.VSV_INTERCEPT[level] += float(np.log(target / rates[level]))
        print({lv: round(float(rates[lv]), 4) for lv in P.LEVELS})
    return {lv: round(v, 3) for lv, v in P.VSV_INTERCEPT.items()}


if __name__ == "__main__":
    print(calibrate_intercepts())
