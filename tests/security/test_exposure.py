"""The development defaults stay on this machine: a service that runs in production or listens beyond
loopback refuses the public development pseudonym key and demo users (whose tokens anyone could derive
from that key)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from data.csv_io import import_files
from data.questionnaire import Questionnaire
from serving.app import create_app
from settings import DEV_PSEUDONYM_KEY, Settings, get_settings
from tests.conftest import TEST_KEY
from tests.security.helpers import vsv
from workflows.exposure import exposure_problems, is_loopback
from workflows.users import create_demo_users, revoke_user

SECRET = "s" * 40


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("school.example.nl", False),
    ],
)
def test_loopback_is_only_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_on_loopback_the_development_defaults_are_fine(store: Engine, tmp_path: Path) -> None:
    assert exposure_problems(Settings(var_dir=tmp_path), "127.0.0.1", store) == []


def test_listening_beyond_loopback_refuses_the_development_key(store: Engine, tmp_path: Path) -> None:
    problems = exposure_problems(Settings(var_dir=tmp_path), "0.0.0.0", store)
    assert len(problems) == 1
    assert "VSV_PSEUDONYM_KEY" in problems[0] and "0.0.0.0" in problems[0]
    assert exposure_problems(Settings(var_dir=tmp_path, pseudonym_key=SECRET), "0.0.0.0", store) == []


def test_demo_users_are_refused_until_revoked(
    store: Engine, tmp_path: Path, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)
    users = create_demo_users(store, SECRET)
    settings = Settings(var_dir=tmp_path, pseudonym_key=SECRET)
    problems = exposure_problems(settings, "0.0.0.0", store)
    assert len(problems) == 1 and "demo-admin" in problems[0]
    for name, *_ in users:
        revoke_user(store, name)
    assert exposure_problems(settings, "0.0.0.0", store) == []


def test_the_app_refuses_to_start_exposed_with_demo_users(
    store: Engine, tmp_path: Path, small_csv_dir: Path, questionnaire: Questionnaire
) -> None:
    import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)
    create_demo_users(store, SECRET)
    settings = Settings(
        var_dir=tmp_path, environment="production", pseudonym_key=SECRET, load_model_on_startup=False
    )
    with pytest.raises(RuntimeError, match="demo users"), TestClient(create_app(settings, engine=store)):
        pass


def test_vsv_serve_refuses_to_listen_beyond_loopback_with_the_development_key(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSV_PSEUDONYM_KEY", DEV_PSEUDONYM_KEY)
    result = vsv(store, monkeypatch, "serve", "--host", "0.0.0.0")
    assert result.exit_code != 0
    assert "refusing to serve" in result.output and "VSV_PSEUDONYM_KEY" in result.output
    get_settings.cache_clear()


def test_vsv_users_demo_is_refused_when_the_service_listens_beyond_loopback(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSV_HOST", "0.0.0.0")
    result = vsv(store, monkeypatch, "users", "demo")
    assert result.exit_code != 0
    assert "demo users are refused" in result.output
