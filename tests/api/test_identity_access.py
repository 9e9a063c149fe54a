"""Names for the people who need them: the mentor of the team, the zorgteam, the coachklas coordinator and
admin see names and student numbers; the data team and auditors never do (auditors work with pseudonyms
and look one identity up with a documented reason, audited); the OpenAPI schema holds no name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.api.conftest import WEEK, Api
from workflows.identity import StudentName, display_names
from workflows.users import CurrentUser, Role

MARK = "Vroegnaam"  # in every test name: a response holding it holds a name
LOOKUP = "/api/v1/identities/lookup"


@dataclass(frozen=True)
class Named:
    """The identities written for this module: by pseudonym, the name and number shown; one student left
    without an identity."""

    names: dict[str, tuple[str, str]]
    without: str
    alerted: list[str]

    def known_texts(self) -> set[str]:
        return {part for name, number in self.names.values() for part in (name, number)}


def _leaks(named: Named, body: str) -> list[str]:
    return [t for t in named.known_texts() if t in body] + ([MARK] if MARK in body else [])


@pytest.fixture(scope="module")
def named(api: Api) -> Iterator[Named]:
    """Identity rows for every student of the store but one (of the mentor's team), and two open alerts."""
    with api.engine.begin() as conn:
        students = list(conn.execute(text("SELECT student_id, team FROM students ORDER BY student_id")).all())
        mentor_students = [sid for sid, team in students if team == api.mentor_team]
        scored = set(
            conn.execute(
                text("SELECT student_id FROM scores WHERE team = :t AND week = :w"),
                {"t": api.mentor_team, "w": WEEK},
            ).scalars()
        )
        without = sorted(scored)[0]
        names: dict[str, tuple[str, str]] = {}
        rows = []
        for i, (sid, _team) in enumerate(students):
            if sid == without:
                continue
            number = f"LLN-{i:06d}"
            prefix = "van 't" if i % 3 == 0 else None
            given, family = f"Zoë{i}", f"{MARK}-Ö'{i}"
            shown = " ".join(p for p in (given, prefix, family) if p)
            names[sid] = (shown, number)
            rows.append(
                {
                    "s": sid,
                    "n": number,
                    "g": given,
                    "p": prefix,
                    "f": family,
                    "e": f"zoe{i}@student.example.nl",
                }
            )
        conn.execute(
            text(
                "INSERT INTO identities (student_id, student_number, given_name, name_prefix, family_name, "
                "email) VALUES (:s, :n, :g, :p, :f, :e)"
            ),
            rows,
        )
        alerted = [s for s in sorted(scored) if s != without][:2]
        now = datetime.now(UTC)
        for sid in alerted:
            conn.execute(
                text(
                    "INSERT INTO safeguarding_alerts (student_id, week, item, value, reason, status, "
                    "raised_at, severity, due_at) VALUES (:s, :w, 'wil_praten', 1, 'wil_praten: test', "
                    "'open', :t, 1, :due)"
                ),
                {"s": sid, "w": WEEK + 30, "t": now, "due": now + timedelta(hours=4)},
            )
    assert mentor_students
    yield Named(names, without, alerted)


def _risk_list(api: Api, role: str, team: str | None = None) -> list[dict[str, object]]:
    response = api.client.get(
        f"/api/v1/risk-lists/{team or api.mentor_team}/{WEEK}", headers=api.headers(role)
    )
    assert response.status_code == 200, response.text
    students: list[dict[str, object]] = response.json()["students"]
    return students


@pytest.mark.parametrize("role", ["mentor", "zorgteam", "coachklas", "admin"])
def test_the_people_who_need_them_see_names_on_the_risk_list(api: Api, named: Named, role: str) -> None:
    items = _risk_list(api, role)
    assert len(items) > 1
    for item in items:
        sid = str(item["student_id"])
        if sid == named.without:  # no identity: the pseudonym, no number
            assert item["name"] == sid and item["student_number"] is None
        else:
            assert (item["name"], item["student_number"]) == named.names[sid]
    assert any("van 't" in str(i["name"]) and "Zoë" in str(i["name"]) for i in items)


def test_a_mentor_sees_only_their_own_teams_names(api: Api, named: Named) -> None:
    refused = api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("mentor2"))
    assert refused.status_code == 403 and not _leaks(named, refused.text)
    own = _risk_list(api, "mentor2", api.other_team)
    assert own and all((i["name"], i["student_number"]) == named.names[str(i["student_id"])] for i in own)


def test_the_coachklas_candidates_carry_names_for_the_coordinator(api: Api, named: Named) -> None:
    for role in ("coachklas", "zorgteam", "admin"):
        response = api.client.get(
            f"/api/v1/coachklas/candidates?week={WEEK}&places=8", headers=api.headers(role)
        )
        assert response.status_code == 200, response.text
        candidates = response.json()["candidates"]
        assert len(candidates) == 8
        for c in candidates:
            expected = named.names.get(c["student_id"], (c["student_id"], None))
            assert (c["name"], c["student_number"]) == expected
    intake = api.client.get(f"/api/v1/coachklas/intake?week={WEEK}", headers=api.headers("coachklas")).json()
    assert intake["candidates"] and all(c["name"] for c in intake["candidates"])


def test_the_zorgteam_queue_carries_names(api: Api, named: Named) -> None:
    for role in ("zorgteam", "admin"):
        queue = api.client.get("/api/v1/safeguarding/queue?page_size=100", headers=api.headers(role))
        assert queue.status_code == 200, queue.text
        by_student = {a["student_id"]: a for a in queue.json()["alerts"]}
        for sid in named.alerted:
            assert (by_student[sid]["name"], by_student[sid]["student_number"]) == named.names[sid]
        listed = api.client.get("/api/v1/safeguarding/alerts", headers=api.headers(role)).json()
        assert {a["student_id"]: a["name"] for a in listed}[named.alerted[0]] == named.names[
            named.alerted[0]
        ][0]


def test_the_data_team_and_auditors_never_get_a_name(api: Api, named: Named) -> None:
    sid = named.alerted[0]
    datateam, auditor = api.headers("datateam"), api.headers("auditor")
    assert api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=datateam).status_code == 403
    audited = _risk_list(api, "auditor")
    assert audited and all(i["name"] is None and i["student_number"] is None for i in audited)
    responses = {
        "auditor risk list": api.client.get(f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=auditor),
        "auditor candidates": api.client.get(
            f"/api/v1/coachklas/candidates?week={WEEK}&places=20", headers=auditor
        ),
        "auditor queue": api.client.get("/api/v1/safeguarding/queue?page_size=100", headers=auditor),
        "auditor alerts": api.client.get("/api/v1/safeguarding/alerts", headers=auditor),
        "auditor explanation": api.client.get(f"/api/v1/explanations/{sid}/{WEEK}", headers=auditor),
        "auditor scores": api.client.get(f"/api/v1/students/{sid}/scores/{WEEK}", headers=auditor),
        "auditor audit log": api.client.get("/api/v1/audit", headers=auditor),
        "auditor model": api.client.get("/api/v1/models/current", headers=auditor),
        "datateam model": api.client.get("/api/v1/models/current", headers=datateam),
        "datateam reports": api.client.get("/api/v1/monitoring/reports", headers=datateam),
        "auditor reports": api.client.get("/api/v1/monitoring/reports", headers=auditor),
        "datateam explanation": api.client.get(f"/api/v1/explanations/{sid}/{WEEK}", headers=datateam),
        "datateam candidates": api.client.get(
            f"/api/v1/coachklas/candidates?week={WEEK}&places=20", headers=datateam
        ),
        "datateam queue": api.client.get("/api/v1/safeguarding/queue", headers=datateam),
    }
    for label in ("auditor risk list", "auditor candidates", "auditor queue", "auditor explanation"):
        assert responses[label].status_code == 200, label
    assert responses["datateam model"].status_code == 200
    for label, response in responses.items():
        assert not _leaks(named, response.text), label
    schema = api.client.get("/openapi.json")
    assert schema.status_code == 200 and not _leaks(named, schema.text)
    for path in ("/api/v1/identities/lookup",):
        assert path in schema.json()["paths"]


def test_display_names_leaves_out_what_a_viewer_may_not_see(api: Api, named: Named) -> None:
    from sqlalchemy.orm import Session

    mentor_sid = next(s for s in named.names if _team_of(api, s) == api.mentor_team)
    other_sid = next(s for s in named.names if _team_of(api, s) == api.other_team)
    ids = [mentor_sid, other_sid, named.without, "onbekend"]
    with Session(api.engine) as session:
        mentor = CurrentUser(1, "m", Role.MENTOR, frozenset({api.mentor_team}))
        seen = display_names(session, mentor, ids)
        assert set(seen) == {mentor_sid, named.without}
        assert seen[mentor_sid] == StudentName(*named.names[mentor_sid], missing=False)
        assert seen[named.without] == StudentName(named.without, "", missing=True)
        zorg = display_names(session, CurrentUser(2, "z", Role.ZORGTEAM, frozenset()), ids)
        assert set(zorg) == {mentor_sid, other_sid, named.without}
        for role in (Role.DATATEAM, Role.AUDITOR):
            assert display_names(session, CurrentUser(3, "x", role, frozenset()), ids) == {}


def _team_of(api: Api, sid: str) -> str:
    with api.engine.connect() as conn:
        return str(
            conn.execute(text("SELECT team FROM students WHERE student_id = :s"), {"s": sid}).scalar_one()
        )


def _lookups(api: Api, sid: str) -> list[tuple[str, str, bool, str | None]]:
    with api.engine.connect() as conn:
        return [
            (r.user_name, r.action, bool(r.allowed), r.detail)
            for r in conn.execute(
                text(
                    "SELECT user_name, action, allowed, detail FROM audit_log "
                    "WHERE action = 'identity_lookup' AND student_id = :s ORDER BY seq"
                ),
                {"s": sid},
            )
        ]


def test_an_auditor_looks_an_identity_up_with_a_reason_and_it_is_audited(api: Api, named: Named) -> None:
    sid = named.alerted[1]
    reason = "Klacht 2026-031: controle van een melding"
    headers = api.headers("auditor")
    assert api.client.post(LOOKUP, json={"student_id": sid}, headers=headers).status_code == 422
    short = api.client.post(LOOKUP, json={"student_id": sid, "reason": "   omdat   "}, headers=headers)
    assert short.status_code == 422
    assert _lookups(api, sid) == []  # no reason, no lookup
    found = api.client.post(LOOKUP, json={"student_id": sid, "reason": reason}, headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["name"], body["student_number"]) == named.names[sid]
    assert body["student_id"] == sid and body["email"].endswith("@student.example.nl")
    assert body["given_name"].startswith("Zoë") and body["family_name"].startswith(MARK)
    logged = _lookups(api, sid)
    assert logged[-1][:3] == ("test-auditor", "identity_lookup", True)
    assert reason in str(logged[-1][3])
    assert MARK not in json.dumps(logged)  # the trail holds the reason, never the name
    listed = api.client.get("/api/v1/audit", headers=headers).json()
    assert not _leaks(named, json.dumps(listed, ensure_ascii=False))


def test_the_lookup_is_refused_to_other_roles_and_answers_404_for_unknown_students(
    api: Api, named: Named
) -> None:
    sid = named.alerted[1]
    body = {"student_id": sid, "reason": "Wil graag weten wie dit is"}
    for role in ("mentor", "zorgteam", "coachklas", "datateam"):
        refused = api.client.post(LOOKUP, json=body, headers=api.headers(role))
        assert refused.status_code == 403 and not _leaks(named, refused.text), role
    assert api.client.post(LOOKUP, json=body).status_code == 401
    unknown = {"student_id": "0" * 20, "reason": "Controle van een oud dossier"}
    assert api.client.post(LOOKUP, json=unknown, headers=api.headers("auditor")).status_code == 404
    missing = {"student_id": named.without, "reason": "Controle zonder naamgegevens"}
    none = api.client.post(LOOKUP, json=missing, headers=api.headers("auditor"))
    assert none.status_code == 404 and "geen naamgegevens" in none.text
    assert "Controle zonder naamgegevens" in str(_lookups(api, named.without)[-1][3])
    with api.engine.connect() as conn:
        denied = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE action = 'identity_lookup' AND allowed = :f"),
            {"f": False},
        ).scalar_one()
    assert denied >= 4  # every refused attempt is logged
