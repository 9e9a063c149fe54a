"""Benchmark of ``features.snapshot``: time and peak memory per population size.

    python bench/bench_features.py                       # 30,000 students
    python bench/bench_features.py --sizes 30000 500000  # and the whole mbo

Per size a fresh subprocess generates one synthetic school year (``GeneratorConfig(n_students=N,
n_years=1)``) chunk by chunk, pseudonymises each chunk, keeps the model tables, and times
``snapshot(tables, as_of)`` (median of ``--repeats`` runs; 1 run above 100,000 students). Memory:

* ``rss_data_mb``: resident memory with the raw tables loaded, just before the snapshot (after handing
  the generator's freed memory back to the OS with ``malloc_trim``);
* ``peak_rss_snapshot_mb``: the peak resident memory while the snapshots run (the kernel's high-water mark
  is reset after generation through ``/proc/self/clear_refs``), raw tables included;
* ``peak_rss_process_mb``: ``ru_maxrss`` of the subprocess (generation included).

By default the generated rows after ``as_of`` are dropped chunk by chunk (``--keep-future`` keeps them):
a snapshot never reads them (the leakage test proves it), and at 500,000 students they would double the
long questionnaire table. Prints a table and writes JSON to ``var/bench/features.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_KEY = "bench-only-pseudonym-key"
TARGETS = {30_000: {"seconds": 10.0}, 500_000: {"seconds": 180.0, "peak_rss_mb": 8 * 1024.0}}


def _status_kb(field: str) -> float:
    """A field of /proc/self/status in kB (Linux); NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _release_free_memory() -> None:
    """Hand memory freed by the generator back to the OS (glibc), so it is not counted as data."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def as_categories(frame: Any, columns: tuple[str, ...]) -> Any:
    """``frame`` with its identifier ``columns`` as categories (each pseudonym stored once)."""
    import pandas as pd

    return frame.assign(**{c: pd.Categorical(frame[c]) for c in columns if c in frame.columns})


def worker(
    n_students: int, as_of: int, repeats: int, keep_future: bool, seed: int, categorical: bool = False
) -> dict[str, Any]:
    """Generate, then time the snapshot; runs inside the per-size subprocess."""
    import pandas as pd

    from data.synthetic import GeneratorConfig, generate_chunks
    from data.tables import MODEL_TABLES, RawTables, from_generated
    from features import snapshot

    started = time.perf_counter()
    config = GeneratorConfig(n_students=n_students, n_years=1, seed=seed)
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in MODEL_TABLES}
    for chunk in generate_chunks(config, progress=True):
        raw, _ = from_generated(chunk, key=BENCH_KEY)
        for name in MODEL_TABLES:
            frame = getattr(raw, name)
            if not keep_future and "week" in frame.columns and name != "outcomes":
                frame = frame.loc[frame["week"] <= as_of]
            parts[name].append(frame)
        del chunk, raw
    tables = RawTables(**{name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()})
    del parts
    if categorical:  # the weekly tables' pseudonyms and items as categories
        tables = replace(
            tables,
            questionnaire_answers=as_categories(tables.questionnaire_answers, ("student_id", "item")),
            attendance_weeks=as_categories(tables.attendance_weeks, ("student_id",)),
        )
    gc.collect()
    _release_free_memory()
    generate_s = time.perf_counter() - started

    rss_data_kb = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    runs = []
    n_rows = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = snapshot(tables, as_of)
        runs.append(time.perf_counter() - t0)
        n_rows = len(result)
        del result
        gc.collect()
    peak_kb = _status_kb("VmHWM") if reset else float("nan")
    return {
        "n_students": n_students,
        "n_total_generated": config.n_total,
        "n_scored": n_rows,
        "as_of": as_of,
        "rows": {name: len(getattr(tables, name)) for name in MODEL_TABLES},
        "future_rows_dropped": not keep_future,
        "categorical_ids": categorical,
        "generate_s": round(generate_s, 1),
        "snapshot_s_runs": [round(r, 3) for r in runs],
        "snapshot_s": round(statistics.median(runs), 3),
        "rss_data_mb": round(rss_data_kb / 1024, 1),
        "peak_rss_snapshot_mb": round(peak_kb / 1024, 1),
    }


def run_size(n_students: int, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh subprocess per size; its own ru_maxrss comes from wait4."""
    repeats = args.repeats if n_students <= 100_000 else 1
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out_path = Path(handle.name)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(n_students),
        "--as-of",
        str(args.as_of),
        "--repeats",
        str(repeats),
        "--seed",
        str(args.seed),
        "--worker-out",
        str(out_path),
    ]
    if args.keep_future:
        command.append("--keep-future")
    if args.categorical_ids:
        command.append("--categorical-ids")
    process = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"benchmark worker for {n_students} students failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out_path.read_text())
    out_path.unlink()
    result["peak_rss_process_mb"] = round(usage.ru_maxrss / 1024, 1)  # kB on Linux
    target = TARGETS.get(n_students, {})
    result["target_s"] = target.get("seconds")
    result["target_peak_rss_mb"] = target.get("peak_rss_mb")
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'students':>9} {'scored':>9} {'answers':>11} {'generate s':>10} {'snapshot s':>10} "
        f"{'target s':>8} {'RSS data MB':>11} {'peak snap MB':>12} {'peak proc MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        target = "-" if r["target_s"] is None else f"{r['target_s']:g}"
        print(
            f"{r['n_students']:>9,} {r['n_scored']:>9,} {r['rows']['questionnaire_answers']:>11,} "
            f"{r['generate_s']:>10.1f} {r['snapshot_s']:>10.2f} {target:>8} {r['rss_data_mb']:>11,.0f} "
            f"{r['peak_rss_snapshot_mb']:>12,.0f} {r['peak_rss_process_mb']:>12,.0f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30_000])
    parser.add_argument("--as-of", type=int, default=20)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per size up to 100,000 students (median)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-future", action="store_true", help="keep generated rows after as_of")
    parser.add_argument(
        "--categorical-ids",
        action="store_true",
        help="hold the weekly tables' student_id and item as categories",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "features.json")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        result = worker(
            args.worker, args.as_of, args.repeats, args.keep_future, args.seed, args.categorical_ids
        )
        args.worker_out.write_text(json.dumps(result))
        return

    results = [run_size(n, args) for n in args.sizes]
    print_table(results)
    report = {
        "benchmark": "features.snapshot",
        "command": "python bench/bench_features.py " + " ".join(sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
