"""Roles and access: 401 without a token, 403 (logged) for roles and teams that may not, the audit log,
and no protected attribute in any response for a non-auditor."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import WEEK, Api, student_of

ROLES = ("mentor", "zorgteam", "coachklas", "datateam", "auditor", "admin")


def _requests(api: Api) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    """One request per endpoint that touches student data, keyed by a name."""
    own = student_of(api, api.mentor_team)
    return {
        "stored_score": ("GET", f"/api/v1/students/{own}/scores/{WEEK}", None),
        "risk_list": ("GET", f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", None),
        "actions": ("GET", f"/api/v1/students/{own}/actions", None),
        "overrides": ("GET", f"/api/v1/students/{own}/overrides", None),
        "candidates": ("GET", f"/api/v1/coachklas/candidates?week={WEEK}&places=3", None),
        "decisions": ("GET", f"/api/v1/coachklas/decisions?week={WEEK}", None),
        "alerts": ("GET", "/api/v1/safeguarding/alerts", None),
        "explanation": ("GET", f"/api/v1/explanations/{own}/{WEEK}", None),
        "replay": ("GET", f"/api/v1/explanations/{own}/{WEEK}/replay", None),
        "model": ("GET", "/api/v1/models/current", None),
        "audit_log": ("GET", "/api/v1/audit/log?limit=5", None),
        "record_action": (
            "POST",
            f"/api/v1/students/{own}/actions",
            {"week": WEEK, "action": "conversation"},
        ),
        "record_override": (
            "POST",
            f"/api/v1/students/{own}/overrides",
            {"week": WEEK, "band": "hoog", "reason": "gesprek gehad, zorgen"},
        ),
        "decide": (
            "POST",
            "/api/v1/coachklas/decisions",
            {"student_id": own, "week": WEEK, "decision": "later", "reason": "eerst gesprek"},
        ),
        "score_week": ("POST", "/api/v1/jobs/score-week", {"week": WEEK}),
    }


ALLOWED = {
    "stored_score": {"mentor", "zorgteam", "coachklas", "auditor", "admin"},
    "risk_list": {"mentor", "zorgteam", "coachklas", "auditor", "admin"},
    "actions": {"mentor", "zorgteam", "coachklas", "auditor", "admin"},
    "overrides": {"mentor", "zorgteam", "coachklas", "auditor", "admin"},
    "candidates": {"coachklas", "zorgteam", "auditor", "admin"},
    "decisions": {"coachklas", "zorgteam", "auditor", "admin"},
    "alerts": {"zorgteam", "auditor", "admin"},
    "explanation": {"auditor", "admin"},
    "replay": {"auditor", "admin"},
    "model": {"datateam", "auditor", "admin"},
    "audit_log": {"auditor", "admin"},
    "record_action": {"mentor", "zorgteam", "admin"},
    "record_override": {"mentor", "zorgteam", "admin"},
    "decide": {"coachklas", "admin"},
    "score_week": {"datateam", "admin"},
}


def _call(api: Api, role: str | None, name: str) -> Any:
    method, path, body = _requests(api)[name]
    headers = api.headers(role) if role else {}
    return api.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_every_endpoint_for_every_role(api: Api, role: str, name: str) -> None:
    response = _call(api, role, name)
    expected = {200, 201} if role in ALLOWED[name] else {403}
    assert response.status_code in expected, (name, role, response.text)
    if response.status_code == 403:
        assert "Geen toegang" in response.json()["detail"]


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_without_or_with_a_bad_token_401(api: Api, name: str) -> None:
    response = _call(api, None, name)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    method, path, body = _requests(api)[name]
    bad = api.client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_mentor_other_team_is_refused_and_logged(api: Api) -> None:
    other = student_of(api, api.other_team)
    response = api.client.get(f"/api/v1/students/{other}/scores/{WEEK}", headers=api.headers("mentor"))
    assert response.status_code == 403
    listing = api.client.get(f"/api/v1/risk-lists/{api.other_team}/{WEEK}", headers=api.headers("mentor"))
    assert listing.status_code == 403
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT user_name, allowed, action FROM audit_log WHERE student_id = :s"), {"s": other}
        ).all()
    assert ("test-mentor", False, "read_score") in [(r[0], bool(r[1]), r[2]) for r in rows]
    # the mentor of that team may
    ok = api.client.get(f"/api/v1/students/{other}/scores/{WEEK}", headers=api.headers("mentor2"))
    assert ok.status_code == 200


def test_reads_are_logged_with_student_and_user(api: Api) -> None:
    own = student_of(api, api.mentor_team)
    api.client.get(f"/api/v1/students/{own}/scores/{WEEK}", headers=api.headers("zorgteam"))
    log = api.client.get(f"/api/v1/audit/log?student_id={own}", headers=api.headers("auditor")).json()
    assert any(e["user_name"] == "test-zorgteam" and e["allowed"] and e["week"] == WEEK for e in log)
    listing = api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("mentor"))
    shown = {s["student_id"] for s in listing.json()["students"]}
    with api.engine.connect() as conn:  # one entry for the list, naming every student it showed
        logged = set(
            conn.execute(
                text(
                    "SELECT l.student_id FROM audit_students l JOIN audit_log a USING (audit_id) "
                    "WHERE a.action = 'read_risk_list' AND a.allowed = :t AND a.user_name = 'test-mentor' "
                    "AND a.seq = (SELECT MAX(seq) FROM audit_log)"
                ),
                {"t": True},
            ).scalars()
        )
    assert shown == logged


def test_audit_log_is_append_only(api: Api) -> None:
    for statement in ("UPDATE audit_log SET allowed = allowed", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), api.engine.begin() as conn:
            conn.execute(text(statement))


def test_tokens_are_stored_hashed(api: Api) -> None:
    with api.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT token_hash FROM users")).scalars())
    assert "tok-mentor" not in stored
    assert hashlib.sha256(b"tok-mentor").hexdigest() in stored


PROTECTED = ("gender", "migration_background", "geslacht", "migratieachtergrond", "niet_westers")


@pytest.mark.parametrize("role", [r for r in ROLES if r != "auditor"])
def test_no_protected_attribute_in_any_response(api: Api, role: str) -> None:
    bodies = [_call(api, role, name).text for name in sorted(ALLOWED)]
    bodies.append(api.client.get("/openapi.json").text)
    for body in bodies:
        for word in PROTECTED:
            assert word not in body
