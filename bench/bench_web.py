"""Benchmark: server time and page weight of the weekly risk list and a student page, for a team of 30 and
of 70 (target: list p99 < 300 ms).

In-process (TestClient): the page's queries, audit entries and template, no network. A small school is
generated, one team is cut to 30 students, two weeks are scored with a small model trained here.
Usage: python -m bench.bench_web [--repeats 50 --team-sizes 30 70]   -> var/bench/web.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import print_table, write_json

TEAM_SIZE = 30


def run(repeats: int, team_size: int = TEAM_SIZE) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig, generate
    from data.synthetic.writer import store_school
    from data.tables import from_generated
    from features import LOOKBACK_WEEKS
    from serving.app import create_app
    from settings import Settings
    from training.config import load_config
    from training.pipeline import train
    from workflows.model_state import ServingModel
    from workflows.users import upsert_user
    from workflows.weekly_job import score_week

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw, rest = from_generated(generate(GeneratorConfig(seed=5, n_students=600, n_years=3)), "bench")
        config = load_config(overrides={"lgbm": {"n_estimators": 80, "num_leaves": 15, "n_jobs": 2}})
        model = train(raw, config, tmp / "run", truth=rest["synthetic_truth"], registered_model=None).model
        engine = make_engine(f"sqlite:///{tmp / 'vsv.db'}")
        upgrade(engine)
        week = int(raw.attendance_weeks["week"].max())
        store_school(engine, raw, rest["audit_attributes"], week - 1 - LOOKBACK_WEEKS, week)
        team = "bench-30"
        with engine.begin() as conn:  # thirty students enrolled in the scored week form one team
            ids = conn.execute(
                text(
                    "SELECT a.student_id FROM attendance_weeks a WHERE a.week = :w AND NOT EXISTS "
                    "(SELECT 1 FROM outcomes o WHERE o.student_id = a.student_id AND o.week <= :w) "
                    "ORDER BY a.student_id LIMIT :n"
                ),
                {"w": week, "n": team_size},
            ).scalars()
            for sid in list(ids):
                conn.execute(
                    text("UPDATE students SET team = :t WHERE student_id = :s"), {"t": team, "s": sid}
                )
        for w in (week - 1, week):
            score_week(engine, model, "bench", w)
        token = upsert_user(engine, "bench-mentor", "mentor", [team], "bench-token")
        app = create_app(
            Settings(
                var_dir=tmp / "var",
                environment="test",
                load_model_on_startup=False,
                mlflow_tracking_uri=f"sqlite:///{tmp / 'no-mlflow.db'}",
            ),
            engine=engine,
            model=ServingModel(model, "bench", None),
        )
        with engine.connect() as conn:
            student = conn.execute(
                text("SELECT student_id FROM students WHERE team = :t ORDER BY student_id LIMIT 1"),
                {"t": team},
            ).scalar_one()
        pages = {
            "risicolijst": f"/web/lijst?team={team}&week={week}",
            "leerling": f"/web/leerling/{student}?week={week}",
        }
        results = []
        with TestClient(app) as client:
            client.post("/web/login", data={"token": token})  # a session cookie, as a browser gets
            for name, url in pages.items():
                first = client.get(url)
                assert first.status_code == 200, first.text
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200
                times.sort()
                p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
                results.append(
                    {
                        "page": name,
                        "team_size": team_size,
                        "rows": first.text.count("<tr class="),
                        "size_kb": round(len(first.content) / 1024, 1),
                        "median_ms": round(statistics.median(times), 2),
                        "p99_ms": round(p99, 2),
                        "target_ms": 300,
                        "ok": p99 < 300,
                    }
                )
        engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--team-sizes", type=int, nargs="+", default=[TEAM_SIZE, 70])
    args = parser.parse_args()
    rows = [row for size in args.team_sizes for row in run(args.repeats, size)]
    print_table("Risk list and student page (server-side, in-process)", rows, list(rows[0]))
    path = write_json("web", {"pages": rows, "ok": all(r["ok"] for r in rows)})
    print(f"written: {path}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
