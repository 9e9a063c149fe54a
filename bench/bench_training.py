"""Benchmark: training on synthetic schools, against the oracle and the baselines (issue 4 targets).

Runs `training.pipeline.train` (without MLflow) in a fresh process per size, on generated data in memory,
with the present-knowledge oracle (`oracle_present`: the best probability anyone could give that week,
from the generator's state at the as-of week) beside the future-knowing one (`oracle`), and prints the
targets table: ROC-AUC within 0.02 of oracle_present, precision in the top 5% at least 1.2x logistic
regression's and 90% of oracle_present's, the hoog share per week; ROC-AUC within 0.015 of the oracle,
precision at top 5% >= 90% of the oracle's, ECE <= 0.02, recall >= 25% above the rules at their flag
rate, median lead time >= 8 weeks, the questionnaire's gain in weeks 2-10, and training wall time
(< 10 minutes for 3 years x 20,000).
Usage: python -m bench.bench_training [--sizes 3000 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import measure_here, print_table, run_child, write_json


def _train(n_students: int) -> dict[str, Any]:
    from data.synthetic import GeneratorConfig, generate, present_oracle_column
    from data.tables import from_generated
    from training.config import load_config
    from training.pipeline import scalar, train

    started = time.perf_counter()
    world = GeneratorConfig(seed=0, n_students=n_students, n_years=3)
    raw, rest = from_generated(generate(world), "bench-key")
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        result = train(
            raw,
            load_config(),
            Path(tmp),
            truth=rest["synthetic_truth"],
            audit=rest["audit_attributes"],
            registered_model=None,
            present_oracle=lambda rows: present_oracle_column(
                rows, world, 12, pseudonym_key="bench-key", truth=rest["synthetic_truth"], workers=2
            ),
        )
    overall = result.evaluation.overall
    return {
        "students_start": n_students,
        "students_total": len(raw.students),
        "generate_s": round(generated, 1),
        "train_s": round(result.seconds, 1),
        "calibration": result.model.metadata["calibration"],
        "overall": {
            s: {
                m: round(scalar(overall, s, m), 4)
                for m in ("roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "recall_at_k")
            }
            for s in overall.index
        },
        "targets": result.targets.to_dict(orient="records"),
        "same_flag_rate": {k: round(float(v), 4) for k, v in result.evaluation.same_flag_rate.items()},
        "lead": result.evaluation.lead.round(2).reset_index().to_dict(orient="records"),
        "band_shares": result.evaluation.band_shares.round(4).to_dict(orient="records"),
        "conditional_fairness": result.evaluation.conditional.round(3).to_dict(orient="records"),
        "proxy_ablation": result.evaluation.proxy_ablation.round(4).to_dict(orient="records"),
        "tuning": result.model.metadata.get("tuning"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 20_000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_here(lambda: _train(args.sizes[0]))
        return
    runs = []
    for n in args.sizes:
        result = run_child("bench.bench_training", ["--sizes", str(n)])
        runs.append(result)
        rows = [{"scorer": s, **m} for s, m in result["overall"].items()]
        print_table(
            f"Test year, {n} students at start ({result['students_total']} in 3 years): all scorers",
            rows,
            ["scorer", "roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "recall_at_k"],
        )
        print_table("Targets", result["targets"], ["target", "measured", "goal", "met"])
        print_table(
            "Lead time (weeks) for students who left as vsv",
            result["lead"],
            [
                "scorer",
                "vsv_students",
                "flagged_before_leaving",
                "median_lead_weeks",
                "median_lead_weeks_flagged",
            ],
        )
        print(f"rules vs model at the rules' flag rate: {result['same_flag_rate']}")
        shares = [row["high_share"] for row in result["band_shares"]]
        if shares:
            print(f"share in hoog per week of the test year: {min(shares):.3f} to {max(shares):.3f}")
        print_table(
            "Subgroup ratios outside 0.8-1.25, and within level and route",
            result["conditional_fairness"],
            ["attribute", "group", "metric", "ratio", "within", "conditional_ratio", "remains"],
        )
        if result["proxy_ablation"]:
            print_table("Proxy ablation", result["proxy_ablation"], ["feature", "measure", "with", "without"])
        print(
            f"wall time: generate {result['generate_s']} s, train {result['train_s']} s, "
            f"peak RSS {result['peak_rss_mb']} MB; calibration chosen: {result['calibration']}"
        )
    path = write_json("training", {"runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
