"""Privacy operations: `vsv subject export` and `vsv subject erase` for one pseudonymised student (GDPR
access and erasure, the erasure logged in the same transaction), and `vsv retention apply` (raw data and
scores past their periods deleted, the audit log kept whole)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.api.conftest import WEEK, api_settings
from tests.security.helpers import vsv
from workflows import privacy
from workflows.audit import AuditEntry, verify_chain, write_audit
from workflows.privacy import apply_retention, dependants, erase_subject, student_tables
from workflows.rounds import open_rounds
from workflows.users import CurrentUser, Role

MENTOR = CurrentUser(3, "test-mentor", Role.MENTOR, frozenset())


def _counts(engine: Engine, student_id: str | None = None) -> dict[str, int]:
    """Rows per table about ``student_id`` (everyone: None), the rows that refer to them included (a
    zorgmelding's events, a link's tokens and e-mails)."""
    where = "" if student_id is None else " WHERE student_id = :s"
    with engine.connect() as conn:
        counts = {
            t.name: int(
                conn.execute(text(f"SELECT COUNT(*) FROM {t.name}{where}"), {"s": student_id}).scalar_one()
            )
            for t in student_tables()
        }
        for table in student_tables():
            for child, column, parent in dependants(table):
                n = conn.execute(
                    text(
                        f"SELECT COUNT(*) FROM {child.name} WHERE {column.name} IN "
                        f"(SELECT {parent.name} FROM {table.name}{where})"
                    ),
                    {"s": student_id},
                ).scalar_one()
                counts[child.name] = counts.get(child.name, 0) + int(n)
        return counts


def _scored_student(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        first, second = conn.execute(
            text(
                "SELECT student_id FROM scores WHERE week = :w ORDER BY probability DESC, student_id LIMIT 2"
            ),
            {"w": WEEK},
        ).scalars()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO actions (student_id, week, action, note, user_name, at) "
                "VALUES (:s, :w, 'gesprek', 'notitie', 'test-mentor', :at)"
            ),
            {"s": first, "w": WEEK, "at": datetime.now(UTC)},
        )
    write_audit(engine, MENTOR, "GET", f"/api/v1/students/{first}", [AuditEntry("read_scores", first)], True)
    # A questionnaire round: the student's link, its tokens and an e-mail refer to the student's rows.
    with engine.begin() as conn:
        team = conn.execute(
            text("SELECT team FROM students WHERE student_id = :s"), {"s": first}
        ).scalar_one()
        open_rounds(
            conn,
            week=WEEK,
            teams=[team],
            by="test",
            now=datetime.now(UTC),
            link_days=7,
            base_url="http://t",
            csv=True,
        )
        conn.execute(
            text(
                "INSERT INTO outbox_messages (link_id, kind, status, attempts, queued_at) "
                "SELECT link_id, 'invite', 'queued', 0, :at FROM round_links WHERE student_id = :s "
                "AND NOT EXISTS (SELECT 1 FROM outbox_messages o WHERE o.link_id = round_links.link_id)"
            ),
            {"s": first, "at": datetime.now(UTC)},
        )
    return str(first), str(second)


def test_export_holds_every_row_about_the_student_and_nothing_else(
    school_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    student, other = _scored_student(school_store)
    out = tmp_path / "export" / f"{student}.json"
    result = vsv(school_store, monkeypatch, "subject", "export", student, "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    expected = _counts(school_store, student)
    assert {name: len(rows) for name, rows in data["tables"].items()} == expected
    assert expected["students"] == 1 and expected["scores"] == 2 and expected["actions"] == 1
    assert expected["round_links"] == 1 and expected["link_tokens"] == 2 and expected["outbox_messages"] == 1
    assert expected["questionnaire_answers"] > 0 and expected["attendance_weeks"] > 0
    assert all(
        row["student_id"] == student
        for rows in data["tables"].values()
        for row in rows
        if "student_id" in row
    )
    links = {row["link_id"] for row in data["tables"]["round_links"]}
    assert {
        row["link_id"] for row in data["tables"]["link_tokens"] + data["tables"]["outbox_messages"]
    } == links
    assert [e["action"] for e in data["audit_log"]] == ["read_scores"]
    assert other not in out.read_text(encoding="utf-8")
    assert vsv(school_store, monkeypatch, "subject", "export", "nobody", "--out", str(out)).exit_code == 2


def test_export_names_the_views_that_showed_the_student_and_no_other_student(
    school_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list that showed the student among others is one entry: the export holds it (who, when, what),
    never the others it showed; an erasure leaves it in the audit trail and the chain verifies."""
    student, other = _scored_student(school_store)
    view = AuditEntry("read_risk_list", team="T", week=WEEK, students=[other, student])
    write_audit(school_store, MENTOR, "GET", f"/api/v1/risk-lists/T/{WEEK}", [view], True)
    unrelated = AuditEntry("read_risk_list", team="T", week=WEEK, students=[other])
    write_audit(school_store, MENTOR, "GET", f"/api/v1/risk-lists/T/{WEEK}", [unrelated], True)
    out = tmp_path / "export.json"
    assert vsv(school_store, monkeypatch, "subject", "export", student, "--out", str(out)).exit_code == 0
    audit = json.loads(out.read_text(encoding="utf-8"))["audit_log"]
    assert [(e["action"], e.get("shown_among_others", False)) for e in audit] == [
        ("read_scores", False),
        ("read_risk_list", True),
    ]
    assert audit[1]["user_name"] == "test-mentor" and audit[1]["student_id"] is None
    assert other not in out.read_text(encoding="utf-8")
    assert "audit_students" not in {t.name for t in student_tables()}
    result = vsv(school_store, monkeypatch, "subject", "erase", student, "--reason", "AVG-verzoek 2026-18")
    assert result.exit_code == 0, result.output
    with school_store.connect() as conn:
        kept = conn.execute(
            text("SELECT COUNT(*) FROM audit_students WHERE student_id = :s"), {"s": student}
        ).scalar_one()
    assert kept == 1 and verify_chain(school_store).ok


def test_erase_deletes_the_student_everywhere_and_logs_it(
    school_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    student, other = _scored_student(school_store)
    before_other = _counts(school_store, other)
    total_before = _counts(school_store)
    mine = _counts(school_store, student)
    result = vsv(school_store, monkeypatch, "subject", "erase", student, "--reason", "AVG-verzoek 2026-17")
    assert result.exit_code == 0, result.output
    assert sum(_counts(school_store, student).values()) == 0
    assert _counts(school_store, other) == before_other
    assert _counts(school_store) == {k: total_before[k] - mine[k] for k in total_before}
    with school_store.connect() as conn:
        logged = conn.execute(
            text("SELECT action, detail, user_name FROM audit_log WHERE student_id = :s ORDER BY seq"),
            {"s": student},
        ).all()
    assert [row.action for row in logged] == ["read_scores", "subject_erase"]  # the trail itself is kept
    assert "AVG-verzoek 2026-17" in logged[-1].detail and "scores 2" in logged[-1].detail
    assert logged[-1].user_name.startswith("cli:")
    assert verify_chain(school_store).ok
    again = vsv(school_store, monkeypatch, "subject", "erase", student, "--reason", "x")
    assert again.exit_code == 2 and "no data" in again.output
    assert vsv(school_store, monkeypatch, "subject", "erase", other, "--reason", " ").exit_code == 2


def test_erase_is_one_transaction(school_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the audit entry cannot be written, nothing is deleted: no erasure without its trace."""
    student, _ = _scored_student(school_store)
    before = _counts(school_store, student)

    def fail(*_: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(privacy, "append_rows", fail)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        erase_subject(school_store, student, "test")
    assert _counts(school_store, student) == before


def test_retention_deletes_old_raw_data_and_scores_keeps_the_audit_log(
    school_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scored_student(school_store)
    now = WEEK + 1
    settings = api_settings(tmp_path, retention_raw_weeks=5, retention_score_weeks=1)
    raw_before, scores_before = now - 5, now - 1
    with school_store.connect() as conn:
        audit_before = conn.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one()
        ended = set(
            conn.execute(text("SELECT student_id FROM outcomes WHERE week < :w"), {"w": raw_before}).scalars()
        )
        old_answers = conn.execute(
            text("SELECT COUNT(*) FROM questionnaire_answers WHERE week < :w"), {"w": raw_before}
        ).scalar_one()
    assert ended and old_answers

    counts_before = _counts(school_store)
    dry = apply_retention(school_store, settings, now_week=now, dry_run=True)
    assert _counts(school_store) == counts_before  # a dry run deletes nothing
    assert dry.deleted["scores"] > 0 and dry.deleted["questionnaire_answers"] >= old_answers

    done = apply_retention(school_store, settings, now_week=now)
    assert done.deleted == dry.deleted and done.students_removed == len(ended)
    with school_store.connect() as conn:
        for table in ("questionnaire_answers", "attendance_weeks", "progress_results"):
            oldest = conn.execute(text(f"SELECT MIN(week) FROM {table}")).scalar_one()
            assert oldest is None or oldest >= raw_before, table
        assert set(conn.execute(text("SELECT DISTINCT week FROM scores")).scalars()) == {WEEK}
        assert scores_before == WEEK
        left = set(conn.execute(text("SELECT student_id FROM students")).scalars())
        assert not (ended & left)
        audit_after = conn.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one()
        last = conn.execute(text("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1")).scalar_one()
    assert audit_after == audit_before + 1 and last == "retention_apply"  # kept whole, and the run logged
    assert verify_chain(school_store).ok

    monkeypatch.setenv("VSV_RETENTION_RAW_WEEKS", "5")
    result = vsv(school_store, monkeypatch, "retention", "apply", "--dry-run", "--now-week", str(now))
    assert result.exit_code == 0, result.output
    assert "would delete" in result.output
    assert "audit log kept whole" in result.output


def test_retention_deletes_old_rounds_with_their_links_tokens_and_emails(
    school_store: Engine, tmp_path: Path
) -> None:
    student, _ = _scored_student(school_store)  # a round in WEEK, with tokens and an e-mail
    with school_store.begin() as conn:
        team = conn.execute(
            text("SELECT team FROM students WHERE student_id = :s"), {"s": student}
        ).scalar_one()
        old = open_rounds(
            conn,
            week=WEEK - 10,
            teams=[team],
            by="t",
            now=datetime.now(UTC),
            link_days=7,
            base_url="http://t",
            csv=True,
        )
    assert old.links > 0
    report = apply_retention(school_store, api_settings(tmp_path, retention_raw_weeks=5), now_week=WEEK + 1)
    with school_store.connect() as conn:
        weeks = set(conn.execute(text("SELECT week FROM questionnaire_rounds")).scalars())
        orphans = conn.execute(
            text(
                "SELECT COUNT(*) FROM link_tokens t WHERE NOT EXISTS "
                "(SELECT 1 FROM round_links l WHERE l.link_id = t.link_id)"
            )
        ).scalar_one()
    assert WEEK - 10 not in weeks and WEEK in weeks and orphans == 0
    assert report.deleted["round_links"] >= old.links and report.deleted["link_tokens"] >= 2 * old.links
