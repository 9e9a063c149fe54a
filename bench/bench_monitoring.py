"""Benchmark: one weekly monitoring run (`monitoring.weekly.monitor_week`) for 30,000 students.

A model is trained (without MLflow) on a small baseline school, then one weekly run is timed on a
generated college of ``--students`` students over three years, at week 100 (eight matured as-of weeks):
scoring, drift with Evidently, response, performance, fairness, stability and the written reports
(Evidently HTML, summary page, JSON). Target: under 2 minutes. Writes var/bench/monitoring.json.

    python -m bench.bench_monitoring [--students 30000] [--week 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import print_table, write_json

TARGET_SECONDS = 120.0


def run(n_students: int, week: int, train_students: int) -> dict[str, Any]:
    from data.questionnaire import load_questionnaire
    from data.synthetic import GeneratorConfig, generate
    from data.tables import from_generated
    from monitoring.config import load_config as load_monitoring_config
    from monitoring.weekly import monitor_week
    from training.config import load_config
    from training.pipeline import train

    key = "bench-key"
    started = time.perf_counter()
    school, rest = from_generated(
        generate(GeneratorConfig(seed=21, n_students=train_students, n_years=3)), key
    )
    config = load_config(overrides={"lgbm": {"n_estimators": 120, "n_jobs": 2}})
    with tempfile.TemporaryDirectory() as tmp:
        model = train(
            school, config, Path(tmp) / "run", audit=rest["audit_attributes"], registered_model=None
        ).model
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    college, rest = from_generated(
        generate(GeneratorConfig(seed=2024, n_students=n_students, n_years=3)), key
    )
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = monitor_week(
            college,
            model,
            week,
            rest["audit_attributes"],
            load_monitoring_config(),
            load_questionnaire(),
            Path(tmp) / str(week),
        )
        monitor_s = time.perf_counter() - started
    return {
        "n_students": n_students,
        "scored_students": result.scored_students,
        "matured_rows": int(result.performance["current"].get("n", 0)),
        "week": week,
        "status": result.status,
        "train_s": round(train_s, 1),
        "generate_s": round(generate_s, 1),
        "monitor_s": round(monitor_s, 1),
        "target_s": TARGET_SECONDS,
        "met": monitor_s < TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--week", type=int, default=100)
    parser.add_argument("--train-students", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run(args.students, args.week, args.train_students)
    columns = ["n_students", "scored_students", "matured_rows", "status", "monitor_s", "target_s", "met"]
    print_table("one weekly monitoring run", [result], columns)
    command = f"python -m bench.bench_monitoring --students {args.students} --week {args.week}"
    path = write_json(
        "monitoring", {"benchmark": "monitoring.monitor_week", "command": command, "results": [result]}
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
