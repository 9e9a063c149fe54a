"""Pseudonymisation of student numbers with a keyed hash (HMAC-SHA256).

The school's own student number never enters the store: it is replaced on the way in by
``HMAC-SHA256(key, number)``, truncated to :data:`PSEUDONYM_LENGTH` hex characters (80 bits). The same
number and key always give the same pseudonym; without the key a pseudonym cannot be traced back to a
number, nor recomputed from one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

import pandas as pd

PSEUDONYM_LENGTH = 20
PSEUDONYM_PATTERN = re.compile(rf"^[0-9a-f]{{{PSEUDONYM_LENGTH}}}$")


def pseudonymise(student_number: str, key: str) -> str:
    """The pseudonym of one student number under ``key``."""
    if not key:
        raise ValueError("the pseudonymisation key must not be empty")
    normalised = str(student_number).strip()
    if not normalised:
        raise ValueError("an empty student number cannot be pseudonymised")
    digest = hmac.new(key.encode("utf-8"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def pseudonymise_many(numbers: Iterable[object], key: str) -> dict[str, str]:
    """Pseudonyms for the distinct numbers given, as a mapping number -> pseudonym."""
    return {str(n).strip(): pseudonymise(str(n), key) for n in set(map(str, numbers))}


def pseudonymise_column(numbers: pd.Series, key: str) -> pd.Series:
    """A column of student numbers as pseudonyms (hashing each distinct number once)."""
    as_text = numbers.astype(str).str.strip()
    mapping = pseudonymise_many(as_text.unique(), key)
    return as_text.map(mapping)


def is_pseudonym(value: str) -> bool:
    """True when ``value`` has the shape of a pseudonym."""
    return bool(PSEUDONYM_PATTERN.match(value))
