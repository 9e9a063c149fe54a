"""Benchmark: generating synthetic cohorts (one school year) at college and national scale.

Targets (issue 2): 500,000 students in under 10 minutes and under 4 GB peak memory.
Usage: python -m bench.bench_generate [--sizes 10000 500000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import measure_here, print_table, run_child, write_json

TARGET_SECONDS = 600
TARGET_MB = 4096


def _generate(n_students: int) -> dict[str, Any]:
    from data.synthetic import GeneratorConfig
    from data.synthetic.writer import write_generated

    out = Path(tempfile.mkdtemp(prefix="vsv-bench-")) / "gen"
    try:
        counts = write_generated(
            GeneratorConfig(seed=0, n_students=n_students, n_years=1), out, fmt="parquet"
        )
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return {"students": n_students, "rows": sum(counts.values()), "answers": counts["questionnaire_answers"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 500_000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_here(lambda: _generate(args.sizes[0]))
        return
    rows = []
    for n in args.sizes:
        result = run_child("bench.bench_generate", ["--sizes", str(n)])
        result["students_per_s"] = round(result["students"] / result["seconds"])
        result["meets_target"] = (
            result["seconds"] < TARGET_SECONDS and result["peak_rss_mb"] < TARGET_MB if n >= 500_000 else "-"
        )
        rows.append(result)
    print_table(
        "Generation, one school year, parquet output (one process per size)",
        rows,
        ["students", "rows", "answers", "seconds", "students_per_s", "peak_rss_mb", "meets_target"],
    )
    path = write_json("generate", {"target": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB}, "runs": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
