"""Benchmark: the pandas and Dask training engines side by side, then the Dask engine on a larger world.

Side by side (``--sizes``, default 3,000 students, 3 years): the whole `training.pipeline.train` run
(without MLflow) with ``engine: pandas``, ``engine: dask`` on one worker (threads in this process) and on
two worker processes; ROC-AUC of the model on the test year, wall time, and peak memory of the process and
all its children (Dask's workers), sampled every 0.2 s.
Large (``--large N``): the Dask engine only, stage by stage: generate, the training set (all folds), the
risk model's fit (booster on Dask, calibration and bands in pandas), its ROC-AUC on the test year. No
baselines, ablation or model card: those are the pandas path's code on the test year and are measured by
the side-by-side runs.
Usage: python -m bench.bench_dask [--sizes 3000] [--large 20000 --workers 1]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import measure_here, print_table, run_child, write_json

BENCH_TRAINING = {"dask_memory_limit": "8GiB", "dask_weeks_per_partition": 1}
ENGINES: dict[str, dict[str, Any]] = {
    "pandas": {"engine": "pandas"},
    "dask_1_worker": {"engine": "dask", "dask_workers": 1, "dask_threads_per_worker": 2, **BENCH_TRAINING},
    "dask_2_workers": {"engine": "dask", "dask_workers": 2, **BENCH_TRAINING},
}


@contextmanager
def peak_tree_rss() -> Iterator[Callable[[], float]]:
    """Peak resident memory (MB) of this process and all its descendants, sampled every 0.2 s."""
    import psutil

    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            peak[0] = max(peak[0], total / 2**20)
            done.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: round(peak[0], 1)
    finally:
        done.set()
        thread.join()


def _world(n_students: int) -> tuple[Any, Any, float]:
    from data.synthetic import GeneratorConfig, generate
    from data.tables import from_generated

    started = time.perf_counter()
    raw, rest = from_generated(
        generate(GeneratorConfig(seed=0, n_students=n_students, n_years=3, chunk_size=25_000)), "bench-key"
    )
    return raw, rest, time.perf_counter() - started


def _side_by_side(n_students: int, engine: str) -> dict[str, Any]:
    from training.config import load_config
    from training.pipeline import scalar, train

    with peak_tree_rss() as peak:
        raw, rest, generated = _world(n_students)
        with tempfile.TemporaryDirectory() as tmp:
            result = train(
                raw,
                load_config(overrides=ENGINES[engine]),
                Path(tmp),
                truth=rest["synthetic_truth"],
                audit=rest["audit_attributes"],
                registered_model=None,
            )
        overall = result.evaluation.overall
        return {
            "students_start": n_students,
            "students_total": len(raw.students),
            "engine": engine,
            "generate_s": round(generated, 1),
            "train_s": round(result.seconds, 1),
            "roc_auc": round(scalar(overall, "model", "roc_auc"), 4),
            "precision_at_k": round(scalar(overall, "model", "precision_at_k"), 4),
            "brier": round(scalar(overall, "model", "brier"), 4),
            "tree_peak_mb": peak(),
        }


def _large(n_students: int, workers: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from features import load_register, model_features
    from training.config import load_config
    from training.fit import LABEL, fit_risk_model
    from training.pipeline import prepare_on_engine

    overrides = ENGINES["dask_1_worker" if workers == 1 else "dask_2_workers"]
    config = load_config(overrides={**overrides, "dask_workers": workers})
    stages: dict[str, float] = {}
    with peak_tree_rss() as peak:
        raw, _, stages["generate_s"] = _world(n_students)
        mark = {"generate_mb": peak()}
        with ExitStack() as stack:
            started = time.perf_counter()
            prepared = prepare_on_engine(stack, raw, config, None)
            stages["training_set_s"] = time.perf_counter() - started
            mark["training_set_mb"] = peak()
            started = time.perf_counter()
            descriptions = {f.name: f.description_nl for f in load_register()}
            model = fit_risk_model(
                prepared.train,
                prepared.calibration,
                model_features(),
                descriptions,
                config,
                band_rows=prepared.calibration_all_year,
                fitter=prepared.fitter,
            )
            stages["fit_s"] = time.perf_counter() - started
            auc = roc_auc_score(prepared.test[LABEL], model.predict_proba(prepared.test))
        return {
            "students_start": n_students,
            "students_total": len(raw.students),
            "workers": workers,
            "train_rows": prepared.train_rows,
            "calibration_rows": len(prepared.calibration),
            "test_rows": len(prepared.test),
            "as_of_weeks": len(prepared.folds.train)
            + len(prepared.folds.calibration_all_year)
            + len(prepared.folds.test_all_year),
            "roc_auc": round(float(auc), 4),
            **{k: round(v, 1) for k, v in stages.items()},
            **mark,
            "tree_peak_mb": peak(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[3000])
    parser.add_argument("--large", type=int, nargs="*", default=[])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--engine", default="pandas", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.large:
            measure_here(lambda: _large(args.large[0], args.workers))
        else:
            measure_here(lambda: _side_by_side(args.sizes[0], args.engine))
        return
    side = [
        run_child("bench.bench_dask", ["--sizes", str(n), "--engine", engine])
        for n in args.sizes
        for engine in ENGINES
    ]
    if side:
        print_table(
            "Side by side: the whole training run (no MLflow), same world, same configuration",
            side,
            [
                "students_start",
                "students_total",
                "engine",
                "roc_auc",
                "precision_at_k",
                "brier",
                "generate_s",
                "train_s",
                "tree_peak_mb",
            ],
        )
    large = [
        run_child("bench.bench_dask", ["--large", str(n), "--workers", str(args.workers)]) for n in args.large
    ]
    if large:
        print_table(
            "Dask engine, larger worlds: training set + risk model fit (stages in s, memory in MB)",
            large,
            [
                "students_start",
                "students_total",
                "workers",
                "as_of_weeks",
                "train_rows",
                "test_rows",
                "roc_auc",
                "generate_s",
                "training_set_s",
                "fit_s",
                "generate_mb",
                "training_set_mb",
                "tree_peak_mb",
            ],
        )
    for name, runs in (("dask_side_by_side", side), ("dask_large", large)):
        if runs:
            print(f"wrote {write_json(name, {'runs': runs})}")


if __name__ == "__main__":
    main()
