"""Auth hardening: tokens expire and can be revoked, hashes are compared in constant time, bad tokens are
rate-limited per client address (429 + Retry-After), tokens never reach the logs, and the service refuses
to start outside development with the development pseudonym key."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, text

from serving.app import create_app
from serving.ratelimit import FailedLoginLimiter
from settings import DEV_PSEUDONYM_KEY, Settings, get_settings
from tests.api.conftest import api_settings
from tests.security.helpers import vsv
from workflows.users import find_user, hash_token, revoke_user, upsert_user

LOG = "/api/v1/audit/log"
TOKEN = "secret-admin-token-0123456789abcdef"


def _client(store: Engine, tmp_path: Path, per_minute: int, ip: str = "10.0.0.1") -> TestClient:
    app = create_app(api_settings(tmp_path, auth_failures_per_minute=per_minute), engine=store)
    return TestClient(app, client=(ip, 50000))


@pytest.fixture
def admin(store: Engine) -> Iterator[Engine]:
    upsert_user(store, "admin", "admin", [], TOKEN)
    yield store


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- expiry and revocation ------------------------------------------------------------------------------


def test_a_new_token_expires_after_the_ttl(store: Engine) -> None:
    upsert_user(store, "a", "admin", [], "tok-a", ttl_days=90)
    with store.connect() as conn:
        expires = conn.execute(text("SELECT expires_at FROM users WHERE name = 'a'")).scalar_one()
        expires = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
        assert find_user(conn, "tok-a") is not None
        assert find_user(conn, "tok-a", now=datetime.now(UTC) + timedelta(days=89)) is not None
        assert find_user(conn, "tok-a", now=datetime.now(UTC) + timedelta(days=91)) is None
    with pytest.raises(ValueError, match="at least one day"):
        upsert_user(store, "a", "admin", [], "tok-a", ttl_days=0)


def test_an_expired_token_is_refused_401(admin: Engine, tmp_path: Path) -> None:
    with _client(admin, tmp_path, 0) as client:
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 200
        with admin.begin() as conn:
            conn.execute(
                text("UPDATE users SET expires_at = :t WHERE name = 'admin'"),
                {"t": datetime.now(UTC) - timedelta(seconds=1)},
            )
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 401


def test_revoke_refuses_the_token_at_once(
    admin: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _client(admin, tmp_path, 0) as client:
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 200
        result = vsv(admin, monkeypatch, "users", "revoke", "admin")
        assert result.exit_code == 0, result.output
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 401
    listing = vsv(admin, monkeypatch, "users", "list")
    assert "revoked" in listing.output and TOKEN not in listing.output
    assert vsv(admin, monkeypatch, "users", "revoke", "nobody").exit_code == 2
    first = revoke_user(admin, "admin")
    assert revoke_user(admin, "admin") == first  # idempotent
    upsert_user(admin, "admin", "admin", [], "new-token")  # re-issuing lifts the revocation
    with admin.connect() as conn:
        assert find_user(conn, "new-token") is not None and find_user(conn, TOKEN) is None


def test_users_add_takes_the_ttl_from_the_settings(admin: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSV_TOKEN_TTL_DAYS", "5")
    result = vsv(admin, monkeypatch, "users", "add", "--name", "dt", "--role", "datateam")
    assert result.exit_code == 0, result.output
    listing = vsv(admin, monkeypatch, "users", "list").output
    line = next(line for line in listing.splitlines() if line.startswith("dt "))
    assert f"expires {(datetime.now(UTC) + timedelta(days=5)):%Y-%m-%d}" in line


def test_hashes_are_compared_in_constant_time(admin: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with admin.connect() as conn:
        assert find_user(conn, TOKEN) is not None
    assert calls == [(hash_token(TOKEN), hash_token(TOKEN))]


# --- failed-login rate limiting -----------------------------------------------------------------------


def test_bad_tokens_are_rate_limited_per_address(admin: Engine, tmp_path: Path) -> None:
    with _client(admin, tmp_path, 3) as client:
        for _ in range(5):  # no token at all is not a failed login
            assert client.get(LOG).status_code == 401
        for _ in range(3):
            assert client.get(LOG, headers=_bearer("guess")).status_code == 401
        refused = client.get(LOG, headers=_bearer("guess"))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "Te veel mislukte" in refused.json()["detail"]
        # a good token still passes from that address (a colleague behind the same NAT) ...
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 200
        # ... further bad ones do not, while another address is not limited
        assert client.get(LOG, headers=_bearer("guess")).status_code == 429
        other = TestClient(client.app, client=("10.0.0.2", 50000))
        assert other.get(LOG, headers=_bearer("guess")).status_code == 401


def test_the_window_slides() -> None:
    now = [1000.0]
    limiter = FailedLoginLimiter(2, clock=lambda: now[0])
    limiter.record_failure("a")
    now[0] += 30
    limiter.record_failure("a")
    assert limiter.retry_after("a") == 30
    assert limiter.retry_after("b") is None
    now[0] += 30.5
    assert limiter.retry_after("a") is None  # the first failure left the window
    assert FailedLoginLimiter(0).retry_after("a") is None  # 0 switches the limit off


# --- no secrets in logs ---------------------------------------------------------------------------------


def test_tokens_never_reach_the_logs(admin: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(admin, tmp_path, 2) as client:
        client.get(LOG, headers=_bearer(TOKEN))
        client.get(f"{LOG}?student_id=x", headers=_bearer(TOKEN))
        for _ in range(3):
            client.get(LOG, headers=_bearer("wrong-token-abcdef-123456"))
        client.post("/api/v1/scores/run", headers=_bearer(TOKEN), json={})
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    for secret in (TOKEN, "wrong-token-abcdef-123456"):
        assert secret not in caplog.text


# --- refusing insecure defaults ---------------------------------------------------------------------------


def test_production_refuses_the_development_key() -> None:
    with pytest.raises(ValidationError, match="VSV_PSEUDONYM_KEY is the development default"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="shorter than 32"):
        Settings(environment="production", pseudonym_key="short")
    assert Settings(environment="production", pseudonym_key="k" * 64).pseudonym_key == "k" * 64
    for environment in ("development", "test"):
        assert Settings(environment=environment).pseudonym_key == DEV_PSEUDONYM_KEY
    with pytest.raises(ValidationError):
        Settings(audit_retention_min_weeks=10)  # the audit log is kept at least six months


def test_serve_and_the_app_factory_refuse_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from serving.app import app_from_environment
    from vroegsignaal.cli import app

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("VSV_ENVIRONMENT", "production")
    monkeypatch.delenv("VSV_PSEUDONYM_KEY", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve"])
        assert result.exit_code == 2 and not started
        assert "refusing to start" in result.output and "VSV_PSEUDONYM_KEY" in result.output
        with pytest.raises(ValidationError, match="development default"):
            app_from_environment()
        monkeypatch.setenv("VSV_PSEUDONYM_KEY", "a-production-key-" + "x" * 32)
        get_settings.cache_clear()
        assert CliRunner().invoke(app, ["serve"]).exit_code == 0 and started
    finally:
        get_settings.cache_clear()
