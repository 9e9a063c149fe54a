"""The CSV column contract of every raw table: the one place that says what a school's export must hold.

Every file carries the student either as ``student_number`` (the school's own number, pseudonymised on
the way in and never stored) or as ``student_id`` (an existing pseudonym, as written by ``vsv export``).
The one exception is the identity table (``identities``, :attr:`TableContract.identifying`): names for the
people who need them, kept apart from the pseudonymised tables. Its file must carry ``student_number``,
which is pseudonymised to ``student_id`` like everywhere else *and* kept, in clear, in that table only.
The README's column tables are checked against this module by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from data.calendar import WEEK_MAX, WEEK_MIN, DateRule
from data.vocabulary import (
    GENDER_CODES,
    MIGRATION_CODES,
    OUTCOMES,
    PRIOR_EDUCATION_CODES,
    ROUTE_CODES,
    SECTOR_CODES,
    UNKNOWN,
)

Kind = Literal["int", "float", "str"]


@dataclass(frozen=True)
class Column:
    """One column of a table's CSV file."""

    name: str
    kind: Kind
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None
    optional: bool = False  # an empty cell is stored as NULL instead of being refused
    # A column the file may leave out, and an empty cell of it: both stand for this value (e.g. an audit
    # attribute the school does not record is "onbekend"); the import report says so.
    default: str | None = None
    # A column the file may leave out altogether (an optional column: every row is then NULL).
    may_be_left_out: bool = False
    # A week column that also takes a date (ISO 2024-09-02 or Dutch 2-9-2024), turned into a school week
    # through the school calendar by this rule (data.calendar.DateRule); None: week numbers only.
    dates: DateRule | None = None


@dataclass(frozen=True)
class TableContract:
    """The columns of one table besides the student, and the key that identifies a row."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # True for the identity table: its file must hold ``student_number``, which is stored (in clear) beside
    # the pseudonym; the table is kept apart from the pseudonymised ones (see data.store.TABLE_ORDER).
    identifying: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.column_names if c not in self.key)

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Columns as stored: student_id first (then, for the identity table, the student number)."""
        if self.identifying:
            return ("student_id", STUDENT_NUMBER, *self.column_names)
        return ("student_id", *self.column_names)


WEEK = Column(
    "week",
    "int",
    "global school week (0 = first week of the first school year), or a date in that school week",
    min=WEEK_MIN,
    max=WEEK_MAX,
    dates="in_school_week",
)
RESULT_WEEK = Column(
    "week",
    "int",
    "global school week of the result, or its date (a date in a holiday counts in the school week before)",
    min=WEEK_MIN,
    max=WEEK_MAX,
    dates="on_or_before",
)
HOURS_MAX = 60.0
AGE_MIN, AGE_MAX = 15, 70
STUDENT_NUMBER = "student_number"
STUDENT_NUMBER_MAX_LENGTH = 40
NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
IDENTITIES = "identities"
SCHOOL_SIGNALS = "school_signals"
ASSESSMENT_RESULTS = "assessment_results"

CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (
        TableContract(
            "students",
            "one row per enrolment",
            (
                Column("programme", "str", "programme name", max_length=80),
                Column("sector", "str", "sector of the programme", choices=SECTOR_CODES),
                Column("level", "int", "1 = entree, 2, 3, 4", min=1, max=4),
                Column(
                    "route", "str", "BOL (school-based), BBL (work-based) or onbekend", choices=ROUTE_CODES
                ),
                Column("team", "str", "class or team, used for mentor lists", max_length=40),
                Column(
                    "prior_education", "str", "education before this programme", choices=PRIOR_EDUCATION_CODES
                ),
                Column(
                    "start_week",
                    "int",
                    "week the programme started (may be before week 0), or the start date (a date in a "
                    "holiday counts in the school week after it)",
                    min=WEEK_MIN,
                    max=WEEK_MAX,
                    dates="on_or_after",
                ),
                # Adult learners (BBL, second chances) start well after 27.
                Column("age_at_start", "float", "age in years at start_week", min=AGE_MIN, max=AGE_MAX),
                Column("expected_duration_years", "int", "nominal length of the programme", min=1, max=4),
                Column(
                    "expected_end_week",
                    "int",
                    "the student's own expected last week (a programme of 30 weeks, a later intake), or "
                    "its date; may be empty or left out: then start_week + expected_duration_years * 40 - 1",
                    min=WEEK_MIN,
                    max=WEEK_MAX,
                    optional=True,
                    may_be_left_out=True,
                    dates="on_or_before",
                ),
            ),
            key=(),
        ),
        TableContract(
            "audit_attributes",
            "protected attributes, for audits only; never a model input",
            (
                Column(
                    "gender",
                    "str",
                    "man, vrouw, x or onbekend; may be left out (then onbekend)",
                    choices=GENDER_CODES,
                    default=UNKNOWN,
                ),
                Column(
                    "migration_background",
                    "str",
                    "geen, westers, niet_westers or onbekend; may be left out (then onbekend)",
                    choices=MIGRATION_CODES,
                    default=UNKNOWN,
                ),
            ),
            key=(),
        ),
        TableContract(
            "questionnaire_answers",
            "one row per answered item per week",
            (
                WEEK,
                Column("item", "str", "item code from the questionnaire configuration", max_length=40),
                Column(
                    "value",
                    "int",
                    "answer on the item's scale; the help item is 0 (no) or 1 (yes)",
                    min=0,
                    max=10,
                ),
            ),
            key=("week", "item"),
        ),
        TableContract(
            "attendance_weeks",
            "hours per student per week",
            (
                WEEK,
                Column("scheduled_hours", "float", "hours scheduled", min=0, max=HOURS_MAX),
                Column("present_hours", "float", "hours present", min=0, max=HOURS_MAX),
                Column(
                    "authorised_absence_hours",
                    "float",
                    "authorised absence (illness, appointments)",
                    min=0,
                    max=HOURS_MAX,
                ),
                Column("unauthorised_absence_hours", "float", "unauthorised absence", min=0, max=HOURS_MAX),
            ),
            key=("week",),
        ),
        TableContract(
            "progress_results",
            "credits per period, recorded in the period's last week",
            (
                RESULT_WEEK,
                Column(
                    "period", "int", "period of the school year, 1-4; the week must lie in it", min=1, max=4
                ),
                Column("credits_expected", "float", "credits planned in the period", min=0, max=200),
                Column("credits_obtained", "float", "credits obtained in the period", min=0, max=200),
                Column("units_failed", "int", "units failed in the period", min=0, max=50),
            ),
            key=("week",),
        ),
        TableContract(
            "outcomes",
            "how and when an enrolment ended; students still enrolled have no row",
            (
                Column(
                    "week",
                    "int",
                    "global school week of the end, or its date (a date in a holiday counts in the school "
                    "week before); empty when the school has no date: the import week (the school "
                    "calendar's week of the day of the import) stands in",
                    min=WEEK_MIN,
                    max=WEEK_MAX,
                    optional=True,
                    dates="on_or_before",
                ),
                Column(
                    "outcome",
                    "str",
                    "vsv, switch, graduated or completed_no_sq (completed without a startkwalificatie, "
                    "then left: counted as vsv)",
                    choices=OUTCOMES,
                ),
            ),
            key=(),
        ),
        TableContract(
            ASSESSMENT_RESULTS,
            "one row per assessment result (toets, examen, beoordeling), for a school that has no "
            "per-period results",
            (
                RESULT_WEEK,
                Column("assessment", "str", "the assessment's code or name", max_length=80),
                Column("credits", "float", "credits the assessment is worth (0: formative)", min=0, max=60),
                Column("passed", "int", "1 = passed (voldaan), 0 = not passed", min=0, max=1),
                Column("score", "float", "the mark, 1-10 (may be empty)", min=1, max=10, optional=True),
            ),
            key=("week", "assessment"),
        ),
        TableContract(
            SCHOOL_SIGNALS,
            "a college's own signals, declared in the extension register (data/extensions.py)",
            (
                Column(
                    "week",
                    "int",
                    "global school week the value was known from, or its date (a date in a holiday counts "
                    "in the school week before)",
                    min=WEEK_MIN,
                    max=WEEK_MAX,
                    dates="on_or_before",
                ),
                Column(
                    "feature",
                    "str",
                    "the name of a declared extension (features/extensions.yaml)",
                    max_length=40,
                ),
                Column("value", "float", "the value; within the extension's min and max when declared"),
            ),
            key=("week", "feature"),
        ),
        TableContract(
            "synthetic_truth",
            "generated data only: true weekly hazards (the oracle)",
            (
                WEEK,
                Column("hazard_vsv", "float", "true weekly vsv hazard", min=0, max=1),
                Column("hazard_switch", "float", "true weekly switch hazard", min=0, max=1),
                Column("hazard_graduate", "float", "true graduation probability this week", min=0, max=1),
                Column(
                    "multi_problem", "int", "1 when the student has several problems at once", min=0, max=1
                ),
                Column(
                    "hazard_vsv_untreated",
                    "float",
                    "true weekly vsv hazard had no measure been taken (empty: no measure touched the week)",
                    min=0,
                    max=1,
                    optional=True,
                ),
            ),
            key=("week",),
        ),
        TableContract(
            IDENTITIES,
            "names for the people who need them; kept apart, never a model input",
            (
                Column("given_name", "str", "roepnaam or given name", max_length=NAME_MAX_LENGTH),
                Column(
                    "name_prefix",
                    "str",
                    "tussenvoegsel such as 'van der' (may be empty)",
                    max_length=NAME_MAX_LENGTH,
                    optional=True,
                ),
                Column("family_name", "str", "family name without the prefix", max_length=NAME_MAX_LENGTH),
                Column(
                    "email",
                    "str",
                    "e-mail address (may be empty)",
                    max_length=EMAIL_MAX_LENGTH,
                    optional=True,
                ),
            ),
            key=(),
            identifying=True,
        ),
    )
}


def contract(table: str) -> TableContract:
    """The contract of ``table``, with a clear error for an unknown name."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; known tables: {', '.join(CONTRACTS)}") from None
