"""Dates where weeks are (issue 17): an export's dates become school weeks through the school calendar,
by the rule of each column; a date that is no date, or a weekly row in a holiday, is refused with its line
and writes nothing. A student's own expected end may be given, left empty or left out."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from data.calendar import (
    WEEKS_PER_YEAR,
    DateRule,
    SchoolCalendar,
    date_in_week,
    load_school_calendar,
    looks_like_day,
    parse_day,
    school_week_of,
)
from data.csv_io import CsvImportError, import_files
from data.questionnaire import Questionnaire
from data.store import read_table
from tests.conftest import TEST_KEY


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return load_school_calendar()  # 2023-2024 to 2025-2026, regio midden; week 0 is 21-25 aug 2023


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-09-02", date(2024, 9, 2)),
        ("2024-09-02 00:00:00", date(2024, 9, 2)),  # an Excel date cell read as text
        ("2-9-2024", date(2024, 9, 2)),  # Dutch: day first
        ("02/09/2024", date(2024, 9, 2)),
        ("2.9.2024", date(2024, 9, 2)),
    ],
)
def test_dates_are_read_iso_and_day_first(text: str, day: date) -> None:
    assert looks_like_day(text)
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["12", "-3", "2024", "2024-9", "week 12", "2,5"])
def test_week_numbers_are_not_dates(text: str) -> None:
    assert not looks_like_day(text)


@pytest.mark.parametrize("text", ["2024-02-30", "31-04-2024", "13/13/2024"])
def test_a_date_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a date that exists"):
        parse_day(text)


def test_a_date_in_a_school_week_is_that_week_under_every_rule(calendar: SchoolCalendar) -> None:
    wednesday = date(2023, 10, 4)  # school week 6 (2-6 okt 2023)
    rules: tuple[DateRule, ...] = ("in_school_week", "on_or_before", "on_or_after")
    for rule in rules:
        assert school_week_of(calendar, wednesday, rule) == 6, rule
    assert school_week_of(calendar, date(2023, 10, 8), "in_school_week") == 6  # the Sunday after


def test_a_date_in_a_holiday_counts_before_or_after_by_the_rule(calendar: SchoolCalendar) -> None:
    herfst = date(2023, 10, 18)  # herfstvakantie 14-22 okt 2023, between weeks 7 and 8
    assert school_week_of(calendar, herfst, "in_school_week") is None
    assert school_week_of(calendar, herfst, "on_or_before") == 7
    assert school_week_of(calendar, herfst, "on_or_after") == 8
    summer = date(2024, 7, 30)  # zomervakantie after week 39
    assert school_week_of(calendar, summer, "on_or_before") == 39
    assert school_week_of(calendar, summer, "on_or_after") == 40


def test_a_start_or_an_end_outside_the_calendar_is_placed_whole_school_years_away(
    calendar: SchoolCalendar,
) -> None:
    # A third-year student started in September 2021; the calendar begins with 2023-2024.
    in_first_year = school_week_of(calendar, date(2023, 9, 6), "on_or_after")
    assert in_first_year == 2
    assert school_week_of(calendar, date(2021, 9, 6), "on_or_after") == 2 - 2 * WEEKS_PER_YEAR
    # An expected end in 2028; the calendar's last year is 2025-2026 (weeks 80-119).
    last_year = school_week_of(calendar, date(2026, 1, 30), "on_or_before")
    assert last_year is not None and 80 <= last_year <= 119
    assert school_week_of(calendar, date(2028, 1, 30), "on_or_before") == last_year + 2 * WEEKS_PER_YEAR
    # A weekly row outside the calendar has no week.
    assert school_week_of(calendar, date(2028, 1, 31), "in_school_week") is None


def _students(small_csv_dir: Path, n: int = 4) -> pd.DataFrame:
    return pd.read_csv(small_csv_dir / "students.csv", dtype=str).head(n)


def test_an_export_with_dates_stores_the_same_weeks_as_one_with_week_numbers(
    store: Engine,
    small_csv_dir: Path,
    tmp_path: Path,
    questionnaire: Questionnaire,
    calendar: SchoolCalendar,
) -> None:
    students = _students(small_csv_dir)
    numbers = students["student_number"]
    attendance = pd.read_csv(small_csv_dir / "attendance_weeks.csv", dtype=str)
    weekly = attendance["student_number"].isin(numbers) & (attendance["week"].astype(int) >= 8)
    attendance = attendance[weekly].head(30).reset_index(drop=True)
    assert len(attendance) == 30

    by_week = tmp_path / "weeks"
    by_week.mkdir()
    starts = ["2", "2", "8", "2"]
    students.assign(start_week=starts, expected_end_week="30").to_csv(by_week / "students.csv", index=False)
    attendance.to_csv(by_week / "attendance_weeks.csv", index=False)
    import_files(store, sorted(by_week.iterdir()), TEST_KEY, questionnaire, calendar=calendar)
    stored_students = read_table(store, "students")
    stored_attendance = read_table(store, "attendance_weeks")

    by_date = tmp_path / "dates"
    by_date.mkdir()
    assert calendar.monday(2) == date(2023, 9, 4)
    # Week 2 is 4-8 sep 2023; a start in the herfstvakantie (18 okt) counts in the week after it (8).
    dated_starts = ["4-9-2023", "2023-09-06", "2023-10-18", "04/09/2023"]
    end_friday = (calendar.monday(30) + timedelta(days=4)).isoformat()
    dated = students.assign(start_week=dated_starts, expected_end_week=end_friday)
    dated.to_csv(by_date / "students.csv", sep=";", index=False)
    fridays = {w: (calendar.monday(w) + timedelta(days=4)).isoformat() for w in range(calendar.last_week + 1)}
    dated_attendance = attendance.assign(week=attendance["week"].astype(int).map(fridays))
    dated_attendance.to_csv(by_date / "attendance_weeks.csv", sep=";", index=False)
    reports = import_files(store, sorted(by_date.iterdir()), TEST_KEY, questionnaire, calendar=calendar)

    assert all((r.inserted, r.updated) == (0, 0) for r in reports), "the dates gave exactly the weeks"
    pd.testing.assert_frame_equal(read_table(store, "students"), stored_students)
    pd.testing.assert_frame_equal(read_table(store, "attendance_weeks"), stored_attendance)
    notes = {r.table: " ".join(r.notes) for r in reports}
    assert "column 'week': 30 dates read as school weeks" in notes["attendance_weeks"]
    assert "each date must fall in a school week" in notes["attendance_weeks"]
    assert "column 'start_week': 4 dates" in notes["students"]
    assert "counts in the school week after it" in notes["students"]
    assert "column 'expected_end_week': 4 dates" in notes["students"]


def test_a_weekly_row_in_a_holiday_or_an_impossible_date_is_refused_and_nothing_is_written(
    store: Engine,
    small_csv_dir: Path,
    tmp_path: Path,
    questionnaire: Questionnaire,
    calendar: SchoolCalendar,
) -> None:
    students = _students(small_csv_dir, 2).assign(start_week="0")
    attendance = pd.DataFrame(
        {
            "student_number": students["student_number"].tolist() * 2,
            "week": ["2023-10-18", "2023-10-02", "2023-02-30", "3"],
            "scheduled_hours": "20",
            "present_hours": "18",
            "authorised_absence_hours": "1",
            "unauthorised_absence_hours": "1",
        }
    )
    students.to_csv(tmp_path / "students.csv", index=False)
    attendance.to_csv(tmp_path / "attendance_weeks.csv", index=False)
    files = [tmp_path / "students.csv", tmp_path / "attendance_weeks.csv"]
    with pytest.raises(CsvImportError) as refused:
        import_files(store, files, TEST_KEY, questionnaire, calendar=calendar)
    message = str(refused.value)
    assert "attendance_weeks.csv, line 2, column 'week': '2023-10-18' is in no school week: in the" in message
    assert "herfstvakantie of 2023-2024" in message
    assert "line 4, column 'week': '2023-02-30' is not a date that exists" in message
    assert "line 3" not in message  # 2 okt 2023 is school week 6
    assert read_table(store, "students").empty and read_table(store, "attendance_weeks").empty

    # Without a school calendar a date cannot be read: the message says to give the week.
    with pytest.raises(CsvImportError, match="there is no school calendar to read it: give the week"):
        import_files(store, files, TEST_KEY, questionnaire)


def test_the_expected_end_may_be_given_empty_or_left_out(
    store: Engine, small_csv_dir: Path, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    students = _students(small_csv_dir, 3)
    students["expected_end_week"] = ["29", "", ""]
    path = tmp_path / "students.csv"
    students.to_csv(path, index=False)
    import_files(store, [path], TEST_KEY, questionnaire)
    ends = read_table(store, "students")["expected_end_week"]
    assert sorted(ends.fillna(-1).astype(int)) == [-1, -1, 29]
    (again,) = import_files(store, [path], TEST_KEY, questionnaire)
    assert (again.inserted, again.updated) == (0, 0), "an empty end compares equal to the stored NULL"

    # A file without the column at all imports too: every end empty, so one row changes.
    left_out = tmp_path / "left_out"
    left_out.mkdir()
    students.drop(columns="expected_end_week").to_csv(left_out / "students.csv", index=False)
    (report,) = import_files(store, [left_out / "students.csv"], TEST_KEY, questionnaire)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    assert read_table(store, "students")["expected_end_week"].isna().all()


def test_a_written_date_reads_back_as_its_week_by_every_rule(calendar: SchoolCalendar) -> None:
    """date_in_week (the school-style export) and school_week_of (the import) are each other's inverse,
    also for weeks before and after the configured years."""
    rules: tuple[DateRule, ...] = ("on_or_before", "on_or_after")
    for week in range(-3 * WEEKS_PER_YEAR, calendar.last_week + 3 * WEEKS_PER_YEAR):
        for weekday in range(5):
            day = date_in_week(calendar, week, weekday)
            assert all(school_week_of(calendar, day, rule) == week for rule in rules), (week, weekday, day)
            if 0 <= week <= calendar.last_week:
                assert school_week_of(calendar, day, "in_school_week") == week
