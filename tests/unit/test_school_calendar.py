"""The school calendar: school weeks get dates and Dutch labels, and a bad calendar file is refused."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine

from data.calendar import (
    DEFAULT_CALENDAR_PATH,
    WEEKS_PER_YEAR,
    SchoolCalendar,
    cached_school_calendar,
    current_week,
    fallback_week_label,
    iso_week_number,
    load_school_calendar,
    week_friday,
    week_label,
    week_label_or_fallback,
    week_monday,
    week_of_date,
)
from data.context import build_context
from settings import Settings


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_school_calendar()


def _raw_default() -> dict[str, Any]:
    raw = yaml.safe_load(DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "kalender.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


# --- The shipped calendar ----------------------------------------------------------------------------------


def test_default_calendar_covers_the_demo_school(calendar: SchoolCalendar) -> None:
    """The generator makes three school years (weeks 0-119); the default calendar covers them."""
    assert calendar.region == "midden"
    assert [year.name for year in calendar.years] == ["2023-2024", "2024-2025", "2025-2026"]
    assert calendar.last_week == 3 * WEEKS_PER_YEAR - 1 == 119


def test_every_year_has_40_school_weeks(calendar: SchoolCalendar) -> None:
    for year in calendar.years:
        mondays = year.school_week_mondays
        assert len(mondays) == WEEKS_PER_YEAR, year.name
        assert len(set(mondays)) == WEEKS_PER_YEAR
        assert all(m.weekday() == 0 for m in mondays)
        assert mondays == tuple(sorted(mondays))
        # The first school week holds the first school day; the last ends before the zomervakantie.
        assert mondays[0] <= year.first_school_day <= mondays[0] + timedelta(days=4)
        assert mondays[-1] + timedelta(days=4) < year.summer_holiday.start
        # Every year has the four holidays between its first school day and the zomervakantie.
        names = {h.name for h in year.holidays if h.kind == "vakantie"}
        assert names == {"herfstvakantie", "kerstvakantie", "voorjaarsvakantie", "meivakantie"}
        assert year.summer_holiday.name == "zomervakantie"


def test_years_follow_each_other(calendar: SchoolCalendar) -> None:
    for before, after in zip(calendar.years, calendar.years[1:], strict=False):
        assert after.first_school_day > before.summer_holiday.end
        # The next school year starts the Monday after the zomervakantie.
        assert after.first_school_day == before.summer_holiday.end + timedelta(days=1)


@pytest.mark.parametrize(
    ("week", "label"),
    [
        # School year starts.
        (0, "wk 34, 21-25 aug"),
        (40, "wk 35, 26-30 aug"),
        (80, "wk 36, 1-5 sep"),
        # School year ends (the last school week before the afsluitweken and the zomervakantie).
        (39, "wk 26, 24-28 jun"),
        (79, "wk 27, 30 jun-4 jul"),
        (119, "wk 28, 6-10 jul"),
        # Around the herfstvakantie: the week after is one school week later, not the holiday week.
        (7, "wk 41, 9-13 okt"),
        (8, "wk 43, 23-27 okt"),
        (48, "wk 43, 21-25 okt"),
        (49, "wk 45, 4-8 nov"),
        (86, "wk 42, 13-17 okt"),
        (87, "wk 44, 27-31 okt"),
        # Around the kerstvakantie (and across the turn of the calendar year).
        (16, "wk 51, 18-22 dec"),
        (17, "wk 2, 8-12 jan"),
        (55, "wk 51, 16-20 dec"),
        (56, "wk 2, 6-10 jan"),
        (94, "wk 51, 15-19 dec"),
        (95, "wk 2, 5-9 jan"),
        # Around the voorjaarsvakantie.
        (22, "wk 7, 12-16 feb"),
        (23, "wk 9, 26 feb-1 mrt"),
        (62, "wk 8, 17-21 feb"),
        (63, "wk 10, 3-7 mrt"),
        (100, "wk 7, 9-13 feb"),
        (101, "wk 9, 23-27 feb"),
        # Around the meivakantie.
        (31, "wk 17, 22-26 apr"),
        (32, "wk 19, 6-10 mei"),
        (70, "wk 17, 21-25 apr"),
        (71, "wk 19, 5-9 mei"),
        (109, "wk 17, 20-24 apr"),
        (110, "wk 19, 4-8 mei"),
        # Across month ends.
        (1, "wk 35, 28 aug-1 sep"),
        (9, "wk 44, 30 okt-3 nov"),
        (20, "wk 5, 29 jan-2 feb"),
        (45, "wk 40, 30 sep-4 okt"),
        (67, "wk 14, 31 mrt-4 apr"),
        (84, "wk 40, 29 sep-3 okt"),
        (106, "wk 14, 30 mrt-3 apr"),
        (118, "wk 27, 29 jun-3 jul"),
    ],
)
def test_week_labels(calendar: SchoolCalendar, week: int, label: str) -> None:
    assert week_label(calendar, week) == label


def test_dates_and_iso_week(calendar: SchoolCalendar) -> None:
    assert week_monday(calendar, 0) == date(2023, 8, 21)
    assert week_friday(calendar, 0) == date(2023, 8, 25)
    assert iso_week_number(calendar, 0) == 34
    assert week_monday(calendar, 119) == date(2026, 7, 6)
    assert week_friday(calendar, 119) == date(2026, 7, 10)
    assert iso_week_number(calendar, 17) == 2


def test_the_week_after_each_holiday_is_the_next_school_week(calendar: SchoolCalendar) -> None:
    for y, year in enumerate(calendar.years):
        for holiday in year.holidays:
            if holiday.kind != "vakantie":
                continue
            before = week_of_date(calendar, holiday.start - timedelta(days=1))  # the Friday/weekend before
            after = week_of_date(calendar, holiday.end + timedelta(days=1))  # the Monday after
            assert before is not None and after is not None, holiday.name
            assert after == before + 1, (year.name, holiday.name)
            assert y * WEEKS_PER_YEAR <= before < after < (y + 1) * WEEKS_PER_YEAR
            # No day of the holiday belongs to a school week, except its first weekend when the holiday
            # starts on a Saturday: week_of_date reads Monday-Sunday weeks, so that weekend ends the week
            # before.
            day = holiday.start
            while day <= holiday.end:
                first_weekend = day.weekday() >= 5 and day - holiday.start < timedelta(days=2)
                assert week_of_date(calendar, day) == (before if first_weekend else None), (holiday.name, day)
                day += timedelta(days=1)


def test_round_trip_for_every_week(calendar: SchoolCalendar) -> None:
    for week in range(calendar.last_week + 1):
        monday = week_monday(calendar, week)
        assert monday.weekday() == 0
        assert week_friday(calendar, week) == monday + timedelta(days=4)
        assert iso_week_number(calendar, week) == monday.isocalendar().week
        for offset in range(7):  # Monday to Sunday of the week
            assert week_of_date(calendar, monday + timedelta(days=offset)) == week
            assert current_week(calendar, monday + timedelta(days=offset)) == week
        if week:
            assert monday > week_monday(calendar, week - 1)


def test_week_of_date_outside_school_weeks(calendar: SchoolCalendar) -> None:
    assert week_of_date(calendar, date(2023, 8, 20)) is None  # the Sunday before week 0
    assert week_of_date(calendar, date(2024, 7, 1)) is None  # afsluitweken, not counted
    assert week_of_date(calendar, date(2024, 8, 1)) is None  # zomervakantie
    assert week_of_date(calendar, date(2026, 9, 7)) is None  # a school year the calendar does not have
    assert week_of_date(calendar, date(2020, 1, 6)) is None


def test_current_week(calendar: SchoolCalendar) -> None:
    assert current_week(calendar, date(2023, 11, 22)) == 12
    # In a holiday: the last school week before it.
    assert current_week(calendar, date(2023, 10, 18)) == 7
    assert current_week(calendar, date(2024, 1, 1)) == 16
    # In the zomervakantie between two years: the last school week of the year before.
    assert current_week(calendar, date(2024, 8, 10)) == 39
    assert current_week(calendar, date(2024, 8, 26)) == 40
    assert current_week(calendar, date(2026, 8, 1)) == 119
    # Before the calendar, and after the zomervakantie of its last year.
    assert current_week(calendar, date(2023, 8, 20)) is None
    assert current_week(calendar, date(2026, 8, 31)) is None


@pytest.mark.parametrize("week", [-1, 120, 10_000])
def test_weeks_outside_the_calendar(calendar: SchoolCalendar, week: int) -> None:
    for function in (week_label, week_monday, week_friday, iso_week_number):
        with pytest.raises(ValueError) as refused:
            function(calendar, week)
        message = str(refused.value)
        assert f"school week {week} " in message
        assert "weeks 0-119" in message
        assert "2023-2024 to 2025-2026" in message
    assert fallback_week_label(week) == f"schoolweek {week}"
    assert week_label_or_fallback(calendar, week) == f"schoolweek {week}"


def test_label_or_fallback_inside_the_calendar(calendar: SchoolCalendar) -> None:
    assert week_label_or_fallback(calendar, 0) == "wk 34, 21-25 aug"


def test_a_week_across_the_turn_of_the_year(tmp_path: Path) -> None:
    """A school week from December into January: "wk 1, 30 dec-3 jan"."""
    raw = _raw_default()
    year = raw["years"][1]  # 2024-2025: the kerstvakantie moved one week later
    kerst = next(h for h in year["holidays"] if h["name"] == "kerstvakantie")
    kerst["start"], kerst["end"] = date(2024, 12, 14), date(2024, 12, 29)
    calendar = load_school_calendar(_write(tmp_path, raw))
    week = week_of_date(calendar, date(2024, 12, 31))
    assert week is not None
    assert week_label(calendar, week) == "wk 1, 30 dec-3 jan"
    assert week_label(calendar, week - 1) == "wk 50, 9-13 dec"


def test_cached_loader_reads_once() -> None:
    assert cached_school_calendar() is cached_school_calendar()
    assert cached_school_calendar() == load_school_calendar(DEFAULT_CALENDAR_PATH)


# --- A bad calendar file is refused, naming the file and the problem -------------------------------------


def _refused(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = _write(tmp_path, raw)
    with pytest.raises(ValueError) as refused:
        load_school_calendar(path)
    message = str(refused.value)
    assert str(path) in message
    return message


def test_overlapping_holidays_are_refused(tmp_path: Path) -> None:
    raw = _raw_default()
    holidays = raw["years"][0]["holidays"]
    herfst = next(h for h in holidays if h["name"] == "herfstvakantie")
    holidays.append({"name": "studieweek", "start": herfst["end"], "end": date(2023, 10, 27)})
    message = _refused(tmp_path, raw)
    assert "2023-2024" in message
    assert "herfstvakantie" in message and "studieweek" in message and "overlap" in message


def test_a_year_with_the_wrong_number_of_weeks_is_refused(tmp_path: Path) -> None:
    raw = _raw_default()
    year = raw["years"][1]
    year["holidays"] = [h for h in year["holidays"] if h["name"] != "afsluitweken"]
    message = _refused(tmp_path, raw)
    assert "school year 2024-2025 has 42 school weeks" in message
    assert "exactly 40" in message


def test_a_year_with_too_few_weeks_is_refused(tmp_path: Path) -> None:
    raw = _raw_default()
    raw["years"][2]["holidays"].append(
        {"name": "projectweek", "start": date(2026, 3, 9), "end": date(2026, 3, 13), "kind": "niet_geteld"}
    )
    assert "school year 2025-2026 has 39 school weeks" in _refused(tmp_path, raw)


def test_years_out_of_order_are_refused(tmp_path: Path) -> None:
    raw = _raw_default()
    raw["years"] = [raw["years"][1], raw["years"][0], raw["years"][2]]
    message = _refused(tmp_path, raw)
    assert "out of order" in message and "2023-2024" in message and "2024-2025" in message


def test_a_gap_between_years_is_refused(tmp_path: Path) -> None:
    raw = _raw_default()
    raw["years"] = [raw["years"][0], raw["years"][2]]
    assert "out of order" in _refused(tmp_path, raw)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda raw: raw["years"][0].update(first_school_day=date(2023, 8, 19)), "not a weekday"),
        (lambda raw: raw["years"][0].update(name="2023-2025"), "two consecutive years"),
        (lambda raw: raw["years"][0].update(first_school_day=date(2022, 8, 22)), "is not in 2023"),
        (lambda raw: raw["years"][0]["holidays"][0].update(end=date(2023, 10, 1)), "before start"),
        (
            lambda raw: raw["years"][0]["holidays"][0].update(start=date(2024, 7, 20), end=date(2024, 7, 21)),
            "not between the first school day",
        ),
        (lambda raw: raw.update(region="oost"), "region"),
        (lambda raw: raw.update(years=[]), "years"),
        (lambda raw: raw["years"][0]["holidays"][0].update(naam="x"), "naam"),
    ],
)
def test_other_mistakes_are_refused(tmp_path: Path, change: Any, problem: str) -> None:
    raw = copy.deepcopy(_raw_default())
    change(raw)
    assert problem in _refused(tmp_path, raw)


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "geen.yaml"
    with pytest.raises(ValueError, match="cannot read school calendar configuration") as refused:
        load_school_calendar(missing)
    assert str(missing) in str(refused.value)
    broken = tmp_path / "kapot.yaml"
    broken.write_text("years: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read school calendar configuration"):
        load_school_calendar(broken)


# --- Settings and the deployment context ---------------------------------------------------------------


def test_context_carries_the_configured_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine("sqlite://")
    try:
        default = build_context(Settings(var_dir=tmp_path), engine=engine)
        assert default.calendar == load_school_calendar()

        raw = _raw_default()
        raw["years"] = raw["years"][:1]
        custom = _write(tmp_path, raw)
        monkeypatch.setenv("VSV_CALENDAR_CONFIG", str(custom))
        settings = Settings(var_dir=tmp_path)
        assert settings.calendar_config == custom
        context = build_context(settings, engine=engine)
        assert context.calendar.last_week == WEEKS_PER_YEAR - 1
        assert week_label(context.calendar, 0) == "wk 34, 21-25 aug"
    finally:
        engine.dispose()


def test_context_refuses_a_bad_calendar(tmp_path: Path) -> None:
    raw = _raw_default()
    raw["years"] = list(reversed(raw["years"]))
    path = _write(tmp_path, raw)
    engine = create_engine("sqlite://")
    try:
        with pytest.raises(ValueError, match="invalid school calendar configuration") as refused:
            build_context(Settings(var_dir=tmp_path, calendar_config=path), engine=engine)
        assert str(path) in str(refused.value)
    finally:
        engine.dispose()
