"""Pseudonymisation is stable for a key, differs between keys, and cannot be undone without the key."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.pseudonym import PSEUDONYM_LENGTH, is_pseudonym, pseudonymise, pseudonymise_column


@given(st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != ""))
def test_stable_and_shaped(number: str) -> None:
    first = pseudonymise(number, "k1")
    assert first == pseudonymise(number, "k1")
    assert is_pseudonym(first) and len(first) == PSEUDONYM_LENGTH


def test_whitespace_does_not_make_another_student() -> None:
    assert pseudonymise(" 1234567 ", "k") == pseudonymise("1234567", "k")


def test_column_matches_single_values() -> None:
    numbers = pd.Series([1000001, 1000002, 1000001])
    out = pseudonymise_column(numbers, "k")
    assert list(out) == [
        pseudonymise("1000001", "k"),
        pseudonymise("1000002", "k"),
        pseudonymise("1000001", "k"),
    ]


def test_without_the_key_a_pseudonym_cannot_be_traced_back() -> None:
    """Someone with the pseudonyms but not the key tries every student number of a school: no match."""
    key = "the-school-secret"
    numbers = [str(1_000_000 + i) for i in range(20_000)]
    pseudonyms = {pseudonymise(n, key) for n in numbers}
    guesses_other_key = {pseudonymise(n, "a-guessed-key") for n in numbers}
    plain_hashes = {hashlib.sha256(n.encode()).hexdigest()[:PSEUDONYM_LENGTH] for n in numbers}
    assert not pseudonyms & guesses_other_key
    assert not pseudonyms & plain_hashes
    assert len(pseudonyms) == len(numbers)  # no collisions at school scale
    assert not any(n in p for n in numbers[:100] for p in pseudonyms)


@pytest.mark.parametrize(("number", "key"), [("", "k"), ("   ", "k"), ("123", "")])
def test_empty_input_is_refused(number: str, key: str) -> None:
    with pytest.raises(ValueError):
        pseudonymise(number, key)
