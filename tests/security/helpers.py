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
    "CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
)
# The append-only tables of the audit trail: the entries and the students they name.
AUDIT_TABLES = ("audit_log", "audit_students")


@contextmanager
def triggers_off(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the append-only triggers of the audit trail are off (as a superuser or file
    owner could)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in AUDIT_TABLES:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            yield conn
            for table in AUDIT_TABLES:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
        else:
            for table in AUDIT_TABLES:
                for name in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{name}"))
            yield conn
            for table in AUDIT_TABLES:
                for name in ("update", "delete"):
                    conn.execute(text(SQLITE_TRIGGER.format(table=table, op=name, OP=name.upper())))


def vsv(engine: Engine, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Run `vsv ARGS` with the store of ``engine`` as VSV_DATABASE_URL."""
    monkeypatch.setenv("VSV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("VSV_ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
