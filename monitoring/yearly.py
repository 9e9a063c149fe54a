"""The yearly vsv figures the national dashboards give: per school year, per level and per team, the share
of students enrolled on the reference date who left without a startkwalificatie that school year.

Definition (in the spirit of DUO's yearly vsv figure, peildatum 1 oktober): the students enrolled in the
school year's reference week (:data:`REFERENCE_WEEK_OF_YEAR`, about 1 October: started by then and not left
before it) form the denominator; those of them whose outcome is ``vsv`` in a week of the same school year
form the numerator. A school year whose last week is not in the store yet is marked incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from data.calendar import WEEKS_PER_YEAR, school_year_index
from data.vocabulary import VSV_OUTCOMES

REFERENCE_WEEK_OF_YEAR = 4  # the fifth school week (counted from 0): about 1 October
GroupKind = Literal["level", "team", "all"]


@dataclass(frozen=True, kw_only=True)
class YearlyRate:
    school_year: int  # index: 0 = the store's first school year
    kind: GroupKind
    group: str
    enrolled: int
    vsv: int
    complete: bool  # False while the school year has not ended in the store

    @property
    def rate(self) -> float | None:
        return self.vsv / self.enrolled if self.enrolled else None


def enrolled_at(students: pd.DataFrame, outcomes: pd.DataFrame, week: int) -> pd.DataFrame:
    """The students enrolled in ``week``: started by then and without an outcome before it."""
    left_before = set(outcomes.loc[outcomes["week"] < week, "student_id"])
    started = students[students["start_week"] <= week]
    return started[~started["student_id"].isin(left_before)]


def yearly_rates(students: pd.DataFrame, outcomes: pd.DataFrame, latest_week: int) -> list[YearlyRate]:
    """Every school year up to ``latest_week``: the rate for all students, per level and per team."""
    rates: list[YearlyRate] = []
    for year in range(school_year_index(latest_week) + 1):
        reference = year * WEEKS_PER_YEAR + REFERENCE_WEEK_OF_YEAR
        if reference > latest_week:
            continue
        cohort = enrolled_at(students, outcomes, reference)
        left = outcomes["outcome"].isin(VSV_OUTCOMES)
        in_year = outcomes[left & (outcomes["week"].map(school_year_index) == year)]
        cohort = cohort.assign(vsv=cohort["student_id"].isin(set(in_year["student_id"])))
        complete = latest_week >= (year + 1) * WEEKS_PER_YEAR - 1
        groups: list[tuple[GroupKind, str, pd.DataFrame]] = [("all", "alle studenten", cohort)]
        groups += [("level", str(level), part) for level, part in cohort.groupby("level")]
        groups += [("team", str(team), part) for team, part in cohort.groupby("team")]
        rates += [
            YearlyRate(
                school_year=year,
                kind=kind,
                group=group,
                enrolled=len(part),
                vsv=int(part["vsv"].sum()),
                complete=complete,
            )
            for kind, group, part in groups
        ]
    return rates
