"""Reading stored scores, actions, overrides and decisions (SQLAlchemy Core, one round trip each).

Teams: a stored score keeps the team the student was in when it was scored (``scores.team``, part of what
the score was computed from). Who may see a student, and which team's list a student is on, follow the
student's *current* team (``students.team``) in every week, old weeks included: every query here that
selects or labels scores by team uses ``students.team``, never ``scores.team``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from data.schema import (
    AttendanceWeek,
    BandOverride,
    CoachklasDecision,
    CoachklasPlacement,
    Outcome,
    QuestionnaireAnswer,
    Score,
    Student,
    StudentAction,
)
from data.scores import ListedScore, StoredScore, listed_score
from data.scores import stored_score as as_stored_score
from serving.schemas import LatestActionOut, OverrideOut
from workflows.coachklas import covers
from workflows.users import CurrentUser

# A listed score's ``team`` is the student's current team (see the module's docstring).
LIST_COLUMNS = (
    Score.student_id,
    Student.team,
    Score.model_version,
    Score.probability,
    Score.lower,
    Score.upper,
    Score.band,
    Score.band_uncertain,
    Score.change,
    Score.reasons,
    Score.flag_leerplicht_16u,
    Score.flag_4_weeks_absent,
    Score.insufficient_data,
    Score.feature_values,
)


def _listed_scores() -> Select[*tuple[Any, ...]]:
    """The list columns of scores, each with the student's current team."""
    return select(*LIST_COLUMNS).join_from(Score, Student, Student.student_id == Score.student_id)


def student_team(session: Session, student_id: str) -> str | None:
    """The student's current team, or None for an unknown student."""
    team: str | None = session.execute(
        select(Student.team).where(Student.student_id == student_id)
    ).scalar_one_or_none()
    return team


def stored_score(session: Session, student_id: str, week: int) -> StoredScore | None:
    """Every stored column of one score, or None."""
    row = session.execute(
        select(Score.__table__).where(Score.student_id == student_id, Score.week == week)
    ).first()
    return as_stored_score(row._mapping) if row is not None else None


def team_scores(session: Session, team: str, week: int) -> list[ListedScore]:
    """The week's scores of the students now in ``team`` (wherever they were then), highest first."""
    rows = session.execute(
        _listed_scores()
        .where(Score.week == week, Student.team == team)
        .order_by(Score.probability.desc(), Score.student_id)
    ).all()
    return [listed_score(r._mapping) for r in rows]


def top_scores(session: Session, week: int, exclude: Sequence[str], limit: int) -> list[ListedScore]:
    """The week's highest scores over all teams, skipping ``exclude`` students."""
    query = _listed_scores().where(Score.week == week)
    if exclude:
        query = query.where(Score.student_id.not_in(list(exclude)))
    rows = session.execute(query.order_by(Score.probability.desc(), Score.student_id).limit(limit)).all()
    return [listed_score(r._mapping) for r in rows]


def week_is_scored(session: Session, week: int) -> bool:
    return session.execute(select(Score.student_id).where(Score.week == week).limit(1)).first() is not None


def latest_actions(
    session: Session, viewer: CurrentUser, student_ids: Sequence[str]
) -> dict[str, LatestActionOut]:
    """The most recent recorded action of each student (any week, by anyone), for the students ``viewer``
    may see now (their current team): an action and its note never reach anyone else."""
    if not student_ids:
        return {}
    latest = (
        select(StudentAction.student_id, func.max(StudentAction.action_id).label("action_id"))
        .where(StudentAction.student_id.in_(list(student_ids)))
        .group_by(StudentAction.student_id)
        .subquery()
    )
    rows = session.execute(
        select(StudentAction, Student.team)
        .join(latest, StudentAction.action_id == latest.c.action_id)
        .join(Student, Student.student_id == StudentAction.student_id)
    ).all()
    return {
        a.student_id: LatestActionOut(action=a.action, week=a.week, note=a.note, by=a.user_name, at=a.at)
        for a, team in rows
        if viewer.may_see_team(team)
    }


def override_out(o: BandOverride) -> OverrideOut:
    return OverrideOut(
        override_id=o.override_id,
        student_id=o.student_id,
        week=o.week,
        model_band=o.model_band,
        band=o.band,
        reason=o.reason,
        by=o.user_name,
        at=o.at,
    )


def latest_overrides(session: Session, student_ids: Sequence[str], week: int) -> dict[str, OverrideOut]:
    """The most recent band override of each student for ``week``."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(BandOverride)
        .where(BandOverride.week == week, BandOverride.student_id.in_(list(student_ids)))
        .order_by(BandOverride.override_id)
    ).scalars()
    return {o.student_id: override_out(o) for o in rows}


def decided_students(session: Session, week: int) -> list[str]:
    """Students in the coachklas in ``week`` (or with a place still open) and students not placed this
    week: not candidates again. A student whose placement ended is a candidate again."""
    in_class = select(CoachklasPlacement.student_id).where(covers(week))
    still_open = select(CoachklasPlacement.student_id).where(CoachklasPlacement.end_week.is_(None))
    rows = session.execute(
        select(CoachklasDecision.student_id, CoachklasDecision.week, CoachklasDecision.decision).order_by(
            CoachklasDecision.decision_id
        )
    ).all()
    latest: dict[str, tuple[int, str]] = {r.student_id: (r.week, r.decision) for r in rows}
    refused = {s for s, (w, decision) in latest.items() if decision == "not_placed" and w == week}
    placed = set(session.execute(in_class.union(still_open)).scalars())
    return sorted(placed | refused)


def latest_decisions(session: Session, student_ids: Sequence[str]) -> dict[str, str]:
    if not student_ids:
        return {}
    rows = session.execute(
        select(CoachklasDecision.student_id, CoachklasDecision.decision)
        .where(CoachklasDecision.student_id.in_(list(student_ids)))
        .order_by(CoachklasDecision.decision_id)
    ).all()
    return {r.student_id: r.decision for r in rows}


# --- shared by the web pages (serving.web) ----------------------------------------------------------------


def scored_weeks(session: Session) -> list[int]:
    """Every week with stored scores, newest first."""
    rows = session.execute(select(Score.week).group_by(Score.week).order_by(Score.week.desc())).scalars()
    return [int(w) for w in rows]


def scored_teams(session: Session, week: int) -> list[str]:
    """The teams whose students (as they are now) have stored scores in ``week``, alphabetically."""
    rows = session.execute(
        select(Student.team)
        .join_from(Score, Student, Student.student_id == Score.student_id)
        .where(Score.week == week)
        .group_by(Student.team)
        .order_by(Student.team)
    )
    return [str(t) for t in rows.scalars()]


def scored_model_versions(session: Session) -> list[tuple[str, int, int]]:
    """(model version, first week, last week) of every model version behind a stored score."""
    rows = session.execute(
        select(Score.model_version, func.min(Score.week), func.max(Score.week))
        .group_by(Score.model_version)
        .order_by(Score.model_version)
    ).all()
    return [(str(v), int(lo), int(hi)) for v, lo, hi in rows]


def score_history(session: Session, student_id: str) -> list[dict[str, Any]]:
    """The student's stored scores over the weeks (week, probability, band), oldest first."""
    rows = session.execute(
        select(Score.week, Score.probability, Score.band)
        .where(Score.student_id == student_id)
        .order_by(Score.week)
    ).all()
    return [dict(r._mapping) for r in rows]


def answer_history(session: Session, student_id: str) -> list[tuple[int, str, int]]:
    """The student's questionnaire answers as (week, item, value), oldest first."""
    rows = session.execute(
        select(QuestionnaireAnswer.week, QuestionnaireAnswer.item, QuestionnaireAnswer.value)
        .where(QuestionnaireAnswer.student_id == student_id)
        .order_by(QuestionnaireAnswer.week, QuestionnaireAnswer.item)
    ).all()
    return [(int(w), str(i), int(v)) for w, i, v in rows]


def attendance_history(session: Session, student_id: str) -> list[dict[str, Any]]:
    """The student's attendance weeks (scheduled, present, authorised and unauthorised hours)."""
    rows = session.execute(
        select(
            AttendanceWeek.week,
            AttendanceWeek.scheduled_hours,
            AttendanceWeek.present_hours,
            AttendanceWeek.authorised_absence_hours,
            AttendanceWeek.unauthorised_absence_hours,
        )
        .where(AttendanceWeek.student_id == student_id)
        .order_by(AttendanceWeek.week)
    ).all()
    return [dict(r._mapping) for r in rows]


SPARK_WEEKS = 8


def recent_probabilities(
    session: Session, student_ids: Sequence[str], week: int, weeks: int = SPARK_WEEKS
) -> dict[str, dict[int, float]]:
    """Each student's stored probability in the ``weeks`` weeks up to ``week`` (for the list's sparklines)."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(Score.student_id, Score.week, Score.probability).where(
            Score.student_id.in_(list(student_ids)), Score.week.between(week - weeks + 1, week)
        )
    ).all()
    out: dict[str, dict[int, float]] = {}
    for student_id, w, p in rows:
        out.setdefault(student_id, {})[int(w)] = float(p)
    return out


def recent_attendance(
    session: Session, student_ids: Sequence[str], week: int, weeks: int = SPARK_WEEKS
) -> dict[str, dict[int, float]]:
    """Each student's attendance rate (present / scheduled hours) in the ``weeks`` weeks up to ``week``."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(
            AttendanceWeek.student_id,
            AttendanceWeek.week,
            AttendanceWeek.present_hours,
            AttendanceWeek.scheduled_hours,
        ).where(
            AttendanceWeek.student_id.in_(list(student_ids)),
            AttendanceWeek.week.between(week - weeks + 1, week),
        )
    ).all()
    out: dict[str, dict[int, float]] = {}
    for student_id, w, present, scheduled in rows:
        if scheduled:
            out.setdefault(student_id, {})[int(w)] = float(present) / float(scheduled)
    return out


def week_base_rate(session: Session, week: int) -> float | None:
    """The mean predicted probability over every student scored in ``week`` (the school's base rate)."""
    value = session.execute(select(func.avg(Score.probability)).where(Score.week == week)).scalar_one()
    return None if value is None else float(value)


def team_leavers(session: Session, team: str, week: int) -> list[tuple[str, str, int]]:
    """Students on the team's list last week (students now in the team, scored then) whose enrolment ended
    since: (student_id, outcome, week)."""
    last_week = (
        select(Score.student_id)
        .join_from(Score, Student, Student.student_id == Score.student_id)
        .where(Student.team == team, Score.week == week - 1)
    )
    rows = session.execute(
        select(Outcome.student_id, Outcome.outcome, Outcome.week)
        .where(Outcome.student_id.in_(last_week), Outcome.week.between(week - 1, week))
        .order_by(Outcome.student_id)
    ).all()
    return [(str(s), str(o), int(w)) for s, o, w in rows]


def actions_of(session: Session, student_id: str) -> list[StudentAction]:
    """Every recorded action of one student, oldest first."""
    return list(
        session.execute(
            select(StudentAction)
            .where(StudentAction.student_id == student_id)
            .order_by(StudentAction.action_id)
        ).scalars()
    )


def overrides_of(session: Session, student_id: str) -> list[BandOverride]:
    """Every band override of one student, oldest first."""
    return list(
        session.execute(
            select(BandOverride)
            .where(BandOverride.student_id == student_id)
            .order_by(BandOverride.override_id)
        ).scalars()
    )


def coachklas_decisions_of(session: Session, student_id: str) -> list[CoachklasDecision]:
    """Every coachklas decision about one student, oldest first."""
    return list(
        session.execute(
            select(CoachklasDecision)
            .where(CoachklasDecision.student_id == student_id)
            .order_by(CoachklasDecision.decision_id)
        ).scalars()
    )
