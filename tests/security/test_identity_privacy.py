"""The identity table under the privacy operations: a subject export hands the student their number and
name, an erasure deletes them (and logs the erasure without the name), retention removes them with the
rest of an enrolment that ended long ago."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.api.conftest import WEEK, api_settings
from tests.security.helpers import vsv
from workflows.audit import verify_chain
from workflows.privacy import apply_retention, erase_subject, student_tables


def _name_everyone(engine: Engine) -> dict[str, tuple[str, str]]:
    """An identity row per student (number, family name), as a school's identities.csv would give."""
    with engine.begin() as conn:
        students = list(conn.execute(text("SELECT student_id FROM students ORDER BY student_id")).scalars())
        names = {sid: (f"LLN-{i:06d}", f"Privénaam-{i}") for i, sid in enumerate(students)}
        conn.execute(
            text(
                "INSERT INTO identities (student_id, student_number, given_name, name_prefix, family_name, "
                "email) VALUES (:s, :n, 'Zoë', 'van der', :f, NULL)"
            ),
            [{"s": sid, "n": n, "f": f} for sid, (n, f) in names.items()],
        )
    return names


def _identities(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT student_id FROM identities")).scalars())


def _two_scored(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        first, second = conn.execute(
            text(
                "SELECT student_id FROM scores WHERE week = :w ORDER BY probability DESC, student_id LIMIT 2"
            ),
            {"w": WEEK},
        ).scalars()
    return str(first), str(second)


def test_the_identity_table_is_one_of_the_student_tables() -> None:
    names = [t.name for t in student_tables()]
    assert "identities" in names
    assert names.index("identities") < names.index("students")  # deleted before the student row


def test_a_subject_export_holds_the_students_own_identity_only(
    school_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _name_everyone(school_store)
    student, other = _two_scored(school_store)
    out = tmp_path / f"{student}.json"
    result = vsv(school_store, monkeypatch, "subject", "export", student, "--out", str(out))
    assert result.exit_code == 0, result.output
    raw = out.read_text(encoding="utf-8")
    (row,) = json.loads(raw)["tables"]["identities"]
    number, family = names[student]
    assert row == {
        "student_id": student,
        "student_number": number,
        "given_name": "Zoë",
        "name_prefix": "van der",
        "family_name": family,
        "email": None,
    }
    assert names[other][0] not in raw and names[other][1] not in raw
    assert "identities table" in json.loads(raw)["note"]


def test_an_erasure_deletes_the_identity_and_logs_no_name(
    school_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _name_everyone(school_store)
    student, other = _two_scored(school_store)
    result = vsv(school_store, monkeypatch, "subject", "erase", student, "--reason", "AVG-verzoek 2026-44")
    assert result.exit_code == 0, result.output
    assert student not in _identities(school_store)
    assert _identities(school_store) == set(names) - {student}
    with school_store.connect() as conn:
        detail = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = 'subject_erase' AND student_id = :s"),
            {"s": student},
        ).scalar_one()
        left = conn.execute(
            text("SELECT COUNT(*) FROM identities WHERE student_number = :n"), {"n": names[student][0]}
        ).scalar_one()
    assert "identities 1" in detail
    assert names[student][0] not in detail and names[student][1] not in detail
    assert left == 0 and other in _identities(school_store)
    assert verify_chain(school_store).ok


def test_erase_subject_counts_the_identity_it_deleted(school_store: Engine) -> None:
    names = _name_everyone(school_store)
    student, _ = _two_scored(school_store)
    counts = erase_subject(school_store, student, "verzoek", by="test")
    assert counts["identities"] == 1 and counts["students"] == 1
    assert len(_identities(school_store)) == len(names) - 1


def test_retention_removes_the_identities_of_enrolments_that_ended_long_ago(
    school_store: Engine, tmp_path: Path
) -> None:
    names = _name_everyone(school_store)
    now = WEEK + 1
    settings = api_settings(tmp_path, retention_raw_weeks=5, retention_score_weeks=1)
    with school_store.connect() as conn:
        ended = set(
            conn.execute(text("SELECT student_id FROM outcomes WHERE week < :w"), {"w": now - 5}).scalars()
        )
    assert ended
    dry = apply_retention(school_store, settings, now_week=now, dry_run=True)
    assert dry.deleted["identities"] == len(ended) and _identities(school_store) == set(names)
    done = apply_retention(school_store, settings, now_week=now)
    assert done.deleted["identities"] == len(ended)
    assert _identities(school_store) == set(names) - ended
