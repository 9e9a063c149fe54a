"""One audit entry per view (issue 20): a request that shows many students writes one entry naming all of
them; the auditor's search by student finds it; the chain verifies; and the risk list, a stored score
and the token look-up each read the store in one round trip (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event, select

from data.schema import AuditLog
from tests.api.conftest import WEEK, Api, student_of
from tests.web.helpers import page_get
from workflows.audit import students_of, verify_chain
from workflows.users import find_user


def _entries(api: Api, action: str) -> list[int]:
    with api.engine.connect() as conn:
        query = select(AuditLog.audit_id).where(AuditLog.action == action).order_by(AuditLog.seq)
        return [int(a) for a in conn.execute(query).scalars()]


def _named(api: Api, audit_id: int) -> set[str]:
    with api.engine.connect() as conn:
        return set(students_of(conn, [audit_id]).get(audit_id, ()))


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    sent: list[str] = []

    def record(conn: Connection, cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_risk_list_is_one_audit_entry_naming_every_student_shown(api: Api) -> None:
    before = _entries(api, "read_risk_list")
    response = api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("mentor"))
    assert response.status_code == 200
    shown = {s["student_id"] for s in response.json()["students"]}
    assert len(shown) > 1
    after = _entries(api, "read_risk_list")
    assert len(after) == len(before) + 1
    new = after[-1]
    assert _named(api, new) == shown
    with api.engine.connect() as conn:
        row = conn.execute(select(AuditLog.__table__).where(AuditLog.audit_id == new)).mappings().one()
    assert row["user_name"] == "test-mentor" and bool(row["allowed"])
    assert row["team"] == api.mentor_team and row["week"] == WEEK and row["student_id"] is None
    assert verify_chain(api.engine).ok


def test_a_filtered_list_names_only_the_students_it_showed(api: Api) -> None:
    path = f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}"
    everyone = {
        s["student_id"] for s in api.client.get(path, headers=api.headers("mentor")).json()["students"]
    }
    response = api.client.get(f"{path}?new_only=true", headers=api.headers("mentor"))
    assert response.status_code == 200
    shown = {s["student_id"] for s in response.json()["students"]}
    assert shown < everyone
    assert _named(api, _entries(api, "read_risk_list")[-1]) == shown


def test_the_auditors_search_by_student_finds_the_list_entry(api: Api) -> None:
    response = api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("zorgteam"))
    shown = [s["student_id"] for s in response.json()["students"]]
    entry = _entries(api, "read_risk_list")[-1]
    for student in (shown[0], shown[-1]):
        found = api.client.get(
            f"/api/v1/audit/log?student_id={student}&limit=5000", headers=api.headers("auditor")
        ).json()
        hits = [e for e in found if e["audit_id"] == entry]
        assert len(hits) == 1 and hits[0]["user_name"] == "test-zorgteam"
        assert hits[0]["action"] == "read_risk_list" and set(hits[0]["students"]) == set(shown)
        page = page_get(api, "auditor", f"/web/audit?leerling={student}")
        assert page.status_code == 200 and "Auditlog" in page.text
        assert f"lijst van {len(shown)} studenten" in page.text and "test-zorgteam" in page.text
    elsewhere = api.client.get(
        "/api/v1/audit/log?student_id=nobody-was-shown&limit=5000", headers=api.headers("auditor")
    ).json()
    assert entry not in {e["audit_id"] for e in elsewhere}


def test_coachklas_candidates_are_one_entry(api: Api) -> None:
    before = _entries(api, "read_coachklas_candidates")
    response = api.client.get(
        f"/api/v1/coachklas/candidates?week={WEEK}&places=25", headers=api.headers("coachklas")
    )
    assert response.status_code == 200
    shown = {c["student_id"] for c in response.json()["candidates"]}
    after = _entries(api, "read_coachklas_candidates")
    assert len(shown) == 25 and len(after) == len(before) + 1
    assert _named(api, after[-1]) == shown


def test_a_risk_list_reads_the_store_in_one_round_trip(api: Api) -> None:
    path = f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}"
    api.client.get(path, headers=api.headers("mentor"))  # warm: the app's own start-up work is done
    with statements(api.engine) as sent:
        response = api.client.get(path, headers=api.headers("mentor"))
    assert response.status_code == 200
    assert len(sent) == 1, sent


def test_a_stored_score_reads_the_store_in_one_round_trip(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    with statements(api.engine) as sent:
        response = api.client.get(f"/api/v1/students/{student}/scores/{WEEK}", headers=api.headers("mentor"))
    assert response.status_code == 200 and response.json()["team"] == api.mentor_team
    assert len(sent) == 1, sent


def test_the_token_look_up_is_one_round_trip(api: Api) -> None:
    with api.engine.connect() as conn, statements(api.engine) as sent:
        user = find_user(conn, api.tokens["mentor"])
    assert user is not None and user.teams == frozenset({api.mentor_team})
    assert len(sent) == 1, sent
