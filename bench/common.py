"""Shared benchmark helpers: run one measurement in a fresh process, print tables, write JSON."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
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
