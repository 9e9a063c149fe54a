"""The student's own view (AI Act art. 86, GDPR right of access): what the school records about them, in
plain Dutch, and their reaction to it.

:func:`own_record` gathers it from the stored rows: the recent answers, an attendance summary, whether and
why the student is on this week's list (the same reason texts the mentor reads, and the band only when the
school shows it), the measures they are in, and their own earlier reactions. Staff notes are not part of
it (a student asks their mentor for those). :func:`add_reaction` records a comment or a "klopt niet" as an
action to follow up today, so it appears on the mentor's and the zorgteam's list "Op te volgen".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from data.action_types import RESERVED_LABELS, STUDENT_COMMENT, STUDENT_CONTEST, ActionTypes
from data.questionnaire import Questionnaire
from data.schema import (
    AttendanceWeek,
    BandOverride,
    CoachklasPlacement,
    QuestionnaireAnswer,
    Score,
    StudentAction,
)
from data.vocabulary import ACTION_OUTCOME_NL
from workflows.coachklas import covers
from workflows.risk_list import RISING, shown_band

ReactionKind = Literal["comment", "contest"]
REACTION_CODES: dict[ReactionKind, str] = {"comment": STUDENT_COMMENT, "contest": STUDENT_CONTEST}
STUDENT_AUTHOR = "student (eigen link)"
# A reaction as the student reads it back (staff read RESERVED_LABELS).
OWN_KIND_NL = {STUDENT_CONTEST: "Dit klopt niet", STUDENT_COMMENT: "Opmerking"}
ANSWER_WEEKS = 3
ATTENDANCE_WEEKS = (4, 8)
MAX_REACTION_LENGTH = 2000


@dataclass(frozen=True)
class AnswerRow:
    question: str
    scale: str  # "1 tot 5, hoger is beter", or "ja of nee"
    values: tuple[str, ...]  # one per week of the table ("" where not answered)


@dataclass(frozen=True)
class AnswerTable:
    weeks: tuple[int, ...]  # newest first
    rows: tuple[AnswerRow, ...]


@dataclass(frozen=True)
class Attendance:
    weeks: int
    scheduled_hours: float
    present_hours: float
    unauthorised_hours: float

    @property
    def share(self) -> float | None:
        return self.present_hours / self.scheduled_hours if self.scheduled_hours else None


def hours_nl(value: float) -> str:
    """Hours as a Dutch number: "87", "12,5"."""
    return f"{value:.1f}".replace(".", ",").removesuffix(",0")


@dataclass(frozen=True)
class Signal:
    week: int
    on_list: bool  # the shown band (a person's, else the model's) asks for attention
    reasons: tuple[str, ...]
    band: str | None  # only when the school shows bands to students
    changed_by_person: bool


@dataclass(frozen=True)
class Measure:
    week: int
    label: str
    state: str  # "loopt", or the outcome in Dutch


@dataclass(frozen=True)
class Reaction:
    week: int
    at: datetime
    kind: str
    text: str
    answered: str | None  # what staff recorded as its outcome


@dataclass(frozen=True)
class OwnRecord:
    answers: AnswerTable
    attendance: tuple[Attendance, ...]  # the latest 4 and 8 weeks (fewer when there are fewer)
    signal: Signal | None  # None: no score up to this week
    measures: tuple[Measure, ...]
    reactions: tuple[Reaction, ...]


def _answers(conn: Session, q: Questionnaire, student_id: str, week: int) -> AnswerTable:
    """The latest :data:`ANSWER_WEEKS` answered weeks up to ``week``: one row per question of the current
    configuration, as the student answered."""
    rows = conn.execute(
        select(QuestionnaireAnswer.week, QuestionnaireAnswer.item, QuestionnaireAnswer.value).where(
            QuestionnaireAnswer.student_id == student_id, QuestionnaireAnswer.week <= week
        )
    ).all()
    weeks = tuple(sorted({int(r.week) for r in rows}, reverse=True)[:ANSWER_WEEKS])
    given = {(int(r.week), str(r.item)): int(r.value) for r in rows}
    table = []
    for item in q.items:
        better = "hoger is beter" if item.higher_is_better else "lager is beter"
        values = tuple(str(given.get((w, item.code), "")) for w in weeks)
        table.append(AnswerRow(item.text, f"{q.scale_min} tot {q.scale_max}, {better}", values))
    help_values = tuple({1: "ja", 0: "nee"}.get(given.get((w, q.help_item.code), -1), "") for w in weeks)
    table.append(AnswerRow(q.help_item.question, "ja of nee", help_values))
    return AnswerTable(weeks, tuple(table))


def _attendance(conn: Session, student_id: str, week: int) -> tuple[Attendance, ...]:
    """Attendance over the latest 4 and 8 weeks up to ``week`` (the windows the reasons speak of)."""
    rows = (
        conn.execute(
            select(AttendanceWeek)
            .where(AttendanceWeek.student_id == student_id, AttendanceWeek.week <= week)
            .order_by(AttendanceWeek.week.desc())
            .limit(max(ATTENDANCE_WEEKS))
        )
        .scalars()
        .all()
    )
    out: list[Attendance] = []
    for n in ATTENDANCE_WEEKS:
        mine = rows[:n]
        if not mine or (out and len(mine) == out[-1].weeks):
            continue
        out.append(
            Attendance(
                weeks=len(mine),
                scheduled_hours=sum(r.scheduled_hours for r in mine),
                present_hours=sum(r.present_hours for r in mine),
                unauthorised_hours=sum(r.unauthorised_absence_hours for r in mine),
            )
        )
    return tuple(out)


def _signal(conn: Session, student_id: str, week: int, show_band: bool) -> Signal | None:
    score = (
        conn.execute(
            select(Score)
            .where(Score.student_id == student_id, Score.week <= week)
            .order_by(Score.week.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if score is None:
        return None
    override = conn.execute(
        select(BandOverride.band)
        .where(BandOverride.student_id == student_id, BandOverride.week == score.week)
        .order_by(BandOverride.override_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    band = shown_band(score.band, override)
    reasons = tuple(str(r["text"]) for r in score.reasons if isinstance(r, dict) and r.get("text"))
    return Signal(
        week=score.week,
        on_list=band in RISING,
        reasons=reasons,
        band=band if show_band else None,
        changed_by_person=override is not None,
    )


def _measures(conn: Session, types: ActionTypes, student_id: str, week: int) -> tuple[Measure, ...]:
    out: list[Measure] = []
    placement = (
        conn.execute(
            select(CoachklasPlacement)
            .where(CoachklasPlacement.student_id == student_id, covers(week))
            .order_by(CoachklasPlacement.placement_id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if placement is not None:
        out.append(Measure(placement.start_week, "Coachklas", "loopt"))
    measures = set(types.measures)
    actions = (
        conn.execute(
            select(StudentAction)
            .where(StudentAction.student_id == student_id, StudentAction.action.in_(sorted(measures)))
            .order_by(StudentAction.week.desc(), StudentAction.action_id.desc())
            .limit(10)
        )
        .scalars()
        .all()
    )
    for a in actions:
        state = "loopt" if a.outcome in (None, "ongoing") else ACTION_OUTCOME_NL.get(a.outcome, a.outcome)
        out.append(Measure(a.week, types.label(a.action), state))
    return tuple(out)


def _reactions(conn: Session, student_id: str) -> tuple[Reaction, ...]:
    rows = (
        conn.execute(
            select(StudentAction)
            .where(StudentAction.student_id == student_id, StudentAction.action.in_(list(RESERVED_LABELS)))
            .order_by(StudentAction.action_id.desc())
            .limit(20)
        )
        .scalars()
        .all()
    )
    return tuple(
        Reaction(
            week=a.week,
            at=a.at,
            kind=OWN_KIND_NL[a.action],
            text=a.note or "",
            answered=None if a.outcome in (None, "ongoing") else ACTION_OUTCOME_NL.get(a.outcome, a.outcome),
        )
        for a in rows
    )


def own_record(
    conn: Connection, q: Questionnaire, types: ActionTypes, student_id: str, week: int, *, show_band: bool
) -> OwnRecord:
    """What the school records about ``student_id`` up to ``week`` (read inside ``conn``'s transaction)."""
    with Session(bind=conn) as session:
        return OwnRecord(
            answers=_answers(session, q, student_id, week),
            attendance=_attendance(session, student_id, week),
            signal=_signal(session, student_id, week, show_band),
            measures=_measures(session, types, student_id, week),
            reactions=_reactions(session, student_id),
        )


def clean_reaction(text: str) -> str:
    """The reaction as stored: whitespace collapsed; ValueError (in Dutch) when empty or too long."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError("Schrijf eerst wat je wilt zeggen.")
    if len(cleaned) > MAX_REACTION_LENGTH:
        raise ValueError(f"Je reactie is te lang: gebruik hoogstens {MAX_REACTION_LENGTH} tekens.")
    return cleaned


def add_reaction(
    conn: Connection, student_id: str, week: int, kind: ReactionKind, text: str, *, today: date, now: datetime
) -> int:
    """Record a student's reaction as an action to follow up ``today`` (no owner: the mentor's and the
    zorgteam's list shows it until someone records what came of it); returns its action id."""
    action_id = conn.execute(
        insert(StudentAction)
        .values(
            student_id=student_id,
            week=week,
            action=REACTION_CODES[kind],
            note=clean_reaction(text),
            user_name=STUDENT_AUTHOR,
            at=now,
            owner=None,
            follow_up_on=today,
        )
        .returning(StudentAction.action_id)
    ).scalar_one()
    return int(action_id)
