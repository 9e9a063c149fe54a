"""The extension register: a college's own signals as declared model inputs.

A college often has signals the contract does not name (a deprivation band, earlier attempts at the
programme, credits studied before): on real data these were among the strongest early predictors. It
declares each one in ``features/extensions.yaml`` (beside the feature register; another file with
``VSV_EXTENSIONS_CONFIG``): name, family, domain, a plain-Dutch description, a justification, and the
neutral value for a student without one. Values come in through the long table ``school_signals``
(student, week or date, feature, value) or as a column of the students file (the value at the start).

A declared extension becomes a model input of the next model trained, after the proxy check every
feature gets (``training.pipeline``: measured on the college's own training rows; a stand-in for a
protected attribute, or one that cannot be checked, is left out and the model card says why). A column or
a ``feature`` value that is not declared is refused by the import, with a message saying how to declare it.

This module only reads the declarations (data code validates imports with them; the features read them
too). Nothing is read on import.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_EXTENSIONS_PATH = Path(__file__).resolve().parents[1] / "features" / "extensions.yaml"
EXTENSIONS_ENV = "VSV_EXTENSIONS_CONFIG"
ExtensionFamily = Literal["lagging", "context"]
ExtensionDomain = Literal["aanwezigheid", "studievoortgang", "context"]
# Names the contract's own columns or the feature register already use cannot be declared.
RESERVED_PREFIXES = ("q_", "has_", "flag_", "att_", "unauth_", "auth_", "credits_", "units_")
DECLARE_HINT = (
    "declare it in the extension register (features/extensions.yaml, or the file VSV_EXTENSIONS_CONFIG "
    "names: name, family, domain, description_nl, justification, fill; README: 'School-specific signals')"
)


class Extension(BaseModel):
    """One declared school-specific signal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    family: ExtensionFamily
    # What staff may see it as: a changeable signal (aanwezigheid, studievoortgang) may be a reason; context
    # (fixed at the start: a deprivation band, earlier attempts) is an input only, never a reason.
    domain: ExtensionDomain
    description_nl: str = Field(min_length=3, max_length=120)
    justification: str = Field(min_length=10)
    # The neutral value of a student without one (features are never NaN).
    fill: float = 0.0
    monotone: Literal[-1, 0, 1] = 0
    # true: the college has decided it stands in for a protected attribute: never shown, and (unlike a
    # feature of the register) never an input either.
    proxy: bool = False
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Extension:
        if self.name.startswith(RESERVED_PREFIXES):
            raise ValueError(
                f"extension {self.name}: names starting with {', '.join(RESERVED_PREFIXES)} belong to the "
                "feature register; choose another name"
            )
        if (self.family == "context") != (self.domain == "context"):
            raise ValueError(
                f"extension {self.name}: family {self.family} does not go with domain {self.domain}"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"extension {self.name}: min {self.min} is above max {self.max}")
        return self


class ExtensionRegister(BaseModel):
    """The whole extension register file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extensions: tuple[Extension, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ExtensionRegister:
        names = [e.name for e in self.extensions]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"extensions declared twice: {', '.join(duplicated)}")
        return self

    def by_name(self) -> dict[str, Extension]:
        return {e.name: e for e in self.extensions}


def extensions_path() -> Path:
    """The extension register in use: ``VSV_EXTENSIONS_CONFIG`` when set, else the shipped file."""
    configured = os.environ.get(EXTENSIONS_ENV)
    return Path(configured) if configured else DEFAULT_EXTENSIONS_PATH


def load_extensions(path: Path | None = None) -> ExtensionRegister:
    """Read and check an extension register; errors name the file."""
    source = path or extensions_path()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        return ExtensionRegister.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"invalid extension register {source}: {exc}") from exc


@lru_cache(maxsize=8)
def _cached(path: Path) -> ExtensionRegister:
    return load_extensions(path)


def cached_extensions(path: Path | None = None) -> ExtensionRegister:
    """:func:`load_extensions`, read once per path (the path is looked up on every call)."""
    return _cached(path or extensions_path())


def clear_extension_cache() -> None:
    """Forget the registers read (after the file changed, e.g. in tests)."""
    _cached.cache_clear()
