"""The questionnaire configuration: which items a student answers each week.

The items live in one YAML file (``data/questionnaire.yaml`` by default, or ``VSV_QUESTIONNAIRE_CONFIG``)
so that a school can change them without touching code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_QUESTIONNAIRE_PATH = Path(__file__).with_name("questionnaire.yaml")
LatentName = Literal["wellbeing", "fit", "problems", "work_pull"]


class Item(BaseModel):
    """One 1-5 scale question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    text: str = Field(min_length=3)
    description: str = Field(min_length=2)
    higher_is_better: bool
    alert_at_or_below: int | None = None
    alert_at_or_above: int | None = None
    # What the lowest and highest answer mean, as the student reads them on the questionnaire page
    # ("heel slecht" ... "heel goed"); without them the page says "laag" and "hoog".
    low_label: str = Field(default="laag", min_length=1, max_length=40)
    high_label: str = Field(default="hoog", min_length=1, max_length=40)
    loadings: dict[LatentName, float] = Field(default_factory=dict)


class HelpItem(BaseModel):
    """The yes/no "I would like to talk to someone" item (stored as 1 = yes, 0 = no)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    text: str
    description: str

    @property
    def question(self) -> str:
        """The text as a question on the page, where "ja" and "nee" are the buttons."""
        return self.text.replace("(ja/nee)", "").strip()


class Questionnaire(BaseModel):
    """The whole questionnaire: scale and items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale_min: int = 1
    scale_max: int = 5
    items: tuple[Item, ...] = Field(min_length=1)
    help_item: HelpItem

    @model_validator(mode="after")
    def _check(self) -> Questionnaire:
        codes = [i.code for i in self.items] + [self.help_item.code]
        if len(set(codes)) != len(codes):
            raise ValueError(f"item codes must be unique, got {codes}")
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
        for item in self.items:
            for bound in (item.alert_at_or_below, item.alert_at_or_above):
                if bound is not None and not self.scale_min <= bound <= self.scale_max:
                    raise ValueError(f"item {item.code}: alert threshold {bound} is outside the scale")
        return self

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.items)

    @property
    def all_codes(self) -> tuple[str, ...]:
        """Scale items followed by the help item."""
        return (*self.item_codes, self.help_item.code)


def load_questionnaire(path: Path | None = None) -> Questionnaire:
    """Read and validate a questionnaire file; errors name the file and the problem."""
    source = path or DEFAULT_QUESTIONNAIRE_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read questionnaire configuration {source}: {exc}") from exc
    try:
        return Questionnaire.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"invalid questionnaire configuration {source}: {exc}") from exc


@lru_cache(maxsize=8)
def cached_questionnaire(path: Path | None = None) -> Questionnaire:
    """:func:`load_questionnaire`, read once per path."""
    return load_questionnaire(path)
