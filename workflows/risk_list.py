"""The weekly risk list's own rules, shared by the JSON API and the web page (none lives only in a page).

* The band shown is the staff override when there is one, else the model's band (the score itself is
  never changed).
* "Nieuw deze week": the shown band is verhoogd or hoog now and was not last week.
* A student with an open zorgmelding comes first, then the rest by risk rank.
* A list shows only students the viewer may see *now*: access follows the student's current team, in every
  week (a stored score's own team is what it was computed with, not who may see it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from data.vocabulary import BAND_ELEVATED, BAND_HIGH
from workflows.users import CurrentUser

RISING = (BAND_ELEVATED, BAND_HIGH)


class ListedStudent(Protocol):
    @property
    def rank(self) -> int: ...

    @property
    def shown_band(self) -> str: ...

    @property
    def new_this_week(self) -> bool: ...

    @property
    def open_alert(self) -> bool: ...


T = TypeVar("T", bound=ListedStudent)


class OnTeam(Protocol):
    @property
    def team(self) -> str:
        """The student's current team."""
        ...


R = TypeVar("R", bound=OnTeam)


def visible_to(viewer: CurrentUser, rows: Sequence[R]) -> list[R]:
    """The rows of the students ``viewer`` may see now (``team``: each student's current team)."""
    return [row for row in rows if viewer.may_see_team(row.team)]


def shown_band(band: str, override_band: str | None) -> str:
    """The band staff see: their override when there is one, else the model's band."""
    return override_band or band


def new_this_week(shown: str, previous_shown: str | None) -> bool:
    """True when the student rose into verhoogd or hoog this week (from a lower band or from no score)."""
    return shown in RISING and previous_shown not in RISING


def alerts_first(items: Sequence[T]) -> list[T]:
    """Students with an open zorgmelding first, then by risk rank."""
    return sorted(items, key=lambda item: (not item.open_alert, item.rank))


def filtered(items: Sequence[T], band: str | None = None, new_only: bool = False) -> list[T]:
    """The items in ``band`` (shown band; None = all) and, with ``new_only``, only those new this week."""
    return [
        item
        for item in items
        if (band is None or item.shown_band == band) and (not new_only or item.new_this_week)
    ]
