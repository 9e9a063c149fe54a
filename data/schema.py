"""SQLAlchemy models of the raw tables. Migrations live in ``data/alembic`` (Alembic).

``student_id`` is always a pseudonym (:mod:`data.pseudonym`); the school's student number is never stored.
``audit_attributes`` holds protected attributes for auditing only; no model input is read from it.
``synthetic_truth`` exists only for generated data: the generator's true hazards (the oracle).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, SmallInteger, String
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
    route: Mapped[str] = mapped_column(String(3))
    team: Mapped[str] = mapped_column(String(40), index=True)
    prior_education: Mapped[str] = mapped_column(String(20))
    start_week: Mapped[int] = mapped_column(Integer)
    age_at_start: Mapped[float] = mapped_column(Float)
    expected_duration_years: Mapped[int] = mapped_column(SmallInteger)


class AuditAttributes(Base):
    """Protected attributes, for auditing the model only."""

    __tablename__ = "audit_attributes"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    gender: Mapped[str] = mapped_column(String(10))
    migration_background: Mapped[str] = mapped_column(String(20))


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


class Outcome(Base):
    """How an enrolment ended: vsv, switch or graduated, in its last week."""

    __tablename__ = "outcomes"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, index=True)
    outcome: Mapped[str] = mapped_column(String(12))


class SyntheticTruth(Base):
    """Generated data only: the true weekly hazards behind the outcomes."""

    __tablename__ = "synthetic_truth"

    student_id: Mapped[str] = mapped_column(String(32), ForeignKey(STUDENT_FK), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    hazard_vsv: Mapped[float] = mapped_column(Float)
    hazard_switch: Mapped[float] = mapped_column(Float)
    hazard_graduate: Mapped[float] = mapped_column(Float)
    multi_problem: Mapped[int] = mapped_column(SmallInteger)
