"""A weekly score as a typed record, from the moment the model computes it to the API response.

* :class:`ComputedScore`: what the model computes for one feature row (the weekly job stores it, an
  on-demand request returns it, a replay recomputes it).
* :class:`ListedScore`: the columns a risk list or the coachklas ranking shows (no SHAP values).
* :class:`StoredScore`: every stored column of one score: enough to explain and replay it.

The store keeps reasons as JSON (a list of objects); :func:`reasons_from_json` and
:meth:`StoredReason.as_json` are the one translation in each direction. Response schemas are built
from these records with pydantic's ``from_attributes``, never copied field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredReason:
    """One plain-Dutch reason with the feature, its value and its SHAP contribution (log-odds)."""

    feature: str
    text: str
    value: float
    contribution: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def reasons_from_json(raw: Iterable[Mapping[str, Any]]) -> tuple[StoredReason, ...]:
    return tuple(
        StoredReason(
            feature=str(r["feature"]),
            text=str(r["text"]),
            value=float(r["value"]),
            contribution=float(r["contribution"]),
        )
        for r in raw
    )


@dataclass(frozen=True, slots=True)
class ComputedScore:
    """The model's output for one row, with everything needed to store, explain and replay it."""

    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    raw_score: float
    base_value: float
    feature_values: dict[str, float]
    shap_values: dict[str, float]
    reasons: tuple[StoredReason, ...]
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    insufficient_data: bool

    def as_columns(self) -> dict[str, Any]:
        """The ``scores`` table's columns this record fills (reasons as JSON objects)."""
        columns = {f.name: getattr(self, f.name) for f in fields(self)}
        columns["reasons"] = [r.as_json() for r in self.reasons]
        return columns


@dataclass(frozen=True, slots=True)
class ListedScore:
    """A score as a list shows it."""

    student_id: str
    team: str
    model_version: str
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    change: float | None
    reasons: tuple[StoredReason, ...]
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    insufficient_data: bool
    feature_values: dict[str, float]  # for this week's questionnaire signals on the row


@dataclass(frozen=True, slots=True)
class StoredScore:
    """Every stored column of one weekly score."""

    student_id: str
    week: int
    team: str
    model_version: str
    scored_at: datetime
    probability: float
    lower: float
    upper: float
    band: str
    band_uncertain: bool
    raw_score: float
    base_value: float
    feature_values: dict[str, float]
    shap_values: dict[str, float]
    reasons: tuple[StoredReason, ...]
    flag_leerplicht_16u: bool
    flag_4_weeks_absent: bool
    insufficient_data: bool
    previous_probability: float | None
    change: float | None


LISTED_FIELDS = tuple(f.name for f in fields(ListedScore))
STORED_FIELDS = tuple(f.name for f in fields(StoredScore))


def listed_score(row: Mapping[Any, Any]) -> ListedScore:
    """A :class:`ListedScore` from a database row holding (at least) its columns."""
    values = {name: row[name] for name in LISTED_FIELDS}
    values["reasons"] = reasons_from_json(row["reasons"])
    return ListedScore(**values)


def stored_score(row: Mapping[Any, Any]) -> StoredScore:
    """A :class:`StoredScore` from a database row of the ``scores`` table."""
    values = {name: row[name] for name in STORED_FIELDS}
    values["reasons"] = reasons_from_json(row["reasons"])
    return StoredScore(**values)
