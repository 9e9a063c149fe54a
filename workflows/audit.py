"""The append-only audit trail: who asked for which student's data, when, and whether it was allowed.

Entries are written in short transactions of their own (not the request's), so a denied or failed
request still leaves its trace, and an entry is committed *before* data are returned: no access without a
trail. The service writes through :class:`AuditWriter`, which commits the entries of concurrent requests
together (group commit); the command line and tests use :func:`write_audit`.

A request that shows many students (a risk list, an export, a queue) writes one entry naming all of them
(:attr:`AuditEntry.students`): rows of ``audit_students`` (audit_id, student_id), indexed by student and
inserted in the entry's transaction, so the search by student (:func:`concerning`) finds the entry as it
found the one-entry-per-student rows before (migration 0010).

Integrity: the entries form a hash chain. Entry ``seq`` n carries ``prev_hash`` (the ``entry_hash`` of
entry n-1; :data:`GENESIS` for the first) and ``entry_hash`` = SHA-256 of its canonical content (every
column but the key, the sorted students it names when it names any, plus ``seq`` and ``prev_hash``; see
:func:`canonical`): a student added to or removed from an entry breaks its hash. Writers are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``, the database write lock)
so the chain never forks, and the entry is hashed in the transaction that inserts it.
:func:`verify_chain` (``vsv audit verify``) recomputes the chain and names the first entry that was
edited, or that follows a deleted one. Database triggers (migrations 0002, 0010) refuse UPDATE and DELETE;
the chain detects what someone with the power to switch the triggers off did anyway. Deleting the
newest entries leaves a valid shorter chain: compare the head that ``vsv audit verify`` prints with one
recorded elsewhere (``--expect-head``) to detect that too.

Writing never fails on what a request carried: every string is cut to its column's length (read from the
table declaration) and ``detail`` to :data:`MAX_DETAIL_CHARS`, and control characters (PostgreSQL refuses
NUL in text) are written as ``\\xNN``, before the entry is hashed. A request without a valid token is
recorded too (:meth:`AuditWriter.write_anonymous`): no user id, the user name :data:`ANONYMOUS` and the role
:data:`NO_ROLE`, which is no role of :class:`workflows.users.Role`.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, String, insert, or_, select, text
from sqlalchemy.orm import Session

from data.schema import AuditLog, AuditStudent
from workflows.users import CurrentUser

GENESIS = "0" * 64
# Key of the PostgreSQL advisory lock that serialises audit writers (any fixed 64-bit number).
AUDIT_LOCK_KEY = 0x76737661756469  # "vsvaudi"
HASHED_FIELDS = (
    "at",
    "user_id",
    "user_name",
    "role",
    "action",
    "method",
    "path",
    "student_id",
    "team",
    "week",
    "allowed",
    "detail",
)


# The user name and role of an entry written for a request without a valid token (no user, so no role).
ANONYMOUS = "(anoniem)"
NO_ROLE = "-"
# ``detail`` is TEXT. Entries written before migration 0010 carry a view's students in it (one view of
# 1,000 students of 32 characters is about 33,000 characters); newer ones name them in ``audit_students``.
MAX_DETAIL_CHARS = 40_000
TRUNCATED = "…"
# C0 control characters and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _column_lengths() -> dict[str, int]:
    """The length of every bounded string column of ``audit_log``, from its declaration."""
    return {
        column.name: column.type.length
        for column in AuditLog.__table__.columns
        if isinstance(column.type, String) and column.type.length is not None
    }


COLUMN_LENGTHS = _column_lengths()


def fit(value: str, limit: int) -> str:
    """``value`` as the audit log can always store it: control characters as ``\\xNN``, at most ``limit``
    characters (a cut value ends in :data:`TRUNCATED`)."""
    clean = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return clean if len(clean) <= limit else clean[: limit - len(TRUNCATED)] + TRUNCATED


def _fit_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every string of an audit row fitted to its column (``detail`` to :data:`MAX_DETAIL_CHARS`)."""
    limits = {**COLUMN_LENGTHS, "detail": MAX_DETAIL_CHARS}
    return {
        name: fit(value, limits[name]) if isinstance(value, str) and name in limits else value
        for name, value in row.items()
    }


@dataclass(frozen=True)
class AuditEntry:
    """What one request did to (or asked of) one student, team or week.

    ``students``: every student a view of many showed (a risk list, an export, a queue), for one entry per
    view instead of one per student; stored in ``audit_students`` and covered by the entry's hash.
    """

    action: str
    student_id: str | None = None
    team: str | None = None
    week: int | None = None
    detail: str | None = None
    students: Sequence[str] = ()


# The key of an audit row (:func:`audit_row`) that holds its students; not a column of ``audit_log``.
STUDENTS = "students"
# ``audit_students.student_id`` is declared as ``audit_log.student_id`` is.
STUDENT_ID_LENGTH = COLUMN_LENGTHS["student_id"]
# Entries whose students are read in one query while the chain is verified.
VERIFY_BATCH = 1000


def listed_students(student_ids: Iterable[str]) -> tuple[str, ...]:
    """Students as an entry holds them: each fitted to the column (:func:`fit`), once, sorted (the order
    its hash covers)."""
    return tuple(sorted({fit(s, STUDENT_ID_LENGTH) for s in student_ids}))


def _timestamp(value: object) -> str:
    """A timestamp as the same string whatever the backend returns (SQLite drops the time zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[Any, Any], seq: int, prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: sorted-key JSON of its content, ``seq`` and ``prev_hash``."""
    content: dict[str, object] = {name: row[name] for name in HASHED_FIELDS}
    content["at"] = _timestamp(row["at"])
    content["allowed"] = bool(row["allowed"])
    content["seq"] = seq
    content["prev_hash"] = prev_hash
    # An entry that names students covers them too; one without (every entry written before migration
    # 0010) is hashed exactly as before, so old chains still verify.
    students = row.get(STUDENTS)
    if students:
        content[STUDENTS] = sorted(students)
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(row: Mapping[Any, Any], seq: int, prev_hash: str) -> str:
    return hashlib.sha256(canonical(row, seq, prev_hash)).hexdigest()


def _lock(conn: Connection) -> None:
    """Serialise audit writers until the end of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        # Take the database write lock now, before reading the head (a deferred transaction would only
        # take it at the INSERT, after another writer may have read the same head).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def chain_head(conn: Connection) -> tuple[int, str]:
    """(seq, entry_hash) of the newest entry, or (0, GENESIS) for an empty log."""
    row = conn.execute(
        select(AuditLog.seq, AuditLog.entry_hash)
        .where(AuditLog.seq.is_not(None))
        .order_by(AuditLog.seq.desc())
        .limit(1)
    ).first()
    if row is None or row.entry_hash is None:
        return 0, GENESIS
    return int(row.seq), str(row.entry_hash)


def append_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (AuditLog columns, without the chain, and their :data:`STUDENTS`) to the chain,
    inside ``conn``'s transaction: the entries and the students they name, together or not at all."""
    if not rows:
        return
    _lock(conn)
    seq, head = chain_head(conn)
    chained: list[dict[str, Any]] = []
    for row in rows:
        seq += 1
        digest = entry_hash(row, seq, head)
        columns = {k: v for k, v in row.items() if k != STUDENTS}
        chained.append({**columns, "seq": seq, "prev_hash": head, "entry_hash": digest})
        head = digest
    named = [tuple(row.get(STUDENTS) or ()) for row in rows]
    if not any(named):
        conn.execute(insert(AuditLog), chained)
        return
    inserted = insert(AuditLog).returning(AuditLog.audit_id, sort_by_parameter_order=True)
    ids = conn.execute(inserted, chained).scalars().all()
    conn.execute(
        insert(AuditStudent),
        [
            {"audit_id": audit_id, "student_id": s}
            for audit_id, students in zip(ids, named, strict=True)
            for s in students
        ],
    )


def _batches(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def students_of(db: Connection | Session, audit_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The students each of ``audit_ids`` names (sorted; entries that name none are left out)."""
    found: dict[int, list[str]] = {}
    for batch in _batches(audit_ids, VERIFY_BATCH):
        rows = db.execute(
            select(AuditStudent.audit_id, AuditStudent.student_id).where(AuditStudent.audit_id.in_(batch))
        )
        for audit_id, student_id in rows:
            found.setdefault(int(audit_id), []).append(str(student_id))
    return {audit_id: tuple(sorted(students)) for audit_id, students in found.items()}


def concerning(student_id: str) -> ColumnElement[bool]:
    """The audit entries about ``student_id``: the student of the entry, one of the students a view
    named (``audit_students``, by its index), or named in the detail of a view logged before migration
    0010 (which listed its students there)."""
    shown = select(AuditStudent.audit_id).where(AuditStudent.student_id == student_id)
    return or_(
        AuditLog.student_id == student_id,
        AuditLog.audit_id.in_(shown),
        AuditLog.detail.contains(student_id, autoescape=True),
    )


def audit_row(
    user_id: int | None,
    user_name: str,
    role: str,
    method: str,
    path: str,
    entry: AuditEntry,
    allowed: bool,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One audit_log row (without the chain columns), every string fitted to its column (:func:`fit`)."""
    return _fit_row(
        {
            # Microseconds are what both backends keep, so the hash survives the round trip.
            "at": at or datetime.now(UTC),
            "user_id": user_id,
            "user_name": user_name,
            "role": role,
            "action": entry.action,
            "method": method,
            "path": path,
            "student_id": entry.student_id,
            "team": entry.team,
            "week": entry.week,
            "allowed": allowed,
            "detail": entry.detail,
            STUDENTS: listed_students(entry.students),
        }
    )


def request_rows(
    user: CurrentUser, method: str, path: str, entries: Iterable[AuditEntry], allowed: bool
) -> list[dict[str, Any]]:
    """The audit rows of one request, all with the same time."""
    now = datetime.now(UTC)
    return [
        audit_row(user.user_id, user.name, user.role.value, method, path, e, allowed, now) for e in entries
    ]


def anonymous_rows(method: str, path: str, entries: Iterable[AuditEntry]) -> list[dict[str, Any]]:
    """The audit rows of a request refused for want of a valid token: no user, so no user id and no role."""
    now = datetime.now(UTC)
    return [audit_row(None, ANONYMOUS, NO_ROLE, method, path, e, False, now) for e in entries]


def write_audit(
    engine: Engine,
    user: CurrentUser,
    method: str,
    path: str,
    entries: Iterable[AuditEntry],
    allowed: bool,
) -> None:
    """Append ``entries`` to the audit log in one transaction."""
    rows = request_rows(user, method, path, entries, allowed)
    if not rows:
        return
    with engine.begin() as conn:
        append_rows(conn, rows)


@dataclass(frozen=True)
class _Pending:
    rows: list[dict[str, Any]]
    done: Future[None]


class AuditWriter:
    """Group commit for the audit chain, for the service.

    The chain has one head, so appending is serialised (see :func:`append_rows`). Taken one request at a
    time, every audited request waits its turn for the lock, a read of the head, an insert and a commit:
    under load the requests queue on that lock. Here one writer thread per process appends the rows of
    every request that is waiting, in one transaction, and then releases them all; each request still
    returns only after its entries are committed (no access without a trail). When a batch fails, each
    request's rows are tried alone, so one bad request never fails the others.

    The thread starts on the first write and ends with :meth:`close`.
    """

    def __init__(self, engine: Engine, max_rows: int = 5000, timeout: float = 60.0) -> None:
        self._engine = engine
        self._max_rows = max_rows
        self._timeout = timeout
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def write(
        self, user: CurrentUser, method: str, path: str, entries: Iterable[AuditEntry], allowed: bool
    ) -> None:
        """Append one request's ``entries``; returns when they are committed (raises if they could not be)."""
        self.append(request_rows(user, method, path, entries, allowed))

    def write_anonymous(self, method: str, path: str, entries: Iterable[AuditEntry]) -> None:
        """Append the refusal of a request without a valid token (see :func:`anonymous_rows`)."""
        self.append(anonymous_rows(method, path, entries))

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pending = _Pending(rows, Future())
        self._ensure_thread()
        self._queue.put(pending)
        pending.done.result(timeout=self._timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._start:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, rows, stop = [first], len(first.rows), False
            while rows < self._max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                rows += len(item.rows)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self._engine.begin() as conn:
                append_rows(conn, [row for pending in batch for row in pending.rows])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].done.set_exception(exc)
            else:
                for pending in batch:
                    self._commit([pending])
            return
        for pending in batch:
            pending.done.set_result(None)


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``ok``, or the first broken entry and why."""

    entries: int
    head_seq: int
    head_hash: str
    broken_audit_id: int | None = None
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _check(row: Mapping[Any, Any], expected_seq: int, head: str) -> str | None:
    """Why ``row`` breaks the chain at position ``expected_seq`` after ``head``, or None."""
    seq = row["seq"]
    if seq is None or row["entry_hash"] is None:
        return "entry has no place in the chain (no seq/hash): inserted outside the service"
    if seq > expected_seq:
        return f"expected seq {expected_seq}, found {seq}: entries {expected_seq}..{seq - 1} were deleted"
    if seq < expected_seq:
        return f"expected seq {expected_seq}, found {seq}: duplicated or reordered entry"
    if row["prev_hash"] != head:
        return "prev_hash does not match the previous entry's hash: the chain was cut"
    if entry_hash(row, expected_seq, head) != row["entry_hash"]:
        return "content does not match its hash: the entry was edited"
    return None


def verify_chain(engine: Engine, expect_head: str | None = None) -> ChainReport:
    """Walk the chain in ``seq`` order; report the first entry that is missing, edited or out of place."""
    columns = [getattr(AuditLog, name) for name in HASHED_FIELDS]
    query = select(AuditLog.audit_id, AuditLog.seq, AuditLog.prev_hash, AuditLog.entry_hash, *columns)
    expected_seq, head = 1, GENESIS
    count = 0
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(AuditLog.seq.is_(None), AuditLog.seq, AuditLog.audit_id))
        for batch in rows.mappings().partitions(VERIFY_BATCH):
            named = students_of(conn, [int(row["audit_id"]) for row in batch])
            for row in batch:
                count += 1
                entry = {**row, STUDENTS: named.get(int(row["audit_id"]), ())}
                reason = _check(entry, expected_seq, head)
                if reason is not None:
                    broken = int(row["audit_id"])
                    return ChainReport(count, expected_seq - 1, head, broken, row["seq"], reason)
                head = str(row["entry_hash"])
                expected_seq += 1
    report = ChainReport(count, expected_seq - 1, head)
    if expect_head is not None and expect_head != head:
        return ChainReport(
            count,
            expected_seq - 1,
            head,
            reason=f"head {head} is not the expected {expect_head}: newest entries deleted or log replaced",
        )
    return report
