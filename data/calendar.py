"""The school calendar as Vroegsignaal counts it.

Time is a global *school week* index: week 0 is the first school week of the first school year in the
store, and every school year has :data:`WEEKS_PER_YEAR` school weeks (holidays are not counted). A school
year has four periods of :data:`WEEKS_PER_PERIOD` weeks; period results are recorded in the last week of
each period.

People never see the index: the school calendar (:class:`SchoolCalendar`, read from
``data/school_calendar.yaml`` or ``VSV_CALENDAR_CONFIG`` by :func:`load_school_calendar`) gives every school
week its dates, and :func:`week_label` its Dutch label ("wk 47, 17-21 nov"). Nothing here runs on import.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

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


# --- The school calendar: dates for the school week index ----------------------------------------------
#
# Staff speak of ISO weeks ("week 47") and of dates, never of the index. The school calendar (one YAML
# file, ``data/school_calendar.yaml`` by default, or ``VSV_CALENDAR_CONFIG``) ties every school week of the
# store to its Monday-Friday dates. The functions below are pure: they take the calendar as an argument.

DEFAULT_CALENDAR_PATH = Path(__file__).with_name("school_calendar.yaml")
Region = Literal["noord", "midden", "zuid"]
HolidayKind = Literal["vakantie", "niet_geteld"]
# Dutch month abbreviations, as in "wk 47, 17-21 nov".
DUTCH_MONTHS = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
_SCHOOL_DAYS = 5  # Monday to Friday


def _monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


class Holiday(BaseModel):
    """A period without school weeks, both dates inclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=2, max_length=60)
    start: date
    end: date
    kind: HolidayKind = "vakantie"

    @model_validator(mode="after")
    def _check(self) -> Holiday:
        if self.end < self.start:
            raise ValueError(f"holiday {self.name}: end {self.end} is before start {self.start}")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class SchoolYear(BaseModel):
    """One school year: its first school day, its holidays and the zomervakantie that ends it.

    A Monday-Friday week from the week of the first school day up to the zomervakantie is a school week
    unless all five weekdays fall in holidays; a year must have exactly :data:`WEEKS_PER_YEAR` of them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^\d{4}-\d{4}$")
    first_school_day: date
    holidays: tuple[Holiday, ...] = ()
    summer_holiday: Holiday
    _mondays: tuple[date, ...] = PrivateAttr(default=())

    @property
    def start_year(self) -> int:
        return int(self.name[:4])

    @property
    def school_week_mondays(self) -> tuple[date, ...]:
        """The Monday of each of the year's school weeks, in order (40 of them)."""
        return self._mondays

    @field_validator("holidays")
    @classmethod
    def _in_date_order(cls, holidays: tuple[Holiday, ...]) -> tuple[Holiday, ...]:
        return tuple(sorted(holidays, key=lambda h: h.start))

    @model_validator(mode="after")
    def _check(self) -> SchoolYear:
        first, second = (int(part) for part in self.name.split("-"))
        if second != first + 1:
            raise ValueError(
                f"school year {self.name}: the name must be two consecutive years, e.g. 2024-2025"
            )
        if self.first_school_day.year != first:
            raise ValueError(
                f"school year {self.name}: the first school day {self.first_school_day} is not in {first}"
            )
        if self.first_school_day.weekday() >= _SCHOOL_DAYS:
            raise ValueError(
                f"school year {self.name}: the first school day {self.first_school_day} is not a weekday"
            )
        ordered = self.holidays
        for before, after in pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(
                    f"school year {self.name}: holidays {before.name} ({before.start} to {before.end}) and "
                    f"{after.name} ({after.start} to {after.end}) overlap"
                )
        summer = self.summer_holiday
        for holiday in ordered:
            if holiday.start <= self.first_school_day or holiday.end >= summer.start:
                raise ValueError(
                    f"school year {self.name}: holiday {holiday.name} ({holiday.start} to {holiday.end}) is "
                    f"not between the first school day {self.first_school_day} and the {summer.name} "
                    f"({summer.start})"
                )
        if summer.start <= self.first_school_day:
            raise ValueError(
                f"school year {self.name}: the {summer.name} ({summer.start}) starts before the first school "
                f"day {self.first_school_day}"
            )
        mondays: list[date] = []
        monday = _monday_of(self.first_school_day)
        while monday < summer.start:
            weekdays = (monday + timedelta(days=i) for i in range(_SCHOOL_DAYS))
            if not all(any(h.covers(day) for h in ordered) for day in weekdays):
                mondays.append(monday)
            monday += timedelta(days=7)
        if len(mondays) != WEEKS_PER_YEAR:
            raise ValueError(
                f"school year {self.name} has {len(mondays)} school weeks between its first school day "
                f"{self.first_school_day} and the {summer.name} ({summer.start}); it must have exactly "
                f"{WEEKS_PER_YEAR}: add or remove holidays or niet_geteld weeks"
            )
        self._mondays = tuple(mondays)
        return self


class SchoolCalendar(BaseModel):
    """The school years in the store, in order: school week 0 is the first school week of the first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: Region
    source: str | None = None
    years: tuple[SchoolYear, ...] = Field(min_length=1)
    _mondays: tuple[date, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _check(self) -> SchoolCalendar:
        for before, after in pairwise(self.years):
            if after.start_year != before.start_year + 1:
                raise ValueError(
                    f"school years out of order: {after.name} follows {before.name}; list consecutive "
                    f"school years, oldest first"
                )
            if after.first_school_day <= before.summer_holiday.end:
                raise ValueError(
                    f"school year {after.name} starts on {after.first_school_day}, before the "
                    f"{before.summer_holiday.name} of {before.name} ends ({before.summer_holiday.end})"
                )
        self._mondays = tuple(m for year in self.years for m in year.school_week_mondays)
        return self

    @property
    def last_week(self) -> int:
        """The last school week index the calendar covers (the first is 0)."""
        return len(self.years) * WEEKS_PER_YEAR - 1

    @property
    def covered(self) -> str:
        """The school weeks and years covered, for messages: "weeks 0-119 (school years 2023-2024 to ...)"."""
        names = (
            self.years[0].name if len(self.years) == 1 else f"{self.years[0].name} to {self.years[-1].name}"
        )
        return f"weeks 0-{self.last_week} (school years {names})"

    def monday(self, week: int) -> date:
        """The Monday of school week ``week``; :class:`ValueError` outside the configured years."""
        if not 0 <= week <= self.last_week:
            raise ValueError(
                f"school week {week} is outside the school calendar, which covers {self.covered}"
            )
        return self._mondays[week]

    def year_of(self, week: int) -> SchoolYear:
        """The school year of school week ``week``; :class:`ValueError` outside the configured years."""
        self.monday(week)
        return self.years[school_year_index(week)]

    def week_starting(self, monday: date) -> int | None:
        """The school week whose Monday is ``monday``, or None."""
        index = bisect_left(self._mondays, monday)
        return index if index < len(self._mondays) and self._mondays[index] == monday else None

    def first_from(self, monday: date) -> int:
        """The first school week whose Monday is on or after ``monday`` (the week after the last one when
        there is none)."""
        return bisect_left(self._mondays, monday)

    def latest_started(self, day: date) -> int | None:
        """The last school week whose Monday is on or before ``day`` (None before week 0)."""
        index = bisect_right(self._mondays, day) - 1
        return index if index >= 0 else None


def load_school_calendar(path: Path | None = None) -> SchoolCalendar:
    """Read and validate a school calendar file; errors name the file and the problem."""
    source = path or DEFAULT_CALENDAR_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read school calendar configuration {source}: {exc}") from exc
    try:
        return SchoolCalendar.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"invalid school calendar configuration {source}: {exc}") from exc


@lru_cache(maxsize=8)
def cached_school_calendar(path: Path | None = None) -> SchoolCalendar:
    """:func:`load_school_calendar`, read once per path."""
    return load_school_calendar(path)


def week_monday(calendar: SchoolCalendar, week: int) -> date:
    """The Monday of school week ``week``. Raises :class:`ValueError` (naming the week and the years
    covered) for a week outside the configured school years."""
    return calendar.monday(week)


def week_friday(calendar: SchoolCalendar, week: int) -> date:
    """The Friday of school week ``week`` (:class:`ValueError` as :func:`week_monday`)."""
    return calendar.monday(week) + timedelta(days=_SCHOOL_DAYS - 1)


def iso_week_number(calendar: SchoolCalendar, week: int) -> int:
    """The ISO (calendar) week number staff use for school week ``week``: "week 47"."""
    return calendar.monday(week).isocalendar().week


DAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
MONTHS_NL = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


def day_name(day: date) -> str:
    """A day as people say it: "dinsdag 1 december" (pages, e-mails and the students' pages alike)."""
    return f"{DAYS_NL[day.weekday()]} {day.day} {MONTHS_NL[day.month - 1]}"


def _day_month(day: date) -> str:
    return f"{day.day} {DUTCH_MONTHS[day.month - 1]}"


def week_label(calendar: SchoolCalendar, week: int) -> str:
    """The Dutch label of school week ``week``: ISO week number and Monday-Friday dates.

    "wk 47, 17-21 nov"; a week across two months "wk 5, 30 jan-3 feb"; across the turn of the year
    "wk 1, 30 dec-3 jan". Raises :class:`ValueError` outside the configured years; callers that must show
    something then use :func:`fallback_week_label` (or :func:`week_label_or_fallback`).
    """
    monday = calendar.monday(week)
    friday = monday + timedelta(days=_SCHOOL_DAYS - 1)
    iso = monday.isocalendar().week
    if monday.month == friday.month:
        return f"wk {iso}, {monday.day}-{_day_month(friday)}"
    return f"wk {iso}, {_day_month(monday)}-{_day_month(friday)}"


def fallback_week_label(week: int) -> str:
    """The label of a school week the calendar does not cover: "schoolweek 130"."""
    return f"schoolweek {week}"


def week_label_or_fallback(calendar: SchoolCalendar, week: int) -> str:
    """:func:`week_label`, or :func:`fallback_week_label` for a week outside the configured years."""
    if 0 <= week <= calendar.last_week:
        return week_label(calendar, week)
    return fallback_week_label(week)


def week_of_date(calendar: SchoolCalendar, day: date) -> int | None:
    """The school week that ``day`` falls in (its Monday-Sunday week), or None when that week is no school
    week: a holiday, a niet_geteld week, the zomervakantie, or outside the configured years."""
    return calendar.week_starting(_monday_of(day))


# How a date in an export becomes a school week (data.contracts.Column.dates):
#   in_school_week  the date must fall in a school week (a weekly row: answers, attendance)
#   on_or_before    the last school week that began by the date (an end, a result): a date in a holiday
#                   counts in the school week before it
#   on_or_after     the school week the date falls in or, in a holiday, the next one (a start)
# The last two also place a date outside the configured years (a start years ago, an expected end years
# ahead): it is counted as the same date in the nearest configured school year, that many school years
# (of WEEKS_PER_YEAR weeks) earlier or later. A start in September 2021 in a calendar that begins with
# 2023-2024 is week (its week in 2023-2024) - 80.
DateRule = Literal["in_school_week", "on_or_before", "on_or_after"]
# A school year, for placing dates outside the calendar, runs from 1 August.
_SCHOOL_YEAR_FIRST_MONTH = 8
_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_DUTCH_DAY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def looks_like_day(text: str) -> bool:
    """True for text written as a date: ISO ``2024-09-02`` (an Excel cell's ``2024-09-02 00:00:00`` too)
    or Dutch ``2-9-2024`` / ``02/09/2024`` (day first)."""
    return bool(_ISO_DAY.match(text) or _DUTCH_DAY.match(text))


def parse_day(text: str) -> date:
    """The date that :func:`looks_like_day` text stands for; :class:`ValueError` for text that is no date
    (``2024-02-30``, ``13-13-2024``)."""
    iso = _ISO_DAY.match(text)
    dutch = _DUTCH_DAY.match(text)
    if iso is not None:
        year, month, day = (int(g) for g in iso.groups())
    elif dutch is not None:
        day, month, year = (int(g) for g in dutch.groups())
    else:
        raise ValueError(f"{text!r} is not a date (write 2024-09-02 or 2-9-2024)")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a date that exists") from None


def _school_year_of(day: date) -> int:
    return day.year if day.month >= _SCHOOL_YEAR_FIRST_MONTH else day.year - 1


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without it
        return day.replace(year=day.year + years, day=28)


def school_week_of(calendar: SchoolCalendar, day: date, rule: DateRule) -> int | None:
    """The school week that ``day`` stands for under ``rule`` (see :data:`DateRule`); None only for
    ``in_school_week`` when the date is in no school week of the calendar (a holiday, a niet_geteld week,
    the zomervakantie, or outside the configured years)."""
    if rule == "in_school_week":
        return week_of_date(calendar, day)
    first, last = calendar.years[0].start_year, calendar.years[-1].start_year
    year = _school_year_of(day)
    shift = first - year if year < first else (last - year if year > last else 0)
    moved = _add_years(day, shift)
    if rule == "on_or_before":
        started = calendar.latest_started(moved)
        week = -1 if started is None else started
    else:
        week = calendar.first_from(_monday_of(moved))
    return week - shift * WEEKS_PER_YEAR


def date_in_week(calendar: SchoolCalendar, week: int, weekday: int = 0) -> date:
    """A date in school week ``week`` (``weekday`` 0 = Monday to 4 = Friday), as an export writes it. A
    week outside the configured years is placed as :func:`school_week_of` reads it back: in the nearest
    configured year, moved that many years (so ``school_week_of`` of the date, by any rule, is ``week``)."""
    if not 0 <= weekday < _SCHOOL_DAYS:
        raise ValueError(f"weekday must be 0 (Monday) to 4 (Friday), got {weekday}")
    last = calendar.last_week
    if week < 0:
        shift = -((WEEKS_PER_YEAR - 1 - week) // WEEKS_PER_YEAR)
    elif week > last:
        shift = (week - last + WEEKS_PER_YEAR - 1) // WEEKS_PER_YEAR
    else:
        shift = 0
    day = calendar.monday(week - shift * WEEKS_PER_YEAR) + timedelta(days=weekday)
    return _add_years(day, shift)


def no_school_week(calendar: SchoolCalendar, day: date) -> str:
    """Why ``day`` is in no school week, for messages: "in the herfstvakantie of 2023-2024", "outside the
    school calendar, which covers weeks 0-119 (...)"."""
    for year in calendar.years:
        for holiday in (*year.holidays, year.summer_holiday):
            monday = _monday_of(day)
            if any(holiday.covers(monday + timedelta(days=i)) for i in range(_SCHOOL_DAYS)):
                what = "a week the college does not count" if holiday.kind == "niet_geteld" else "the"
                return f"in {what} {holiday.name} of {year.name}"
    return f"outside the school calendar, which covers {calendar.covered}"


def current_week(calendar: SchoolCalendar, today: date) -> int | None:
    """The school week in progress on ``today``; during a holiday or the zomervakantie the last school week
    before it (the latest week that has begun). None before school week 0 and after the zomervakantie
    of the last configured school year (add the next year to the calendar then)."""
    if today > calendar.years[-1].summer_holiday.end:
        return None
    return calendar.latest_started(today)
