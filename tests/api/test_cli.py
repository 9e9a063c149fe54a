"""`vsv users add/list/demo`: tokens printed once and stored hashed; demo users idempotent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from data.store import make_engine, upgrade
from settings import get_settings
from tests.api.conftest import load_school
from tests.conftest import School
from vroegsignaal.cli import app
from workflows.users import hash_token


@pytest.fixture
def env(tmp_path: Path, school: School, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'vsv.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_school(engine, school, 0, 0)
    monkeypatch.setenv("VSV_DATABASE_URL", url)
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_users_add_prints_the_token_once(env: str, school: School) -> None:
    team = str(school.tables.students["team"].iloc[0])
    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "--name", "anna", "--role", "mentor", "--team", team])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with make_engine(env).connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM users WHERE name = 'anna'")).scalar_one()
    assert stored == hash_token(token) and token not in stored
    assert (
        runner.invoke(app, ["users", "add", "--name", "anna", "--role", "mentor", "--team", team]).exit_code
        == 2
    )
    assert runner.invoke(app, ["users", "add", "--name", "bob", "--role", "baas"]).exit_code == 2
    assert (
        runner.invoke(app, ["users", "add", "--name", "bob", "--role", "mentor", "--team", "GEEN"]).exit_code
        == 2
    )
    listing = runner.invoke(app, ["users", "list"])
    assert "anna" in listing.output and token not in listing.output


def test_users_demo_is_idempotent(env: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["users", "demo"])
    second = runner.invoke(app, ["users", "demo"])
    assert first.exit_code == 0 and first.output == second.output
    tokens = re.findall(r"demo-\w+-[0-9a-f]{24}", first.output)
    assert len(tokens) == 6
    with make_engine(env).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 6
        assert conn.execute(text("SELECT COUNT(*) FROM user_teams")).scalar_one() == 1
