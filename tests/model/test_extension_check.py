"""The proxy check of declared extensions at training: a stand-in for a protected attribute is left out,
a signal that says nothing about one is used, and without audit attributes nothing can be checked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.extension_check import check_extensions


def _rows_and_audit(n: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    ids = [f"s{i:04d}" for i in range(n)]
    gender = rng.choice(["man", "vrouw"], n)
    migration = rng.choice(["geen", "niet_westers"], n)
    rows = pd.DataFrame(
        {
            "student_id": ids,
            # Nearly the migration background itself: a proxy.
            "postcode_band": (migration == "niet_westers") * 2.0 + rng.normal(0, 0.3, n),
            "previous_attempts": rng.poisson(0.5, n).astype(float),
        }
    )
    audit = pd.DataFrame({"student_id": ids, "gender": gender, "migration_background": migration})
    return rows, audit


def test_a_proxy_is_left_out_and_an_independent_signal_is_used() -> None:
    rows, audit = _rows_and_audit()
    checks = {c.name: c for c in check_extensions(rows, audit, ["postcode_band", "previous_attempts"], 0.65)}
    proxy, attempts = checks["postcode_band"], checks["previous_attempts"]
    assert not proxy.used and proxy.why.startswith("left out: a proxy")
    assert proxy.auc is not None and proxy.auc["migration_background"] > 0.9
    assert attempts.used and attempts.auc is not None and max(attempts.auc.values()) < 0.6


def test_without_audit_attributes_or_with_one_group_nothing_is_used() -> None:
    rows, audit = _rows_and_audit()
    (none,) = check_extensions(rows, None, ["previous_attempts"], 0.65)
    assert not none.used and "no audit attributes" in none.why
    unknown = audit.assign(migration_background="onbekend")
    (one_group,) = check_extensions(rows, unknown, ["previous_attempts"], 0.65)
    assert not one_group.used and "no comparison for migration_background" in one_group.why


def test_no_extensions_no_checks() -> None:
    rows, audit = _rows_and_audit(10)
    assert check_extensions(rows, audit, [], 0.65) == ()
