"""Reading stored scores, actions, overrides and decisions (SQLAlchemy Core, one round trip each).

Teams: a stored score keeps the team the student was in when it was scored (``scores.team``, part of what
the score was computed from). Who may see a student, and which team's list a student is on, follow the
student's *current* team (``students.team``) in every week, old weeks included: every query here that
selects or labels scores by team uses ``students.team``, never ``scores.team``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import Integer, Select, String, and_, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from data.schema import (
    AttendanceWeek,
    BandOverride,
    CoachklasDecision,
    CoachklasPlacement,
    Identity,
    Outcome,
    QuestionnaireAnswer,
    SafeguardingAlert,
    Score,
    Student,
    StudentAction,
)
from data.scores import ListedScore, StoredScore, listed_score
from data.scores import stored_score as as_stored_score
from serving.schemas import LatestActionOut, OverrideOut
from workflows.coachklas import covers
from workflows.identity import IDENTITY_COLUMNS, StudentName, may_see_names, student_name
from workflows.safeguarding import OPEN_ALERT_ORDER, is_open_alert
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


# The parameters of the statements below, which are built once (building one with its aliases cost about as
# much as running it) and then run with these values.
TEAM = bindparam("team", type_=String)
WEEK = bindparam("week", type_=Integer)
LAST_WEEK = bindparam("last_week", type_=Integer)
STUDENT = bindparam("student_id", type_=String)


@dataclass(frozen=True)
class TeamList:
    """What a team's risk list of one week shows, keyed by student (see :func:`team_list`)."""

    scores: list[ListedScore]  # highest first
    override_bands: dict[str, str]  # the latest band override of the week
    last_week: dict[str, tuple[str, str | None]]  # (model band, override band) of last week's score
    actions: dict[str, LatestActionOut]  # the latest recorded action (any week, by anyone)
    alerts: dict[str, list[str]]  # reasons of the open zorgmeldingen, "wil praten" first
    names: dict[str, StudentName]  # empty for the roles that see no names


def _latest_override_band(week: Any) -> Any:
    """The band of the newest override of the listed student's score in ``week`` (NULL: none)."""
    override = aliased(BandOverride)
    return (
        select(override.band)
        .where(override.student_id == Score.student_id, override.week == week)
        .order_by(override.override_id.desc())
        .limit(1)
        .correlate(Score)
        .scalar_subquery()
    )


def _model_band(week: Any) -> Any:
    """The model's band of the listed student's score in ``week`` (NULL: not scored then)."""
    earlier = aliased(Score)
    return (
        select(earlier.band)
        .where(earlier.student_id == Score.student_id, earlier.week == week)
        .correlate(Score)
        .scalar_subquery()
    )


# The columns of the newest action a list shows beside each student.
LATEST_ACTION_COLUMNS = ("action", "week", "note", "user_name", "at")


def _latest_action(column: str) -> Any:
    """``column`` of the listed student's newest action (NULL: none). A correlated subquery per column
    (an index look-up per student): joined instead, PostgreSQL chose to hash the whole actions table."""
    action = aliased(StudentAction)
    return (
        select(getattr(action, column))
        .where(action.student_id == Score.student_id)
        .order_by(action.action_id.desc())
        .limit(1)
        .correlate(Score)
        .scalar_subquery()
    )


@cache
def _team_list_query(with_names: bool) -> Select[Any]:
    """One row per listed student and open alert (a student without one: one row, NULL alert), for
    :data:`TEAM`, :data:`WEEK` and :data:`LAST_WEEK`."""
    query = (
        _listed_scores()
        .add_columns(
            _latest_override_band(WEEK).label("override_band"),
            _model_band(LAST_WEEK).label("last_band"),
            _latest_override_band(LAST_WEEK).label("last_override_band"),
            *(_latest_action(column).label(f"latest_{column}") for column in LATEST_ACTION_COLUMNS),
            SafeguardingAlert.reason.label("alert_reason"),
        )
        .outerjoin(SafeguardingAlert, and_(SafeguardingAlert.student_id == Score.student_id, is_open_alert()))
        .where(Score.week == WEEK, Student.team == TEAM)
        .order_by(Score.probability.desc(), Score.student_id, *OPEN_ALERT_ORDER)
    )
    if with_names:
        query = query.add_columns(*IDENTITY_COLUMNS).outerjoin(
            Identity, Identity.student_id == Score.student_id
        )
    return query


def team_list(session: Session, viewer: CurrentUser, team: str, week: int) -> TeamList:
    """The week's scores of the students now in ``team`` (highest first) with what the list shows beside
    them, in one round trip. Only for a team ``viewer`` may see (names and actions then belong to it)."""
    query = _team_list_query(may_see_names(viewer))
    rows = session.execute(query, {"team": team, "week": week, "last_week": week - 1}).all()
    out = TeamList([], {}, {}, {}, {}, {})
    for student_id, group in groupby(rows, key=lambda r: str(r.student_id)):
        first, *more = list(group)
        out.scores.append(listed_score(first._mapping))
        if first.override_band is not None:
            out.override_bands[student_id] = first.override_band
        if first.last_band is not None:
            out.last_week[student_id] = (first.last_band, first.last_override_band)
        if first.latest_action is not None:  # NOT NULL in the table: NULL here means no action
            out.actions[student_id] = LatestActionOut(
                action=first.latest_action,
                week=first.latest_week,
                note=first.latest_note,
                by=first.latest_user_name,
                at=first.latest_at,
            )
        reasons = [r.alert_reason for r in (first, *more) if r.alert_reason is not None]
        if reasons:
            out.alerts[student_id] = reasons
        if "identity_id" in first._mapping:
            out.names[student_id] = student_name(first)
    return out


@dataclass(frozen=True)
class ScoreView:
    """A student's current team with the stored score of one week and its latest band override."""

    team: str
    score: StoredScore | None
    override: OverrideOut | None


@cache
def _score_view_query() -> Select[Any]:
    """The student's team, score and latest override of the week, for :data:`STUDENT` and :data:`WEEK`."""
    newest = aliased(BandOverride)
    latest_override = (
        select(func.max(newest.override_id))
        .where(newest.student_id == Student.student_id, newest.week == WEEK)
        .correlate(Student)
        .scalar_subquery()
    )
    score_columns = [c.label(f"score_{c.name}") for c in Score.__table__.c]
    override_columns = [c.label(f"override_{c.name}") for c in BandOverride.__table__.c]
    return (
        select(Student.team.label("current_team"), *score_columns, *override_columns)
        .select_from(Student)
        .outerjoin(Score, and_(Score.student_id == Student.student_id, Score.week == WEEK))
        .outerjoin(BandOverride, BandOverride.override_id == latest_override)
        .where(Student.student_id == STUDENT)
    )


def score_view(session: Session, student_id: str, week: int) -> ScoreView | None:
    """The student's current team, the stored score of ``week`` (None: not scored) and its latest band
    override, in one round trip; None for an unknown student."""
    row = session.execute(_score_view_query(), {"student_id": student_id, "week": week}).first()
    if row is None:
        return None
    values = row._mapping
    score = values["score_student_id"]
    override = values["override_override_id"]
    return ScoreView(
        team=str(values["current_team"]),
        score=None if score is None else as_stored_score(_prefixed(values, "score_")),
        override=None if override is None else override_out(BandOverride(**_prefixed(values, "override_"))),
    )


def _prefixed(values: Any, prefix: str) -> dict[str, Any]:
    """The columns of ``values`` labelled ``prefix`` + name, by name."""
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def top_scores(session: Session, week: int, exclude: Sequence[str], limit: int) -> list[ListedScore]:
    """The week's highest scores over all teams, skipping ``exclude`` students."""
    query = _listed_scores().where(Score.week == week)
    if exclude:
        query = query.where(Score.student_id.not_in(list(exclude)))
    rows = session.execute(query.order_by(Score.probability.desc(), Score.student_id).limit(limit)).all()
    return [listed_score(r._mapping) for r in rows]


def week_is_scored(session: Session, week: int) -> bool:
    return session.execute(select(Score.student_id).where(Score.week == week).limit(1)).first() is not None


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
