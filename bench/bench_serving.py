"""Benchmark: serving (issue 5 targets).

* On-demand score with explanation over HTTP on loopback (uvicorn, 1 and 2 workers): throughput and
  p50/p95/p99 in a closed loop (Locust headless, 8 users of one connection each, each sending the next
  request as soon as the previous answered: ``bench.load.run_closed_loop``), p50/p99 at a fixed 100
  requests/s (open-loop asyncio generator); the same model + explainer in-process per row, and the ratio
  HTTP / in-process (target >= 0.5, p99 < 25 ms). Locust reports whole milliseconds (and rounds to 10 ms
  above 100 ms).
* Weekly job (load + snapshot + score + SHAP + store, one transaction) for N students, against the raw
  model + SHAP time on the same rows in the same run (target < 60 s and < 2x for 30,000), with peak memory.
* A team's weekly list (about 30 students) from stored scores over HTTP: p99 at 50 requests/s (< 50 ms).

The store is SQLite in a temporary folder holding the students and the weeks the snapshot reads
(``features.LOOKBACK_WEEKS``); the model is the registry's champion (``VSV_*`` settings) when there is
one, else a small model trained here, logged to a temporary registry that the server loads.
Usage: python -m bench.bench_serving [--sizes 30000 500000] [--http-size 30000] [--seconds 10]
(quick check: ``--sizes --http-size 2000 --seconds 5``: no weekly job, a small store)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    WEEK_OF_YEAR,
    bench_model,
    measure_here,
    print_table,
    run_child,
    seed_store,
    write_json,
)
from bench.harness import free_port, register_champion, start_server, stop_server, wait_ready

VERSION = "bench"


def _job(n_students: int) -> dict[str, Any]:
    """Child process: the weekly job for one size, and the raw model + SHAP on the same rows."""
    from data.store import load_raw_tables, make_engine
    from features import LOOKBACK_WEEKS, snapshot
    from workflows.weekly_job import score_week

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = bench_model(folder)
        started = time.perf_counter()
        url, week = f"sqlite:///{folder / 'vsv.db'}", WEEK_OF_YEAR
        seed_store(url, n_students, week)
        prepared = time.perf_counter() - started
        engine = make_engine(url)
        score_week(engine, model, VERSION, week - 1)
        result = score_week(engine, model, VERSION, week)
        frame = snapshot(load_raw_tables(engine, until_week=week, since_week=week - LOOKBACK_WEEKS), week)
        t = time.perf_counter()
        model.score(frame)
        raw_seconds = time.perf_counter() - t
        engine.dispose()
    return {
        "students": n_students,
        "scored": result.students,
        "job_seconds": round(result.seconds["total"], 2),
        "raw_model_shap_seconds": round(raw_seconds, 2),
        "job_over_raw": round(result.seconds["total"] / raw_seconds, 2),
        "steps": {k: round(v, 2) for k, v in result.seconds.items()},
        "store_prepare_seconds": round(prepared, 1),
    }


# --- HTTP ---------------------------------------------------------------------------------------------


CONNECTIONS = 8  # closed-loop users, one connection each


def _closed_loop(
    base_url: str, features: dict[str, Any], token: str, seconds: int, folder: Path
) -> dict[str, float]:
    """Closed-loop throughput and latency (ms) of on-demand scores, from Locust (bench.load)."""
    from bench.load import run_closed_loop

    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "closed-loop-plan.json"
    plan.write_text(
        json.dumps({"week": WEEK_OF_YEAR, "mentors": [], "data_token": token, "features": features}),
        encoding="utf-8",
    )
    result = run_closed_loop(base_url, plan, folder / "locust", seconds, users=CONNECTIONS)
    if result.total.requests == 0:
        raise RuntimeError(f"the closed loop sent no request (Locust exit {result.exit_code})")
    return {
        "rps": result.achieved_rate,
        "requests": float(result.total.requests),
        "p50_ms": result.total.median_ms,
        "p95_ms": result.total.p95_ms,
        "p99_ms": result.total.p99_ms,
        "non_2xx": float(result.total.failures),
        "connections": float(CONNECTIONS),
    }


async def _fixed_rate(
    method: str, url: str, token: str, body: Any, rate: float, seconds: float
) -> dict[str, float]:
    """Open loop: send ``rate`` requests per second for ``seconds``; latency percentiles (ms)."""
    import httpx

    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        limits=limits, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as client:

        async def one() -> None:
            nonlocal failures
            t = time.perf_counter()
            r = await client.request(method, url, json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            failures += r.status_code >= 300

        for _ in range(20):  # warm-up
            await one()
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    q = statistics.quantiles(latencies, n=100)
    return {"p50_ms": q[49], "p99_ms": q[98], "failures": float(failures), "requests": float(n)}


def _http(n_students: int, seconds: int) -> dict[str, Any]:
    """Child process: store + registry + server at 1 and 2 workers; wrk and fixed-rate load."""
    import pandas as pd
    from sqlalchemy import text

    from data.store import make_engine
    from workflows.scoring import score_one
    from workflows.users import upsert_user
    from workflows.weekly_job import score_week

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = bench_model(folder)
        url, week = f"sqlite:///{folder / 'vsv.db'}", WEEK_OF_YEAR
        seed_store(url, n_students, week)
        engine = make_engine(url)
        score_week(engine, model, VERSION, week - 1)
        score_week(engine, model, VERSION, week)
        with engine.connect() as conn:
            team = conn.execute(
                text(
                    "SELECT team FROM scores WHERE week = :w GROUP BY team "
                    "ORDER BY ABS(COUNT(*) - 30), team LIMIT 1"
                ),
                {"w": week},
            ).scalar_one()
            team_size = conn.execute(
                text("SELECT COUNT(*) FROM scores WHERE week = :w AND team = :t"), {"w": week, "t": team}
            ).scalar_one()
            stored = conn.execute(
                text("SELECT feature_values FROM scores WHERE week = :w LIMIT 1"), {"w": week}
            ).scalar_one()
        features = json.loads(stored) if isinstance(stored, str) else stored
        upsert_user(engine, "bench-data", "datateam", [], "tok-data")
        upsert_user(engine, "bench-mentor", "mentor", [team], "tok-mentor")
        engine.dispose()

        uri = f"sqlite:///{folder / 'mlflow.db'}"
        register_champion(model, uri, folder / "artifacts")

        # in-process: the same model + explainer, one row at a time, single-threaded as the server runs it
        from workflows.model_state import single_threaded

        single_threaded(model)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 3:
            score_one(model, features, False)
            n += 1
        in_process = n / (time.perf_counter() - t)
        one = pd.DataFrame([features])
        model.score(one)

        env = {
            **os.environ,
            "VSV_DATABASE_URL": url,
            "VSV_MLFLOW_TRACKING_URI": uri,
            "VSV_MLFLOW_ARTIFACT_ROOT": str(folder / "artifacts"),
            "VSV_VAR_DIR": str(folder),
        }
        rows: list[dict[str, Any]] = []
        for workers in (1, 2):
            port = free_port()
            server = start_server(env, port, workers)
            try:
                wait_ready(port, server)
                base = f"http://127.0.0.1:{port}"
                closed = _closed_loop(base, features, "tok-data", seconds, folder / f"w{workers}")
                fixed = asyncio.run(
                    _fixed_rate(
                        "POST", f"{base}/api/v1/scores", "tok-data", {"features": features}, 100, seconds
                    )
                )
                lists = asyncio.run(
                    _fixed_rate(
                        "GET", f"{base}/api/v1/risk-lists/{team}/{week}", "tok-mentor", None, 50, seconds
                    )
                )
            finally:
                stop_server(server)
            rows.append(
                {"workers": workers, "closed_loop": closed, "score_at_100rps": fixed, "list_at_50rps": lists}
            )
    best = max(r["closed_loop"]["rps"] for r in rows)
    return {
        "students": n_students,
        "team_size": team_size,
        "in_process_rows_per_s": round(in_process, 1),
        "http_over_in_process": round(best / in_process, 2),
        "servers": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[30_000], help="weekly-job sizes; none: skip")
    parser.add_argument("--http-size", type=int, default=30_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--what", choices=["job", "http"], default="job")
    args = parser.parse_args()
    if args.child:
        if args.what == "job":
            measure_here(lambda: _job(args.sizes[0]))
        else:
            measure_here(lambda: _http(args.http_size, args.seconds))
        return 0
    if importlib.util.find_spec("locust") is None:
        print("Locust is not installed: run `make install` (a dev dependency)", file=sys.stderr)
        return 1
    http = run_child(
        "bench.bench_serving",
        ["--what", "http", "--http-size", str(args.http_size), "--seconds", str(args.seconds)],
    )
    table = []
    for r in http["servers"]:
        table.append(
            {
                "workers": r["workers"],
                "closed-loop req/s": round(r["closed_loop"]["rps"], 1),
                "p50 ms": _ms(r["closed_loop"]["p50_ms"]),
                "p95 ms": _ms(r["closed_loop"]["p95_ms"]),
                "p99 ms": _ms(r["closed_loop"]["p99_ms"]),
                "score p50 @100/s": round(r["score_at_100rps"]["p50_ms"], 2),
                "score p99 @100/s": round(r["score_at_100rps"]["p99_ms"], 2),
                "list p99 @50/s": round(r["list_at_50rps"]["p99_ms"], 2),
                "failures": int(
                    r["closed_loop"]["non_2xx"]
                    + r["score_at_100rps"]["failures"]
                    + r["list_at_50rps"]["failures"]
                ),
            }
        )
    print_table(
        f"On-demand score over HTTP ({http['students']:,} students; team list of {http['team_size']}); "
        f"in-process {http['in_process_rows_per_s']} rows/s, HTTP/in-process {http['http_over_in_process']} "
        "(targets: p99 < 25 ms at 100/s, ratio >= 0.5, list p99 < 50 ms)",
        table,
        list(table[0]),
    )
    jobs = []
    for size in args.sizes:
        r = run_child("bench.bench_serving", ["--what", "job", "--sizes", str(size)])
        jobs.append(r)
    if jobs:
        _print_jobs(jobs)
    if not jobs:  # keep the weekly-job figures of the previous run
        previous = BENCH_DIR / "serving.json"
        if previous.exists():
            jobs = json.loads(previous.read_text(encoding="utf-8")).get("weekly_job", [])
    path = write_json("serving", {"http": http, "weekly_job": jobs})
    print(f"\nwrote {path}")
    return 0


def _ms(value: float) -> float | str:
    return "-" if math.isnan(value) else round(value, 2)


def _print_jobs(jobs: list[dict[str, Any]]) -> None:
    print_table(
        "Weekly job: load + snapshot + score + SHAP + store (30,000: < 60 s, < 2x raw model + SHAP)",
        [
            {
                k: r[k]
                for k in (
                    "students",
                    "scored",
                    "job_seconds",
                    "raw_model_shap_seconds",
                    "job_over_raw",
                    "peak_rss_mb",
                )
            }
            | {"steps": r["steps"]}
            for r in jobs
        ],
        [
            "students",
            "scored",
            "job_seconds",
            "raw_model_shap_seconds",
            "job_over_raw",
            "peak_rss_mb",
            "steps",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
