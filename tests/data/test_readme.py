"""The README documents the CSV contract as the code enforces it."""

from __future__ import annotations

from pathlib import Path

from data.contracts import CONTRACTS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_contract_column_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## CSV column contract") :]
    section = section[: section.index("\n## ", 3)]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("|")]
    documented: dict[str, set[str]] = {}
    table = ""
    for cells in rows[2:]:
        table = cells[1].strip() or table
        documented.setdefault(table, set()).add(cells[3].strip())
    for name, spec in CONTRACTS.items():
        assert documented.get(name) == set(spec.column_names), name
