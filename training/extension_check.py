"""The proxy check of a college's declared extensions, measured when a model is trained on them.

The features of the register carry a proxy check measured once and written into the register
(:func:`features.register.update_register_proxy_results`). A college's own signal (:mod:`data.extensions`)
cannot be measured in advance: it is measured here, on the training rows and the audit attributes of the
college itself, with the same function and threshold (:func:`features.register.proxy_check`). An extension
is a model input only when the check ran and stayed below the threshold; one that reaches it, or that
cannot be checked (no audit attributes, or one group only), is left out. The model card lists each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.register import PROTECTED_ATTRIBUTES, PROTECTED_GROUPS, proxy_check


@dataclass(frozen=True)
class ExtensionCheck:
    """The measured check of one extension and the decision taken on it."""

    name: str
    used: bool
    why: str  # for the model card, in English like the rest of its technical part
    auc: dict[str, float] | None = None  # folded ROC-AUC per protected attribute, when measured

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "used": self.used, "why": self.why, "auc": self.auc}


def _checkable(audit: pd.DataFrame | None) -> str | None:
    """Why the audit attributes cannot check a feature, or None when they can."""
    if audit is None or audit.empty:
        return "not checked: no audit attributes in the store, so it is left out"
    for attribute, group in PROTECTED_GROUPS.items():
        values = audit[attribute].astype(str) if attribute in audit.columns else pd.Series(dtype=str)
        if values.eq(group).all() or not values.eq(group).any():
            return (
                f"not checked: the audit attributes hold no comparison for {attribute} "
                f"({group} against the rest), so it is left out"
            )
    return None


def check_extensions(
    rows: pd.DataFrame, audit: pd.DataFrame | None, names: Sequence[str], threshold: float
) -> tuple[ExtensionCheck, ...]:
    """The check of each extension in ``names`` on ``rows`` (training rows with ``student_id``)."""
    if not names:
        return ()
    unchecked = _checkable(audit)
    if unchecked is not None:
        return tuple(ExtensionCheck(name, False, unchecked) for name in names)
    assert audit is not None
    result = proxy_check(rows, audit, columns=list(names), threshold=threshold)
    checks = []
    measured = result[[*PROTECTED_ATTRIBUTES, "max_auc"]].astype("float64")
    for name in names:
        row = measured.loc[name].to_dict()
        auc = {a: round(float(row[a]), 3) for a in PROTECTED_ATTRIBUTES}
        highest = float(row["max_auc"])
        if math.isnan(highest):
            checks.append(ExtensionCheck(name, False, "not checked: no audit attributes for these rows", auc))
        elif highest >= threshold:
            checks.append(
                ExtensionCheck(
                    name,
                    False,
                    f"left out: a proxy (folded ROC-AUC {highest:.3f} >= threshold {threshold:.2f})",
                    auc,
                )
            )
        else:
            checks.append(
                ExtensionCheck(
                    name, True, f"used: folded ROC-AUC {highest:.3f} < threshold {threshold:.2f}", auc
                )
            )
    return tuple(checks)
