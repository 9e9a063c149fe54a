"""Coachklas intake rules, shared by the API and the page: places are filled against a capacity.

A student's latest decision counts; students whose latest decision is "geplaatst" fill a place, the rest
of the capacity is free. The candidate list shows a few more students than there are free places, so the
coordinator can pass over a student with a reason and still see who comes next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from data.vocabulary import DECISION_PLACED

DEFAULT_CAPACITY = 12
CANDIDATE_MARGIN = 5
MAX_CANDIDATES = 500


class Decision(Protocol):
    @property
    def student_id(self) -> str: ...

    @property
    def decision(self) -> str: ...


D = TypeVar("D", bound=Decision)


def latest_per_student(decisions: Sequence[D]) -> list[D]:
    """Each student's latest decision (``decisions`` in the order they were taken)."""
    latest: dict[str, D] = {}
    for decision in decisions:
        latest[decision.student_id] = decision
    return list(latest.values())


def placed(decisions: Sequence[D]) -> list[D]:
    """The decisions that hold a place now: a student's latest decision is to place them."""
    return [d for d in latest_per_student(decisions) if d.decision == DECISION_PLACED]


def free_places(capacity: int, decisions: Sequence[D]) -> int:
    return max(capacity - len(placed(decisions)), 0)


def candidates_to_show(free: int) -> int:
    """How many candidates to rank for ``free`` places (at least one: a full class still shows who is
    next)."""
    return max(1, min(free + CANDIDATE_MARGIN, MAX_CANDIDATES))
