"""The edge of the pages and the API (issue 19, review), on SQLite and PostgreSQL.

* Control characters (NUL and the other C0 characters but tab, line feed and carriage return; DEL) in a
  request's address or in a form's fields are refused with a 422 before any route sees them
  (:mod:`serving.edge`): PostgreSQL cannot store or even compare a NUL, so a page that passed one on
  gave a 500. The pages get a short Dutch HTML page, the API FastAPI's JSON shape.
* A refused role on the pages is audited with the student and week the page names, as on the API.
* A 422 lists at most ``max_listed_errors`` problems and counts the rest.
* Behind a TLS proxy named in ``VSV_TRUSTED_PROXIES`` the session cookie is Secure (``X-Forwarded-Proto``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from serving.app import create_app
from serving.edge import BAD_ADDRESS, BAD_FORM
from tests.api.conftest import WEEK, Api, api, api_engine, api_settings, student_of
from tests.web.helpers import page_get, page_post
from workflows.users import upsert_user

__all__ = ["api", "api_engine"]  # the API fixtures (store on SQLite and PostgreSQL, users, app)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NUL = "a\x00b"
OWN = "{own}"  # replaced by a student of the mentor's team


def _form(**fields: Any) -> dict[str, str]:
    return {name: str(value) for name, value in fields.items()}


# (role, method, url, form): a NUL (or another control character) in the path or the query.
BAD_ADDRESSES: list[tuple[str, str, str, dict[str, str] | None]] = [
    ("auditor", "GET", f"/web/uitleg/a%00b/{WEEK}", None),
    ("zorgteam", "GET", "/web/zorg?team=a%00b", None),
    ("zorgteam", "GET", "/web/zorg?item=a%00b", None),
    ("zorgteam", "GET", "/web/zorg?behandelaar=a%00b", None),
    ("zorgteam", "GET", "/web/zorg?zoek=a%00b", None),
    ("auditor", "GET", "/web/audit?leerling=a%00b", None),
    ("auditor", "GET", "/web/audit?gebruiker=a%00b", None),
    ("mentor", "GET", "/web/lijst?zoek=a%01b", None),
    ("mentor", "GET", "/web/leerling/a%7fb", None),
    ("mentor", "POST", "/web/leerling/a%00b/actie", _form(week=WEEK, action="conversation")),
    ("mentor", "POST", "/web/leerling/a%00b/overschrijven", _form(week=WEEK, band="hoog", reason="zorg nu")),
    ("auditor", "POST", f"/web/uitleg/a%00b/{WEEK}/herhaal", None),
]

# (role, url, form): a NUL (or another control character) in a form field.
BAD_FORMS: list[tuple[str, str, dict[str, str]]] = [
    ("mentor", f"/web/leerling/{OWN}/actie", _form(week=WEEK, action="conversation", note=NUL)),
    ("mentor", f"/web/leerling/{OWN}/actie", _form(week=WEEK, action="conversation", owner="x\x1by")),
    ("mentor", f"/web/leerling/{OWN}/overschrijven", _form(week=WEEK, band="hoog", reason="zorg" + NUL)),
    (
        "coachklas",
        "/web/coachklas/besluit",
        _form(student_id=OWN, week=WEEK, decision="later", reason="eerst" + NUL),
    ),
    (
        "coachklas",
        "/web/coachklas/besluit",
        _form(student_id=NUL, week=WEEK, decision="later", reason="eerst"),
    ),
    ("zorgteam", "/web/zorg/1/sluiten", _form(note="klaar" + NUL)),
    ("zorgteam", "/web/zorg/1/toewijzen", _form(to=NUL)),
]


def _assert_refused_page(response: httpx.Response, message: str) -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert 'lang="nl"' in response.text
    assert "\x00" not in response.text
    assert response.headers["content-security-policy"]  # the security headers reach the refusal too


@pytest.mark.parametrize(("role", "method", "url", "form"), BAD_ADDRESSES)
def test_a_control_character_in_a_page_address_is_a_dutch_422(
    api: Api, role: str, method: str, url: str, form: dict[str, str] | None
) -> None:
    response = page_get(api, role, url) if method == "GET" else page_post(api, role, url, form)
    _assert_refused_page(response, BAD_ADDRESS)


@pytest.mark.parametrize(("role", "url", "form"), BAD_FORMS)
def test_a_control_character_in_a_form_field_is_a_dutch_422(
    api: Api, role: str, url: str, form: dict[str, str]
) -> None:
    own = student_of(api, api.mentor_team)
    filled = {name: value.replace(OWN, own) for name, value in form.items()}
    response = page_post(api, role, url.replace(OWN, own), filled)
    _assert_refused_page(response, BAD_FORM)


def test_a_refused_form_writes_nothing(api: Api) -> None:
    own = student_of(api, api.mentor_team)
    note = "niet opslaan " + NUL
    response = page_post(
        api, "mentor", f"/web/leerling/{own}/actie", _form(week=WEEK, action="conversation", note=note)
    )
    assert response.status_code == 422
    with api.engine.connect() as conn:
        notes = conn.execute(text("SELECT note FROM actions WHERE student_id = :s"), {"s": own}).scalars()
        assert not any("niet opslaan" in str(n) for n in notes)


def test_tabs_and_line_breaks_in_a_form_still_pass(api: Api) -> None:
    """A note typed in a text area has line breaks (sent as CR LF) and may have tabs: those are no refusal,
    and the form reaches the route unchanged."""
    own = student_of(api, api.mentor_team)
    note = "eerste regel\r\ntweede\tregel: 100% é"
    response = page_post(
        api, "mentor", f"/web/leerling/{own}/actie", _form(week=WEEK, action="conversation", note=note)
    )
    assert response.status_code == 303, response.text[:300]
    with api.engine.connect() as conn:
        notes = conn.execute(text("SELECT note FROM actions WHERE student_id = :s"), {"s": own}).scalars()
        assert any(str(n).replace("\r\n", "\n") == note.replace("\r\n", "\n") for n in notes)


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/students/a%00b/scores/{WEEK}",
        f"/api/v1/risk-lists/team/{WEEK}?band=a%00b",
        "/api/v1/audit/log?user_name=a%1fb",
        "/health?x=%00",
    ],
)
def test_a_control_character_in_an_api_address_is_a_json_422(api: Api, url: str) -> None:
    response = api.client.get(url, headers=api.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for error in detail:
        assert (
            isinstance(error["loc"], list)
            and isinstance(error["msg"], str)
            and isinstance(error["type"], str)
        )
        assert error["loc"][0] in ("path", "query")


def test_a_nul_in_a_json_body_is_left_to_the_route(api: Api) -> None:
    """Only form bodies are read at the edge: a JSON body's NUL is the route's 422 (as before)."""
    own = student_of(api, api.mentor_team)
    response = api.client.post(
        f"/api/v1/students/{own}/actions",
        json={"week": WEEK, "action": "conversation", "note": NUL},
        headers=api.headers("mentor"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


# --- audit of refused pages ------------------------------------------------------------------------------


def _denied(engine: Engine, path: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT * FROM audit_log WHERE path = :p AND allowed = :f ORDER BY audit_id"),
                {"p": path, "f": False},
            ).mappings()
        )


def test_a_refused_page_is_logged_with_the_student_and_week(api: Api) -> None:
    own = student_of(api, api.mentor_team)
    path = f"/web/leerling/{own}"
    response = page_get(api, "datateam", f"{path}?week={WEEK}")
    assert response.status_code == 403
    rows = _denied(api.engine, path)
    assert rows, "the refusal is not in the audit log"
    assert rows[-1]["student_id"] == own and rows[-1]["week"] == WEEK
    assert rows[-1]["user_name"] == "test-datateam"
    explain = f"/web/uitleg/{own}/{WEEK}"
    assert page_get(api, "mentor", explain).status_code == 403
    rows = _denied(api.engine, explain)
    assert rows and rows[-1]["student_id"] == own and rows[-1]["week"] == WEEK


# --- bounded 422 lists -----------------------------------------------------------------------------------


def test_a_422_lists_at_most_max_listed_errors_and_counts_the_rest(api: Api) -> None:
    limit = api.client.app.state.settings.max_listed_errors  # type: ignore[attr-defined]
    bad = 5_000
    body = {"features": {f"f{i}": "x" for i in range(bad)}}
    response = api.client.post("/api/v1/scores", json=body, headers=api.headers("datateam"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert len(detail) == limit + 1
    *listed, rest = detail
    assert all(e["type"] != "value_error.more" for e in listed)
    assert rest["type"] == "value_error.more" and rest["loc"] == ["body"]
    shown_total = int(rest["msg"].split()[1]) + limit
    assert shown_total >= bad
    assert len(response.content) < 100 * 1024


def test_a_422_under_the_cap_is_listed_whole(api: Api) -> None:
    body = {"features": {f"f{i}": "x" for i in range(3)}}
    response = api.client.post("/api/v1/scores", json=body, headers=api.headers("datateam"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert all(e["type"] != "value_error.more" for e in detail)
    assert {tuple(e["loc"][:3]) for e in detail} >= {("body", "features", f"f{i}") for i in range(3)}


# --- the Secure cookie behind a TLS proxy ----------------------------------------------------------------

PROXY = "10.0.0.5"
ADMIN_TOKEN = "beheer-token-0123456789abcdef-proxy"


@pytest.mark.parametrize(("peer", "secure"), [(PROXY, True), ("10.9.9.9", False)])
def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(
    store: Engine, tmp_path: Path, peer: str, secure: bool
) -> None:
    """``vsv serve`` behind a proxy that ends TLS: uvicorn does not trust the proxy's headers (only
    127.0.0.1's), so the scheme is http; the proxy named in ``VSV_TRUSTED_PROXIES`` is believed when it
    says ``X-Forwarded-Proto: https``, any other peer is not."""
    upsert_user(store, "beheer", "admin", [], ADMIN_TOKEN)
    app = create_app(api_settings(tmp_path, trusted_proxies=[PROXY]), engine=store)
    with TestClient(app, client=(peer, 50000)) as client:
        response = client.post(
            "/web/login",
            data={"token": ADMIN_TOKEN},
            headers={"X-Forwarded-Proto": "https"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert ("; secure" in response.headers["set-cookie"].lower()) is secure
