"""Logging in on the pages as a browser does: the login form opens a session (cookie), and every POST form
carries the session's CSRF token. Shared by the web, API, security and benchmark-like tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from serving.web.session import COOKIE
from tests.api.conftest import Api

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass(frozen=True)
class WebLogin:
    """A session on the pages: its cookie and the CSRF token its forms carry."""

    session_id: str
    csrf: str

    @property
    def cookie(self) -> dict[str, str]:
        """The request header that sends the session cookie (the shared client's jar stays empty)."""
        return {"Cookie": f"{COOKIE}={self.session_id}"}


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms ("" when the page has none)."""
    found = CSRF.search(page)
    return found.group(1) if found else ""


def log_in(client: TestClient, token: str) -> WebLogin:
    """Log in through the login form; the client's cookie jar is left empty."""
    client.cookies.clear()
    response = client.post("/web/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    session_id = response.cookies.get(COOKIE)
    client.cookies.clear()
    assert session_id, response.headers.get("set-cookie")
    login = WebLogin(session_id, "")
    home = client.get("/web/", headers=login.cookie, follow_redirects=False)
    return WebLogin(session_id, csrf_of(home.text))


def login_of(api: Api, role: str) -> WebLogin:
    """One session per role and app, opened on first use (the app's state keeps them)."""
    state = api.client.app.state  # type: ignore[attr-defined]
    cache: dict[str, WebLogin] | None = getattr(state, "test_web_logins", None)
    if cache is None:
        cache = {}
        state.test_web_logins = cache
    if role not in cache:
        cache[role] = log_in(api.client, api.tokens[role])
    return cache[role]


def page_get(api: Api, role: str | None, url: str, **kwargs: Any) -> httpx.Response:
    """GET a page as ``role`` (None: not logged in); redirects are not followed."""
    api.client.cookies.clear()
    headers = login_of(api, role).cookie if role else {}
    response: httpx.Response = api.client.get(url, headers=headers, follow_redirects=False, **kwargs)
    return response


def page_post(api: Api, role: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
    """POST a form as ``role`` with the session's CSRF token, as the page's own form would."""
    api.client.cookies.clear()
    login = login_of(api, role)
    body = {"csrf_token": login.csrf, **(data or {})}
    response: httpx.Response = api.client.post(url, data=body, headers=login.cookie, follow_redirects=False)
    return response
