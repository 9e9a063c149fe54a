"""Faults: `vsv import` and `vsv score`, and the service itself during /api/v1/ingest and the weekly job,
really killed (SIGKILL) in the middle of writing leave nothing half-written, and running them again
completes (on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from bench.harness import (
    free_port,
    kill_server,
    ready_path,
    register_champion,
    server_env,
    start_server,
    stop_server,
    wait_ready,
)
from data.store import TABLE_ORDER
from data.synthetic import GeneratorConfig
from data.synthetic.writer import write_generated
from tests.conftest import TEST_KEY
from training.pipeline import TrainingResult
from workflows.users import upsert_user

VSV = str(Path(sys.executable).with_name("vsv"))
LARGE = GeneratorConfig(seed=3, n_students=4000, n_years=1)  # ~1.5 million rows, ~10 s to import


@pytest.fixture(scope="module")
def large_csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("large") / "school"
    write_generated(LARGE, out)
    return out


def _env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VSV_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "VSV_ENVIRONMENT": "test",
        "VSV_VAR_DIR": str(tmp_path),
    }


def _writing(engine: Engine, table: str = "students") -> bool:
    """True while another process holds an open write transaction on the store."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(str(engine.url.database), timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return False
        except sqlite3.OperationalError as exc:
            return "locked" in str(exc)
        finally:
            probe.close()
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = :table AND l.mode = 'RowExclusiveLock' "
                    "AND l.pid <> pg_backend_pid()"
                ),
                {"table": table},
            ).scalar_one()
        )


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one())
            for name in (*TABLE_ORDER, "safeguarding_alerts")
        }


def _csv_rows(directory: Path) -> dict[str, int]:
    return {
        path.stem: sum(1 for _ in path.open(encoding="utf-8")) - 1 for path in sorted(directory.glob("*.csv"))
    }


@pytest.mark.slow
def test_import_killed_mid_write_leaves_nothing_and_rerun_completes(
    store: Engine, large_csv_dir: Path, tmp_path: Path
) -> None:
    env = _env(store, tmp_path)
    process = subprocess.Popen(
        [VSV, "import", str(large_csv_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while not _writing(store):
        assert process.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.02)
    time.sleep(0.5)  # well inside the write: rows of the first tables are in the open transaction
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    if store.dialect.name == "postgresql":  # the server aborts the orphaned transaction
        deadline = time.monotonic() + 30
        while _writing(store) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert set(_counts(store).values()) == {0}, "a killed import left rows behind"

    rerun = subprocess.run(
        [VSV, "import", str(large_csv_dir)], env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    counts = _counts(store)
    expected = _csv_rows(large_csv_dir)
    assert {name: counts[name] for name in expected} == expected
    assert counts["safeguarding_alerts"] > 0  # what the import triggers committed with it


@pytest.mark.slow
def test_score_killed_mid_write_keeps_the_week_whole_and_rerun_completes(
    store: Engine,
    large_csv_dir: Path,
    tmp_path: Path,
    trained: TrainingResult,
    mlflow_registry: str,
) -> None:
    """`vsv score` replaces a week in one transaction: killed while writing, the earlier scores stay whole."""
    from data.csv_io import import_directory
    from data.questionnaire import load_questionnaire

    import_directory(store, large_csv_dir, TEST_KEY, load_questionnaire())
    register_champion(trained.model, mlflow_registry, tmp_path / "artifacts")
    env = {
        **_env(store, tmp_path),
        "VSV_MLFLOW_TRACKING_URI": mlflow_registry,
        "VSV_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    first = subprocess.run([VSV, "score"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _scores(store)
    assert before[0] > 1000

    for _attempt in range(5):  # the write is short: try until the kill lands inside it
        before = _scores(store)  # an attempt that finished before the kill replaced the week
        process = subprocess.Popen(
            [VSV, "score"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while process.poll() is None and not _writing(store, table="scores"):
            time.sleep(0.002)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            break
    else:
        pytest.fail("could not kill `vsv score` while it was writing")
    assert process.returncode == -signal.SIGKILL
    if store.dialect.name == "postgresql":
        deadline = time.monotonic() + 30
        while _writing(store, table="scores") and time.monotonic() < deadline:
            time.sleep(0.1)
    assert _scores(store) == before, "a killed scoring run left the week half-replaced"

    rerun = subprocess.run([VSV, "score"], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    count, weeks, _ = _scores(store)
    assert (count, weeks) == before[:2]


def _scores(engine: Engine) -> tuple[int, int, str]:
    """(rows, distinct weeks, newest scored_at) of the stored scores."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT week), MAX(scored_at) FROM scores")).one()
    return int(row[0]), int(row[1]), str(row[2])


# --- the service itself killed mid-write ----------------------------------------------------------------


def _ingest(base_url: str, token: str, directory: Path) -> httpx.Response:
    """POST every ``<table>.csv`` of ``directory`` to /api/v1/ingest in one request."""
    handles = [path.open("rb") for path in sorted(directory.glob("*.csv"))]
    try:
        files = [("files", (Path(h.name).name, h, "text/csv")) for h in handles]
        return httpx.post(
            f"{base_url}/api/v1/ingest",
            files=files,
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
    finally:
        for handle in handles:
            handle.close()


def _score_week(base_url: str, token: str, week: int) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/jobs/score-week",
        json={"week": week},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    )


def _server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A started, ready server (one worker) and its base URL."""
    port = free_port()
    server = start_server(env, port, 1, log)
    wait_ready(port, server, path=ready_path(env))
    return server, f"http://127.0.0.1:{port}"


def _wait_aborted(engine: Engine, table: str) -> None:
    """PostgreSQL aborts a dead client's transaction when it notices the closed socket: wait for it."""
    if engine.dialect.name == "postgresql":
        deadline = time.monotonic() + 30
        while _writing(engine, table) and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.mark.slow
def test_service_killed_during_ingest_leaves_nothing_and_a_rerun_completes(
    store: Engine, large_csv_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL the service (uvicorn) while /api/v1/ingest writes: no row stays; the same upload then works."""
    token = upsert_user(store, "ingest-data", "datateam", [], "tok-ingest-data")
    env = server_env(store.url.render_as_string(hide_password=False), tmp_path)
    log = tmp_path / "server.log"
    server, base = _server(env, log)
    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(_ingest, base, token, large_csv_dir)
        deadline = time.monotonic() + 120
        while not _writing(store):
            assert not upload.done(), f"the ingest ended before it could be killed: {upload.result()}"
            assert time.monotonic() < deadline, "the ingest never started writing"
            time.sleep(0.02)
        time.sleep(0.5)  # well inside the write
        kill_server(server)
        with pytest.raises(httpx.HTTPError):  # the client gets no answer, certainly no 200
            upload.result(timeout=60)
    _wait_aborted(store, "students")
    assert set(_counts(store).values()) == {0}, "a killed ingest left rows behind"

    server, base = _server(env, log)
    try:
        response = _ingest(base, token, large_csv_dir)
    finally:
        stop_server(server)
    assert response.status_code == 200, response.text[:2000]
    counts = _counts(store)
    expected = _csv_rows(large_csv_dir)
    assert {name: counts[name] for name in expected} == expected
    assert counts["safeguarding_alerts"] > 0


@pytest.mark.slow
def test_service_killed_during_the_weekly_job_keeps_the_week_whole(
    store: Engine,
    large_csv_dir: Path,
    tmp_path: Path,
    trained: TrainingResult,
    mlflow_registry: str,
) -> None:
    """SIGKILL the service while /api/v1/jobs/score-week replaces a week: the earlier scores stay whole,
    and after a restart the same call completes."""
    from data.csv_io import import_directory
    from data.questionnaire import load_questionnaire
    from data.store import latest_week

    import_directory(store, large_csv_dir, TEST_KEY, load_questionnaire())
    register_champion(trained.model, mlflow_registry, tmp_path / "artifacts")
    token = upsert_user(store, "job-data", "datateam", [], "tok-job-data")
    week = latest_week(store)
    assert week is not None
    env = server_env(store.url.render_as_string(hide_password=False), tmp_path, mlflow_registry)
    log = tmp_path / "server.log"
    server, base = _server(env, log)
    first = _score_week(base, token, week)
    stop_server(server)
    assert first.status_code == 200, first.text

    for _attempt in range(5):  # the write is short: try until the kill lands inside it
        before = _scores(store)
        server, base = _server(env, log)
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(_score_week, base, token, week)
            while not job.done() and not _writing(store, table="scores"):
                time.sleep(0.002)
            landed = not job.done()
            kill_server(server)
            if landed:
                with pytest.raises(httpx.HTTPError):
                    job.result(timeout=60)
                break
    else:
        pytest.fail("could not kill the service while the weekly job was writing")
    _wait_aborted(store, "scores")
    assert _scores(store) == before, "a killed weekly job left the week half-replaced"

    server, base = _server(env, log)
    try:
        rerun = _score_week(base, token, week)
    finally:
        stop_server(server)
    assert rerun.status_code == 200, rerun.text
    count, weeks, _ = _scores(store)
    assert (count, weeks) == before[:2]
