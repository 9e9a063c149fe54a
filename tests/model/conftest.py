"""Real public data for model tests: ``../shared/realdata/`` beside the checkout (see its README).

One rule for every test that reads it: when the data is absent the test is skipped with the path it
looked for, except under ``CI=true``, where a missing folder is a failure (CI must run these tests).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


def require_realdata(relative: str) -> Path:
    """``REALDATA / relative`` if that file exists; otherwise skip the test, or fail it under ``CI=true``."""
    path = REALDATA / relative
    if path.is_file():
        return path
    reason = f"real data missing: expected {path} (../shared/realdata/ beside the checkout, see its README)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def uci_dropout_csv() -> Path:
    """The UCI "Predict Students' Dropout and Academic Success" table (``uci_dropout/data.csv``)."""
    return require_realdata("uci_dropout/data.csv")
