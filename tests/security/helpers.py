"""Helpers for the security tests: tamper with the append-only audit log as a privileged operator would,
and run `vsv` against a given store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner, Result

from settings import get_settings
from vroegsignaal.cli import app

SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_log_no_{op} BEFORE {OP} ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
)


@contextmanager
def triggers_off(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers are off (as a superuser or file owner could)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            yield conn
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        else:
            for name in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER audit_log_no_{name}"))
            yield conn
            for name in ("update", "delete"):
                conn.execute(text(SQLITE_TRIGGER.format(op=name, OP=name.upper())))


def vsv(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Run `vsv ARGS` with the store of ``engine`` as VSV_DATABASE_URL."""
    monkeypatch.setenv("VSV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("VSV_ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
