"""Write generated cohorts to files, chunk by chunk, the way a school's exports would arrive."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy import Engine

from data.action_types import ActionTypes, cached_action_types
from data.calendar import SchoolCalendar, cached_school_calendar
from data.contracts import CONTRACTS, contract
from data.csv_io import write_frame
from data.history import store_history
from data.questionnaire import Questionnaire
from data.store import TABLE_ORDER
from data.synthetic.generator import (
    STAFF_TABLES,
    TABLES,
    GeneratorConfig,
    coachklas_capacity,
    generate_chunks,
)
from data.tables import RawTables

STAFF_DIR = "staff"
CAPACITY_TABLE = "coachklas_capacity"

FileFormat = Literal["csv", "parquet"]


def write_generated(
    config: GeneratorConfig,
    out_dir: Path,
    fmt: FileFormat = "csv",
    questionnaire: Questionnaire | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Generate and write every table to ``out_dir/<table>.<fmt>``; returns rows per table.

    The identity table (names and student numbers) is kept apart, in a folder of its own:
    ``out_dir/identities/identities.csv``. So ``vsv import out_dir`` loads the pseudonymised tables, and
    the names come in only when asked for (``vsv import out_dir/identities``).

    What the staff did is kept apart too, in ``out_dir/staff/``: ``coachklas_capacity.csv``,
    ``coachklas_placements.csv`` and ``actions.csv`` (always CSV: they are small), the history that
    ``vsv import-history out_dir/staff`` imports. They are not raw tables of the contract: a school's
    history of placements and actions comes from its own records, not from the weekly exports.

    Files are written into a temporary folder next to ``out_dir`` that replaces it only when complete,
    so an interrupted run leaves no half-written dataset. Parquet output is one part file per chunk
    (``<table>/part-00000.parquet``), which keeps memory bounded at national scale.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    counts = dict.fromkeys((*TABLES, CAPACITY_TABLE, *STAFF_TABLES), 0)
    apart = [name for name in TABLES if CONTRACTS[name].identifying]
    for name in apart:
        (tmp / name).mkdir()
    staff_dir = tmp / STAFF_DIR
    staff_dir.mkdir()
    capacity = coachklas_capacity(config)
    capacity.to_csv(staff_dir / f"{CAPACITY_TABLE}.csv", index=False)
    counts[CAPACITY_TABLE] = len(capacity)
    for chunk_no, chunk in enumerate(generate_chunks(config, questionnaire, progress=progress)):
        for name in STAFF_TABLES:
            staff_frame: pd.DataFrame = chunk[name]
            counts[name] += len(staff_frame)
            staff_frame.to_csv(staff_dir / f"{name}.csv", mode="a", header=chunk_no == 0, index=False)
        for name in TABLES:
            frame: pd.DataFrame = chunk[name]
            counts[name] += len(frame)
            if fmt == "csv":
                folder = tmp / name if name in apart else tmp
                frame.to_csv(folder / f"{name}.csv", mode="a", header=chunk_no == 0, index=False)
            else:
                part_dir = tmp / name
                part_dir.mkdir(exist_ok=True)
                frame.to_parquet(part_dir / f"part-{chunk_no:05d}.parquet", index=False)
    (tmp / "GENERATOR_CONFIG.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return counts


# Weekly tables that store_school cuts to a window of weeks (the rest is written whole).
WINDOWED_TABLES = ("questionnaire_answers", "attendance_weeks")


def store_school(
    engine: Engine,
    tables: RawTables,
    audit: pd.DataFrame,
    since: int,
    until: int,
    *,
    truth: pd.DataFrame | None = None,
    staff: Mapping[str, pd.DataFrame] | None = None,
    calendar: SchoolCalendar | None = None,
    action_types: ActionTypes | None = None,
) -> None:
    """Write a generated (pseudonymised) school straight into the store, in one transaction: the weekly
    answers and attendance only for weeks ``since``..``until``; used by fixtures and benchmarks.

    ``truth`` (the generator's ``synthetic_truth``) is written whole when given. ``staff`` is the staff's
    history by table (``coachklas_capacity``, ``coachklas_placements``, ``actions``; by ``student_id``, as
    :func:`data.tables.from_generated` gives them, and the capacity from
    :func:`data.synthetic.generator.coachklas_capacity`), written whole through the history import's own
    checks and writing (:func:`data.history.store_history`, marked ``historie-import``); ``calendar`` and
    ``action_types`` default to the shipped configuration.
    """
    frames: dict[str, pd.DataFrame] = {
        "students": tables.students,
        "audit_attributes": audit,
        "questionnaire_answers": tables.questionnaire_answers,
        "attendance_weeks": tables.attendance_weeks,
        "progress_results": tables.progress_results,
        "outcomes": tables.outcomes,
    }
    if truth is not None:
        frames["synthetic_truth"] = truth
    with engine.begin() as conn:
        for name in TABLE_ORDER:
            if name not in frames:
                continue
            frame = frames[name]
            if name in WINDOWED_TABLES:
                frame = frame[(frame["week"] >= since) & (frame["week"] <= until)]
            write_frame(conn, contract(name), frame)
        if staff:
            store_history(
                conn,
                staff,
                calendar or cached_school_calendar(),
                action_types or cached_action_types(),
            )
