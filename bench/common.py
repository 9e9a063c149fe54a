"""Shared benchmark helpers: run one measurement in a fresh process, print tables, write JSON."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path("var/bench")


def measure_here(fn: Callable[[], dict[str, Any]]) -> None:
    """Run ``fn`` in this (child) process and print its result with wall time and peak memory as JSON."""
    started = time.perf_counter()
    result = fn()
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)


def run_child(module: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``python -m module args`` and return the JSON it printed after ``RESULT``."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    parsed: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return parsed


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def write_json(name: str, payload: dict[str, Any]) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"python": platform.python_version(), "cpus": _cpus()}, **payload}
    path = BENCH_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


WEEK_OF_YEAR = 20  # the week scored in the serving benchmarks: mid-year, with a full lookback window


def bench_model(tmp: Path) -> Any:
    """The champion from the configured registry, else a small model trained on a generated school."""
    from data.context import registry_location
    from settings import get_settings
    from workflows.model_state import load_champion

    try:
        return load_champion(registry_location(get_settings())).model
    except Exception:
        from data.synthetic import GeneratorConfig, generate
        from data.tables import from_generated
        from training.config import load_config
        from training.pipeline import train

        raw, rest = from_generated(generate(GeneratorConfig(seed=1, n_students=1500, n_years=3)), "bench")
        return train(
            raw, load_config(), tmp / "run", truth=rest["synthetic_truth"], registered_model=None
        ).model


def seed_store(url: str, n_students: int, week: int = WEEK_OF_YEAR) -> None:
    """Migrate the store at ``url`` and write ``n_students`` (one generated year) with the weeks a
    snapshot of ``week`` reads."""
    from data.csv_io import write_frame
    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig, generate
    from data.tables import from_generated

    generated = generate(GeneratorConfig(seed=5, n_students=n_students, n_years=1, chunk_size=25_000))
    raw, rest = from_generated(generated, "bench-key")
    frames = {
        **{
            n: getattr(raw, n)
            for n in ("students", "questionnaire_answers", "attendance_weeks", "progress_results", "outcomes")
        },
        **rest,
    }
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        write_snapshot_window(conn, frames, week, write_frame)
    engine.dispose()


def write_snapshot_window(conn: Any, frames: dict[str, Any], week: int, write: Callable[..., Any]) -> int:
    """Write ``frames`` (raw tables by name, pseudonymised) in table order with ``write(conn, spec,
    frame)``, the weekly tables cut to the weeks a snapshot of ``week`` (and of the week before) reads;
    returns the rows written."""
    from data.contracts import contract
    from data.store import TABLE_ORDER
    from features import LOOKBACK_WEEKS

    rows = 0
    for name in TABLE_ORDER:
        if name not in frames:
            continue
        frame = frames[name]
        if "week" in frame.columns and name != "outcomes":
            frame = frame[(frame["week"] >= week - 1 - LOOKBACK_WEEKS) & (frame["week"] <= week)]
        write(conn, contract(name), frame)
        rows += len(frame)
    return rows


@contextmanager
def temporary_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url``; dropped afterwards. Yields its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"vsv_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
