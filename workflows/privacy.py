"""Privacy operations: retention, and access (export) and erasure for one pseudonymised student.

Everything about a student is keyed by the pseudonym ``student_id``; the tables that hold it are found
from the schema (every table with a ``student_id`` column), so a new table is covered without a change
here. That includes the identity table (``identities``: the school's student number and the name, see
:mod:`workflows.identity`): an export hands the student their number and name, an erasure deletes them,
and retention removes them with the rest of an enrolment that ended long ago. The audit log is the
exception: it is append-only and is never touched by retention or erasure
(entries keep the pseudonym, which is meaningless without the pseudonym key); an erasure and every
retention run are themselves written to it, in the same transaction as the deletion. The same holds for
``audit_students``, the students a logged view showed: part of the audit log, not a student table.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, delete, func, select

from data.schema import (
    AuditLog,
    AuditStudent,
    Base,
    LinkToken,
    OutboxMessage,
    Outcome,
    QuestionnaireRound,
    RoundLink,
    Student,
)
from data.store import latest_week
from settings import Settings
from workflows.audit import AuditEntry, append_rows, audit_row, concerning

# Raw weekly data (the school's exports) and the scores derived from them, with their retention setting.
# A college's declared signals (school_signals) are not among them: a value known at enrolment counts as long
# as the enrolment lasts, and goes with the student (erasure, the end of their retention).
RAW_WEEKLY = (
    "questionnaire_answers",
    "attendance_weeks",
    "progress_results",
    "assessment_results",
    "synthetic_truth",
)
SCORE_WEEKLY = ("scores", "band_overrides")


# The audit trail: append-only, never erased, and read for an export only through :func:`audit_entries`.
AUDIT_TABLES = frozenset({AuditLog.__tablename__, AuditStudent.__tablename__})


def operator() -> str:
    """Who runs a command line operation, as written to the audit log."""
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (KeyError, OSError):  # no user name in a bare container
        return "cli:unknown"


def student_tables() -> list[Table]:
    """Every table holding rows about a student, children first (the order to delete in); the identity
    table among them."""
    tables = [t for t in Base.metadata.sorted_tables if "student_id" in t.c and t.name not in AUDIT_TABLES]
    return list(reversed(tables))


def _column(table: Table, name: str) -> Column[Any]:
    return table.c[name]


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(conn: Connection, table: Table, student_id: str) -> list[dict[str, object]]:
    order = list(table.primary_key.columns)
    result = conn.execute(select(table).where(_column(table, "student_id") == student_id).order_by(*order))
    return [{k: _jsonable(v) for k, v in row.items()} for row in result.mappings()]


def export_subject(engine: Engine, student_id: str) -> dict[str, object]:
    """All rows about ``student_id`` (GDPR access), per table, plus who accessed their data (audit log).

    Raises LookupError when the store holds nothing about the student.
    """
    with engine.connect() as conn:
        tables = {t.name: _rows(conn, t, student_id) for t in reversed(student_tables())}
        for table in student_tables():
            for child, column, parent in dependants(table):
                keys = select(parent).where(_of_students(table, [student_id]))
                order = list(child.primary_key.columns)
                result = conn.execute(select(child).where(column.in_(keys)).order_by(*order))
                rows = [{k: _jsonable(v) for k, v in row.items()} for row in result.mappings()]
                tables.setdefault(child.name, []).extend(rows)
        audit = audit_entries(conn, student_id)
    if not any(tables.values()) and not audit:
        raise LookupError(f"the store holds no data about student {student_id!r}")
    return {
        "student_id": student_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "note": (
            "student_id is a pseudonym; the school's student number and the name are kept only in the "
            "identities table (listed here when the store holds them)."
        ),
        "tables": tables,
        "audit_log": audit,
    }


def audit_entries(conn: Connection, student_id: str) -> list[dict[str, object]]:
    """Who accessed the student's data: every audit entry about them (:func:`workflows.audit.concerning`:
    also the views that showed them among others), oldest first. Such a view's detail is left out (before
    migration 0010 it listed the other students), and no other student is named."""
    table = AuditLog.__table__
    result = conn.execute(select(table).where(concerning(student_id)).order_by(AuditLog.audit_id))
    entries = []
    for row in result.mappings():
        entry = {k: _jsonable(v) for k, v in row.items()}
        if row["student_id"] != student_id:
            entry.update(student_id=None, detail=None, shown_among_others=True)
        entries.append(entry)
    return entries


def dependants(table: Table) -> list[tuple[Table, Column[Any], Column[Any]]]:
    """(child table, its column, ``table``'s column) of every table without a ``student_id`` that refers
    to ``table`` (a zorgmelding's events, a link's tokens and e-mails): rows about the student too."""
    found = []
    for child in Base.metadata.sorted_tables:
        if "student_id" in child.c:
            continue
        for fk in child.foreign_keys:
            if fk.column.table is table:
                found.append((child, fk.parent, fk.column))
    return found


def _of_students(table: Table, student_ids: list[str]) -> Any:
    return _column(table, "student_id").in_(student_ids)


def _delete_students(conn: Connection, student_ids: list[str]) -> dict[str, int]:
    """Delete every row about ``student_ids`` (children first, and the rows that refer to them before
    them); returns rows deleted per table."""
    counts: dict[str, int] = {}
    for chunk in _chunks(student_ids, 500):
        for table in student_tables():
            for child, column, parent in dependants(table):
                keys = select(parent).where(_of_students(table, chunk))
                result = conn.execute(delete(child).where(column.in_(keys)))
                counts[child.name] = counts.get(child.name, 0) + int(result.rowcount or 0)
            result = conn.execute(delete(table).where(_of_students(table, chunk)))
            counts[table.name] = counts.get(table.name, 0) + int(result.rowcount or 0)
    return {k: v for k, v in counts.items() if v}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def erase_subject(engine: Engine, student_id: str, reason: str, by: str | None = None) -> dict[str, int]:
    """Delete every row about ``student_id`` (GDPR erasure) and log it, in one transaction.

    Returns the rows deleted per table; raises LookupError when there is nothing to erase and
    ValueError without a reason.
    """
    if not reason.strip():
        raise ValueError("an erasure needs a --reason (e.g. the request's reference)")
    with engine.begin() as conn:
        counts = _delete_students(conn, [student_id])
        if not counts:
            raise LookupError(f"the store holds no data about student {student_id!r}")
        detail = f"reason: {reason.strip()}; deleted: " + ", ".join(
            f"{k} {v}" for k, v in sorted(counts.items())
        )
        entry = AuditEntry("subject_erase", student_id=student_id, detail=detail)
        append_rows(
            conn, [audit_row(None, by or operator(), "admin", "CLI", "vsv subject erase", entry, True)]
        )
    return counts


@dataclass
class RetentionReport:
    """What a retention run deleted (or, in a dry run, would delete)."""

    now_week: int | None
    raw_before_week: int | None
    scores_before_week: int | None
    deleted: dict[str, int] = field(default_factory=dict)
    students_removed: int = 0
    audit_entries_kept: int = 0
    oldest_audit_entry: datetime | None = None
    dry_run: bool = False


def _weekly_table(name: str) -> Table:
    table = Base.metadata.tables[name]
    return table


def _delete_old_rounds(conn: Connection, before_week: int) -> dict[str, int]:
    """Questionnaire rounds of weeks before ``before_week``, with their links, tokens and e-mails (raw
    weekly data like the answers they collected)."""
    rounds = select(QuestionnaireRound.round_id).where(QuestionnaireRound.week < before_week)
    links = select(RoundLink.link_id).where(RoundLink.round_id.in_(rounds))
    counts = {}
    for table, condition in (
        (LinkToken, LinkToken.link_id.in_(links)),
        (OutboxMessage, OutboxMessage.link_id.in_(links)),
        (RoundLink, RoundLink.round_id.in_(rounds)),
        (QuestionnaireRound, QuestionnaireRound.week < before_week),
    ):
        result = conn.execute(delete(table).where(condition))
        counts[str(table.__tablename__)] = int(result.rowcount or 0)
    return counts


def apply_retention(
    engine: Engine,
    settings: Settings,
    now_week: int | None = None,
    dry_run: bool = False,
    by: str | None = None,
) -> RetentionReport:
    """Delete raw weekly data older than ``retention_raw_weeks`` and scores older than
    ``retention_score_weeks`` school weeks before ``now_week`` (default: the latest week in the store),
    and remove students whose enrolment ended before the raw cut-off entirely. The audit log is kept
    whole (it is append-only; at least ``audit_retention_min_weeks``). A dry run rolls back.
    """
    now_week = latest_week(engine) if now_week is None else now_week
    report = RetentionReport(now_week, None, None, dry_run=dry_run)
    with engine.connect() as conn:
        report.audit_entries_kept = int(conn.execute(select(func.count()).select_from(AuditLog)).scalar_one())
        report.oldest_audit_entry = conn.execute(select(func.min(AuditLog.at))).scalar_one_or_none()
    if now_week is None:
        return report
    report.raw_before_week = now_week - settings.retention_raw_weeks
    report.scores_before_week = now_week - settings.retention_score_weeks
    conn = engine.connect()
    transaction = conn.begin()
    try:
        ended = list(
            conn.execute(
                select(Student.student_id)
                .join(Outcome, Outcome.student_id == Student.student_id)
                .where(Outcome.week < report.raw_before_week)
            ).scalars()
        )
        deleted = _delete_students(conn, ended)
        report.students_removed = len(ended)
        cutoffs = [(n, report.raw_before_week) for n in RAW_WEEKLY]
        cutoffs += [(n, report.scores_before_week) for n in SCORE_WEEKLY]
        for name, before in cutoffs:
            table = _weekly_table(name)
            result = conn.execute(delete(table).where(_column(table, "week") < before))
            deleted[name] = deleted.get(name, 0) + int(result.rowcount or 0)
        for name, count in _delete_old_rounds(conn, report.raw_before_week).items():
            deleted[name] = deleted.get(name, 0) + count
        report.deleted = {k: v for k, v in deleted.items() if v}
        if dry_run:
            transaction.rollback()
        else:
            detail = (
                f"now week {now_week}; raw before week {report.raw_before_week}; scores before week "
                f"{report.scores_before_week}; students removed {report.students_removed}; deleted: "
                + (", ".join(f"{k} {v}" for k, v in sorted(report.deleted.items())) or "nothing")
            )
            entry = AuditEntry("retention_apply", week=now_week, detail=detail)
            append_rows(
                conn, [audit_row(None, by or operator(), "admin", "CLI", "vsv retention apply", entry, True)]
            )
            transaction.commit()
    except BaseException:
        if transaction.is_active:
            transaction.rollback()
        raise
    finally:
        conn.close()
    return report
