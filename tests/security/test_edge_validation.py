"""Validation at the edge and audit of every refusal (issue 19, findings 2 to 5), on SQLite and PostgreSQL.

* Strings: a team over 40 characters, a NUL byte in a note, reason, query or path: 422, never a 500
  (PostgreSQL refuses both in its columns), in every route that takes them.
* Numbers: NaN or Infinity in a JSON body and weeks beyond the calendar: 422, never a 500.
* Denials: a refused role names the student or team of the request, so the audit log's student search
  finds it; the audit log takes long or odd values (truncated to its columns, control characters escaped).
* 401: a missing or bad token writes one audit entry, without a user, with the client address and path.
* The failed-login limit is keyed on the connection's address, not on a forwarding header a client sets,
  and a valid token passes even when its address is over the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import workflows.audit as audit_module
from serving.app import create_app
from tests.api.conftest import WEEK, Api, api, api_engine, api_settings, student_of
from workflows.audit import AuditEntry, AuditWriter, verify_chain, write_audit
from workflows.users import CurrentUser, Role, upsert_user

__all__ = ["api", "api_engine"]  # the API fixtures (store on SQLite and PostgreSQL, users, app)

LONG_TEAM = "t" * 41
NUL = "a\x00b"


def _requests(api: Api) -> list[tuple[str, str, str, Any]]:
    """(role, method, url, json body) with one over-long or NUL value each; every one must be a 422."""
    own = student_of(api, api.mentor_team)
    students = f"/api/v1/students/{own}"
    return [
        ("mentor", "GET", f"/api/v1/risk-lists/{LONG_TEAM}/{WEEK}", None),
        ("mentor", "GET", f"/api/v1/risk-lists/a%00b/{WEEK}", None),
        ("mentor", "GET", f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}?band=a%00b", None),
        ("mentor", "GET", f"/api/v1/students/a%00b/scores/{WEEK}", None),
        ("mentor", "GET", f"/api/v1/students/{'s' * 33}/scores/{WEEK}", None),
        ("mentor", "GET", "/api/v1/students/a%00b/actions", None),
        ("mentor", "POST", f"{students}/actions", {"week": WEEK, "action": "conversation", "note": NUL}),
        ("mentor", "POST", f"{students}/overrides", {"week": WEEK, "band": "hoog", "reason": "zorg" + NUL}),
        ("zorgteam", "GET", "/api/v1/students/a%00b/alerts", None),
        (
            "coachklas",
            "POST",
            "/api/v1/coachklas/decisions",
            {"student_id": own, "week": WEEK, "decision": "later", "reason": "eerst" + NUL},
        ),
        (
            "coachklas",
            "POST",
            "/api/v1/coachklas/decisions",
            {"student_id": NUL, "week": WEEK, "decision": "later", "reason": "eerst gesprek"},
        ),
        ("zorgteam", "GET", "/api/v1/safeguarding/queue?team=a%00b", None),
        ("zorgteam", "GET", f"/api/v1/safeguarding/queue?team={LONG_TEAM}", None),
        ("zorgteam", "GET", "/api/v1/safeguarding/queue?student=a%00b", None),
        ("zorgteam", "GET", "/api/v1/safeguarding/queue?item=a%00b", None),
        ("zorgteam", "GET", "/api/v1/safeguarding/queue?assigned_to=a%00b", None),
        ("zorgteam", "POST", "/api/v1/safeguarding/alerts/1/close", {"note": "klaar" + NUL}),
        ("zorgteam", "POST", "/api/v1/safeguarding/alerts/1/acknowledge", {"note": NUL}),
        ("zorgteam", "POST", "/api/v1/safeguarding/alerts/1/assign", {"to": NUL}),
        ("auditor", "GET", "/api/v1/audit/log?student_id=a%00b", None),
        ("auditor", "GET", "/api/v1/audit/log?user_name=a%00b", None),
        # A day is YYYY-MM-DD: not a Unix timestamp that pydantic's lax mode would otherwise accept.
        ("auditor", "GET", "/api/v1/audit/log?until=0", None),
        ("auditor", "GET", "/api/v1/audit/log?since=86400", None),
        ("auditor", "GET", "/api/v1/audit/log?since=2026-2-1", None),
        ("auditor", "GET", f"/api/v1/explanations/a%00b/{WEEK}", None),
        ("auditor", "POST", "/api/v1/identities/lookup", {"student_id": own, "reason": "onderzoek" + NUL}),
        ("datateam", "GET", "/api/v1/monitoring/reports/a%00b/rapport.html", None),
        ("datateam", "POST", f"/api/v1/monitoring/run?week={10**12}", None),
        ("datateam", "POST", "/api/v1/monitoring/run?week=-999999999999", None),
        ("datateam", "POST", "/api/v1/jobs/score-week", {"week": 10**12}),
        ("admin", "GET", f"/api/v1/coachklas/candidates?week={10**12}&places=3", None),
    ]


def test_long_and_control_character_values_are_422_everywhere(api: Api) -> None:
    for role, method, url, body in _requests(api):
        r = api.client.request(method, url, json=body, headers=api.headers(role))
        assert r.status_code == 422, (role, method, url, r.status_code, r.text[:300])
        assert isinstance(r.json()["detail"], list)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_a_json_body_are_422(api: Api, value: str) -> None:
    features = api.client.get(
        f"/api/v1/explanations/{student_of(api, api.mentor_team)}/{WEEK}", headers=api.headers("auditor")
    ).json()["feature_values"]
    name = next(iter(features))
    body = (
        '{"features": {'
        + ", ".join(f'"{k}": {value if k == name else repr(float(v))}' for k, v in features.items())
        + "}}"
    )
    headers = {**api.headers("datateam"), "Content-Type": "application/json"}
    r = api.client.post("/api/v1/scores", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:3] == ["body", "features", name]
    own = student_of(api, api.mentor_team)
    r = api.client.post(
        f"/api/v1/students/{own}/actions",
        content='{"week": ' + value + ', "action": "conversation"}',
        headers={**api.headers("mentor"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text


def _audit_rows(engine: Engine, where: str, **params: object) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM audit_log WHERE {where}"), params).mappings())


def test_a_refused_role_is_logged_with_the_student_or_team(api: Api) -> None:
    own = student_of(api, api.mentor_team)
    refused = [
        ("datateam", "GET", f"/api/v1/students/{own}/scores/{WEEK}", None),
        ("coachklas", "POST", f"/api/v1/students/{own}/actions", {"week": WEEK, "action": "conversation"}),
        ("mentor", "GET", f"/api/v1/explanations/{own}/{WEEK}", None),
        (
            "mentor",
            "POST",
            "/api/v1/coachklas/decisions",
            {"student_id": own, "week": WEEK, "decision": "later", "reason": "eerst gesprek"},
        ),
        ("mentor", "POST", "/api/v1/identities/lookup", {"student_id": own, "reason": "nieuwsgierig naar"}),
    ]
    for role, method, url, body in refused:
        r = api.client.request(method, url, json=body, headers=api.headers(role))
        assert r.status_code == 403, (role, url, r.text)
    log = api.client.get(f"/api/v1/audit/log?student_id={own}&limit=5000", headers=api.headers("auditor"))
    denied = {(e["user_name"], e["path"]) for e in log.json() if not e["allowed"]}
    for role, _, url, _ in refused:
        assert (f"test-{role}", url) in denied, (role, url)
    datateam = f"/api/v1/risk-lists/{api.other_team}/{WEEK}"
    assert api.client.get(datateam, headers=api.headers("datateam")).status_code == 403
    rows = _audit_rows(api.engine, "path = :p AND allowed = :f", p=datateam, f=False)
    assert rows and rows[-1]["team"] == api.other_team and rows[-1]["week"] == WEEK


def test_a_mentor_refused_a_long_team_leaves_no_500(api: Api) -> None:
    """The 422 comes before the team check; a refused team of legal length is logged with that team."""
    r = api.client.get(f"/api/v1/risk-lists/{'x' * 40}/{WEEK}", headers=api.headers("mentor"))
    assert r.status_code == 403
    assert _audit_rows(api.engine, "team = :t AND allowed = :f", t="x" * 40, f=False)


def test_the_audit_log_takes_long_and_odd_values(api: Api) -> None:
    user = CurrentUser(1, "u" * 200, Role.MENTOR, frozenset())
    entry = AuditEntry("a" * 100, "s\x00" * 40, "t" * 15_000, WEEK, "d\x00" + "x" * 500_000)
    write_audit(api.engine, user, "GET" * 5, "/p\x00" * 1_000, [entry], allowed=False)
    writer = AuditWriter(api.engine)
    try:
        writer.write(user, "GET", "/q\x00", [entry], allowed=False)
    finally:
        writer.close()
    rows = _audit_rows(api.engine, "role = :r AND allowed = :f AND week = :w", r="mentor", f=False, w=WEEK)
    rows = [r for r in rows if r["user_name"].startswith("uuu")]
    assert len(rows) == 2
    for row in rows:
        assert len(row["user_name"]) <= 80 and len(row["action"]) <= 60 and len(row["method"]) <= 8
        assert len(row["path"]) <= 300 and len(row["student_id"]) <= 32 and len(row["team"]) <= 40
        assert len(row["detail"]) == audit_module.MAX_DETAIL_CHARS  # cut to the cap, marked as cut
        assert row["detail"].endswith(audit_module.TRUNCATED)
        assert all("\x00" not in str(v) for v in row.values())
        assert "\\x00" in row["path"]
    assert verify_chain(api.engine).ok


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_a_request_without_a_valid_token_is_logged_once(api: Api, token: str | None) -> None:
    path = f"/api/v1/students/{student_of(api, api.mentor_team)}/scores/{WEEK}"
    before = len(_audit_rows(api.engine, "path = :p AND user_id IS NULL", p=path))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    assert api.client.get(path, headers=headers).status_code == 401
    rows = _audit_rows(api.engine, "path = :p AND user_id IS NULL", p=path)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["user_name"] == audit_module.ANONYMOUS and not row["allowed"] and row["method"] == "GET"
    assert "testclient" in row["detail"]  # the client address
    assert "not-a-token" not in str(dict(row))  # never the token itself


# --- the failed-login limit -----------------------------------------------------------------------------

TOKEN = "valid-admin-token-0123456789abcdef"
LOG = "/api/v1/audit/log?limit=1"


@pytest.fixture
def admin_store(store: Engine) -> Iterator[Engine]:
    upsert_user(store, "admin", "admin", [], TOKEN)
    yield store


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_forwarding_header_does_not_choose_the_limit_bucket(admin_store: Engine, tmp_path: Path) -> None:
    """Behind uvicorn's default (X-Forwarded-For trusted from loopback) a client that varies the header
    still meets the limit: no setting names a trusted proxy, so the header picks no bucket."""
    app = create_app(api_settings(tmp_path, auth_failures_per_minute=3), engine=admin_store)
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")  # type: ignore[arg-type]
    with TestClient(proxied, client=("127.0.0.1", 50000)) as client:  # type: ignore[arg-type]
        codes = [
            client.get(LOG, headers={**_bearer("guess"), "X-Forwarded-For": f"10.9.{i}.1"}).status_code
            for i in range(6)
        ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429], codes


def test_a_valid_token_passes_when_its_address_is_over_the_limit(admin_store: Engine, tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path, auth_failures_per_minute=2), engine=admin_store)
    with TestClient(app, client=("10.0.0.7", 50000)) as client:
        assert [client.get(LOG, headers=_bearer("guess")).status_code for _ in range(3)] == [401, 401, 429]
        assert client.get(LOG, headers=_bearer(TOKEN)).status_code == 200  # a colleague behind the same NAT
        refused = client.get(LOG, headers=_bearer("guess"))
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
