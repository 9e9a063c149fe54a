"""Benchmark: model quality on the school-style export next to the native shape of the same world (issue 17).

One generated college (default 3,000 students, 3 school years, a February intake for 20% of each later
intake) is written twice: the native export and ``vsv generate --export-style school`` (dates, Dutch
headers and codes, semicolons, Windows-1252, results per assessment, two signals of the school's own).
Each is imported into a fresh SQLite store and trained with the shipped training configuration (pandas
engine, no MLflow), three ways:

* ``native``: the contract's export;
* ``school, no extensions``: the school export with an empty extension register: the same inputs as native,
  so any difference comes from the import (dates, assessments);
* ``school, extensions``: the school export with its ``extensions.yaml``: the two signals become inputs
  when their proxy check passes.

Test-year ROC-AUC (all as-of weeks, and the mean over weeks 2-6 of the year, where signals known at
enrolment matter most), PR-AUC, precision in the top 5% and the expected calibration error of the model, on
the test rows of each run (the same students and weeks). Usage: python -m bench.bench_school_quality
[--students 3000 --years 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import print_table, write_json


def _train_on(folder: Path, mapping: Path | None, extensions: Path, out: Path) -> dict[str, Any]:
    from data.calendar import load_school_calendar
    from data.csv_io import import_directory
    from data.extensions import clear_extension_cache
    from data.mapping import load_mapping
    from data.questionnaire import load_questionnaire
    from data.store import load_raw_tables, make_engine, read_table, upgrade
    from training.config import load_config
    from training.pipeline import train

    os.environ["VSV_EXTENSIONS_CONFIG"] = str(extensions)
    clear_extension_cache()
    engine = make_engine(f"sqlite:///{out / 'vsv.db'}")
    upgrade(engine)
    started = time.perf_counter()
    import_directory(
        engine,
        folder,
        "bench-key",
        load_questionnaire(),
        mapping=None if mapping is None else load_mapping(mapping),
        calendar=load_school_calendar(),
    )
    import_s = time.perf_counter() - started
    tables, audit = load_raw_tables(engine), read_table(engine, "audit_attributes")
    engine.dispose()
    started = time.perf_counter()
    result = train(tables, load_config(), out / "run", audit=audit, registered_model=None)
    model = result.evaluation.overall.loc["model"]
    by_week = result.evaluation.by_week
    early = by_week[(by_week["scorer"] == "model") & by_week["week_in_year"].between(2, 6)]
    checks = result.model.metadata.get("extension_checks", [])
    return {
        "import_s": round(import_s, 1),
        "train_s": round(time.perf_counter() - started, 1),
        "inputs": len(result.model.features),
        "roc_auc": round(float(model["roc_auc"]), 4),
        "roc_auc_weeks_2_6": round(float(early["roc_auc"].mean()), 4),
        "pr_auc": round(float(model["pr_auc"]), 4),
        "precision_at_k": round(float(model["precision_at_k"]), 4),
        "ece": round(float(model["ece"]), 4),
        "test_rows": int(model["n"]),
        "extensions": "; ".join(f"{c['name']}: {c['why']}" for c in checks) or "-",
    }


def _without_signals(school: Path, out: Path) -> Path:
    """A copy of the school export without its two signals (columns and mapping lines), as a college that
    does not declare them would import it."""
    import pandas as pd
    import yaml

    shutil.copytree(school, out)
    enrolment = out / "Inschrijvingen.csv"
    frame = pd.read_csv(enrolment, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    signals = ["Eerdere pogingen", "Cijfer vooropleiding"]
    frame.drop(columns=signals).to_csv(enrolment, sep=";", encoding="cp1252", index=False)
    mapping = yaml.safe_load((out / "mapping.yaml").read_text(encoding="utf-8"))
    for column in signals:
        del mapping["columns"]["students"][column]
    (out / "mapping.yaml").write_text(
        yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--years", type=int, default=3)
    args = parser.parse_args()

    from data.synthetic.generator import GeneratorConfig
    from data.synthetic.school_export import write_school_export
    from data.synthetic.writer import write_generated

    config = GeneratorConfig(seed=0, n_students=args.students, n_years=args.years, february_intake_share=0.2)
    tmp = Path(tempfile.mkdtemp(prefix="vsv-bench-quality-"))
    try:
        native, school = tmp / "native", tmp / "school"
        write_generated(config, native)
        (native / "synthetic_truth.csv").unlink()  # a school has no truth: both shapes hold the same
        write_school_export(config, school)
        empty = tmp / "no_extensions.yaml"
        empty.write_text("extensions: []\n", encoding="utf-8")
        plain = _without_signals(school, tmp / "school_plain")
        runs = [
            ("native", native, None, empty),
            ("school, no extensions", plain, plain / "mapping.yaml", empty),
            ("school, extensions", school, school / "mapping.yaml", school / "extensions.yaml"),
        ]
        rows = []
        for name, folder, mapping, extensions in runs:
            out = tmp / ("run_" + name.replace(", ", "_").replace(" ", "_"))
            out.mkdir()
            rows.append({"shape": name, **_train_on(folder, mapping, extensions, out)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    native_auc = rows[0]["roc_auc"]
    for row in rows:
        row["roc_auc_vs_native"] = round(row["roc_auc"] - native_auc, 4)
    print_table(
        f"Model quality by export shape: {args.students:,} students, {args.years} school years, one world",
        rows,
        [
            "shape",
            "inputs",
            "test_rows",
            "roc_auc",
            "roc_auc_vs_native",
            "roc_auc_weeks_2_6",
            "pr_auc",
            "precision_at_k",
            "ece",
        ],
    )
    for row in rows:
        print(f"  {row['shape']}: import {row['import_s']} s, train {row['train_s']} s; {row['extensions']}")
    path = write_json("school_quality", {"students": args.students, "years": args.years, "runs": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
