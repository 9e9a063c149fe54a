"""Access follows the student's current team, history included (issue 19, finding 1).

A student moves from team A to team B (the students table is updated, as an import would). Stored scores
keep the team at scoring time (``scores.team``), but who may see the student is decided on
``students.team`` in every week: the mentor of A sees nothing of the student any more (lists of old weeks,
the stored score, actions, overrides, zorgmeldingen), the mentor of B sees the whole history, and the
latest action's note in a list reaches only someone who may see the student now. Runs on SQLite and
PostgreSQL (the ``api`` fixture).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from serving.queries import scored_teams, team_leavers, team_scores, top_scores
from tests.api.conftest import WEEK, Api, student_of

OLD_WEEKS = (WEEK - 1, WEEK)
NEW_TEAM_NOTE = "notitie-nieuw-team-7f3a"
ZORG_NOTE = "notitie-zorgteam-91c2"


@dataclass(frozen=True)
class Moved:
    student: str
    old_team: str  # the team of "mentor" (api.mentor_team)
    new_team: str  # the team of "mentor2" (api.other_team)


@pytest.fixture(scope="module")
def moved(api: Api) -> Moved:
    """The highest-risk student of the mentor's team, moved to the other team after both weeks were
    scored; then the zorgteam and the new mentor record actions with notes."""
    student = student_of(api, api.mentor_team, WEEK - 1)
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE students SET team = :t WHERE student_id = :s"), {"t": api.other_team, "s": student}
        )
    for role, note in (("zorgteam", ZORG_NOTE), ("mentor2", NEW_TEAM_NOTE)):
        r = api.client.post(
            f"/api/v1/students/{student}/actions",
            json={"week": WEEK, "action": "conversation", "note": note},
            headers=api.headers(role),
        )
        assert r.status_code == 201, r.text
    return Moved(student, api.mentor_team, api.other_team)


def _listed(api: Api, role: str, team: str, week: int) -> dict[str, dict[str, object]]:
    r = api.client.get(f"/api/v1/risk-lists/{team}/{week}", headers=api.headers(role))
    assert r.status_code == 200, r.text
    return {s["student_id"]: s for s in r.json()["students"]}


@pytest.mark.parametrize("week", OLD_WEEKS)
def test_the_old_mentor_no_longer_sees_the_student_in_any_week(api: Api, moved: Moved, week: int) -> None:
    r = api.client.get(f"/api/v1/risk-lists/{moved.old_team}/{week}", headers=api.headers("mentor"))
    assert r.status_code == 200, r.text
    assert moved.student not in {s["student_id"] for s in r.json()["students"]}
    for note in (NEW_TEAM_NOTE, ZORG_NOTE):
        assert note not in r.text


@pytest.mark.parametrize("week", OLD_WEEKS)
def test_the_new_mentor_sees_the_history_with_the_latest_note(api: Api, moved: Moved, week: int) -> None:
    listed = _listed(api, "mentor2", moved.new_team, week)
    assert moved.student in listed
    latest = listed[moved.student]["latest_action"]
    assert isinstance(latest, dict) and latest["note"] == NEW_TEAM_NOTE
    r = api.client.get(f"/api/v1/students/{moved.student}/scores/{week}", headers=api.headers("mentor2"))
    assert r.status_code == 200, r.text
    assert r.json()["team"] == moved.new_team


@pytest.mark.parametrize(
    "path",
    [
        "/scores/{week}",
        "/actions",
        "/overrides",
        "/alerts",
    ],
)
def test_the_old_mentor_is_refused_everything_of_the_student_and_it_is_logged(
    api: Api, moved: Moved, path: str
) -> None:
    url = f"/api/v1/students/{moved.student}" + path.format(week=WEEK - 1)
    r = api.client.get(url, headers=api.headers("mentor"))
    assert r.status_code == 403, r.text
    assert NEW_TEAM_NOTE not in r.text and ZORG_NOTE not in r.text
    log = api.client.get(
        f"/api/v1/audit/log?student_id={moved.student}&user_name=test-mentor", headers=api.headers("auditor")
    ).json()
    assert any(not e["allowed"] and e["path"] == url for e in log), log[:3]


def test_the_old_mentor_cannot_write_for_the_student(api: Api, moved: Moved) -> None:
    r = api.client.post(
        f"/api/v1/students/{moved.student}/actions",
        json={"week": WEEK - 1, "action": "conversation", "note": "oude mentor"},
        headers=api.headers("mentor"),
    )
    assert r.status_code == 403


def test_reads_of_an_old_score_are_logged_with_the_current_team(api: Api, moved: Moved) -> None:
    week = WEEK - 1
    assert (
        api.client.get(
            f"/api/v1/students/{moved.student}/scores/{week}", headers=api.headers("mentor2")
        ).status_code
        == 200
    )
    explained = api.client.get(f"/api/v1/explanations/{moved.student}/{week}", headers=api.headers("auditor"))
    assert explained.status_code == 200
    assert explained.json()["team"] == moved.old_team  # what the score was computed with stays as it was
    with api.engine.connect() as conn:
        teams = {
            (r.action, r.team)
            for r in conn.execute(
                text("SELECT action, team FROM audit_log WHERE student_id = :s AND week = :w"),
                {"s": moved.student, "w": week},
            )
        }
    assert ("read_score", moved.new_team) in teams
    assert ("explain", moved.new_team) in teams
    assert ("read_score", moved.old_team) not in teams


def test_coachklas_candidates_show_the_current_team(api: Api, moved: Moved) -> None:
    r = api.client.get(
        f"/api/v1/coachklas/candidates?week={WEEK - 1}&places=500", headers=api.headers("coachklas")
    )
    assert r.status_code == 200
    teams = {c["student_id"]: c["team"] for c in r.json()["candidates"]}
    assert teams[moved.student] == moved.new_team


def test_every_team_query_uses_the_current_team(api: Api, moved: Moved) -> None:
    """The queries behind the lists, the page's team menu, the leavers and the candidates."""
    with Session(api.engine) as session:
        for week in OLD_WEEKS:
            assert moved.student not in {s.student_id for s in team_scores(session, moved.old_team, week)}
            assert moved.student in {s.student_id for s in team_scores(session, moved.new_team, week)}
            assert moved.new_team in scored_teams(session, week)
        rows = {s.student_id: s.team for s in top_scores(session, WEEK - 1, [], 10_000)}
        assert rows[moved.student] == moved.new_team
    with api.engine.begin() as conn:
        had_outcome = conn.execute(
            text("SELECT 1 FROM outcomes WHERE student_id = :s"), {"s": moved.student}
        ).first()
        if had_outcome is None:
            conn.execute(
                text("INSERT INTO outcomes (student_id, week, outcome) VALUES (:s, :w, 'switch')"),
                {"s": moved.student, "w": WEEK},
            )
    try:
        with Session(api.engine) as session:
            if had_outcome is None:
                assert moved.student not in {s for s, _, _ in team_leavers(session, moved.old_team, WEEK)}
                assert moved.student in {s for s, _, _ in team_leavers(session, moved.new_team, WEEK)}
    finally:
        if had_outcome is None:
            with api.engine.begin() as conn:
                conn.execute(text("DELETE FROM outcomes WHERE student_id = :s"), {"s": moved.student})
