"""The action types a college records (``data/action_types.yaml`` by default, or ``VSV_ACTION_TYPES_CONFIG``).

A school changes the list without touching code. Codes are stable identifiers (the store and the API hold
them); labels are the Dutch words staff read. An action type marked ``measure`` is a measure whose effect
``vsv effect`` can estimate (the coachklas is a measure of its own, from its placements).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_ACTION_TYPES_PATH = Path(__file__).with_name("action_types.yaml")


class ActionType(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    label: str = Field(min_length=2, max_length=120)
    follow_up: bool = False
    measure: bool = False


# Codes Vroegsignaal itself records (a student's reaction from their own view): never chosen by staff, never
# in a college's file, always labelled.
STUDENT_COMMENT, STUDENT_CONTEST = "student_comment", "student_contest"
RESERVED_LABELS = {
    STUDENT_COMMENT: "Opmerking van de student",
    STUDENT_CONTEST: "De student vindt dat iets niet klopt",
}


class ActionTypes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action_types: tuple[ActionType, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> ActionTypes:
        codes = [t.code for t in self.action_types]
        doubles = sorted({c for c in codes if codes.count(c) > 1})
        if doubles:
            raise ValueError(f"action type codes occur twice: {', '.join(doubles)}")
        reserved = sorted(set(codes) & set(RESERVED_LABELS))
        if reserved:
            raise ValueError(f"action type codes reserved for Vroegsignaal: {', '.join(reserved)}")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.action_types)

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.action_types if t.measure)

    def label(self, code: str) -> str:
        """The Dutch label of ``code`` (the reserved codes included); an unknown (retired) code is shown as
        it is stored."""
        if code in RESERVED_LABELS:
            return RESERVED_LABELS[code]
        return next((t.label for t in self.action_types if t.code == code), code)

    def get(self, code: str) -> ActionType | None:
        return next((t for t in self.action_types if t.code == code), None)


def load_action_types(path: Path | None = None) -> ActionTypes:
    """Read and validate an action-type file; a :class:`ValueError` names the file and the problem."""
    source = path or DEFAULT_ACTION_TYPES_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        return ActionTypes.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{source}: not a valid action-type configuration: {exc}") from exc


@lru_cache(maxsize=8)
def cached_action_types(path: Path | None = None) -> ActionTypes:
    return load_action_types(path)
