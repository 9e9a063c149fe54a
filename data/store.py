"""The store: engine creation, migrations, and reading raw tables back into memory.

SQLite under ``var/`` is the embedded default; PostgreSQL is the production store
(``VSV_DATABASE_URL=postgresql+psycopg://...``). Both run the same Alembic migrations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url

from data.contracts import CONTRACTS, STUDENT_NUMBER
from data.schema import AttendanceWeek, QuestionnaireAnswer
from data.tables import MODEL_TABLES, RawTables

ALEMBIC_DIR = Path(__file__).with_name("alembic")
# The pseudonymised raw tables in the order they may be written (students first): the order of the
# contract. The identity table (``identities``: student numbers and names) is left out on purpose: it is
# kept apart (the generator writes it to a folder of its own), written after these, never loaded for a model.
TABLE_ORDER = tuple(name for name, spec in CONTRACTS.items() if not spec.identifying)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for ``url``; for SQLite the parent folder is created and foreign keys are enforced.

    ``pool_size`` connections stay open (PostgreSQL); up to ``max_overflow`` more are opened under bursts
    and closed again when returned (each new PostgreSQL connection costs a process on the server)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def alembic_config(engine: Engine) -> Config:
    cfg = _script_config()
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def head_revision() -> str:
    """The newest migration in ``data/alembic``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_script_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _script_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    return cfg


def schema_revision(engine: Engine) -> str | None:
    """The migration the store is at (None for a store that was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        revision: str | None = MigrationContext.configure(conn).get_current_revision()
        return revision


def schema_problem(engine: Engine) -> str | None:
    """Why the store cannot be used as it is (not migrated, or behind the code), or None."""
    current, head = schema_revision(engine), head_revision()
    if current is None:
        return "the store has not been migrated: run `vsv db upgrade`"
    if current != head:
        return f"the store is at migration {current}, the code needs {head}: run `vsv db upgrade`"
    return None


def current_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def ensure_schema(engine: Engine) -> None:
    """Fail with a clear message when the store has not been migrated or is behind the code."""
    missing = set(CONTRACTS) - current_tables(engine)
    if missing:
        raise RuntimeError(
            f"the store at {engine.url.render_as_string(hide_password=True)} lacks tables "
            f"{sorted(missing)}; run `vsv db upgrade` first"
        )
    problem = schema_problem(engine)
    if problem is not None:
        raise RuntimeError(problem)


# A range of pseudonyms, ``[low, high)``; None leaves that end open (the weekly job's chunks of students).
StudentRange = tuple[str | None, str | None]


def read_table(
    engine: Engine,
    table: str,
    since_week: int | None = None,
    until_week: int | None = None,
    students: StudentRange | None = None,
) -> pd.DataFrame:
    """One table as a DataFrame, optionally limited to a range of weeks (inclusive) and of students."""
    if table not in CONTRACTS:
        raise ValueError(f"unknown table {table!r}; known tables: {', '.join(CONTRACTS)}")
    clauses: list[str] = []
    params: dict[str, int | str] = {}
    low, high = students if students is not None else (None, None)
    if low is not None:
        clauses.append("student_id >= :low")
        params["low"] = low
    if high is not None:
        clauses.append("student_id < :high")
        params["high"] = high
    has_week = "week" in CONTRACTS[table].column_names
    if has_week and since_week is not None:
        clauses.append("week >= :since")
        params["since"] = since_week
    if has_week and until_week is not None:
        clauses.append("week <= :until")
        params["until"] = until_week
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = " ORDER BY " + ", ".join(("student_id", *CONTRACTS[table].key))
    if engine.dialect.name == "postgresql":
        return _arrow_read(engine, table, where + order, params)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # straight through sqlite3: 1.6x faster than SQLAlchemy's rows
            sqlite: Any = conn.connection.dbapi_connection
            frame: pd.DataFrame = pd.read_sql(f"SELECT * FROM {table}{where}{order}", sqlite, params=params)
        else:
            frame = pd.read_sql(text(f"SELECT * FROM {table}{where}{order}"), conn, params=params)
    # read_sql gives a number column that is NULL in every row as objects: the contract's type instead
    empty = [c.name for c in CONTRACTS[table].columns if c.kind != "str" and frame[c.name].dtype == object]
    return frame.astype({name: "float64" for name in empty}) if empty else frame


def _arrow_read(engine: Engine, table: str, clauses: str, params: dict[str, int | str]) -> pd.DataFrame:
    """``SELECT`` of ``table``'s contract columns through Apache Arrow's ADBC driver for PostgreSQL
    (``adbc-driver-postgresql``: the rows come over COPY in binary and are laid out in columns in C++),
    about 4x faster than ``pandas.read_sql`` building a Python tuple per row, which was most of the
    national weekly job's time. The frame is the one ``read_sql`` gives: the contract's types (int64,
    float64, objects), NULL as NaN in numbers and None in text."""
    from adbc_driver_postgresql import dbapi as adbc

    spec = CONTRACTS[table]
    kinds = {"student_id": "str", STUDENT_NUMBER: "str"} | {c.name: c.kind for c in spec.columns}
    columns = list(spec.all_columns)
    literal = {name: dbapi_literal(value) for name, value in params.items()}
    query = re.sub(r":(\w+)", lambda m: literal[m.group(1)], clauses)
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(uri) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table}{query}")
        frame: pd.DataFrame = cursor.fetch_arrow_table().to_pandas()
    numbers = {name: kinds[name] for name in columns if kinds[name] != "str"}
    return frame.astype(
        {
            name: "int64" if kind == "int" and not frame[name].isna().any() else "float64"
            for name, kind in numbers.items()
        }
    )


def dbapi_literal(value: int | str) -> str:
    """``value`` as an SQL literal, for a statement sent without bound parameters: an integer as digits,
    text quoted with its quotes doubled (standard_conforming_strings, PostgreSQL's default)."""
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def load_raw_tables(
    engine: Engine,
    until_week: int | None = None,
    since_week: int | None = None,
    students: StudentRange | None = None,
) -> RawTables:
    """The model's raw tables from the store, as known by the end of ``until_week``.

    ``since_week`` limits the weekly answers and attendance to a recent window (students, progress
    results and outcomes are always read whole), which is all a weekly snapshot needs
    (``features.LOOKBACK_WEEKS``). ``students`` limits every table to a range of pseudonyms.
    """
    windowed = ("questionnaire_answers", "attendance_weeks")
    frames = {
        name: read_table(
            engine,
            name,
            since_week=since_week if name in windowed else None,
            until_week=until_week,
            students=students,
        )
        for name in MODEL_TABLES
    }
    tables = RawTables(**frames)
    return tables.until(until_week) if until_week is not None else tables


def latest_week(bind: Engine | Connection) -> int | None:
    """The latest school week with attendance or questionnaire answers in the store (None when empty).

    The one definition of "the latest week": the weekly job, monitoring, promotion and retention all use
    it (through :meth:`data.context.DeploymentContext.latest_week`); :meth:`data.tables.RawTables.latest_week`
    is the same fact on loaded tables.
    """
    if isinstance(bind, Connection):  # inside a transaction: sees what it wrote
        weeks = [
            bind.execute(select(func.max(table.week))).scalar_one_or_none()
            for table in (AttendanceWeek, QuestionnaireAnswer)
        ]
    else:
        with bind.connect() as conn:
            return latest_week(conn)
    known = [int(w) for w in weeks if w is not None]
    return max(known) if known else None
