"""Real public data for model tests: ``../shared/realdata/`` beside the checkout (see its README).

One rule for every test that reads it (``tests.conftest.require_or_skip``): when the data is absent the test
is skipped with the path it looked for, except under ``CI=true``, where a missing file fails the test (CI
must run these tests; ``.ci/run`` also checks the folder before it starts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_or_skip

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


def require_realdata(relative: str) -> Path:
    """``REALDATA / relative`` if that file exists; otherwise skip the test, or fail it under ``CI=true``."""
    path = REALDATA / relative
    require_or_skip(
        path.is_file(),
        f"real data missing: expected {path} (../shared/realdata/ beside the checkout, see its README)",
    )
    return path


@pytest.fixture(scope="session")
def uci_dropout_csv() -> Path:
    """The UCI "Predict Students' Dropout and Academic Success" table (``uci_dropout/data.csv``)."""
    return require_realdata("uci_dropout/data.csv")
