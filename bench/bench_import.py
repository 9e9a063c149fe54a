"""Benchmark: importing a college's exports as they come (issue 17), native shape against school shape.

The same generated school (one school year) is written three ways and imported into a fresh SQLite store,
each in its own process: ``native`` (the contract's CSV: UTF-8, commas, decimal points, its own column
names); ``school_csv`` (Dutch Excel CSV: Windows-1252, semicolons, decimal commas, Dutch headers and codes,
imported through a mapping file); ``school_xlsx`` (the same through a mapping, the tables that fit a sheet
as .xlsx workbooks: an .xlsx sheet holds at most 1,048,576 rows, so the weekly attendance and answers of
30,000 students (1.2 M and 10 M rows a year) stay CSV, as a college would have to hand them over too).

Usage: python -m bench.bench_import [--students 30000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.common import measure_here, print_table, run_child, write_json

SHAPES = ("native", "school_csv", "school_xlsx")
XLSX_MAX_ROWS = 1_048_575  # below the header
DUTCH = {
    "student_number": "Studentnummer",
    "programme": "Opleiding",
    "sector": "Sector",
    "level": "Niveau",
    "route": "Leerweg",
    "team": "Klas",
    "prior_education": "Vooropleiding",
    "start_week": "Startweek",
    "age_at_start": "Leeftijd bij start",
    "expected_duration_years": "Opleidingsduur",
    "gender": "Geslacht",
    "scheduled_hours": "Geroosterd",
    "present_hours": "Aanwezig",
    "authorised_absence_hours": "Geoorloofd afwezig",
    "unauthorised_absence_hours": "Ongeoorloofd afwezig",
    "week": "Week",
    "outcome": "Uitstroom",
}
GENDER_CODES = {"man": "M", "vrouw": "V", "x": "X"}


def _school_shape(native: Path, out: Path, xlsx: bool) -> Path:
    """``native``'s tables as a school's systems hand them over, with the mapping file that imports them."""
    out.mkdir(parents=True)
    mapping: dict[str, Any] = {"files": {}, "columns": {}, "values": {}}
    for csv in sorted(native.glob("*.csv")):
        table = csv.stem
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if table == "audit_attributes":  # the school records gender only
            frame = frame.drop(columns=["migration_background"])
            frame["gender"] = frame["gender"].map(GENDER_CODES)
            mapping["values"][table] = {"gender": {v: k for k, v in GENDER_CODES.items()}}
        renames = {c: DUTCH[c] for c in frame.columns if c in DUTCH}
        frame = frame.rename(columns=renames)
        for column in frame.columns:  # decimal commas
            if frame[column].str.fullmatch(r"-?\d+\.\d+").any():
                frame[column] = frame[column].str.replace(".", ",", regex=False)
        name = f"{table} (export).{'xlsx' if xlsx and len(frame) <= XLSX_MAX_ROWS else 'csv'}"
        if name.endswith(".xlsx"):
            frame.to_excel(out / name, index=False)
        else:
            frame.to_csv(out / name, sep=";", index=False, encoding="cp1252")
        mapping["files"][name] = table
        mapping["columns"][table] = {dutch: ours for ours, dutch in renames.items()}
    path = out / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return path


def _import(n_students: int, shape: str) -> dict[str, Any]:
    import time

    from data.csv_io import import_directory
    from data.mapping import load_mapping
    from data.questionnaire import load_questionnaire
    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig
    from data.synthetic.writer import write_generated

    tmp = Path(tempfile.mkdtemp(prefix="vsv-bench-import-"))
    try:
        native = tmp / "native"
        write_generated(GeneratorConfig(seed=0, n_students=n_students, n_years=1), native, fmt="csv")
        (native / "synthetic_truth.csv").unlink()  # a school has no truth: the same tables in every shape
        folder, mapping = native, None
        started = time.perf_counter()
        if shape != "native":
            mapping = load_mapping(_school_shape(native, tmp / shape, xlsx=shape == "school_xlsx"))
            folder = tmp / shape
        prepare_s = time.perf_counter() - started
        url = f"sqlite:///{tmp / 'vsv.db'}"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        reports = import_directory(engine, folder, "bench-key", load_questionnaire(), mapping=mapping)
        import_s = time.perf_counter() - started
        engine.dispose()
        return {
            "students": n_students,
            "shape": shape,
            "rows": sum(r.rows for r in reports),
            "files": len(reports),
            "formats": sorted({r.file_format for r in reports}),
            "write_export_s": round(prepare_s, 1),
            "import_s": round(import_s, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_here(lambda: _import(args.students, args.shapes[0]))
        return
    rows = [
        run_child("bench.bench_import", ["--students", str(args.students), "--shapes", s])
        for s in args.shapes
    ]
    native = next((r for r in rows if r["shape"] == "native"), None)
    for r in rows:
        r["rows_per_s"] = round(r["rows"] / r["import_s"]) if r["import_s"] else "-"
        r["vs_native"] = (
            round(r["import_s"] / native["import_s"], 2) if native and native["import_s"] else "-"
        )
    print_table(
        f"Import of one school year, {args.students:,} students, into a fresh SQLite store (a process each)",
        rows,
        ["shape", "files", "rows", "import_s", "rows_per_s", "vs_native", "peak_rss_mb", "write_export_s"],
    )
    for r in rows:
        print(f"  {r['shape']}: {'; '.join(r['formats'])}")
    path = write_json("import", {"runs": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
