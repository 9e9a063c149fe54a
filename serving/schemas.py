"""Request (``*In``) and response (``*Out``) schemas of the API, kept apart.

No response schema has a field for a protected attribute (gender, migration background): they live in the
audit-only table and never leave the store through this API. Names and student numbers (the identity
table) appear only in the fields ``name`` and ``student_number``, filled for the roles that may see them
(:func:`workflows.identity.display_names`) and None for every other role.

Every string a request carries (path, query or body) has one of the constrained types below: at most as
long as the column it is compared with or stored in (the lengths are read from the table declarations in
:mod:`data.schema`), and without control characters (PostgreSQL refuses NUL; names hold no line breaks,
texts may). Every number is bounded: weeks by the school calendar (:data:`Week`), floats finite
(:data:`FiniteFloat`). So a request the store could not take is a 422, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from data.calendar import WEEK_MAX, WEEK_MIN
from data.schema import QuestionnaireAnswer, Score, Student, User
from data.vocabulary import (
    BAND_ELEVATED,
    BAND_HIGH,
    BAND_LOW,
    DECISION_LATER,
    DECISION_NOT_PLACED,
    DECISION_PLACED,
)
from workflows.identity import MIN_REASON_LENGTH

Week = Annotated[int, Field(ge=WEEK_MIN, le=WEEK_MAX, description="Global school week index.")]
# A week in a JSON body: strict, so ``true`` or ``"12"`` is no week (a path, query or form value is text and
# is parsed by :data:`Week` or its own type).
BodyWeek = Annotated[
    int, Field(ge=WEEK_MIN, le=WEEK_MAX, strict=True, description="Global school week index.")
]
# A school week as a query parameter: required, or optional (then the latest scored week).
WeekQuery = Annotated[int, Query(ge=WEEK_MIN, le=WEEK_MAX, description="Global school week index.")]
OptionalWeekQuery = Annotated[
    int | None, Query(ge=WEEK_MIN, le=WEEK_MAX, description="Global school week index; default the latest.")
]


def _iso_day(value: object) -> object:
    """Only a calendar day written as YYYY-MM-DD: pydantic's lax mode would also read ``0`` or ``86400``
    as a Unix timestamp, which the documented ``format: date`` does not allow."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("a day is written as YYYY-MM-DD")
    return date.fromisoformat(value)


# A calendar day (YYYY-MM-DD only), as a query parameter or a body field.
Day = Annotated[date, BeforeValidator(_iso_day)]

# --- constrained strings --------------------------------------------------------------------------------

# A name on one line: no control character at all (C0, DEL).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# A text a person writes: line breaks and tabs allowed, no other control character (NUL above all).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TEXT_MAX = 2000


def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The declared length of a ``String(n)`` column: the longest value a parameter compared with or
    stored in it may have."""
    sql_type = column.property.columns[0].type
    if not isinstance(sql_type, String) or sql_type.length is None:
        raise TypeError(f"{column} has no declared length")
    return sql_type.length


def _name(column: InstrumentedAttribute[Any]) -> Any:
    return StringConstraints(max_length=column_length(column), pattern=NAME_PATTERN)


StudentId = Annotated[str, _name(Student.student_id)]
TeamName = Annotated[str, _name(Student.team)]
UserName = Annotated[str, _name(User.name)]
ItemCode = Annotated[str, _name(QuestionnaireAnswer.item)]
BandName = Annotated[str, _name(Score.band)]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN)]
# One segment of a report's address (folder or file name).
PathSegment = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NAME_PATTERN)]
NoteText = Annotated[str, StringConstraints(max_length=TEXT_MAX, pattern=TEXT_PATTERN)]
ReasonText = Annotated[str, StringConstraints(min_length=3, max_length=TEXT_MAX, pattern=TEXT_PATTERN)]
Text = ReasonText  # the earlier name

# --- bounded numbers ------------------------------------------------------------------------------------

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite returns them without their zone, which RFC 3339 (date-time) needs."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", from_attributes=True)


M = TypeVar("M", bound=BaseModel)


class _WithExtra:
    """A record seen through pydantic's ``from_attributes``, with a few values added beside its own."""

    def __init__(self, record: object, extra: Mapping[str, object]) -> None:
        self._record = record
        self._extra = extra

    def __getattr__(self, name: str) -> object:
        if name in self._extra:
            return self._extra[name]
        return getattr(self._record, name)


def from_record(schema: type[M], record: object, **extra: object) -> M:
    """A response built from a typed record's attributes (and ``extra`` values the record lacks)."""
    return schema.model_validate(_WithExtra(record, extra), from_attributes=True)


def _name_field() -> Any:
    return Field(
        default=None,
        description="The student's name, for the roles that may see it (mentor of the team, zorgteam, "
        "coachklas, admin); else None. Without an identity: the student number or the pseudonym.",
    )


def _number_field() -> Any:
    return Field(
        default=None,
        description="The school's student number, for the roles that may see names; else None.",
    )


def _texts(reasons: Any) -> Any:
    """Stored reasons as their plain-Dutch texts (lists show only the text)."""
    return [getattr(r, "text", r) for r in reasons]


ReasonTexts = Annotated[list[str], BeforeValidator(_texts)]


# --- health ---------------------------------------------------------------------------------------------


class HealthOut(Frozen):
    status: str


class ReadinessOut(Frozen):
    ready: bool
    database: bool
    model_loaded: bool
    model_version: str | None
    problems: list[str]


class MessageOut(Frozen):
    detail: str


# --- scores ---------------------------------------------------------------------------------------------


class ReasonOut(Frozen):
    feature: str
    text: str = Field(description="Plain-Dutch reason, e.g. 'aanwezigheid laatste 4 weken: 62%'.")
    value: float
    contribution: float = Field(description="SHAP contribution on the log-odds scale.")


class FeatureRowIn(Frozen):
    """One feature row, as ``features.snapshot`` makes it, to score on demand (finite numbers only)."""

    features: dict[FeatureName, FiniteFloat] = Field(
        description="Every model input by name.", min_length=1, max_length=1000
    )
    insufficient_data: bool = False


class OnDemandScoreOut(Frozen):
    model_version: str
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    raw_score: float
    base_value: float
    shap_values: dict[str, float]
    reasons: list[ReasonOut]


class LatestActionOut(Frozen):
    action: str
    week: int
    note: str | None
    by: str
    at: UtcDatetime


class OverrideOut(Frozen):
    override_id: int
    student_id: str
    week: int
    model_band: str
    band: str
    reason: str
    by: str
    at: UtcDatetime


class DomainOut(Frozen):
    """What one domain (aanwezigheid, welzijn, studievoortgang) did to a score, in SHAP log-odds."""

    domain: str
    label: str
    up: float = Field(description="Total contribution pushing the risk up (>= 0).")
    down: float = Field(description="Total contribution pushing the risk down (<= 0).")
    reasons: list[str] = Field(default_factory=list, description="This week's reasons in this domain.")


class StudentScoreOut(Frozen):
    student_id: str
    week: int
    team: str = Field(description="The student's current team (access follows it, in every week).")
    model_version: str
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    override: OverrideOut | None = Field(description="A person's band beside the model's, if any.")
    change: float | None = Field(description="Probability minus last week's (None when not scored then).")
    reasons: list[ReasonOut]
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    insufficient_data: bool
    signals: list[str] = Field(
        default_factory=list, description="This week's questionnaire signals in words."
    )
    domains: list[DomainOut] = Field(default_factory=list, description="Per domain: what pushes up or down.")


class RiskListItemOut(Frozen):
    rank: int
    student_id: str
    name: str | None = _name_field()
    student_number: str | None = _number_field()
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    override_band: str | None
    change: float | None
    reasons: ReasonTexts = Field(description="Top reasons in plain Dutch.")
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    insufficient_data: bool
    latest_action: LatestActionOut | None
    shown_band: str = Field(description="The band staff see: the override when there is one, else `band`.")
    new_this_week: bool = Field(description="Rose into verhoogd or hoog this week.")
    open_alert: bool = Field(description="Has a zorgmelding that is not closed (handled by the zorgteam).")
    alert_reasons: list[str] = Field(
        default_factory=list,
        description="Why the zorgmeldingen were raised (never the zorgteam's notes).",
    )
    signals: list[str] = Field(
        default_factory=list, description="This week's questionnaire signals in words."
    )


class RiskListOut(Frozen):
    team: str
    week: int
    model_version: str
    students: list[RiskListItemOut]


# --- weekly job -----------------------------------------------------------------------------------------


class ScoreWeekIn(Frozen):
    week: BodyWeek


class ScoreWeekOut(Frozen):
    week: int
    model_version: str
    students: int
    replaced: int
    seconds: dict[str, float]


# --- actions and overrides ------------------------------------------------------------------------------


# An action type's code: one of the college's configured types (data/action_types.yaml), checked against
# the deployment's list in the route (422 naming the field for an unknown one).
ActionCode = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$"), Field(description="An action type's code.")
]


class ActionTypeOut(Frozen):
    code: str
    label: str = Field(description="What staff read (Dutch).")
    follow_up: bool = Field(description="The form suggests a follow-up date.")
    measure: bool = Field(description="A measure whose effect `vsv effect` estimates.")


class ActionIn(Frozen):
    week: BodyWeek
    action: ActionCode
    note: NoteText | None = None
    owner: UserName | None = Field(default=None, description="Who follows it up (default: who records it).")
    follow_up_on: Day | None = Field(default=None, description="Follow-up date (YYYY-MM-DD), optional.")


class ActionOutcomeKind(StrEnum):
    RESOLVED = "resolved"
    ONGOING = "ongoing"
    REFERRED = "referred"
    STUDENT_LEFT = "student_left"


class OutcomeIn(Frozen):
    """What came of an action; with "ongoing" a new follow-up date may be given."""

    outcome: ActionOutcomeKind
    week: BodyWeek = Field(description="The week the outcome is recorded for (not before the action's week).")
    note: NoteText | None = None
    follow_up_on: Day | None = None


class ActionOut(Frozen):
    action_id: int
    student_id: str
    week: int
    action: str
    action_label: str
    note: str | None
    by: str
    at: UtcDatetime
    owner: str | None
    follow_up_on: date | None
    outcome: str | None
    outcome_label: str | None
    outcome_week: int | None
    outcome_note: str | None
    outcome_by: str | None


class FollowUpOut(Frozen):
    """An open follow-up whose date has come (``state`` overdue or this_week)."""

    action: ActionOut
    team: str
    name: str | None = _name_field()
    student_number: str | None = _number_field()
    state: str = Field(description="overdue (before this school week) or this_week.")


class FollowUpsOut(Frozen):
    today: date = Field(description="The day judged against (the store's latest school week, at most today).")
    overdue: int
    this_week: int
    items: list[FollowUpOut]


class TimelineEventOut(Frozen):
    week: int
    at: UtcDatetime | None
    kind: str = Field(
        description="action, outcome, band_change, override, alert, alert_event, decision, placement or left."
    )
    title: str
    detail: str | None
    by: str | None


class OverrideBand(StrEnum):
    LOW = BAND_LOW
    ELEVATED = BAND_ELEVATED
    HIGH = BAND_HIGH


class OverrideIn(Frozen):
    week: BodyWeek
    band: OverrideBand
    reason: ReasonText


# --- coachklas ------------------------------------------------------------------------------------------


class DecisionKind(StrEnum):
    PLACED = DECISION_PLACED
    NOT_PLACED = DECISION_NOT_PLACED
    LATER = DECISION_LATER


class CandidateOut(Frozen):
    rank: int
    student_id: str
    name: str | None = _name_field()
    student_number: str | None = _number_field()
    team: str
    probability: float
    band: str
    override_band: str | None
    reasons: ReasonTexts
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    previous_decision: str | None


class CandidatesOut(Frozen):
    week: int
    places: int
    candidates: list[CandidateOut]


class DecisionIn(Frozen):
    student_id: Annotated[StudentId, Field(min_length=1)]
    week: BodyWeek
    decision: DecisionKind
    reason: ReasonText


class DecisionOut(Frozen):
    decision_id: int
    student_id: str
    week: int
    decision: str
    reason: str
    by: str
    at: UtcDatetime


class PromoteIn(Frozen):
    reason: Annotated[
        str,
        StringConstraints(min_length=5, max_length=500, pattern=TEXT_PATTERN),
        Field(description="Why this version should serve."),
    ]


class PromotionOut(Frozen):
    version: str
    previous: str | None
    by: str
    reason: str
    at: str


class PlacementOutcomeKind(StrEnum):
    RETURNED = "returned"
    STAYED = "stayed"
    LEFT = "left"
    DIPLOMA = "diploma"


class PlacementOut(Frozen):
    placement_id: int
    student_id: str
    name: str | None = _name_field()
    student_number: str | None = _number_field()
    team: str
    start_week: int
    end_week: int | None = Field(description="The last week in the class; null while the student is in it.")
    outcome: str | None
    outcome_label: str | None
    note: str | None
    by: str
    weeks: int = Field(description="Weeks in the class, up to the end or the given week.")


class PlacementEndIn(Frozen):
    end_week: BodyWeek = Field(description="The last week in the class (not before the start).")
    outcome: PlacementOutcomeKind
    note: NoteText | None = None


class CapacityIn(Frozen):
    from_week: BodyWeek
    capacity: Annotated[int, Field(ge=1, le=500, description="Places in the coachklas from that week on.")]
    reason: NoteText | None = None


class CapacityOut(Frozen):
    week: int
    capacity: int
    stored: bool = Field(description="False while no capacity was set: the default is used.")
    from_week: int | None
    set_by: str | None


class IntakeOut(Frozen):
    """A week's coachklas intake: the stored capacity, who holds a place, how many are free, who is next."""

    week: int
    capacity: CapacityOut
    occupied: int
    free: int
    placed: list[PlacementOut] = Field(description="Who is in the coachklas in this week.")
    decisions: list[DecisionOut] = Field(description="Every decision of the week, oldest first.")
    candidates: list[CandidateOut]


# --- safeguarding ---------------------------------------------------------------------------------------


class AlertEventOut(Frozen):
    at: UtcDatetime
    user_name: str
    action: str
    note: str | None


class AlertOut(Frozen):
    alert_id: int
    student_id: str
    name: str | None = _name_field()
    student_number: str | None = _number_field()
    team: str
    week: int
    item: str
    value: int
    reason: str
    severity: int = Field(description="1: the student asks to talk; 2: an answer past a threshold.")
    status: str
    raised_at: UtcDatetime
    due_at: UtcDatetime | None = Field(description="Pick it up by then: the same school day.")
    overdue: bool
    assigned_to: str | None
    handled_by: str | None
    handled_at: UtcDatetime | None
    closed_reason: str | None
    note: str | None
    events: list[AlertEventOut] = Field(default_factory=list, description="Who did what, oldest first.")


class StudentAlertOut(Frozen):
    """A zorgmelding as the student's mentor sees it: why and how far, never the zorgteam's notes."""

    week: int
    reason: str
    severity: int
    status: str
    raised_at: UtcDatetime
    handled_at: UtcDatetime | None
    closed_reason: str | None


class AlertQueueOut(Frozen):
    """One page of the zorgteam's queue, with the real count and the counts for the menu."""

    total: int = Field(description="Alerts matching the filters, on all pages.")
    page: int
    page_size: int
    pages: int
    open_count: int = Field(description="Open alerts in the whole store (not yet picked up).")
    overdue_count: int = Field(description="Alerts not closed and past their due time.")
    alerts: list[AlertOut]


class AlertNoteIn(Frozen):
    note: NoteText | None = None


class AlertAssignIn(Frozen):
    to: Annotated[UserName, Field(min_length=1, description="User name of a zorgteam member.")]


class AlertCloseIn(Frozen):
    note: ReasonText


# --- auditors -------------------------------------------------------------------------------------------


class ExplanationOut(Frozen):
    student_id: str
    week: int
    team: str
    model_version: str
    scored_at: UtcDatetime
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    raw_score: float
    base_value: float
    feature_values: dict[str, float]
    shap_values: dict[str, float]
    reasons: list[ReasonOut]
    insufficient_data: bool


class DifferenceOut(Frozen):
    field: str
    stored: object
    replayed: object


class ReplayOut(Frozen):
    student_id: str
    week: int
    model_version: str
    identical: bool
    differences: list[DifferenceOut]


class ModelOut(Frozen):
    version: str
    run_id: str | None
    loaded_at: UtcDatetime
    features: list[str]


class ModelCardOut(Frozen):
    version: str
    run_id: str
    markdown: str


class IdentityLookupIn(Frozen):
    """An auditor's question: who is this pseudonym, and why must they know."""

    student_id: Annotated[StudentId, Field(min_length=1, pattern=r"^[0-9A-Za-z_-]+$")]
    reason: Annotated[
        ReasonText,
        Field(
            min_length=MIN_REASON_LENGTH,
            description="Why the auditor must know who this is (at least 10 characters); in the audit log.",
        ),
    ]

    @field_validator("reason")
    @classmethod
    def _documented(cls, value: str) -> str:
        if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            raise ValueError("the reason may not hold control characters")
        if len(" ".join(value.split())) < MIN_REASON_LENGTH:
            raise ValueError(f"give a reason of at least {MIN_REASON_LENGTH} characters")
        return value


class IdentityOut(Frozen):
    """Who a pseudonym is: the identity table's row (the lookup is in the audit log)."""

    student_id: str
    student_number: str
    name: str = Field(description="Given name, tussenvoegsel and family name, as staff say it.")
    given_name: str
    name_prefix: str | None
    family_name: str
    email: str | None


class AuditEntryOut(Frozen):
    audit_id: int
    at: UtcDatetime
    user_name: str
    role: str
    action: str
    method: str
    path: str
    student_id: str | None
    team: str | None
    week: int | None
    allowed: bool
    # Every student a view of many showed (one entry per view; empty for an entry about one student).
    students: list[str] = []


# --- ingest ---------------------------------------------------------------------------------------------


class ImportReportOut(Frozen):
    table: str
    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int


class IngestOut(Frozen):
    reports: list[ImportReportOut]
    alerts_raised: int


class CheckedPromotionOut(PromotionOut):
    """A promotion with the check it passed: the metrics of candidate and champion on the same test rows
    (by model label) and notes (e.g. a champion that could not be loaded for the comparison)."""

    comparison: dict[str, dict[str, float | None]]
    notes: list[str]
