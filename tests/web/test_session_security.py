"""The web session (issue 19): a server-side session instead of the bearer token in a cookie, CSRF tokens,
the Origin check, security headers, the login rate limit, HTML 422 pages, fixed flash messages and bounded
integers. Every test runs on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from serving.app import create_app
from serving.web.session import COOKIE
from tests.api.conftest import api_settings
from tests.web.helpers import WebLogin, csrf_of, log_in
from workflows.users import revoke_user, upsert_user

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "beheer-token-0123456789abcdef-xyz"
TEMPLATES = Path(__file__).resolve().parents[2] / "serving" / "web" / "templates"
EVIL = "https://evil.example"


@pytest.fixture
def admin_store(store: Engine) -> Engine:
    upsert_user(store, "beheer", "admin", [], TOKEN)
    return store


@pytest.fixture
def client(admin_store: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """The app over an empty store with one admin (no model, no students: the pages that need none)."""
    app = create_app(api_settings(tmp_path), engine=admin_store)
    with TestClient(app) as test_client:
        yield test_client


def _get(client: TestClient, login: WebLogin | None, url: str) -> httpx.Response:
    client.cookies.clear()
    response: httpx.Response = client.get(url, headers=login.cookie if login else {}, follow_redirects=False)
    return response


def _sessions(store: Engine) -> list[dict[str, object]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM web_sessions")).all()]


def _logged_in(client: TestClient, login: WebLogin) -> bool:
    client.cookies.clear()
    response = client.get("/web/", headers=login.cookie, follow_redirects=False)
    return response.status_code == 200 and "Uitloggen" in response.text


# --- the session ----------------------------------------------------------------------------------------


def test_the_cookie_holds_a_session_id_never_the_token(client: TestClient, admin_store: Engine) -> None:
    client.cookies.clear()
    response = client.post("/web/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    set_cookie = response.headers["set-cookie"]
    assert TOKEN not in set_cookie
    session_id = response.cookies[COOKIE]
    lowered = set_cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
    assert "secure" not in lowered.replace("vsv_session", "")  # plain http here: no Secure flag
    stored = _sessions(admin_store)
    assert len(stored) == 1
    row = stored[0]
    assert session_id not in {str(v) for v in row.values()}  # only its hash is stored
    assert TOKEN not in {str(v) for v in row.values()}
    client.cookies.clear()


def test_the_cookie_is_secure_over_https(client: TestClient) -> None:
    secure = TestClient(client.app, base_url="https://vroegsignaal.example")
    response = secure.post("/web/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    assert "; secure" in response.headers["set-cookie"].lower()


def test_the_token_itself_is_no_longer_a_cookie(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/web/", headers={"Cookie": f"vsv_token={TOKEN}"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/web/login")


def test_logout_revokes_the_session_server_side(client: TestClient) -> None:
    login = log_in(client, TOKEN)
    assert _logged_in(client, login)
    out = client.post(
        "/web/logout", data={"csrf_token": login.csrf}, headers=login.cookie, follow_redirects=False
    )
    assert out.status_code == 303 and "uitgelogd" in out.headers["location"]
    # the browser is told to forget the cookie, and an old copy of it no longer works either
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    assert not _logged_in(client, login)
    client.cookies.clear()


def test_an_idle_session_ends_and_a_long_one_too(client: TestClient, admin_store: Engine) -> None:
    idle = log_in(client, TOKEN)
    old = log_in(client, TOKEN)
    assert _logged_in(client, idle) and _logged_in(client, old)
    now = datetime.now(UTC)
    minutes = client.app.state.settings.web_session_minutes  # type: ignore[attr-defined]
    with admin_store.begin() as conn:
        conn.execute(
            text("UPDATE web_sessions SET last_seen_at = :t WHERE csrf_secret = :c"),
            {"t": now - timedelta(minutes=minutes, seconds=5), "c": idle.csrf},
        )
        conn.execute(
            text("UPDATE web_sessions SET expires_at = :t WHERE csrf_secret = :c"),
            {"t": now - timedelta(seconds=1), "c": old.csrf},
        )
    assert not _logged_in(client, idle)
    assert not _logged_in(client, old)
    again = _get(client, idle, "/web/")
    assert "sessie-verlopen" in again.headers["location"]


def test_revoking_the_token_ends_the_sessions(client: TestClient, admin_store: Engine) -> None:
    login = log_in(client, TOKEN)
    assert _logged_in(client, login)
    revoke_user(admin_store, "beheer")
    assert not _logged_in(client, login)
    upsert_user(admin_store, "beheer", "admin", [], "a-new-token-for-beheer-0123456789")
    assert not _logged_in(client, login)  # re-issuing a token does not bring the old session back


def test_an_expired_token_ends_the_sessions(client: TestClient, admin_store: Engine) -> None:
    login = log_in(client, TOKEN)
    with admin_store.begin() as conn:
        conn.execute(
            text("UPDATE users SET expires_at = :t WHERE name = 'beheer'"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    assert not _logged_in(client, login)


def test_the_session_store_renews_at_most_once_a_minute(admin_store: Engine) -> None:
    from workflows.users import find_user
    from workflows.web_sessions import hash_session_id, open_session, resume_session, session_policy

    policy = session_policy(30, 12)
    with admin_store.connect() as conn:
        user = find_user(conn, TOKEN)
    assert user is not None
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    new = open_session(admin_store, user, policy, now=start)
    with admin_store.connect() as conn:
        stored = conn.execute(text("SELECT session_hash FROM web_sessions")).scalar_one()
    assert stored == hash_session_id(new.session_id) != new.session_id

    def seen() -> datetime:
        with admin_store.connect() as conn:
            value = conn.execute(text("SELECT last_seen_at FROM web_sessions")).scalar_one()
        value = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    found = resume_session(admin_store, new.session_id, policy, now=start + timedelta(seconds=30))
    assert found is not None and found.user.name == "beheer" and found.csrf_token == new.csrf_token
    assert seen() == start  # within the minute: no UPDATE
    later = start + timedelta(minutes=20)
    assert resume_session(admin_store, new.session_id, policy, now=later) is not None
    assert seen() == later
    # 29 minutes after the last renewal it still lives; 31 minutes after, it has ended
    assert resume_session(admin_store, new.session_id, policy, now=later + timedelta(minutes=29)) is not None
    gone = later + timedelta(minutes=29) + timedelta(minutes=31)
    assert resume_session(admin_store, new.session_id, policy, now=gone) is None
    # however busy, a session ends max_hours after it was opened
    busy = open_session(admin_store, user, policy, now=start)
    moment = start
    while moment < start + timedelta(hours=12) - timedelta(minutes=10):
        moment += timedelta(minutes=10)
        assert resume_session(admin_store, busy.session_id, policy, now=moment) is not None
    assert resume_session(admin_store, busy.session_id, policy, now=start + timedelta(hours=12)) is None
    assert resume_session(admin_store, "not-a-session", policy, now=start) is None


# --- CSRF and the Origin check --------------------------------------------------------------------------


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(client: TestClient) -> None:
    login = log_in(client, TOKEN)
    assert login.csrf, "the pages carry no CSRF token"
    url = "/web/leerling/onbekend/actie"
    form = {"week": "100", "action": "conversation"}
    for body in (form, {**form, "csrf_token": "fout"}, {**form, "csrf_token": ""}):
        client.cookies.clear()
        refused = client.post(url, data=body, headers=login.cookie, follow_redirects=False)
        assert refused.status_code == 403, body
        assert refused.headers["content-type"].startswith("text/html")
        assert "Laad de pagina opnieuw" in refused.text and '<html lang="nl">' in refused.text
    # the logout form needs it too
    client.cookies.clear()
    assert client.post("/web/logout", headers=login.cookie, follow_redirects=False).status_code == 403
    assert _logged_in(client, login)
    # with the token the request gets through to the route (an unknown student here: 404)
    client.cookies.clear()
    ok = client.post(
        url, data={**form, "csrf_token": login.csrf}, headers=login.cookie, follow_redirects=False
    )
    assert ok.status_code == 404


def test_the_csrf_token_belongs_to_the_session(client: TestClient) -> None:
    first, second = log_in(client, TOKEN), log_in(client, TOKEN)
    assert first.csrf != second.csrf
    client.cookies.clear()
    crossed = client.post(
        "/web/logout", data={"csrf_token": second.csrf}, headers=first.cookie, follow_redirects=False
    )
    assert crossed.status_code == 403


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    forms = 0
    for template in sorted(TEMPLATES.glob("*.html")):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(encoding="utf-8"), re.S):
            if 'method="post"' not in form.split(">", 1)[0]:
                continue
            forms += 1
            if 'action="{{ PREFIX }}/login"' in form:
                continue  # no session yet: the Origin check protects the login form
            if template.name.startswith("student_"):
                # A student's page has no session: the secret token in its own address authorises the post
                # (serving.web.student_pages), so the form posts back to that address and nowhere else.
                assert "action=" not in form.split(">", 1)[0], template.name
                continue
            assert 'name="csrf_token" value="{{ csrf_token }}"' in form, f"{template.name}: {form[:120]}"
    assert forms >= 9


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Referer": f"{EVIL}/aanval.html"},
        {"Origin": "null"},
        {"Origin": "https://testserver.evil"},
    ],
    ids=["origin", "referer", "null", "lookalike"],
)
def test_a_cross_origin_post_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    login = log_in(client, TOKEN)
    client.cookies.clear()
    refused = client.post(
        "/web/logout",
        data={"csrf_token": login.csrf},
        headers={**login.cookie, **headers},
        follow_redirects=False,
    )
    assert refused.status_code == 403 and "niet vanaf Vroegsignaal zelf" in refused.text
    assert _logged_in(client, login)
    client.cookies.clear()
    login_form = client.post("/web/login", data={"token": TOKEN}, headers=headers, follow_redirects=False)
    assert login_form.status_code == 403
    assert COOKIE not in login_form.headers.get("set-cookie", "")


def test_a_same_origin_post_is_accepted(client: TestClient) -> None:
    client.cookies.clear()
    for headers in ({"Origin": "http://testserver"}, {"Referer": "http://testserver/web/login"}):
        response = client.post("/web/login", data={"token": TOKEN}, headers=headers, follow_redirects=False)
        assert response.status_code == 303
    client.cookies.clear()


# --- headers --------------------------------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response, page: bool, cache: bool = False) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("no-referrer", "same-origin")
    assert headers["x-frame-options"] == "DENY"
    if cache:
        assert "no-store" not in headers.get("cache-control", "")
    else:
        assert headers["cache-control"] == "no-store"
    if page:
        policy = headers["content-security-policy"]
        for rule in (
            "default-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
        ):
            assert rule in policy
        assert "unsafe-inline" not in policy


def test_security_headers_on_pages_api_and_error_pages(client: TestClient) -> None:
    login = log_in(client, TOKEN)
    page = _get(client, login, "/web/")
    assert page.status_code == 200
    _assert_security_headers(page, page=True)
    _assert_security_headers(_get(client, None, "/web/login"), page=True)
    missing = _get(client, login, "/web/bestaat-niet")
    assert missing.status_code == 404 and "Niet gevonden" in missing.text
    _assert_security_headers(missing, page=True)
    client.cookies.clear()
    api = client.get("/api/v1/audit/log", headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 200 and api.headers["content-type"].startswith("application/json")
    _assert_security_headers(api, page=False)
    _assert_security_headers(client.get("/api/v1/audit/log"), page=False)  # a 401 too
    _assert_security_headers(client.get("/web/static/style.css"), page=False, cache=True)
    _assert_security_headers(client.get("/health"), page=False, cache=True)


def test_the_templates_need_no_inline_style_or_script() -> None:
    for template in TEMPLATES.glob("*.html"):
        content = template.read_text(encoding="utf-8")
        assert "<script" not in content and "<style" not in content, template.name
        assert not re.search(r"\sstyle=", content), template.name
        assert not re.search(r"\son[a-z]+=", content), template.name


# --- the login rate limit -------------------------------------------------------------------------------


def test_failed_web_logins_are_rate_limited_per_address(admin_store: Engine, tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path, auth_failures_per_minute=3), engine=admin_store)
    with TestClient(app, client=("10.0.0.7", 50000)) as client:
        assert client.post("/web/login", data={"token": "  "}, follow_redirects=False).status_code == 401
        for _ in range(3):  # an empty token is not a guess; these are
            bad = client.post("/web/login", data={"token": "geraden"}, follow_redirects=False)
            assert bad.status_code == 401 and "onbekend" in bad.text
        refused = client.post("/web/login", data={"token": "geraden"}, follow_redirects=False)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert "Te veel mislukte inlogpogingen" in refused.text and '<html lang="nl">' in refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # as on the API: a valid token still passes (a colleague behind the same address), further wrong
        # ones do not, and another address is not limited
        assert client.post("/web/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303
        client.cookies.clear()
        assert client.post("/web/login", data={"token": "nog een"}, follow_redirects=False).status_code == 429
        other = TestClient(app, client=("10.0.0.8", 50000))
        assert other.post("/web/login", data={"token": "geraden"}, follow_redirects=False).status_code == 401


# --- what a URL may put on a page -----------------------------------------------------------------------


def test_melding_text_from_the_url_is_never_shown(client: TestClient) -> None:
    login = log_in(client, TOKEN)
    planted = "Uw account is geblokkeerd, bel 0900-1234"
    page = _get(client, login, f"/web/?melding={planted.replace(' ', '+')}")
    assert page.status_code == 200 and planted not in page.text
    assert "0900-1234" not in _get(client, None, "/web/login?melding=bel+0900-1234").text
    known = _get(client, None, "/web/login?melding=uitgelogd")
    assert "U bent uitgelogd." in known.text


HUGE = "9" * 30


@pytest.mark.parametrize(
    ("method", "url", "data", "field"),
    [
        ("get", f"/web/coachklas?week={HUGE}", None, "week"),
        ("post", "/web/coachklas/capaciteit", {"week": "100", "capacity": HUGE}, "capacity"),
        ("get", f"/web/zorg?pagina={HUGE}", None, "pagina"),
        ("get", f"/web/lijst?week={HUGE}", None, "week"),
        ("get", f"/web/uitleg/abc/{HUGE}", None, "week"),
        ("post", f"/web/uitleg/abc/{HUGE}/herhaal", {}, "week"),
        ("post", "/web/leerling/abc/actie", {"week": HUGE, "action": "conversation"}, "week"),
        (
            "post",
            "/web/leerling/abc/overschrijven",
            {"week": HUGE, "band": "laag", "reason": "zo is het"},
            "week",
        ),
        ("post", "/web/coachklas/besluit", {"student_id": "abc", "week": HUGE, "decision": "placed"}, "week"),
        ("post", f"/web/zorg/{HUGE}/sluiten", {"note": "klaar ermee"}, "alert_id"),
        ("post", f"/web/zorg/{HUGE}/oppakken", {}, "alert_id"),
        ("post", f"/web/zorg/{HUGE}/toewijzen", {"aan": "beheer"}, "alert_id"),
    ],
)
def test_huge_numbers_give_the_422_page(
    client: TestClient, method: str, url: str, data: dict[str, str] | None, field: str
) -> None:
    login = log_in(client, TOKEN)
    client.cookies.clear()
    if method == "get":
        response = client.get(url, headers=login.cookie, follow_redirects=False)
    else:
        body = {"csrf_token": login.csrf, **(data or {})}
        response = client.post(url, data=body, headers=login.cookie, follow_redirects=False)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in response.text and "niet goed ingevuld" in response.text
    assert f"<strong>{field}</strong>" in response.text


def test_a_validation_error_on_a_page_is_an_html_page(client: TestClient) -> None:
    login = log_in(client, TOKEN)
    response = _get(client, login, "/web/coachklas?week=veertig")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "<strong>week</strong>" in response.text and "geheel getal" in response.text
    assert csrf_of(response.text) == login.csrf  # the menu's logout still works
    client.cookies.clear()
    api = client.get("/api/v1/coachklas/intake?week=veertig", headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 422 and api.headers["content-type"].startswith("application/json")
