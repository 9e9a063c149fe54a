"""A real server (uvicorn in a thread, on a free loopback port) over a seeded SQLite store with a trained
model, and Debian's Chromium driven by Playwright. A missing browser fails the tests, it never skips them."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine

from features import LOOKBACK_WEEKS
from serving.app import create_app
from tests.api.conftest import VERSION, WEEK, api_settings, busiest_teams, load_school, make_users
from tests.conftest import School, new_store
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


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine
    tokens: dict[str, str]
    mentor_team: str
    other_team: str


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
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(Playwright's own browser download does not work here).",
            pytrace=False,
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
