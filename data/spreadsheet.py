"""Cells that a spreadsheet would run as a formula (CSV/formula injection), defused on every export.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe on
export, so that a name, note or team can never run as a formula (``=HYPERLINK(...)``) on a colleague's
computer. The import takes that apostrophe off again (:func:`restore`), so exporting a table and importing
the file changes nothing.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def needs_defusing(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` as a formula, or it would read as a defused one."""
    return text.startswith(FORMULA_STARTS) or (text.startswith("'") and needs_defusing(text[1:]))


def neutralise(value: object) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would run it as a formula (or when it
    already looks defused, so that :func:`restore` gives back exactly this text)."""
    text = "" if value is None else str(value)
    return "'" + text if needs_defusing(text) else text


def restore_text(text: str) -> str:
    """The inverse of :func:`neutralise`."""
    return text[1:] if text.startswith("'") and needs_defusing(text[1:]) else text


def neutralise_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell neutralised (numbers stay numbers; missing stays missing)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            values = out[column]
            out[column] = values.where(values.isna(), values.map(neutralise))
    return out


def restore(values: pd.Series) -> pd.Series:
    """Text cells as they were before :func:`neutralise` (only cells starting with an apostrophe change)."""
    quoted = values.str.startswith("'").fillna(False).astype(bool)
    if not quoted.any():
        return values
    out = values.copy()
    out[quoted] = values[quoted].map(restore_text)
    return out
