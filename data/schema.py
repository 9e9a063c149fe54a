"""SQLAlchemy models of the raw tables. Migrations live in ``data/alembic`` (Alembic).

``student_id`` is always a pseudonym (:mod:`data.pseudonym`); the school's student number is stored nowhere
but in ``identities``, the identity table kept apart for the people who need names (see
:mod:`workflows.identity`); no model input, feature or export of the pseudonymised tables reads it.
``audit_attributes`` holds protected attributes for auditing only; no model input is read from it.
``synthetic_truth`` exists only for generated data: the generator's true hazards (the oracle).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the store."""


STUDENT_FK = "students.student_id"


class Student(Base):
    """One enrolment of a student in a programme."""

    __tablename__ = "students"

    student_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    programme: Mapped[str] = mapped_column(String(80))
    sector: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(SmallInteger)
    route: Mapped[str] = mapped_column(String(10))
    team: Mapped[str] = mapped_column(String(40), index=True)
    prior_education: Mapped[str] = mapped_column(String(20))
    start_week: Mapped[int] = mapped_column(Integer)
    age_at_start: Mapped[float] = mapped_column(Float)
    expected_duration_years: Mapped[int] = mapped_column(SmallInteger)
    expected_end_week: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditAttributes(Base):
    """Protected attributes, for auditing the model only."""

    __tablename__ = "audit_attributes"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    gender: Mapped[str] = mapped_column(String(10))
    migration_background: Mapped[str] = mapped_column(String(20))


class Identity(Base):
    """Who a pseudonym is: the school's student number and name, for the roles that may see them."""

    __tablename__ = "identities"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    student_number: Mapped[str] = mapped_column(String(40))
    given_name: Mapped[str] = mapped_column(String(200))
    name_prefix: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class QuestionnaireAnswer(Base):
    """One answer to one questionnaire item in one week."""

    __tablename__ = "questionnaire_answers"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    item: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger)


class AttendanceWeek(Base):
    """Scheduled and present hours of one student in one week."""

    __tablename__ = "attendance_weeks"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    scheduled_hours: Mapped[float] = mapped_column(Float)
    present_hours: Mapped[float] = mapped_column(Float)
    authorised_absence_hours: Mapped[float] = mapped_column(Float)
    unauthorised_absence_hours: Mapped[float] = mapped_column(Float)


class ProgressResult(Base):
    """Credits of one period, recorded in the period's last week."""

    __tablename__ = "progress_results"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    period: Mapped[int] = mapped_column(SmallInteger)
    credits_expected: Mapped[float] = mapped_column(Float)
    credits_obtained: Mapped[float] = mapped_column(Float)
    units_failed: Mapped[int] = mapped_column(SmallInteger)


class AssessmentResult(Base):
    """One assessment result: credits, passed or not, and the mark when there is one."""

    __tablename__ = "assessment_results"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment: Mapped[str] = mapped_column(String(80), primary_key=True)
    credits: Mapped[float] = mapped_column(Float)
    passed: Mapped[int] = mapped_column(SmallInteger)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)


class SchoolSignal(Base):
    """One value of a college's own declared signal (data.extensions), known from ``week`` on."""

    __tablename__ = "school_signals"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class Outcome(Base):
    """How an enrolment ended: vsv, switch or graduated, in its last week."""

    __tablename__ = "outcomes"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, index=True)
    outcome: Mapped[str] = mapped_column(String(20))


class SyntheticTruth(Base):
    """Generated data only: the true weekly hazards behind the outcomes."""

    __tablename__ = "synthetic_truth"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    hazard_vsv: Mapped[float] = mapped_column(Float)
    hazard_switch: Mapped[float] = mapped_column(Float)
    hazard_graduate: Mapped[float] = mapped_column(Float)
    # What the vsv hazard would have been without the staff's measures (coachklas, actions); NULL where
    # no measure touched the week (then it equals hazard_vsv). Known only in generated data.
    hazard_vsv_untreated: Mapped[float | None] = mapped_column(Float, nullable=True)
    multi_problem: Mapped[int] = mapped_column(SmallInteger)


# --- Serving: users, audit trail, stored scores and what people did with them (issue 5) ---------------


class User(Base):
    """A person using the API, with one role; the bearer token is stored only as its SHA-256 hash."""

    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Issue 8 (migration 0003): tokens expire and can be revoked; NULL expires_at means no expiry.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UserTeam(Base):
    """The teams a mentor may see (other roles are not bound to teams)."""

    __tablename__ = "user_teams"

    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.user_id"), primary_key=True)
    team: Mapped[str] = mapped_column(String(40), primary_key=True)


class WebSession(Base):
    """A login on the web pages. The cookie holds a random session id; the store keeps only its SHA-256
    hash, the bearer token's hash it was opened with (a replaced token ends it) and a CSRF secret."""

    __tablename__ = "web_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.user_id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditLog(Base):
    """Append-only trail of every request that touched a student's data: who, what, when, allowed or not.

    Deliberately without foreign keys: the trail outlives users and students, and is kept apart from
    the scores. Triggers (migration 0002) refuse UPDATE and DELETE.
    """

    __tablename__ = "audit_log"

    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    student_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    team: Mapped[str | None] = mapped_column(String(40), nullable=True)
    week: Mapped[int | None] = mapped_column(Integer, nullable=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Issue 8 (migration 0003): a hash chain. ``seq`` counts entries 1, 2, ...; ``entry_hash`` is the
    # SHA-256 of the entry's canonical content and ``prev_hash`` (the previous entry's ``entry_hash``).
    # See :mod:`workflows.audit`.
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditStudent(Base):
    """The students one audit entry showed (a risk list, an export, a queue), one row per student: a
    request that shows 71 students writes one entry, and the search by student still finds it.

    Part of its entry: written in the transaction that appends the entry and covered by the entry's hash
    (see :mod:`workflows.audit`); append-only like ``audit_log`` (triggers, migration 0010). Without a
    foreign key to ``students``: the trail outlives them.
    """

    __tablename__ = "audit_students"
    __table_args__ = (Index("ix_audit_students_student_id", "student_id", "audit_id"),)

    audit_id: Mapped[int] = mapped_column(Integer, ForeignKey("audit_log.audit_id"), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(32), primary_key=True)


class Score(Base):
    """One stored weekly score, with everything needed to explain and replay it."""

    __tablename__ = "scores"
    __table_args__ = (Index("ix_scores_week_team", "week", "team"),)

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    team: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(40))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    probability: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(30))
    band_uncertain: Mapped[bool] = mapped_column(Boolean)
    raw_score: Mapped[float] = mapped_column(Float)
    base_value: Mapped[float] = mapped_column(Float)
    feature_values: Mapped[dict[str, float]] = mapped_column(JSON)
    shap_values: Mapped[dict[str, float]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    flag_leerplicht_16u: Mapped[bool] = mapped_column(Boolean)
    flag_4_weeks_absent: Mapped[bool] = mapped_column(Boolean)
    insufficient_data: Mapped[bool] = mapped_column(Boolean)
    previous_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    change: Mapped[float | None] = mapped_column(Float, nullable=True)


class StudentAction(Base):
    """What a mentor (or the zorgteam) did for a student in a week, who follows it up and by when, and
    what came of it (recorded later). Action types come from the college's configuration
    (``data/action_types.yaml``)."""

    __tablename__ = "actions"

    action_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    week: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(80), nullable=True)  # who follows it up
    follow_up_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome_week: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BandOverride(Base):
    """A person's band for a student in a week, beside (never instead of) the stored model score."""

    __tablename__ = "band_overrides"

    override_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    week: Mapped[int] = mapped_column(Integer)
    model_band: Mapped[str] = mapped_column(String(30))
    band: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CoachklasDecision(Base):
    """The coachklas coordinator's decision on a candidate: placed, not placed or later, with a reason."""

    __tablename__ = "coachklas_decisions"

    decision_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    week: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CoachklasCapacity(Base):
    """The number of coachklas places from a week on, set by the coordinator (the latest row whose
    ``from_week`` is at or before a week is the capacity of that week)."""

    __tablename__ = "coachklas_capacity"

    capacity_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_week: Mapped[int] = mapped_column(Integer, index=True)
    capacity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CoachklasPlacement(Base):
    """A student's place in the coachklas: from a start week until an end week (inclusive; NULL while the
    student is in the class), with the outcome once it ended."""

    __tablename__ = "coachklas_placements"

    placement_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    start_week: Mapped[int] = mapped_column(Integer, index=True)
    end_week: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decision_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("coachklas_decisions.decision_id"), nullable=True
    )
    user_name: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SafeguardingAlert(Base):
    """A questionnaire answer that asks for help: raised at once on ingest, for the zorgteam."""

    __tablename__ = "safeguarding_alerts"
    __table_args__ = (
        UniqueConstraint("student_id", "week", "item", name="uq_alert_answer"),
        Index("ix_safeguarding_alerts_week", "week"),
    )

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    week: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(40))
    value: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    handled_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # 1 = the student asks to talk ("wil praten"), 2 = an answer past a threshold; lower comes first.
    severity: Mapped[int] = mapped_column(SmallInteger, server_default="2")
    assigned_to: Mapped[str | None] = mapped_column(String(80), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AlertEvent(Base):
    """What someone did with a zorgmelding: assigned it, took it into handling, closed it (with a note)."""

    __tablename__ = "alert_events"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("safeguarding_alerts.alert_id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_name: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


# --- The questionnaire asked by Vroegsignaal itself: rounds, personal links, the outbox (issue 16) -------


class QuestionnaireRound(Base):
    """One week's questionnaire for the enrolled students of one team (opened once per week and team)."""

    __tablename__ = "questionnaire_rounds"
    __table_args__ = (UniqueConstraint("week", "team", name="uq_round_week_team"),)

    round_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    week: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoundLink(Base):
    """A student's personal link to one round: when it was first opened, answered, and used for the
    student's own view."""

    __tablename__ = "round_links"
    __table_args__ = (UniqueConstraint("round_id", "student_id", name="uq_link_round_student"),)

    link_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(Integer, ForeignKey("questionnaire_rounds.round_id"))
    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    viewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LinkToken(Base):
    """A token that reaches a link, stored only as its SHA-256 hash: one per delivery (e-mail or the CSV of
    links) and purpose (``answer``: the questionnaire, ``view``: the student's own view)."""

    __tablename__ = "link_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    link_id: Mapped[int] = mapped_column(Integer, ForeignKey("round_links.link_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """An invitation or reminder e-mail for one link: queued, sent, or failed (retried) with its error.
    The address is read from the identity table when it is sent, never copied here."""

    __tablename__ = "outbox_messages"
    __table_args__ = (UniqueConstraint("link_id", "kind", name="uq_outbox_link_kind"),)

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    link_id: Mapped[int] = mapped_column(Integer, ForeignKey("round_links.link_id"))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
