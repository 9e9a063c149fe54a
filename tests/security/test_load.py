"""Under a steady mixed load from Locust (lists, stored scores, actions, on-demand scores) on a real server
with two workers on PostgreSQL: no request fails, every action Locust saw succeed is stored and audited,
and the audit chain stays whole. This checks behaviour under load; the throughput and latency figures
come from ``make bench`` (``bench/bench_load.py``), not from here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.harness import register_champion, running_server, server_env
from bench.load import KINDS, make_plan, run_locust, stored_writes
from features import LOOKBACK_WEEKS
from tests.api.conftest import VERSION, WEEK, load_school
from tests.conftest import POSTGRES_URL, School, new_store
from training.pipeline import TrainingResult
from workflows.audit import verify_chain
from workflows.weekly_job import score_week

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="VSV_TEST_POSTGRES_URL is not set"),
]
TEAMS = 4


@pytest.fixture
def pg_scored(tmp_path: Path, school: School, trained: TrainingResult) -> Iterator[Engine]:
    """A fresh PostgreSQL store with the school and weeks WEEK-1 and WEEK scored."""
    for engine in new_store("postgresql", tmp_path):
        load_school(engine, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
        for week in (WEEK - 1, WEEK):
            score_week(engine, trained.model, VERSION, week)
        yield engine


def test_mixed_load_has_no_errors_and_loses_no_write(
    pg_scored: Engine, trained: TrainingResult, mlflow_registry: str, tmp_path: Path
) -> None:
    register_champion(trained.model, mlflow_registry, tmp_path / "artifacts")
    plan = make_plan(pg_scored, WEEK, TEAMS, tmp_path / "plan.json")
    url = pg_scored.url.render_as_string(hide_password=False)
    log = tmp_path / "server.log"
    with running_server(server_env(url, tmp_path, mlflow_registry), workers=2, log=log) as server:
        result = run_locust(server.url, tmp_path / "plan.json", tmp_path / "locust", 40, seconds=20, users=40)
    server_log = log.read_text(encoding="utf-8", errors="replace")

    assert result.total.failures == 0, result.failure_messages
    assert all(result.kinds[kind].requests > 0 for kind in KINDS), result.kinds
    assert result.total.requests >= 0.6 * 40 * 20  # the load really ran (rate x seconds, with slack)
    writes = stored_writes(pg_scored)
    assert writes.actions == result.successes("record action") == writes.audited_actions
    assert set(writes.by_mentor) == {m["name"] for m in plan.mentors}  # both mentors of every team wrote
    assert verify_chain(pg_scored).ok
    assert "Traceback" not in server_log, server_log[-3000:]
