"""The school calendar as Vroegsignaal counts it.

Time is a global *school week* index: week 0 is the first school week of the first school year in the
store, and every school year has :data:`WEEKS_PER_YEAR` school weeks (holidays are not counted). A school
year has four periods of :data:`WEEKS_PER_PERIOD` weeks; period results are recorded in the last week of
each period.
"""

from __future__ import annotations

WEEKS_PER_YEAR = 40
# The label horizon in school weeks: "vsv within this many weeks after the as-of week". Training may set
# another in training/config.yaml; the model records the one it was trained with, and monitoring reads it
# from the model.
DEFAULT_HORIZON = 12
# The range of the global school week index any file or request may name.
WEEK_MIN, WEEK_MAX = -400, 10_000
PERIODS_PER_YEAR = 4
WEEKS_PER_PERIOD = WEEKS_PER_YEAR // PERIODS_PER_YEAR


def school_year_index(week: int) -> int:
    """0 for the first school year in the store, 1 for the next, and so on."""
    return week // WEEKS_PER_YEAR


def week_in_year(week: int) -> int:
    """1-based week number within its school year (1..40)."""
    return week % WEEKS_PER_YEAR + 1


def period_of(week: int) -> int:
    """1-based period number within its school year (1..4)."""
    return (week % WEEKS_PER_YEAR) // WEEKS_PER_PERIOD + 1


def is_period_end(week: int) -> bool:
    """True in the last week of a period, when results are recorded."""
    return (week % WEEKS_PER_PERIOD) == WEEKS_PER_PERIOD - 1


def year_start(week: int) -> int:
    """The first week of the school year that ``week`` is in."""
    return school_year_index(week) * WEEKS_PER_YEAR
