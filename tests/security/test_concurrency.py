"""Concurrent writes through a real server on PostgreSQL: two mentors of one team record actions for the
same students at the same moment, each from many connections at once (more than one worker's connection
pool holds). Nothing is lost or doubled, every write is audited once, and the audit chain stays whole."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from bench.harness import running_server, server_env
from data.schema import AuditLog, StudentAction
from features import LOOKBACK_WEEKS
from tests.api.conftest import VERSION, WEEK, busiest_teams, load_school
from tests.conftest import POSTGRES_URL, School, new_store
from training.pipeline import TrainingResult
from workflows.audit import verify_chain
from workflows.users import upsert_user
from workflows.weekly_job import score_week

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set"),
]

THREADS_PER_MENTOR = 20  # 40 requests in flight over 2 workers: more than a worker's pool of 15
ACTIONS_PER_THREAD = 4
MENTORS = ("mentor-a", "mentor-b")
START = threading.Barrier(len(MENTORS) * THREADS_PER_MENTOR)  # every connection writes at the same moment


@pytest.fixture
def pg_school(tmp_path: Path, school: School, trained: TrainingResult) -> Iterator[Engine]:
    """A fresh PostgreSQL store with the school and week WEEK scored."""
    for engine in new_store("postgresql", tmp_path):
        load_school(engine, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
        score_week(engine, trained.model, VERSION, WEEK)
        yield engine


def _write(base_url: str, token: str, mentor: str, thread: int, students: list[str]) -> list[tuple[int, str]]:
    """One connection's writes: (status, note) per action."""
    out = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=90) as client:
        START.wait(timeout=60)
        for i in range(ACTIONS_PER_THREAD):
            note = f"{mentor}/{thread}/{i}"
            response = client.post(
                f"/api/v1/students/{students[(thread + i) % len(students)]}/actions",
                json={"week": WEEK, "action": "conversation", "note": note},
            )
            out.append((response.status_code, note))
    return out


def test_two_mentors_writing_at_once_lose_nothing(pg_school: Engine, tmp_path: Path) -> None:
    team, _ = busiest_teams(pg_school)
    students = _team_students(pg_school, team)[:3]
    tokens = {m: upsert_user(pg_school, m, "mentor", [team], f"tok-{m}") for m in MENTORS}
    url = pg_school.url.render_as_string(hide_password=False)
    START.reset()
    with (
        running_server(server_env(url, tmp_path), workers=2, log=tmp_path / "server.log") as server,
        ThreadPoolExecutor(len(MENTORS) * THREADS_PER_MENTOR) as pool,
    ):
        futures = [
            pool.submit(_write, server.url, tokens[m], m, t, students)
            for m in MENTORS
            for t in range(THREADS_PER_MENTOR)
        ]
        sent = [item for f in futures for item in f.result()]
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")

    total = len(MENTORS) * THREADS_PER_MENTOR * ACTIONS_PER_THREAD
    assert Counter(code for code, _ in sent) == {201: total}, log[-3000:]
    with pg_school.connect() as conn:
        stored = conn.execute(
            select(StudentAction.user_name, StudentAction.note).where(StudentAction.user_name.in_(MENTORS))
        ).all()
        audited = conn.execute(
            select(AuditLog.user_name, AuditLog.student_id).where(
                AuditLog.user_name.in_(MENTORS),
                AuditLog.action == "record_action",
                AuditLog.allowed.is_(True),
            )
        ).all()
    notes = [str(note) for _, note in stored]
    assert sorted(notes) == sorted(note for _, note in sent)  # none lost, none doubled
    assert all(str(note).startswith(f"{name}/") for name, note in stored)  # each under its own author
    assert Counter(name for name, _ in audited) == {m: total // len(MENTORS) for m in MENTORS}
    report = verify_chain(pg_school)
    assert report.ok, report
    assert "Traceback" not in log


def _team_students(engine: Engine, team: str) -> list[str]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [
            str(s)
            for s in conn.execute(
                text("SELECT student_id FROM scores WHERE week = :w AND team = :t ORDER BY student_id"),
                {"w": WEEK, "t": team},
            ).scalars()
        ]
