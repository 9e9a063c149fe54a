"""Coachklas rules, shared by the API and the page: places are filled against a stored capacity.

The coordinator stores the capacity from a week on (the latest one at or before a week counts). A decision
"geplaatst" starts a placement in its week; a placement holds a place from its start week until its end
week (inclusive) and then records how it ended. The places taken in a week are the placements that cover
it; the rest of the capacity is free. The candidate list shows a few more students than there are free
places, so the coordinator can pass over a student with a reason and still see who comes next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from data.schema import CoachklasCapacity, CoachklasPlacement
from data.vocabulary import PLACEMENT_OUTCOMES

DEFAULT_CAPACITY = 12
CANDIDATE_MARGIN = 5
MAX_CANDIDATES = 500


def candidates_to_show(free: int) -> int:
    """How many candidates to rank for ``free`` places (at least one: a full class still shows who is
    next)."""
    return max(1, min(free + CANDIDATE_MARGIN, MAX_CANDIDATES))


# --- the coachklas over time: a stored capacity and placements with a start, an end and an outcome -------


class PlacementError(ValueError):
    """A coachklas request that breaks a rule: ``field`` names the field, ``message`` says why (Dutch);
    ``conflict`` marks a clash with the current state (the class is full) rather than bad input."""

    def __init__(self, field: str, message: str, *, conflict: bool = False):
        super().__init__(message)
        self.field = field
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True, kw_only=True)
class Capacity:
    """The places of the coachklas in a week, and where the number comes from."""

    week: int
    places: int
    stored: bool  # False: no capacity was set yet, the default is used
    from_week: int | None = None
    set_by: str | None = None


def capacity_at(session: Session, week: int) -> Capacity:
    """The capacity in force in ``week``: the latest stored one from that week or before."""
    row = session.execute(
        select(CoachklasCapacity)
        .where(CoachklasCapacity.from_week <= week)
        .order_by(CoachklasCapacity.from_week.desc(), CoachklasCapacity.capacity_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return Capacity(week=week, places=DEFAULT_CAPACITY, stored=False)
    return Capacity(
        week=week, places=row.capacity, stored=True, from_week=row.from_week, set_by=row.user_name
    )


def covers(week: int) -> ColumnElement[bool]:
    """The SQL condition of a placement that holds a place in ``week``: started by then, not ended before."""
    return and_(
        CoachklasPlacement.start_week <= week,
        CoachklasPlacement.end_week.is_(None) | (CoachklasPlacement.end_week >= week),
    )


def placements_at(session: Session, week: int) -> list[CoachklasPlacement]:
    """The placements that hold a place in ``week``, oldest first."""
    return list(
        session.execute(
            select(CoachklasPlacement)
            .where(covers(week))
            .order_by(CoachklasPlacement.start_week, CoachklasPlacement.placement_id)
        ).scalars()
    )


def max_occupancy_from(session: Session, week: int) -> int:
    """The most places taken in any week from ``week`` on (a new capacity must hold every one of them)."""
    starts = session.execute(
        select(CoachklasPlacement.start_week).distinct().where(CoachklasPlacement.start_week >= week)
    ).scalars()
    return max((len(placements_at(session, w)) for w in {week, *starts}), default=0)


def set_capacity(session: Session, *, from_week: int, places: int, reason: str | None, by: str) -> Capacity:
    """Store a capacity from ``from_week`` on (checked by :func:`check_capacity`)."""
    check_capacity(session, from_week, places)
    session.add(
        CoachklasCapacity(
            from_week=from_week, capacity=places, reason=reason, user_name=by, at=datetime.now(UTC)
        )
    )
    session.flush()
    return capacity_at(session, from_week)


def check_capacity(session: Session, from_week: int, places: int) -> None:
    """A capacity below the places already taken in some week from ``from_week`` on is refused."""
    taken = max_occupancy_from(session, from_week)
    if places < taken:
        raise PlacementError(
            "capacity",
            f"Er zitten vanaf week {from_week} al {taken} studenten in de coachklas: kies minstens {taken}.",
        )


def capacity_history(session: Session) -> list[CoachklasCapacity]:
    return list(
        session.execute(
            select(CoachklasCapacity).order_by(CoachklasCapacity.from_week, CoachklasCapacity.capacity_id)
        ).scalars()
    )


def open_placement(session: Session, student_id: str) -> CoachklasPlacement | None:
    return session.execute(
        select(CoachklasPlacement)
        .where(CoachklasPlacement.student_id == student_id, CoachklasPlacement.end_week.is_(None))
        .order_by(CoachklasPlacement.placement_id.desc())
        .limit(1)
    ).scalar_one_or_none()


def start_placement(
    session: Session, *, student_id: str, week: int, decision_id: int | None, note: str | None, by: str
) -> CoachklasPlacement:
    """Give ``student_id`` a place from ``week`` on (checked by :func:`check_place`)."""
    check_place(session, student_id, week)
    placement = CoachklasPlacement(
        student_id=student_id,
        start_week=week,
        decision_id=decision_id,
        note=note,
        user_name=by,
        at=datetime.now(UTC),
    )
    session.add(placement)
    session.flush()
    return placement


def check_place(session: Session, student_id: str, week: int) -> None:
    """Refused when the student already has a place, or when the class is full in ``week`` (its capacity
    against the places taken)."""
    if open_placement(session, student_id) is not None:
        raise PlacementError("student_id", "Deze student zit al in de coachklas.", conflict=True)
    capacity = capacity_at(session, week)
    taken = len(placements_at(session, week))
    if taken >= capacity.places:
        raise PlacementError(
            "decision",
            f"De coachklas is vol in week {week}: {taken} van {capacity.places} plaatsen bezet.",
            conflict=True,
        )


def end_placement(
    session: Session, placement: CoachklasPlacement, *, end_week: int, outcome: str, note: str | None, by: str
) -> CoachklasPlacement:
    """End a placement in ``end_week`` (its last week in the class) with its outcome (checked by
    :func:`check_end`)."""
    check_end(placement, end_week, outcome)
    placement.end_week = end_week
    placement.outcome = outcome
    placement.note = note if note is not None else placement.note
    placement.ended_by = by
    placement.ended_at = datetime.now(UTC)
    session.flush()
    return placement


def check_end(placement: CoachklasPlacement, end_week: int, outcome: str) -> None:
    if placement.end_week is not None:
        raise PlacementError("placement_id", "Deze plaatsing is al beëindigd.", conflict=True)
    if end_week < placement.start_week:
        raise PlacementError(
            "end_week", f"Het einde (week {end_week}) ligt vóór het begin (week {placement.start_week})."
        )
    if outcome not in PLACEMENT_OUTCOMES:
        raise PlacementError(
            "outcome", f"Onbekende uitkomst {outcome!r}; bekend zijn: {', '.join(PLACEMENT_OUTCOMES)}."
        )


def placement_history(session: Session, student_id: str | None = None) -> list[CoachklasPlacement]:
    """Every placement (of one student), newest start first."""
    query = select(CoachklasPlacement).order_by(
        CoachklasPlacement.start_week.desc(), CoachklasPlacement.placement_id.desc()
    )
    if student_id is not None:
        query = query.where(CoachklasPlacement.student_id == student_id)
    return list(session.execute(query).scalars())
