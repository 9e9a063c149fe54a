"""Fixtures of the data tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import get_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh var folder (SQLite store under it) and a test pseudonym key for the `vsv` commands."""
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VSV_PSEUDONYM_KEY", "cli-test-key")
    monkeypatch.delenv("VSV_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
