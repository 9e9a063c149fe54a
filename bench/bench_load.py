"""Benchmark: the service under a steady mixed load on PostgreSQL (issue 8).

A fresh PostgreSQL database holds a generated college (``--students``, one year, the weeks a snapshot
reads) with two scored weeks; the model is registered as champion in a temporary MLflow store; uvicorn
serves it with ``--workers`` processes on loopback. Locust (headless, stopping by itself after
``--seconds``) offers ``--rate`` requests/s of mixed traffic: team risk lists, stored student scores,
recorded actions (two mentors per team writing at once) and on-demand scores with explanation.

Targets: the offered 100 requests/s held for 60 s with no errors. Afterwards the store is checked: every
action Locust saw succeed is stored, with an allowed audit entry, and the audit hash chain verifies.

Usage: python -m bench.bench_load [--students 13000] [--rate 100] [--seconds 60] [--users 50] [--workers 2]
PostgreSQL: ``VSV_BENCH_POSTGRES_URL`` (default: the local test server); a database is made and dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    WEEK_OF_YEAR,
    bench_model,
    print_table,
    seed_store,
    temporary_postgres,
    write_json,
)
from bench.harness import register_champion, running_server, server_env
from bench.load import KINDS, make_plan, run_locust, stored_writes

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VERSION = "bench"
LOCUST_DIR = BENCH_DIR / "load"  # the latest run: Locust's statistics, HTML report and log; the server log


def run(args: argparse.Namespace) -> dict[str, Any]:
    from data.store import make_engine
    from workflows.audit import verify_chain
    from workflows.weekly_job import score_week

    admin_url = os.environ.get("VSV_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    week = WEEK_OF_YEAR
    with tempfile.TemporaryDirectory() as tmp, temporary_postgres(admin_url) as url:
        folder = Path(tmp)
        started = time.perf_counter()
        model = bench_model(folder)
        seed_store(url, args.students, week)
        engine = make_engine(url)
        for w in (week - 1, week):
            score_week(engine, model, VERSION, w)
        mlflow_uri = f"sqlite:///{folder / 'mlflow.db'}"
        register_champion(model, mlflow_uri, folder / "artifacts")
        plan_path = folder / "plan.json"
        plan = make_plan(engine, week, args.teams, plan_path)
        prepared = time.perf_counter() - started
        print(f"store and model ready in {prepared:.0f} s; {len(plan.mentors)} mentors", flush=True)

        env = server_env(url, folder, mlflow_uri)
        LOCUST_DIR.mkdir(parents=True, exist_ok=True)
        log = LOCUST_DIR / "server.log"
        log.unlink(missing_ok=True)
        with running_server(env, workers=args.workers, log=log) as server:
            result = run_locust(
                server.url, plan_path, LOCUST_DIR, args.rate, args.seconds, args.users, server.pid
            )
        writes = stored_writes(engine)
        chain = verify_chain(engine)
        server_log = log.read_text(encoding="utf-8", errors="replace")
        engine.dispose()
    return {
        "students": args.students,
        "workers": args.workers,
        "store": "postgresql",
        "prepare_seconds": round(prepared, 1),
        "load": asdict(result),
        "actions_succeeded": result.successes("record action"),
        "actions_stored": writes.actions,
        "actions_audited": writes.audited_actions,
        "audit_chain_ok": chain.ok,
        "audit_entries": chain.entries,
        "server_errors_logged": server_log.count("Traceback"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=13_000, help="one large mbo college")
    parser.add_argument("--rate", type=float, default=100.0, help="offered requests per second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=50, help="virtual users (mentors) sharing the rate")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--teams", type=int, default=10, help="teams with two mentors each")
    args = parser.parse_args()
    out = run(args)
    load = out["load"]
    rows = [
        {
            "request": kind,
            "requests": stats["requests"],
            "failures": stats["failures"],
            "p50 ms": stats["median_ms"],
            "p95 ms": stats["p95_ms"],
            "p99 ms": stats["p99_ms"],
            "max ms": stats["max_ms"],
        }
        for kind, stats in ((k, load["kinds"].get(k)) for k in (*KINDS, None))
        if stats is not None
    ]
    total = load["total"]
    rows.append(
        {
            "request": "all",
            "requests": total["requests"],
            "failures": total["failures"],
            "p50 ms": total["median_ms"],
            "p95 ms": total["p95_ms"],
            "p99 ms": total["p99_ms"],
            "max ms": total["max_ms"],
        }
    )
    held = load["slowest_window_rate"] >= 0.95 * args.rate
    print_table(
        f"Mixed load on PostgreSQL ({args.students:,} students, {args.workers} workers, {args.users} users): "
        f"offered {args.rate:g}/s for {args.seconds} s, achieved {load['achieved_rate']:.1f}/s "
        f"(slowest 10 s: {load['slowest_window_rate']:.1f}/s)",
        rows,
        list(rows[0]),
    )
    print(
        f"\nactions: {out['actions_succeeded']} succeeded, {out['actions_stored']} stored, "
        f"{out['actions_audited']} audited; audit chain {'ok' if out['audit_chain_ok'] else 'BROKEN'} "
        f"({out['audit_entries']} entries); tracebacks in the server log: {out['server_errors_logged']}"
    )
    print(
        "CPU busy during the load, in cores (of "
        f"{os.cpu_count()}): "
        + ", ".join(f"{name} {value:.2f}" for name, value in load["cores_busy"].items())
    )
    for message in load["failure_messages"][:10]:
        print(f"failure: {message}")
    met = (
        held
        and total["failures"] == 0
        and out["actions_stored"] == out["actions_succeeded"] == out["actions_audited"]
        and out["audit_chain_ok"]
    )
    print(f"offered rate held, no errors, nothing lost: {'yes' if met else 'NO'} (target: 100/s for 60 s)")
    out["target_met"] = met
    path = write_json("load", out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
