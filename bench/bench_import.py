"""Benchmark: importing a college's exports as they come (issue 17), native shape against school shape.

The same generated school (one school year) is written three ways and imported into a fresh SQLite store,
each in its own process: ``native`` (the contract's CSV: UTF-8, commas, decimal points, its own column
names); ``school_csv`` (``vsv generate --export-style school``: Dutch headers and codes, semicolons,
Windows-1252, decimal commas, dates, results per assessment, two declared signals of the school's own,
imported through the mapping file written beside it); ``school_xlsx`` (the same, the files that fit a sheet
as .xlsx workbooks: an .xlsx sheet holds at most 1,048,576 rows, so the weekly attendance and answers of
30,000 students (1.2 M and 10 M rows a year) stay CSV, as a college would have to hand them over too).

Usage: python -m bench.bench_import [--students 30000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.common import measure_here, print_table, run_child, write_json

SHAPES = ("native", "school_csv", "school_xlsx")
XLSX_MAX_ROWS = 1_048_575  # below the header


def _as_workbooks(folder: Path) -> None:
    """The school export's files that fit a sheet as .xlsx workbooks (cells as the CSV's text), renamed in
    its mapping file."""
    mapping_path = folder / "mapping.yaml"
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    files: dict[str, str] = {}
    for name, table in mapping["files"].items():
        frame = pd.read_csv(folder / name, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
        if len(frame) > XLSX_MAX_ROWS:
            files[name] = table
            continue
        workbook = name.replace(".csv", ".xlsx")
        frame.to_excel(folder / workbook, index=False)
        (folder / name).unlink()
        files[workbook] = table
    mapping["files"] = files
    mapping_path.write_text(yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _import(n_students: int, shape: str) -> dict[str, Any]:
    import time

    from data.calendar import load_school_calendar
    from data.csv_io import import_directory
    from data.mapping import load_mapping
    from data.questionnaire import load_questionnaire
    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig
    from data.synthetic.school_export import write_school_export
    from data.synthetic.writer import write_generated

    tmp = Path(tempfile.mkdtemp(prefix="vsv-bench-import-"))
    try:
        config = GeneratorConfig(seed=0, n_students=n_students, n_years=1)
        folder, mapping = tmp / shape, None
        started = time.perf_counter()
        if shape == "native":
            write_generated(config, folder, fmt="csv")
            (folder / "synthetic_truth.csv").unlink()  # a school has no truth
        else:
            write_school_export(config, folder)
            if shape == "school_xlsx":
                _as_workbooks(folder)
            os.environ["VSV_EXTENSIONS_CONFIG"] = str(folder / "extensions.yaml")
            mapping = load_mapping(folder / "mapping.yaml")
        prepare_s = time.perf_counter() - started
        url = f"sqlite:///{tmp / 'vsv.db'}"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        reports = import_directory(
            engine,
            folder,
            "bench-key",
            load_questionnaire(),
            mapping=mapping,
            calendar=load_school_calendar(),
        )
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
