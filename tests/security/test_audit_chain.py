"""The audit log's hash chain: written with every entry, serialised across writers, and `vsv audit
verify` names the first edited or deleted entry (on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from data.schema import AuditLog, AuditStudent
from data.store import make_engine, upgrade
from tests.conftest import BACKENDS, new_store
from tests.security.helpers import triggers_off, vsv
from workflows.audit import (
    GENESIS,
    STUDENTS,
    AuditEntry,
    AuditWriter,
    append_rows,
    audit_row,
    chain_head,
    concerning,
    entry_hash,
    request_rows,
    students_of,
    verify_chain,
    write_audit,
)
from workflows.users import CurrentUser, Role

AUDITOR = CurrentUser(7, "test-auditor", Role.AUDITOR, frozenset())


def _write(engine: Engine, n: int, tag: str = "x") -> None:
    for i in range(n):
        write_audit(
            engine,
            AUDITOR,
            "GET",
            f"/api/v1/students/s{i}",
            [AuditEntry("read_scores", student_id=f"s{i}", week=i, detail=f"{tag}{i}")],
            allowed=i % 3 != 0,
        )


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditLog.audit_id).order_by(AuditLog.seq)).scalars())


def test_every_entry_carries_the_previous_hash(store: Engine) -> None:
    _write(store, 4)
    write_audit(store, AUDITOR, "GET", "/x", [AuditEntry("a"), AuditEntry("b", detail="é ✓")], allowed=True)
    with store.connect() as conn:
        rows = conn.execute(select(AuditLog.__table__).order_by(AuditLog.seq)).mappings().all()
        assert chain_head(conn) == (6, rows[-1]["entry_hash"])
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["entry_hash"]
    for r in rows:  # the stored hash is the hash of what the store gives back (timestamps survive)
        assert r["entry_hash"] == entry_hash(r, r["seq"], r["prev_hash"])
    report = verify_chain(store)
    assert report.ok and report.entries == 6 and report.head_hash == rows[-1]["entry_hash"]


def test_the_table_is_still_append_only(store: Engine) -> None:
    _write(store, 1)
    for statement in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), store.begin() as conn:
            conn.execute(text(statement))


def test_an_edited_entry_is_found_and_named(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(store, 6)
    ids = _ids(store)
    assert vsv(store, monkeypatch, "audit", "verify").exit_code == 0
    with triggers_off(store) as conn:  # someone hides that the auditor saw student s3 ...
        conn.execute(text("UPDATE audit_log SET student_id = 's99' WHERE audit_id = :id"), {"id": ids[3]})
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == ids[3] and report.broken_seq == 4
    assert "edited" in (report.reason or "")
    result = vsv(store, monkeypatch, "audit", "verify")
    assert result.exit_code == 1
    assert f"audit_id={ids[3]}" in result.output and "edited" in result.output


@pytest.mark.parametrize("column", ["allowed", "at", "prev_hash"])
def test_any_hashed_column_counts(store: Engine, column: str) -> None:
    _write(store, 3)
    ids = _ids(store)
    change = {
        "allowed": "allowed = NOT allowed",
        "at": "at = :later",
        "prev_hash": "prev_hash = :zero",
    }[column]
    from datetime import UTC, datetime

    with triggers_off(store) as conn:
        conn.execute(
            text(f"UPDATE audit_log SET {change} WHERE audit_id = :id"),
            {"id": ids[1], "later": datetime(2030, 1, 1, tzinfo=UTC), "zero": GENESIS},
        )
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == ids[1]


def test_a_deleted_entry_is_found_and_named(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(store, 6)
    ids = _ids(store)
    with triggers_off(store) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE audit_id = :id"), {"id": ids[2]})
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == ids[3]
    assert "deleted" in (report.reason or "")
    result = vsv(store, monkeypatch, "audit", "verify")
    assert result.exit_code == 1 and f"audit_id={ids[3]}" in result.output and "deleted" in result.output


def test_a_deleted_entry_with_renumbered_seq_breaks_the_hashes(store: Engine) -> None:
    """Closing the gap in ``seq`` does not help: the hashes cover seq and the previous hash."""
    _write(store, 5)
    ids = _ids(store)
    with triggers_off(store) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE audit_id = :id"), {"id": ids[1]})
        conn.execute(text("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2"))
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == ids[2]


def test_deleting_the_newest_entries_needs_the_recorded_head(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(store, 4)
    head = verify_chain(store).head_hash
    with triggers_off(store) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    assert verify_chain(store).ok  # a shorter chain is still a chain ...
    report = verify_chain(store, expect_head=head)  # ... but not the one recorded elsewhere
    assert not report.ok and "expected" in (report.reason or "")
    assert vsv(store, monkeypatch, "audit", "verify", "--expect-head", head).exit_code == 1


def test_an_entry_inserted_around_the_service_is_found(store: Engine) -> None:
    _write(store, 2)
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (at, user_name, role, action, method, path, allowed) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'admin', 'a', 'GET', '/', true)"
            )
        )
    report = verify_chain(store)
    assert not report.ok and "outside the service" in (report.reason or "")


def test_concurrent_writers_keep_one_chain(store: Engine) -> None:
    """Eight threads writing at once: no fork, no lost entry, no duplicate seq."""
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            _write(store, 15, tag=f"w{k}-")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = verify_chain(store)
    assert report.ok and report.entries == 120 and report.head_seq == 120


def test_migration_chains_entries_written_before_it(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, user_name, role, action, method, path, allowed, detail) "
                    "VALUES ('2026-01-0' || :d || ' 10:00:00.000000', 'old', 'admin', 'a', 'GET', '/', 1, :d)"
                ),
                {"d": str(i + 1)},
            )
    upgrade(engine)
    _write(engine, 2)
    report = verify_chain(engine)
    assert report.ok and report.entries == 5
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # triggers are back
        conn.execute(text("DELETE FROM audit_log"))
    engine.dispose()


def test_the_service_writer_groups_concurrent_requests_into_one_whole_chain(store: Engine) -> None:
    """The service's group commit: 200 requests from 16 threads; every entry is stored once, each request's
    entries stay together and in order, and the chain verifies."""
    writer = AuditWriter(store)

    def request(i: int) -> None:
        entries = [AuditEntry("read_scores", f"s{i}", detail=f"{i}/{part}") for part in range(3)]
        writer.write(AUDITOR, "GET", f"/api/v1/students/s{i}", entries, allowed=True)

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(request, range(200)))
    finally:
        writer.close()
    with store.connect() as conn:
        details = list(conn.execute(select(AuditLog.detail).order_by(AuditLog.seq)).scalars())
    assert len(details) == 600 and len(set(details)) == 600
    for start in range(0, 600, 3):  # one request's three entries, next to each other, in order
        owner = {str(d).split("/")[0] for d in details[start : start + 3]}
        assert len(owner) == 1, details[start : start + 3]
        assert [str(d).split("/")[1] for d in details[start : start + 3]] == ["0", "1", "2"]
    assert verify_chain(store).ok


def test_a_request_the_store_refuses_does_not_fail_the_others_in_its_batch(store: Engine) -> None:
    writer = AuditWriter(store)
    good = [
        request_rows(AUDITOR, "GET", f"/x/{i}", [AuditEntry("read_scores", detail=str(i))], True)
        for i in range(40)
    ]
    bad = request_rows(AUDITOR, "GET", "/bad", [AuditEntry("read_scores")], True)
    bad[0]["user_name"] = None  # NOT NULL: the database refuses this row
    try:
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(writer.append, rows) for rows in [*good[:20], bad, *good[20:]]]
            outcomes = [f.exception() for f in futures]
    finally:
        writer.close()
    assert isinstance(outcomes[20], DBAPIError)
    assert [o for i, o in enumerate(outcomes) if i != 20] == [None] * 40
    with store.connect() as conn:
        stored = set(conn.execute(select(AuditLog.detail)).scalars())
    assert stored == {str(i) for i in range(40)}
    assert verify_chain(store).ok


def _migration_0003_and_a_row() -> tuple[Any, dict[str, object]]:
    """Migration 0003 loaded as a module (it holds its own frozen copy of the hash) and an audit row with
    every hashed field filled."""
    import importlib.util
    from datetime import UTC, datetime

    from workflows import audit

    path = next((Path(__file__).parents[2] / "data" / "alembic" / "versions").glob("0003_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    row: dict[str, object] = {name: f"x-{name}" for name in audit.HASHED_FIELDS}
    row |= {"at": datetime(2026, 11, 30, 9, 5, tzinfo=UTC), "allowed": 1, "week": 47, "user_id": 3}
    return migration, row


def test_the_migrations_frozen_hash_matches_the_applications() -> None:
    """Migration 0003 chains existing entries with its own frozen copy of the hash (migrations never
    import application code); the copy must hash exactly as ``workflows.audit`` does."""
    from workflows import audit

    migration, row = _migration_0003_and_a_row()
    assert migration.HASHED_FIELDS == audit.HASHED_FIELDS and migration.GENESIS == audit.GENESIS
    assert migration.entry_hash(row, 7, audit.GENESIS) == audit.entry_hash(row, 7, audit.GENESIS)
    assert migration.entry_hash(row, 8, audit.GENESIS) != audit.entry_hash(row, 7, audit.GENESIS)


# --- one entry per view, naming every student it showed (audit_students, migration 0010) ---------------

SHOWN = ["s-c", "s-a", "s-b", "s-a"]  # as a view lists them (a student twice is named once)


def _write_view(engine: Engine, students: list[str], action: str = "read_risk_list") -> int:
    """One entry for a view of ``students``; returns its audit_id."""
    entry = AuditEntry(action, team="T1", week=100, students=students)
    write_audit(engine, AUDITOR, "GET", "/api/v1/risk-lists/T1/100", [entry], allowed=True)
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(AuditLog.audit_id))).scalar_one())


def _listed(engine: Engine, audit_id: int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditStudent.student_id).where(AuditStudent.audit_id == audit_id).order_by("student_id")
        )
        return list(rows.scalars())


def test_a_view_of_many_students_is_one_entry_naming_each_of_them(store: Engine) -> None:
    _write(store, 2)
    audit_id = _write_view(store, SHOWN)
    _write(store, 1)
    with store.connect() as conn:
        row = conn.execute(select(AuditLog.__table__).where(AuditLog.audit_id == audit_id)).mappings().one()
        assert students_of(conn, [audit_id]) == {audit_id: ("s-a", "s-b", "s-c")}
    assert row["student_id"] is None and row["action"] == "read_risk_list"
    assert _listed(store, audit_id) == ["s-a", "s-b", "s-c"]
    # The stored hash covers the students: without them, or with another list, it is another hash.
    named = {**row, STUDENTS: ("s-a", "s-b", "s-c")}
    assert row["entry_hash"] == entry_hash(named, row["seq"], row["prev_hash"])
    assert row["entry_hash"] != entry_hash(row, row["seq"], row["prev_hash"])
    assert row["entry_hash"] != entry_hash({**row, STUDENTS: ("s-a", "s-b")}, row["seq"], row["prev_hash"])
    report = verify_chain(store)
    assert report.ok and report.entries == 4


def test_the_student_list_is_append_only(store: Engine) -> None:
    _write_view(store, SHOWN)
    for statement in ("UPDATE audit_students SET student_id = 'x'", "DELETE FROM audit_students"):
        with pytest.raises(DBAPIError, match="append-only"), store.begin() as conn:
            conn.execute(text(statement))


@pytest.mark.parametrize("tamper", ["remove", "add", "rename", "add_to_an_entry_about_one_student"])
def test_a_tampered_student_list_is_found_and_named(
    store: Engine, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    """Someone who can switch the triggers off hides (or invents) that a view showed a student."""
    _write(store, 2)
    audit_id = _write_view(store, SHOWN)
    _write(store, 2)
    target = _ids(store)[0] if tamper == "add_to_an_entry_about_one_student" else audit_id
    statement = {
        "remove": "DELETE FROM audit_students WHERE audit_id = :id AND student_id = 's-b'",
        "add": "INSERT INTO audit_students (audit_id, student_id) VALUES (:id, 's-z')",
        "rename": "UPDATE audit_students SET student_id = 's-z' WHERE audit_id = :id AND student_id = 's-a'",
        "add_to_an_entry_about_one_student": "INSERT INTO audit_students VALUES (:id, 's-z')",
    }[tamper]
    assert verify_chain(store).ok
    with triggers_off(store) as conn:
        conn.execute(text(statement), {"id": target})
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == target and "edited" in (report.reason or "")
    result = vsv(store, monkeypatch, "audit", "verify")
    assert result.exit_code == 1 and f"audit_id={target}" in result.output


def test_removing_every_student_of_an_entry_is_found(store: Engine) -> None:
    audit_id = _write_view(store, SHOWN)
    with triggers_off(store) as conn:
        conn.execute(text("DELETE FROM audit_students WHERE audit_id = :id"), {"id": audit_id})
    report = verify_chain(store)
    assert not report.ok and report.broken_audit_id == audit_id


def test_the_service_writer_names_the_students_of_each_request(store: Engine) -> None:
    """Group commit of views and single-student entries: each view's students stay with its own entry."""
    writer = AuditWriter(store)

    def request(i: int) -> None:
        view = AuditEntry("read_risk_list", team=f"T{i}", students=[f"s{i}-{k}" for k in range(i % 4)])
        writer.write(AUDITOR, "GET", f"/api/v1/risk-lists/T{i}/1", [view, AuditEntry("x", f"s{i}")], True)

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(request, range(120)))
    finally:
        writer.close()
    with store.connect() as conn:
        query = select(AuditLog.audit_id, AuditLog.team).where(AuditLog.action == "read_risk_list")
        views = conn.execute(query)
        teams = {int(a): str(t) for a, t in views}
        named = students_of(conn, list(teams))
    assert len(teams) == 120
    for audit_id, team in teams.items():
        i = int(team[1:])
        assert named.get(audit_id, ()) == tuple(sorted(f"s{i}-{k}" for k in range(i % 4)))
    assert verify_chain(store).ok


def test_an_entry_without_students_hashes_as_before_migration_0010() -> None:
    """Entries written before the student lists (and every entry that names none) keep their hash."""
    from workflows import audit

    migration, row = _migration_0003_and_a_row()
    old = migration.entry_hash(row, 7, audit.GENESIS)
    assert audit.entry_hash({**row, STUDENTS: ()}, 7, audit.GENESIS) == old
    assert audit.entry_hash({**row, STUDENTS: ("s1",)}, 7, audit.GENESIS) != old


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0010_keeps_the_chain_of_a_store_with_old_entries(backend: str, tmp_path: Path) -> None:
    """A store at 0009 with entries of both kinds written then (one per student, and a view listing its
    students in the detail): after the upgrade the old chain verifies, new views extend it, the auditor's
    search finds the student in old and new entries alike, and the new table is append-only."""
    for engine in new_store(backend, tmp_path, "0009"):
        old = [
            audit_row(7, "old-auditor", "auditor", "GET", "/api/v1/risk-lists/T1/99", e, True)
            for e in (
                AuditEntry("read_risk_list", "s-old", "T1", 99),
                AuditEntry("read_alerts", detail="leerlingen: s-legacy,s-other"),
            )
        ]
        with engine.begin() as conn:  # as the code of 0009 wrote them: the audit_log columns only
            append_rows(conn, [{k: v for k, v in row.items() if k != STUDENTS} for row in old])
        upgrade(engine)
        before = verify_chain(engine)
        assert before.ok and before.entries == 2
        new_view = _write_view(engine, ["s-new", "s-old"])
        report = verify_chain(engine)
        assert report.ok and report.entries == 3 and report.head_seq == 3
        with engine.connect() as conn:

            def found(student_id: str) -> list[str]:
                query = select(AuditLog.action).where(concerning(student_id)).order_by(AuditLog.seq)
                return list(conn.execute(query).scalars())

            assert found("s-old") == ["read_risk_list", "read_risk_list"]
            assert found("s-legacy") == ["read_alerts"]
            assert found("s-new") == ["read_risk_list"] and found("s-nobody") == []
        assert _listed(engine, new_view) == ["s-new", "s-old"]
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_students"))
