"""The latest `vsv effect` result per measure, kept under ``<reports>/effects/<measure>.json`` for the page
of the data team and auditors (an estimate takes a snapshot per start week: too slow to make in a request).

Each file holds the result's JSON (:meth:`monitoring.effect.EffectResult.to_json`) with the moment it was
made; written to a temporary file and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EFFECTS_DIR = "effects"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def effects_dir(reports_dir: Path) -> Path:
    return reports_dir / EFFECTS_DIR


def save_results(
    reports_dir: Path, results: Iterable[Mapping[str, Any]], *, now: datetime | None = None
) -> list[Path]:
    """Write each result (a ``to_json()`` dict) as ``<measure>.json``; returns the files written."""
    folder = effects_dir(reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    made = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    written: list[Path] = []
    for result in results:
        measure = str(result["measure"])
        if not _NAME.match(measure):
            raise ValueError(f"not a measure name: {measure!r}")
        path = folder / f"{measure}.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({**result, "created_at": made}, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        tmp.replace(path)
        written.append(path)
    return written


def load_results(reports_dir: Path) -> list[dict[str, Any]]:
    """Every saved result, coachklas first, then by measure name; unreadable files are skipped."""
    folder = effects_dir(reports_dir)
    if not folder.is_dir():
        return []
    results: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(loaded, dict) and "measure" in loaded:
            results.append(loaded)
    return sorted(results, key=lambda r: (r["measure"] != "coachklas", str(r["measure"])))
