"""A real server (uvicorn in a thread, on a free loopback port) over a seeded SQLite store with a trained
model, and Debian's Chromium driven by Playwright. A missing browser skips the tests with how to install it,
before the server is built; under ``CI=true`` it fails them (``tests.conftest.require_or_skip``)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright._impl._api_structures import SetCookieParam
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine

from features import LOOKBACK_WEEKS
from serving.app import create_app
from serving.web.session import COOKIE
from tests.api.conftest import VERSION, WEEK, api_settings, busiest_teams, load_school, make_users
from tests.conftest import School, new_store, require_or_skip
from training.pipeline import TrainingResult
from workflows.model_state import ServingModel
from workflows.weekly_job import score_week

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> None:
    """Every browser test needs Debian's Chromium; checked first (autouse), so nothing is built in vain."""
    require_or_skip(
        os.access(CHROMIUM, os.X_OK),
        f"Chromium missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
        "(Playwright's own browser download does not work here)",
    )


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine
    tokens: dict[str, str]
    mentor_team: str
    other_team: str


def session_cookie(site: Site, role: str) -> SetCookieParam:
    """A browser cookie of a fresh session of ``role``, opened through the login form (the cookie holds the
    session id, never the token)."""
    response = httpx.post(f"{site.base}/web/login", data={"token": site.tokens[role]}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie: SetCookieParam = {"name": COOKIE, "value": response.cookies[COOKIE], "url": site.base}
    return cookie


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def site(school: School, trained: TrainingResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for engine in new_store("sqlite", tmp_path_factory.mktemp("e2e")):
        load_school(engine, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
        for week in (WEEK - 1, WEEK):
            score_week(engine, trained.model, VERSION, week)
        mentor_team, other_team = busiest_teams(engine)
        tokens = make_users(engine, mentor_team, other_team)
        app = create_app(
            api_settings(tmp_path_factory.mktemp("var")),
            engine=engine,
            model=ServingModel(trained.model, VERSION, "run-e2e"),
        )
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        try:
            yield Site(f"http://127.0.0.1:{port}", engine, tokens, mentor_team, other_team)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
