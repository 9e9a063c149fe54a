"""A real service on loopback for benchmarks and the tests that need one: start ``uvicorn`` with the app
factory in its own process group, wait until ``/ready``, stop it (SIGTERM, then SIGKILL) or kill it.

Nothing here starts on import; every server is bounded by the caller's ``stop_server`` or ``kill_server``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from models.risk_model import RiskModel

GRACEFUL_SECONDS = 5


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(
    database_url: str, var_dir: Path, mlflow_uri: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a service on ``database_url`` (test mode; the champion from ``mlflow_uri``)."""
    env = {
        **os.environ,
        "VSV_DATABASE_URL": database_url,
        "VSV_VAR_DIR": str(var_dir),
        "VSV_ENVIRONMENT": "test",
        "VSV_MLFLOW_TRACKING_URI": mlflow_uri or f"sqlite:///{var_dir / 'mlflow.db'}",
        "VSV_MLFLOW_ARTIFACT_ROOT": str(var_dir / "artifacts"),
        "VSV_LOAD_MODEL_ON_STARTUP": "true" if mlflow_uri else "false",
    }
    env.update(extra)
    return env


def start_server(
    env: Mapping[str, str], port: int, workers: int = 1, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``uvicorn serving.app:app_from_environment`` on 127.0.0.1:``port`` in a new process group."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "serving.app:app_from_environment",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                str(GRACEFUL_SECONDS),
            ],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def wait_ready(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 120.0, path: str = "/ready"
) -> None:
    """Wait until ``path`` answers 200; fail early when the server process has ended."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server ended with exit code {process.returncode} before it was ready")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"the server was not ready within {timeout:.0f} s (last answer: {last})")


def kill_server(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's whole process group (uvicorn and its workers), as a crash or OOM kill would."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop_server(process: subprocess.Popen[bytes], timeout: float = 30.0) -> float:
    """SIGTERM the process group and wait; SIGKILL after ``timeout``. Returns the seconds it took."""
    started = time.monotonic()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0.0
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_server(process)
        raise RuntimeError(f"the server did not stop within {timeout:.0f} s of SIGTERM; killed") from None
    return time.monotonic() - started


def ready_path(env: Mapping[str, str]) -> str:
    """``/ready`` (store and model) when the server loads a model at start-up, else ``/health``."""
    return "/ready" if env.get("VSV_LOAD_MODEL_ON_STARTUP", "true").lower() == "true" else "/health"


def register_champion(model: RiskModel, tracking_uri: str, artifact_root: Path) -> str:
    """Log ``model`` to the MLflow registry at ``tracking_uri`` as the champion; returns its version."""
    import mlflow

    from models.registry import CHAMPION, configure, log_risk_model, set_alias

    configure(tracking_uri, artifact_root)
    with mlflow.start_run():
        version = log_risk_model(model, "vsv-risk")
    set_alias("vsv-risk", CHAMPION, version)
    return version


@dataclass(frozen=True)
class Server:
    """A running server: its base URL and its process (group) id."""

    url: str
    pid: int


@contextmanager
def running_server(
    env: Mapping[str, str], workers: int = 1, log: Path | None = None, timeout: float = 120.0
) -> Iterator[Server]:
    """A ready server for the ``with`` block; stopped afterwards."""
    port = free_port()
    process = start_server(env, port, workers, log)
    try:
        wait_ready(port, process, timeout, ready_path(env))
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        if process.poll() is None:
            stop_server(process)
