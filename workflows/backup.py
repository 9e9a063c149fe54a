"""Backup and restore of the whole store in a portable file (SQLite <-> PostgreSQL).

A backup is a zip file: ``manifest.json`` (format, schema revision, rows and SHA-256 per table) and one
``tables/<name>.jsonl`` per table (one JSON object per row; timestamps as ISO 8601). It is read from one
consistent snapshot (one read transaction; on PostgreSQL REPEATABLE READ). A restore checks every
checksum, needs an empty store at the same schema revision (it migrates an empty database first), writes
all tables in one transaction in foreign-key order, resets PostgreSQL's id sequences and finally checks
the audit log's hash chain. The backup holds pseudonymised personal data: keep it as safe as the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Engine, Integer, Table, func, insert, inspect, select, text

from data.schema import Base
from data.store import upgrade

FORMAT = "vroegsignaal-backup/1"
BATCH = 2_000


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    revision: str | None
    rows: dict[str, int]


def _tables() -> list[Table]:
    """The store's tables in foreign-key order (parents first)."""
    return list(Base.metadata.sorted_tables)


def _revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return None if value is None else str(value)


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite gives back naive UTC
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    for column in table.columns:
        value = row.get(column.name)
        if value is None:
            continue
        if isinstance(column.type, DateTime):
            row[column.name] = datetime.fromisoformat(value)
        elif isinstance(column.type, Date):
            row[column.name] = date.fromisoformat(value)
    return row


def backup(engine: Engine, out: Path) -> BackupSummary:
    """Write the whole store to the zip file ``out`` (replaced atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    rows: dict[str, int] = {}
    checksums: dict[str, str] = {}
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        revision = _revision(conn)
        present = set(inspect(conn).get_table_names())
        unknown = sorted(present - {t.name for t in _tables()} - {"alembic_version"})
        if unknown:
            raise RuntimeError(f"the store has tables this version does not know: {unknown}; backup refused")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in _tables():
                if table.name not in present:
                    continue
                buffer = io.StringIO()
                count = 0
                order = list(table.primary_key.columns)
                for row in conn.execute(select(table).order_by(*order)).mappings():
                    buffer.write(json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False))
                    buffer.write("\n")
                    count += 1
                data = buffer.getvalue().encode("utf-8")
                archive.writestr(f"tables/{table.name}.jsonl", data)
                rows[table.name] = count
                checksums[table.name] = hashlib.sha256(data).hexdigest()
            manifest = {
                "format": FORMAT,
                "created_at": datetime.now(UTC).isoformat(),
                "revision": revision,
                "backend": conn.dialect.name,
                "tables": {name: {"rows": rows[name], "sha256": checksums[name]} for name in rows},
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    partial.replace(out)
    return BackupSummary(out, revision, rows)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        manifest: dict[str, Any] = json.loads(archive.read("manifest.json"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path} is not a Vroegsignaal backup ({FORMAT})")
        data: dict[str, bytes] = {}
        for name, meta in manifest["tables"].items():
            blob = archive.read(f"tables/{name}.jsonl")
            if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
                raise ValueError(f"{path}: table {name} does not match its checksum; the backup is damaged")
            data[name] = blob
    return manifest, data


def _reset_sequences(conn: Connection, table: Table) -> None:
    for column in table.primary_key.columns:
        if isinstance(column.type, Integer) and column.autoincrement is True:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT NULL) FROM {table.name}"
                )
            )


def restore(engine: Engine, path: Path) -> BackupSummary:
    """Restore the backup ``path`` into the empty store of ``engine``, in one transaction."""
    manifest, data = _read(path)
    with engine.connect() as conn:
        fresh = _revision(conn) is None
    if fresh:  # an empty database: bring it to the backup's schema first
        upgrade(engine, manifest["revision"] or "head")
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        if _revision(conn) != manifest["revision"]:
            raise ValueError(
                f"the store is at schema revision {_revision(conn)}, the backup at {manifest['revision']}"
            )
        for table in _tables():
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                raise ValueError(f"the store is not empty (table {table.name}); restore needs an empty store")
        for table in _tables():
            if table.name not in data:
                continue
            lines = data[table.name].decode("utf-8").splitlines()
            batch: list[dict[str, Any]] = []
            for line in lines:
                batch.append(_decode(table, json.loads(line)))
                if len(batch) >= BATCH:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
            rows[table.name] = len(lines)
            if rows[table.name] != manifest["tables"][table.name]["rows"]:
                raise ValueError(f"table {table.name}: {rows[table.name]} rows, the manifest says otherwise")
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, table)
    return BackupSummary(path, manifest["revision"], rows)
