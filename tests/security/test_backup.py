"""`vsv backup` / `vsv restore`: a round trip gives back every row of every table (also SQLite ->
PostgreSQL), the restored audit chain verifies and goes on, and a damaged backup or a non-empty store
is refused."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from data.schema import Base
from tests.conftest import BACKENDS, POSTGRES_URL, new_store
from tests.security.helpers import vsv
from workflows.audit import AuditEntry, verify_chain, write_audit
from workflows.backup import _encode, backup, restore
from workflows.users import CurrentUser, Role, find_user, upsert_user

ADMIN = CurrentUser(1, "test-admin", Role.ADMIN, frozenset())


def _snapshot(engine: Engine) -> dict[str, list[dict[str, object]]]:
    """Every row of every table, as comparable values (timestamps in UTC ISO form)."""
    out: dict[str, list[dict[str, object]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            out[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return out


def _fill(engine: Engine) -> None:
    upsert_user(engine, "test-admin", "admin", [], "tok-admin")
    for i in range(5):
        write_audit(
            engine, ADMIN, "GET", f"/p/{i}", [AuditEntry("read_scores", f"s{i}", week=i)], allowed=True
        )


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A second, empty store to restore into."""
    yield from new_store(request.param, tmp_path_factory.mktemp("target"))


def test_round_trip_gives_back_every_row(
    school_store: Engine, empty_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(school_store)
    original = _snapshot(school_store)
    assert all(original[name] for name in ("students", "scores", "users", "audit_log", "attendance_weeks"))
    out = tmp_path / "backups" / "vsv.zip"
    result = vsv(school_store, monkeypatch, "backup", "--out", str(out))
    assert result.exit_code == 0, result.output

    result = vsv(empty_store, monkeypatch, "restore", str(out))
    assert result.exit_code == 0, result.output
    assert "audit log intact: 5 entries" in result.output
    assert _snapshot(empty_store) == original
    # the restored store works on: tokens, and the audit chain continues (ids and seq)
    with empty_store.connect() as conn:
        assert find_user(conn, "tok-admin") is not None
    write_audit(empty_store, ADMIN, "GET", "/after", [AuditEntry("read_scores")], allowed=True)
    report = verify_chain(empty_store)
    assert report.ok and report.entries == 6
    upsert_user(empty_store, "new-user", "datateam", [], "tok-new")  # sequences were reset

    # a second restore into the now non-empty store is refused
    again = vsv(empty_store, monkeypatch, "restore", str(out))
    assert again.exit_code == 2 and "not empty" in again.output


def test_a_damaged_backup_is_refused(school_store: Engine, tmp_path: Path) -> None:
    _fill(school_store)
    good = tmp_path / "good.zip"
    backup(school_store, good)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tables/audit_log.jsonl":
                data = data.replace(b"read_scores", b"read_nothing", 1)
            dst.writestr(item, data)
    for engine in new_store("sqlite", tmp_path / "target"):
        with pytest.raises(ValueError, match="audit_log does not match its checksum"):
            restore(engine, bad)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set")
def test_sqlite_backup_restores_into_postgresql(tmp_path: Path) -> None:
    """The format is portable: the embedded store moves to the production store."""
    for source in new_store("sqlite", tmp_path / "src"):
        _fill(source)
        original = _snapshot(source)
        backup(source, tmp_path / "vsv.zip")
        for target in new_store("postgresql", tmp_path / "dst"):
            restore(target, tmp_path / "vsv.zip")
            assert _snapshot(target) == original
            assert verify_chain(target).ok
