"""Benchmark: the weekly job at national scale on PostgreSQL (issue 20).

A generated country (default 500,000 students, one school year) is written chunk by chunk into a fresh
PostgreSQL database (only the weeks a snapshot of week 20 reads, as the serving benchmark does), then the
weekly job scores week 19 and week 20 (the second one measured: it finds last week's scores, as every week
after the first does), ``--chunk`` students at a time, in a process of its own whose peak memory is read.
Targets: under 10 minutes and under 8 GB peak for 500,000 students.

PostgreSQL: ``VSV_BENCH_POSTGRES_URL`` or ``--postgres`` (an admin URL; a throwaway database is created and
dropped), default the local server ``postgresql+psycopg://postgres@127.0.0.1:5432/test``.

Usage: python -m bench.bench_weekly_national [--students 500000] [--chunk 50000] [--seeded URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    WEEK_OF_YEAR,
    bench_model,
    measure_here,
    print_table,
    run_child,
    temporary_postgres,
    write_json,
    write_snapshot_window,
)

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _seed(url: str, n_students: int, week: int) -> dict[str, Any]:
    """Child: write the country chunk by chunk (bounded memory, appended with COPY), the weeks a snapshot
    of ``week`` reads."""
    from data.csv_io import append_frame
    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig
    from data.synthetic.generator import generate_chunks
    from data.tables import from_generated

    engine = make_engine(url)
    upgrade(engine)
    rows = 0
    config = GeneratorConfig(seed=5, n_students=n_students, n_years=1, chunk_size=25_000)
    for chunk in generate_chunks(config):
        raw, rest = from_generated({k: v for k, v in chunk.items() if k != "identities"}, "bench-key")
        frames = {n: getattr(raw, n) for n in ("students", "questionnaire_answers", "attendance_weeks")}
        frames |= {n: getattr(raw, n) for n in ("progress_results", "outcomes")}
        frames["audit_attributes"] = rest["audit_attributes"]
        with engine.begin() as conn:
            rows += write_snapshot_window(conn, frames, week, append_frame)
    engine.dispose()
    return {"students": config.n_total, "rows": rows}


def _job(url: str, week: int, chunk: int) -> dict[str, Any]:
    """Child: the weekly job for the week before and the week itself; the second one is reported."""
    from data.store import make_engine
    from workflows.weekly_job import score_week

    with tempfile.TemporaryDirectory() as tmp:
        model = bench_model(Path(tmp))
        engine = make_engine(url)
        first = score_week(engine, model, "bench", week - 1, chunk_students=chunk)
        result = score_week(engine, model, "bench", week, chunk_students=chunk)
        engine.dispose()
    return {
        "scored": result.students,
        "first_week_seconds": round(first.seconds["total"], 1),
        "job_seconds": round(result.seconds["total"], 1),
        "steps": {k: round(v, 1) for k, v in result.seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=500_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--postgres", default=os.environ.get("VSV_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument(
        "--seeded",
        metavar="URL",
        help="run the job only, on a database an earlier run seeded with --students (it is not dropped)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--what", choices=("seed", "job"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.what == "seed":
            measure_here(lambda: _seed(args.url, args.students, WEEK_OF_YEAR))
        else:
            measure_here(lambda: _job(args.url, WEEK_OF_YEAR, args.chunk))
        return
    started = time.perf_counter()
    if args.seeded:  # a database an earlier run seeded (kept): the job only
        common = ["--students", str(args.students), "--chunk", str(args.chunk), "--url", args.seeded]
        seed = {"students": args.students, "rows": None, "seconds": None}
        job = run_child("bench.bench_weekly_national", [*common, "--what", "job"])
    else:
        with temporary_postgres(args.postgres) as url:
            common = ["--students", str(args.students), "--chunk", str(args.chunk), "--url", url]
            seed = run_child("bench.bench_weekly_national", [*common, "--what", "seed"])
            job = run_child("bench.bench_weekly_national", [*common, "--what", "job"])
    row = {
        "students": seed["students"],
        "chunk": args.chunk,
        "scored": job["scored"],
        "job_seconds": job["job_seconds"],
        "target_seconds": 600,
        "peak_rss_mb": job["peak_rss_mb"],
        "target_mb": 8192,
        "first_week_seconds": job["first_week_seconds"],
        "seed_rows": seed["rows"],
        "seed_seconds": seed["seconds"],
    }
    print_table(
        f"Weekly job on PostgreSQL, week {WEEK_OF_YEAR} (chunked by students)",
        [row],
        ["students", "chunk", "scored", "job_seconds", "target_seconds", "peak_rss_mb", "target_mb"],
    )
    print(f"  steps (seconds, summed over chunks): {job['steps']}")
    elapsed = time.perf_counter() - started
    if seed["rows"] is not None:
        print(f"  seeding: {seed['rows']:,} rows in {seed['seconds']:.0f} s; all in {elapsed:.0f} s")
    path = write_json("weekly_national", {"runs": [row], "steps": job["steps"]})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
