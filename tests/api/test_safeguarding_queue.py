"""The zorgteam's queue: only what can still be acted on, leavers closed, a real count, paging, assignment,
due times, the archive, and one audit entry per view (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from tests.api.conftest import WEEK, Api


def _upload(api: Api, name: str, content: str) -> httpx.Response:
    response: httpx.Response = api.client.post(
        "/api/v1/ingest",
        files=[("files", (name, content.encode(), "text/csv"))],
        headers=api.headers("datateam"),
    )
    return response


def _latest(api: Api) -> int:
    with api.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT MAX(w) FROM (SELECT MAX(week) AS w FROM attendance_weeks "
                    "UNION ALL SELECT MAX(week) FROM questionnaire_answers) AS t"
                )
            ).scalar_one()
        )


def _quiet_student(api: Api, skip: set[str]) -> str:
    """A student of the mentor's team without any alert yet."""
    with api.engine.connect() as conn:
        alerted = set(conn.execute(text("SELECT student_id FROM safeguarding_alerts")).scalars())
    students = api.client.get(
        f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("zorgteam")
    ).json()["students"]
    found: str = next(s["student_id"] for s in students if s["student_id"] not in alerted | skip)
    return found


def _alerts_of(api: Api, student: str) -> list[tuple[int, str, str | None]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT week, status, closed_reason FROM safeguarding_alerts WHERE student_id = :s"),
            {"s": student},
        ).all()
    return [(int(w), s, r) for w, s, r in rows]


def test_a_history_import_raises_nothing_older_than_the_window(api: Api) -> None:
    student = _quiet_student(api, set())
    latest = _latest(api)
    old = _upload(
        api,
        "questionnaire_answers.csv",
        f"student_id,week,item,value\n{student},{latest - 10},wil_praten,1\n",
    )
    assert old.status_code == 200 and old.json()["alerts_raised"] == 0 and _alerts_of(api, student) == []
    with api.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT value FROM questionnaire_answers "
                "WHERE student_id = :s AND week = :w AND item = 'wil_praten'"
            ),
            {"s": student, "w": latest - 10},
        ).scalar_one()
    assert stored == 1  # the answer is recorded; it is just too old to raise a zorgmelding
    recent = _upload(
        api, "questionnaire_answers.csv", f"student_id,week,item,value\n{student},{latest},wil_praten,1\n"
    )
    assert recent.json()["alerts_raised"] == 1 and [w for w, _, _ in _alerts_of(api, student)] == [latest]


def test_the_alert_of_a_student_who_left_closes_itself_with_that_reason(api: Api) -> None:
    student = _quiet_student(api, set())
    latest = _latest(api)
    raised = _upload(
        api, "questionnaire_answers.csv", f"student_id,week,item,value\n{student},{latest},wil_praten,1\n"
    )
    assert raised.json()["alerts_raised"] == 1
    left = _upload(api, "outcomes.csv", f"student_id,week,outcome\n{student},{latest},switch\n")
    assert left.status_code == 200, left.text
    assert _alerts_of(api, student) == [(latest, "gesloten", "niet meer ingeschreven")]
    archive = api.client.get(
        f"/api/v1/safeguarding/queue?status=gesloten&student={student}", headers=api.headers("zorgteam")
    ).json()
    assert archive["total"] == 1 and archive["alerts"][0]["events"][0]["user_name"] == "Vroegsignaal"


def test_the_queue_counts_everything_pages_and_puts_this_week_and_help_first(api: Api) -> None:
    now = datetime.now(UTC)
    students: list[str] = []
    for _ in range(3):
        students.append(_quiet_student(api, set(students)))
    rows = [  # week, item, severity, due
        (students[0], WEEK - 3, "welbevinden", 2, now + timedelta(hours=2)),
        (students[1], WEEK + 40, "welbevinden", 2, now + timedelta(hours=2)),
        (students[2], WEEK + 40, "wil_praten", 1, now - timedelta(hours=1)),
    ]
    with api.engine.begin() as conn:
        for student, week, item, severity, due in rows:
            conn.execute(
                text(
                    "INSERT INTO safeguarding_alerts (student_id, week, item, value, reason, status, "
                    "raised_at, severity, due_at) VALUES (:s, :w, :i, 1, :r, 'open', :t, :sev, :due)"
                ),
                {
                    "s": student,
                    "w": week,
                    "i": item,
                    "r": f"{item}: test",
                    "t": now,
                    "sev": severity,
                    "due": due,
                },
            )
        active = conn.execute(
            text("SELECT COUNT(*) FROM safeguarding_alerts WHERE status <> 'gesloten'")
        ).scalar_one()
    first = api.client.get("/api/v1/safeguarding/queue?page_size=2", headers=api.headers("zorgteam")).json()
    assert first["total"] == active and first["pages"] == -(-active // 2)  # the real count, never a cap
    assert [a["student_id"] for a in first["alerts"]] == [students[2], students[1]]  # newest week, help first
    assert first["alerts"][0]["overdue"] and not first["alerts"][1]["overdue"]
    assert first["overdue_count"] >= 1
    last = api.client.get(
        f"/api/v1/safeguarding/queue?page_size=2&page={first['pages']}", headers=api.headers("zorgteam")
    ).json()
    assert len(last["alerts"]) == active - 2 * (first["pages"] - 1)
    only_week = api.client.get(
        f"/api/v1/safeguarding/queue?week={WEEK - 3}&item=welbevinden", headers=api.headers("zorgteam")
    ).json()
    assert students[0] in {a["student_id"] for a in only_week["alerts"]}
    assert all(a["week"] == WEEK - 3 for a in only_week["alerts"])

    alert_id = first["alerts"][0]["alert_id"]
    refused = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/assign",
        json={"to": "test-mentor"},
        headers=api.headers("zorgteam"),
    )
    assert refused.status_code == 422  # only a colleague of the zorgteam
    given = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/assign",
        json={"to": "test-admin"},
        headers=api.headers("zorgteam"),
    )
    assert given.status_code == 200 and given.json()["assigned_to"] == "test-admin"
    theirs = api.client.get(
        "/api/v1/safeguarding/queue?assigned_to=test-admin", headers=api.headers("zorgteam")
    )
    assert alert_id in {a["alert_id"] for a in theirs.json()["alerts"]}


def test_one_audit_entry_per_view_names_the_students_shown(api: Api) -> None:
    def views() -> int:
        with api.engine.connect() as conn:
            return int(
                conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE action = 'read_alerts'")).scalar_one()
            )

    before = views()
    shown = api.client.get("/api/v1/safeguarding/queue?page_size=10", headers=api.headers("zorgteam")).json()
    assert len(shown["alerts"]) > 1 and views() == before + 1
    student = shown["alerts"][-1]["student_id"]
    found = api.client.get(
        f"/api/v1/audit/log?student_id={student}&limit=5000", headers=api.headers("auditor")
    )
    assert any(e["action"] == "read_alerts" for e in found.json())  # searchable by any student shown
