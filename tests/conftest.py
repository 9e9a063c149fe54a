"""Shared fixtures: small synthetic data from data.synthetic, and stores on SQLite and PostgreSQL; and the
rules for tests whose prerequisites (PostgreSQL, the real data, Chromium) a machine may lack.

PostgreSQL, in this order: (a) ``VSV_TEST_POSTGRES_URL`` when it names a server that answers (``make test``
sets it to the local server at 127.0.0.1:5432 when one answers; set it empty to run on SQLite only);
(b) otherwise a throwaway server that this test session starts on first use, from the PostgreSQL binaries
on the machine (``pg_ctl`` on PATH, ``/usr/lib/postgresql/*/bin``, or the ``pgserver`` wheel, a dev
dependency; ``VSV_TEST_POSTGRES_BIN`` names another folder, or empty: none) and removes at the end;
(c) otherwise the PostgreSQL cases are skipped, with one summary line saying how many and why. Each test
gets a fresh database that is dropped afterwards.

A missing prerequisite skips a test with its reason (:func:`require_or_skip`), except under ``CI=true``,
where every skip is a failure: CI must run everything.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from data.questionnaire import Questionnaire, load_questionnaire
from data.store import make_engine, upgrade
from data.synthetic import GeneratorConfig, generate
from data.synthetic.writer import write_generated
from data.tables import RawTables, from_generated
from training.config import load_config
from training.pipeline import TrainingResult, train

TEST_KEY = "test-pseudonym-key"

# --- prerequisites: skip outside CI, fail under CI=true --------------------------------------------------


def in_ci() -> bool:
    """True under ``CI=true`` (``.ci/run``): there a missing prerequisite fails, it never skips."""
    return os.environ.get("CI", "").strip().lower() == "true"


_PREREQUISITE_REASONS: set[str] = set()


def require_or_skip(condition: bool, reason: str) -> None:
    """Nothing when ``condition`` holds; otherwise skip the test with ``reason``, or fail it under
    ``CI=true``. ``reason`` names what is missing and how to get it; the session's summary counts the
    tests skipped for it."""
    if condition:
        return
    _PREREQUISITE_REASONS.add(reason)
    if in_ci():
        pytest.fail(f"{reason} [CI=true: a missing prerequisite fails the test]", pytrace=False)
    pytest.skip(reason)


# --- PostgreSQL: a configured server, a throwaway one, or none -------------------------------------------

NO_SERVER = "no server (set VSV_TEST_POSTGRES_URL or install PostgreSQL)"
PG_EXECUTABLES = ("initdb", "postgres")
THROWAWAY_PREFIX = "vsv-test-pg-"


def _answers(url: str) -> str | None:
    """None when the server at ``url`` (SQLAlchemy form) accepts a connection, else the error."""
    try:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        psycopg.connect(conninfo, connect_timeout=3).close()
    except (psycopg.Error, ArgumentError, ValueError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return repr(make_url(url))
    except ArgumentError:
        return url


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,), for newest first."""
    return tuple(int(part) for part in bin_dir.parent.name.split(".") if part.isdigit())


def postgres_bin_dirs() -> list[Path]:
    """Folders holding ``initdb`` and ``postgres``: ``VSV_TEST_POSTGRES_BIN`` when set (empty: none),
    else ``pg_ctl``'s folder on PATH, ``/usr/lib/postgresql/*/bin`` (newest first) and the binaries of the
    ``pgserver`` wheel."""
    chosen = os.environ.get("VSV_TEST_POSTGRES_BIN")
    if chosen is not None:
        candidates = [Path(chosen)] if chosen.strip() else []
    else:
        candidates = []
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
        debian = Path("/usr/lib/postgresql").glob("*/bin")
        candidates += sorted(debian, key=_version_key, reverse=True)
        spec = importlib.util.find_spec("pgserver")  # finds the package without importing it
        if spec is not None and spec.submodule_search_locations:
            candidates += [Path(p) / "pginstall" / "bin" for p in spec.submodule_search_locations]
    return [
        d
        for d in dict.fromkeys(candidates)
        if all((d / exe).is_file() and os.access(d / exe, os.X_OK) for exe in PG_EXECUTABLES)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: the server gets SIGQUIT (immediate shutdown) if the test session dies without stopping it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


def _remove_stale_folders(older_than_s: float = 600) -> None:
    """Folders of throwaway servers whose session was killed (the server stopped with it, see
    :func:`_die_with_parent`, but nobody removed the folder): no running server, untouched for 10 min."""
    for folder in Path(tempfile.gettempdir()).glob(f"{THROWAWAY_PREFIX}*"):
        with contextlib.suppress(OSError):
            idle = time.time() - folder.stat().st_mtime > older_than_s
            if idle and not (folder / "data" / "postmaster.pid").exists():
                shutil.rmtree(folder)


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL server of this test session: ``initdb`` into a temporary folder, ``postgres`` on a free
    loopback port (trust authentication, no durability: fsync off), started on first use, stopped and
    removed at the end. As root (PostgreSQL refuses to run as root) it runs as ``postgres`` or ``nobody``."""

    bin_dir: Path
    port: int = field(default_factory=_free_port)
    folder: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    error: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def version(self) -> str:
        out = subprocess.run(
            [str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
        found = re.search(r"\d+(\.\d+)+", out.stdout)
        return f"PostgreSQL {found.group(0) if found else '(version unknown)'}"

    @staticmethod
    def _run_as() -> tuple[int, int] | None:
        """(uid, gid) of ``postgres`` (else ``nobody``) when running as root, for PostgreSQL refuses root."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return entry.pw_uid, entry.pw_gid
        raise RuntimeError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")

    def ensure_started(self) -> str | None:
        """Start the server once; None when it runs, else why it could not start (kept for later calls)."""
        if self.process is not None or self.error is not None:
            return self.error
        try:
            self._start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            self.error = f"the throwaway server from {self.bin_dir} did not start: {exc}"
            self.stop()
        return self.error

    def _start(self) -> None:
        run_as = self._run_as()
        uid, gid = run_as if run_as is not None else (None, None)
        no_extra_groups: list[int] | None = [] if run_as is not None else None
        _remove_stale_folders()
        self.folder = Path(tempfile.mkdtemp(prefix=THROWAWAY_PREFIX))
        data, log = self.folder / "data", self.folder / "postgres.log"
        if run_as is not None:
            os.chown(self.folder, *run_as)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C", "LANG": "C"}
        options = ["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"]
        init = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), *options],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.folder,
            check=False,
            timeout=120,
            user=uid,
            group=gid,
            extra_groups=no_extra_groups,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(data)]
                + [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                user=uid,
                group=gid,
                extra_groups=no_extra_groups,
            )
        deadline = time.monotonic() + 60
        while (error := _answers(self.url)) is not None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"{error}; server log: {' | '.join(tail)}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown, then remove the folder (idempotent)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@dataclass
class PostgresChoice:
    """Where this session's PostgreSQL tests run: ``url`` ("" for nowhere, with ``reason``)."""

    url: str
    source: str
    reason: str = ""
    note: str = ""
    throwaway: ThrowawayPostgres | None = None


def choose_postgres() -> PostgresChoice:
    configured = os.environ.get("VSV_TEST_POSTGRES_URL")
    note = ""
    if configured is not None and not configured.strip():
        return PostgresChoice("", "", reason="VSV_TEST_POSTGRES_URL is empty: SQLite only")
    if configured:
        error = _answers(configured)
        if error is None:
            return PostgresChoice(configured, f"{_shown(configured)} (VSV_TEST_POSTGRES_URL)")
        if in_ci():  # CI named its server: use that one or fail, never another
            return PostgresChoice("", "", reason=f"VSV_TEST_POSTGRES_URL={_shown(configured)}: {error}")
        note = f"VSV_TEST_POSTGRES_URL={_shown(configured)} did not answer ({error})"
    for bin_dir in postgres_bin_dirs():
        server = ThrowawayPostgres(bin_dir)
        source = f"a throwaway server ({server.version} from {bin_dir})"
        return PostgresChoice(server.url, source, note=note, throwaway=server)
    return PostgresChoice("", "", reason=NO_SERVER, note=note)


POSTGRES = choose_postgres()
# The URL of the tests' PostgreSQL ("" when there is none): a module constant, read at import by the
# ``skipif`` marks of the PostgreSQL tests. A throwaway server starts on the first new_store("postgresql").
POSTGRES_URL = POSTGRES.url
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason=POSTGRES.reason or NO_SERVER),
        ],
    ),
]


@atexit.register
def _stop_throwaway() -> None:
    if POSTGRES.throwaway is not None:
        POSTGRES.throwaway.stop()


SMALL = GeneratorConfig(seed=11, n_students=150, n_years=1)


@pytest.fixture(scope="session")
def questionnaire() -> Questionnaire:
    return load_questionnaire()


@pytest.fixture(scope="session")
def small_tables() -> dict[str, pd.DataFrame]:
    """A small generated school: 150 students, one year."""
    return generate(SMALL)


@pytest.fixture(scope="session")
def small_csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small school written as CSV exports."""
    out = tmp_path_factory.mktemp("exports") / "school"
    write_generated(SMALL, out)
    return out


def _postgres_engine() -> Iterator[Engine]:
    """A fresh database on the session's PostgreSQL (starting the throwaway server on first use)."""
    if POSTGRES.throwaway is not None and (error := POSTGRES.throwaway.ensure_started()) is not None:
        POSTGRES.reason = f"no server: {error}"
    require_or_skip(not POSTGRES.reason, f"PostgreSQL: {POSTGRES.reason}")
    admin_url = make_url(POSTGRES_URL)
    name = f"vsv_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def new_store(backend: str, tmp_path: Path, revision: str = "head") -> Iterator[Engine]:
    """An empty store on ``backend``, migrated to ``revision`` (default: the newest)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'vsv.db'}")
        upgrade(engine, revision)
        yield engine
        engine.dispose()
    else:
        for engine in _postgres_engine():
            upgrade(engine, revision)
            yield engine


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store, once on SQLite and once on PostgreSQL."""
    yield from new_store(request.param, tmp_path)


THREE_YEARS = GeneratorConfig(seed=21, n_students=500, n_years=3)


@dataclass(frozen=True)
class School:
    """A small school over three years, as the model sees it (pseudonymised), with truth and audit tables."""

    tables: RawTables
    truth: pd.DataFrame
    audit: pd.DataFrame


@pytest.fixture(scope="session")
def school() -> School:
    raw, rest = from_generated(generate(THREE_YEARS), TEST_KEY)
    return School(raw, rest["synthetic_truth"], rest["audit_attributes"])


TEST_TRAINING = {
    "lgbm": {
        "n_estimators": 120,
        "learning_rate": 0.08,
        "num_leaves": 15,
        "min_child_samples": 50,
        "n_jobs": 2,
    }
}


def train_small(school: School, folder: Path) -> TrainingResult:
    """The test suite's quick training run (no MLflow) on ``school``."""
    return train(
        school.tables,
        load_config(overrides=TEST_TRAINING),
        folder,
        truth=school.truth,
        audit=school.audit,
        registered_model=None,
    )


@pytest.fixture(scope="session")
def trained(school: School, tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """A model trained on the small school, without MLflow (about 20 s, once per session)."""
    return train_small(school, tmp_path_factory.mktemp("run"))


@pytest.fixture
def mlflow_registry(tmp_path: Path) -> Iterator[str]:
    """A fresh MLflow tracking store and registry under tmp_path; yields the tracking URI."""
    import mlflow

    from models.registry import configure

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri, tmp_path / "artifacts")
    yield uri
    mlflow.set_tracking_uri("")


# --- reporting: no skip under CI, one summary of what was missing ----------------------------------------

CI_FAILS = "[CI=true: a missing prerequisite fails the test]"
_missing: dict[str, set[str]] = {}  # reason -> tests skipped (or, under CI, failed) for it
_postgres_ran: set[str] = set()


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Outside CI, PostgreSQL skips for want of a server share one reason (``-ra`` folds them into one
    line). Under ``CI=true`` any skip becomes a failure that names what was missing."""
    report = yield
    postgres = item.get_closest_marker("postgres") is not None
    if postgres and report.when == "call" and not report.skipped:
        _postgres_ran.add(item.nodeid)
    if not report.skipped or hasattr(report, "wasxfail"):
        if call.excinfo is not None and CI_FAILS in str(call.excinfo.value):
            reason = str(call.excinfo.value).split(f" {CI_FAILS}")[0]
            _missing.setdefault(reason, set()).add(item.nodeid)
        return report
    if postgres and POSTGRES.reason:
        reason = f"PostgreSQL: {POSTGRES.reason}"
        report.longrepr = (__file__, choose_postgres.__code__.co_firstlineno, f"Skipped: {reason}")
    else:
        reason = _skip_reason(report)
        if reason in _PREREQUISITE_REASONS:  # one location per reason: -ra folds them into one line
            report.longrepr = (__file__, require_or_skip.__code__.co_firstlineno, f"Skipped: {reason}")
    if in_ci():
        report.outcome = "failed"
        report.longrepr = f"{reason} [CI=true: nothing may skip; this test would have been skipped]"
    if postgres or reason in _PREREQUISITE_REASONS or in_ci():
        _missing.setdefault(reason, set()).add(item.nodeid)
    return report


def _tests(n: int, kind: str = "") -> str:
    return f"{n} {kind}test{'' if n == 1 else 's'}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the PostgreSQL tests ran, and how many tests each missing prerequisite skipped (or failed)."""
    lines = []
    if _postgres_ran:
        lines.append(f"{_tests(len(_postgres_ran), 'PostgreSQL ')} ran on {POSTGRES.source}")
    if POSTGRES.note and (_postgres_ran or _missing):
        lines.append(f"note: {POSTGRES.note}")
    verb = "failed under CI=true" if in_ci() else "skipped"
    for reason, tests in sorted(_missing.items(), key=lambda kv: -len(kv[1])):
        if reason.startswith("PostgreSQL: "):
            lines.append(f"{_tests(len(tests), 'PostgreSQL ')} {verb}: {reason.removeprefix('PostgreSQL: ')}")
        else:
            lines.append(f"{_tests(len(tests))} {verb}: {reason}")
    if lines:
        terminalreporter.write_sep("=", "prerequisites")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_throwaway()
