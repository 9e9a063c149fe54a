"""Questionnaire rounds: Vroegsignaal asks the weekly questionnaire itself.

* **Opening** (:func:`open_rounds`): one round per week and team; every enrolled student of the team gets a
  link (one per round). Opening again for the same week and team changes nothing. Invitations for students
  with an e-mail address in the identity table are queued in the outbox; with ``csv=True`` every student's
  personal addresses are returned for the school's own channel (the LMS, a text message service).
* **Tokens.** A link is reached through random tokens (:func:`new_token`, 256 bits), stored only as their
  SHA-256 hash (:class:`data.schema.LinkToken`). Each delivery issues its own pair: one to answer, one for
  the student's own view. An e-mail's tokens are made when it is sent (so no token waits in clear in the
  outbox); a failed send's tokens never reached anyone, and the retry makes new ones. Tokens stop working
  when the round expires (``round_link_days`` after it opened).
* **Sending** (:func:`send_outbox`): queued and failed e-mails go out over one SMTP connection per batch;
  each attempt and its error are recorded on the message. A server that is down leaves the messages
  failed, to be retried by the next run; the round stays open.
* **Reminders** (:func:`queue_reminders`): one per link, for students who have not answered
  ``reminder_after_days`` after the round opened.
* **Answering** (:func:`submit_answers`): the form's answers pass the import's own validation
  (:func:`data.csv_io.parse_frame`), are upserted into ``questionnaire_answers`` in one statement
  (:func:`data.csv_io.upsert_rows`), and the safeguarding scan of imports runs on them in the same
  transaction. One submission per link: a second one (also a double click, racing the first) is refused,
  nothing changes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Select,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from data.csv_io import CsvImportError, parse_frame, upsert_rows
from data.questionnaire import Questionnaire
from data.rounds import (
    CANCELLED,
    CHANNEL_CSV,
    CHANNEL_EMAIL,
    FAILED,
    KIND_INVITE,
    KIND_REMINDER,
    QUEUED,
    SENT,
    reached,
)
from data.schema import (
    Identity,
    LinkToken,
    OutboxMessage,
    Outcome,
    QuestionnaireRound,
    RoundLink,
    SafeguardingAlert,
    Student,
)
from workflows.safeguarding import CLOSED, AlertsOnImport, alert_rules, reopen_for_live_answer
from workflows.users import aware, hash_token

Purpose = Literal["answer", "view"]
ANSWER: Purpose = "answer"
VIEW: Purpose = "view"
TOKEN_BYTES = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
LINK_PATH = "/v/"
_CHUNK = 500
SEND_BATCH = 200
ANSWERS_TABLE = "questionnaire_answers"


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(token: str) -> bool:
    """Whether ``token`` has the form of one (checked before the store is asked)."""
    return bool(_TOKEN.fullmatch(token))


def link_url(base_url: str, token: str) -> str:
    """The address a student opens: ``<public_url>/v/<token>``."""
    return base_url.rstrip("/") + LINK_PATH + token


# --- opening a round ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedLink:
    """A student's personal addresses for the school's own channel (the CSV of links)."""

    student_id: str
    student_number: str | None
    team: str
    week: int
    answer_url: str
    view_url: str
    expires_at: datetime


@dataclass(frozen=True)
class OpenReport:
    """What :func:`open_rounds` did."""

    week: int
    opened: tuple[str, ...]  # teams whose round was opened now
    already_open: tuple[str, ...]  # teams whose round for this week existed (left as they were)
    links: int
    queued: int  # invitations queued for e-mail
    without_address: int  # students of new rounds without an e-mail address
    issued: tuple[IssuedLink, ...] = ()  # the CSV of links (only when asked for)


def enrolled_in(conn: Connection, week: int, teams: Sequence[str] | None) -> list[tuple[str, str]]:
    """(student_id, team) of every student enrolled at the end of ``week`` as the store knows it (started
    by then, no outcome by then; as :func:`features.population.enrolled_students`), by team and pseudonym."""
    left = exists().where(and_(Outcome.student_id == Student.student_id, Outcome.week <= week))
    query = (
        select(Student.student_id, Student.team)
        .where(Student.start_week <= week, ~left)
        .order_by(Student.team, Student.student_id)
    )
    if teams is not None:
        query = query.where(Student.team.in_(list(teams)))
    return [(str(r.student_id), str(r.team)) for r in conn.execute(query).all()]


def _insert_tokens(
    conn: Connection, link_ids: Sequence[int], channel: str, now: datetime
) -> dict[int, tuple[str, str]]:
    """A new (answer, view) token pair for each link, stored hashed; returns them in clear, by link."""
    tokens = {link_id: (new_token(), new_token()) for link_id in link_ids}
    rows = [
        {
            "token_hash": hash_token(token),
            "link_id": link_id,
            "purpose": purpose,
            "channel": channel,
            "issued_at": now,
        }
        for link_id, pair in tokens.items()
        for token, purpose in zip(pair, (ANSWER, VIEW), strict=True)
    ]
    for start in range(0, len(rows), _CHUNK * 4):
        conn.execute(insert(LinkToken), rows[start : start + _CHUNK * 4])
    return tokens


def open_rounds(
    conn: Connection,
    *,
    week: int,
    teams: Sequence[str] | None,
    by: str,
    now: datetime,
    link_days: int,
    base_url: str,
    csv: bool = False,
) -> OpenReport:
    """Open the rounds of ``week`` for ``teams`` (None: every team with enrolled students), inside the
    caller's transaction. Teams whose round for the week exists are left alone. Raises ValueError for a
    named team without enrolled students in that week."""
    students = enrolled_in(conn, week, teams)
    by_team: dict[str, list[str]] = {}
    for student_id, team in students:
        by_team.setdefault(team, []).append(student_id)
    if teams is not None:
        empty = sorted(set(teams) - set(by_team))
        if empty:
            raise ValueError(f"no enrolled students in week {week} in team(s): {', '.join(empty)}")
    existing = set(
        conn.execute(
            select(QuestionnaireRound.team).where(
                QuestionnaireRound.week == week, QuestionnaireRound.team.in_(list(by_team))
            )
        ).scalars()
    )
    new_teams = sorted(set(by_team) - existing)
    expires = now + timedelta(days=link_days)
    round_ids: dict[str, int] = {}
    for team in new_teams:
        round_ids[team] = conn.execute(
            insert(QuestionnaireRound)
            .values(week=week, team=team, opened_at=now, opened_by=by, expires_at=expires)
            .returning(QuestionnaireRound.round_id)
        ).scalar_one()
    link_rows = [
        {"round_id": round_ids[team], "student_id": s, "created_at": now}
        for team in new_teams
        for s in by_team[team]
    ]
    for start in range(0, len(link_rows), _CHUNK * 4):
        conn.execute(insert(RoundLink), link_rows[start : start + _CHUNK * 4])
    # Every invitation in one statement (row by row, PostgreSQL would check each new row's link with a plan
    # made while round_links was still small: the opening grew with the square of the school's size).
    new_links = select(RoundLink.link_id).where(RoundLink.round_id.in_(list(round_ids.values())))
    with_address = (
        select(
            RoundLink.link_id,
            literal(KIND_INVITE),
            literal(QUEUED),
            literal(0),
            literal(now, DateTime(timezone=True)),
        )
        .join(Identity, Identity.student_id == RoundLink.student_id)
        .where(
            RoundLink.link_id.in_(new_links),
            Identity.email.is_not(None),
            Identity.email != "",
        )
    )
    queued = (
        len(
            conn.execute(
                insert(OutboxMessage)
                .from_select(["link_id", "kind", "status", "attempts", "queued_at"], with_address)
                .returning(OutboxMessage.message_id)
            ).all()
        )
        if round_ids
        else 0
    )
    issued: list[IssuedLink] = []
    if csv and round_ids:
        rows = conn.execute(
            select(RoundLink.link_id, RoundLink.student_id, RoundLink.round_id, Identity.student_number)
            .outerjoin(Identity, Identity.student_id == RoundLink.student_id)
            .where(RoundLink.link_id.in_(new_links))
            .order_by(RoundLink.round_id, RoundLink.student_id)
        ).all()
        team_of = {round_id: team for team, round_id in round_ids.items()}
        tokens = _insert_tokens(conn, [r.link_id for r in rows], CHANNEL_CSV, now)
        issued = [
            IssuedLink(
                student_id=r.student_id,
                student_number=r.student_number,
                team=team_of[r.round_id],
                week=week,
                answer_url=link_url(base_url, tokens[r.link_id][0]),
                view_url=link_url(base_url, tokens[r.link_id][1]),
                expires_at=expires,
            )
            for r in rows
        ]
    links = len(link_rows)
    without = links - queued
    return OpenReport(
        week=week,
        opened=tuple(new_teams),
        already_open=tuple(sorted(existing)),
        links=links,
        queued=queued,
        without_address=without,
        issued=tuple(issued),
    )


def queue_reminders(conn: Connection, *, now: datetime, after_days: int) -> int:
    """Queue one reminder for each link of a round still open that was not answered ``after_days`` after
    its round opened, whose invitation was sent (or handed out) and that has no reminder yet; returns how
    many were queued (students without an e-mail address get none)."""
    cutoff = now - timedelta(days=after_days)
    has_reminder = exists().where(
        and_(OutboxMessage.link_id == RoundLink.link_id, OutboxMessage.kind == KIND_REMINDER)
    )
    link_ids = (
        conn.execute(
            select(RoundLink.link_id)
            .join(QuestionnaireRound, QuestionnaireRound.round_id == RoundLink.round_id)
            .join(Identity, Identity.student_id == RoundLink.student_id)
            .where(
                RoundLink.answered_at.is_(None),
                QuestionnaireRound.opened_at <= cutoff,
                QuestionnaireRound.expires_at > now,
                Identity.email.is_not(None),
                Identity.email != "",
                reached(),
                ~has_reminder,
            )
        )
        .scalars()
        .all()
    )
    if link_ids:
        conn.execute(
            insert(OutboxMessage),
            [
                {"link_id": link_id, "kind": KIND_REMINDER, "status": QUEUED, "attempts": 0, "queued_at": now}
                for link_id in link_ids
            ],
        )
    return len(link_ids)


# --- sending --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One e-mail to send: to whom, which kind, and the student's two personal addresses."""

    message_id: int
    kind: str
    to: str
    given_name: str
    week: int
    answer_url: str
    view_url: str
    expires_at: datetime


class MailConnection(Protocol):
    def send(self, mail: Outgoing) -> None: ...


class Mailer(Protocol):
    """Opens one connection for a batch (:class:`workflows.mailer.SmtpMailer` is the real one)."""

    def connect(self) -> MailConnection: ...

    def close(self, connection: MailConnection) -> None: ...


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _due(now: datetime, max_attempts: int, started: datetime | None) -> list[ColumnElement[bool]]:
    """Queued or failed e-mails of rounds still open, with attempts left (and, with ``started``, not tried
    since then: a run tries each message once)."""
    conditions = [
        OutboxMessage.status.in_([QUEUED, FAILED]),
        OutboxMessage.attempts < max_attempts,
        QuestionnaireRound.expires_at > now,
    ]
    if started is not None:
        conditions.append(
            or_(OutboxMessage.last_attempt_at.is_(None), OutboxMessage.last_attempt_at < started)
        )
    return conditions


def _due_query(
    columns: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    now: datetime,
    max_attempts: int,
    started: datetime | None,
) -> Select[Any]:
    return (
        select(*columns)
        .select_from(OutboxMessage)
        .join(RoundLink, RoundLink.link_id == OutboxMessage.link_id)
        .join(QuestionnaireRound, QuestionnaireRound.round_id == RoundLink.round_id)
        .where(*_due(now, max_attempts, started))
    )


def due_count(conn: Connection, now: datetime, max_attempts: int) -> int:
    """How many e-mails :func:`send_outbox` would try now."""
    return int(conn.execute(_due_query([func.count()], now, max_attempts, None)).scalar_one())


def _due_messages(
    conn: Connection, now: datetime, max_attempts: int, limit: int, started: datetime
) -> list[tuple[int, int, str]]:
    """(message_id, link_id, kind) of the due e-mails (:func:`_due`), oldest first."""
    query = _due_query(
        [OutboxMessage.message_id, OutboxMessage.link_id, OutboxMessage.kind], now, max_attempts, started
    )
    rows = conn.execute(query.order_by(OutboxMessage.message_id).limit(limit)).all()
    return [(int(r.message_id), int(r.link_id), str(r.kind)) for r in rows]


def _prepare(
    engine: Engine, batch: Sequence[tuple[int, int, str]], base_url: str, now: datetime
) -> list[Outgoing]:
    """Issue the batch's tokens and count the attempt (committed before anything is sent)."""
    link_ids = [link_id for _, link_id, _ in batch]
    with engine.begin() as conn:
        details = {
            int(r.link_id): r
            for r in conn.execute(
                select(
                    RoundLink.link_id,
                    QuestionnaireRound.week,
                    QuestionnaireRound.expires_at,
                    Identity.email,
                    Identity.given_name,
                )
                .join(QuestionnaireRound, QuestionnaireRound.round_id == RoundLink.round_id)
                .outerjoin(Identity, Identity.student_id == RoundLink.student_id)
                .where(RoundLink.link_id.in_(link_ids))
            ).all()
        }
        tokens = _insert_tokens(conn, link_ids, CHANNEL_EMAIL, now)
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.message_id.in_([message_id for message_id, _, _ in batch]))
            .values(attempts=OutboxMessage.attempts + 1, last_attempt_at=now)
        )
    out = []
    for message_id, link_id, kind in batch:
        d = details[link_id]
        expires = aware(d.expires_at)
        out.append(
            Outgoing(
                message_id=message_id,
                kind=kind,
                to=str(d.email or ""),
                given_name=str(d.given_name or ""),
                week=int(d.week),
                answer_url=link_url(base_url, tokens[link_id][0]),
                view_url=link_url(base_url, tokens[link_id][1]),
                expires_at=expires,
            )
        )
    return out


def _record(engine: Engine, results: Mapping[int, str | None], now: datetime) -> None:
    """The outcome of a batch: one statement for the sent messages and one per distinct error."""
    by_error: dict[str | None, list[int]] = {}
    for message_id, error in results.items():
        by_error.setdefault(error, []).append(message_id)
    with engine.begin() as conn:
        for error, ids in by_error.items():
            values: dict[str, object] = (
                {"status": SENT, "sent_at": now, "last_error": None}
                if error is None
                else {"status": FAILED, "last_error": error[:2000]}
            )
            conn.execute(update(OutboxMessage).where(OutboxMessage.message_id.in_(ids)).values(**values))


def send_outbox(
    engine: Engine,
    mailer: Mailer,
    *,
    base_url: str,
    max_attempts: int,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send the due e-mails in batches of :data:`SEND_BATCH` over one connection each; every attempt and
    its error are recorded. A connection that cannot be made fails the whole batch (recorded) and stops
    the run: the next run retries. ``progress`` is called with the number handled after each batch."""
    report = SendReport()
    handled = 0
    started = now()
    while limit is None or handled < limit:
        size = SEND_BATCH if limit is None else min(SEND_BATCH, limit - handled)
        with engine.connect() as conn:
            batch = _due_messages(conn, now(), max_attempts, size, started)
        if not batch:
            break
        mails = _prepare(engine, batch, base_url, now())
        results: dict[int, str | None] = {}
        try:
            connection = mailer.connect()
        except Exception as exc:
            reason = f"SMTP-verbinding mislukt: {type(exc).__name__}: {exc}"
            _record(engine, {m.message_id: reason for m in mails}, now())
            report.failed += len(mails)
            report.errors.append(reason)
            break
        try:
            for mail in mails:
                if not mail.to:
                    results[mail.message_id] = "geen e-mailadres in de naamgegevens"
                    continue
                try:
                    connection.send(mail)
                    results[mail.message_id] = None
                except Exception as exc:
                    results[mail.message_id] = f"{type(exc).__name__}: {exc}"
        finally:
            mailer.close(connection)
            _record(engine, results, now())
        sent = sum(1 for e in results.values() if e is None)
        report.sent += sent
        report.failed += len(results) - sent
        report.errors += sorted({e for e in results.values() if e is not None})
        handled += len(batch)
        if progress is not None:
            progress(handled)
        if sent == 0:
            break  # nothing went through: leave the rest for the next run
    return report


# --- a student opens a link -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkAccess:
    """What a valid token opens."""

    link_id: int
    round_id: int
    student_id: str
    team: str
    week: int
    purpose: Purpose
    expires_at: datetime
    answered_at: datetime | None


def resolve(conn: Connection, token: str, now: datetime) -> LinkAccess | None:
    """The link ``token`` opens, or None for a malformed, unknown or expired token (one answer for all
    three, so that a page tells nobody whether a student or a round exists)."""
    if not looks_like_token(token):
        return None
    row = conn.execute(
        select(
            RoundLink.link_id,
            RoundLink.round_id,
            RoundLink.student_id,
            RoundLink.answered_at,
            LinkToken.purpose,
            QuestionnaireRound.team,
            QuestionnaireRound.week,
            QuestionnaireRound.expires_at,
        )
        .join(RoundLink, RoundLink.link_id == LinkToken.link_id)
        .join(QuestionnaireRound, QuestionnaireRound.round_id == RoundLink.round_id)
        .where(LinkToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    expires = aware(row.expires_at)
    if expires <= now or row.purpose not in (ANSWER, VIEW):
        return None
    return LinkAccess(
        link_id=int(row.link_id),
        round_id=int(row.round_id),
        student_id=str(row.student_id),
        team=str(row.team),
        week=int(row.week),
        purpose=ANSWER if row.purpose == ANSWER else VIEW,
        expires_at=expires,
        answered_at=None if row.answered_at is None else aware(row.answered_at),
    )


def mark_seen(conn: Connection, link: LinkAccess, now: datetime) -> None:
    """Record the first opening of the questionnaire (``opened_at``) or of the own view (``viewed_at``)."""
    column = RoundLink.opened_at if link.purpose == ANSWER else RoundLink.viewed_at
    conn.execute(
        update(RoundLink).where(RoundLink.link_id == link.link_id, column.is_(None)).values({column.key: now})
    )


# --- answering ------------------------------------------------------------------------------------------

MISSING = "Kies een antwoord."
YES, NO = "1", "0"


def form_problems(q: Questionnaire, form: Mapping[str, str]) -> dict[str, str]:
    """The student's mistakes in plain Dutch, by item code: a missing answer, or one off the scale (every
    item, the help question included, is required; unknown fields are ignored)."""
    problems: dict[str, str] = {}
    allowed = {str(v) for v in range(q.scale_min, q.scale_max + 1)}
    for item in q.items:
        value = (form.get(item.code) or "").strip()
        if not value:
            problems[item.code] = MISSING
        elif value not in allowed:
            problems[item.code] = f"Kies een antwoord van {q.scale_min} tot {q.scale_max}."
    help_value = (form.get(q.help_item.code) or "").strip()
    if not help_value or help_value not in (YES, NO):
        problems[q.help_item.code] = "Kies ja of nee."
    return problems


def answer_rows(q: Questionnaire, link: LinkAccess, form: Mapping[str, str]) -> pd.DataFrame:
    """The form as text cells of ``questionnaire_answers`` rows (student_id, week, item, value)."""
    return pd.DataFrame(
        {
            "student_id": [link.student_id] * len(q.all_codes),
            "week": [str(link.week)] * len(q.all_codes),
            "item": list(q.all_codes),
            "value": [(form.get(code) or "").strip() for code in q.all_codes],
        },
        dtype=str,
    )


class AlreadyAnsweredError(Exception):
    """The link's questionnaire was submitted before (by this request's twin, or earlier)."""


class InvalidAnswersError(ValueError):
    """The answers do not pass the form's or the import's validation; nothing was written."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class Submitted:
    rows: int
    alerts_raised: int
    asks_for_help: bool  # this submission asks to talk, or has an answer past a threshold
    help_due: datetime | None  # the earliest due time of the student's open zorgmeldingen, if any


def asks_for_help(q: Questionnaire, form: Mapping[str, str]) -> bool:
    """Whether the answers of ``form`` meet a safeguarding rule (the rules the scan raises alerts by)."""
    for rule in alert_rules(q):
        value = (form.get(rule.item) or "").strip()
        if not value.isdigit():
            continue
        if rule.met(int(value)):
            return True
    return False


def submit_answers(
    conn: Connection,
    q: Questionnaire,
    link: LinkAccess,
    form: Mapping[str, str],
    *,
    window_weeks: int,
    pseudonym_key: str,
    now: datetime,
) -> Submitted:
    """Store one submission inside the caller's transaction (see the module's docstring). Raises
    :class:`InvalidAnswersError` (nothing written) or :class:`AlreadyAnsweredError` (nothing changed)."""
    problems = form_problems(q, form)
    if problems:
        raise InvalidAnswersError(problems)
    try:
        parsed = parse_frame(answer_rows(q, link, form), "vragenlijst", ANSWERS_TABLE, pseudonym_key, q)
    except CsvImportError as exc:  # pragma: no cover - a frame is never a damaged file
        raise InvalidAnswersError({"formulier": str(exc)}) from exc
    if parsed.errors:
        raise InvalidAnswersError({e.column: e.problem for e in parsed.errors})
    claimed = conn.execute(
        update(RoundLink)
        .where(RoundLink.link_id == link.link_id, RoundLink.answered_at.is_(None))
        .values(answered_at=now, opened_at=func.coalesce(RoundLink.opened_at, now))
    ).rowcount
    if claimed != 1:
        raise AlreadyAnsweredError()
    upsert_rows(conn, parsed.table, parsed.frame)
    conn.execute(  # an invitation or reminder that has not gone out yet is no longer needed
        update(OutboxMessage)
        .where(OutboxMessage.link_id == link.link_id, OutboxMessage.status.in_([QUEUED, FAILED]))
        .values(status=CANCELLED)
    )
    hook = AlertsOnImport(q, window_weeks, students_only=True)
    hook(conn, {ANSWERS_TABLE: parsed.frame})
    given = dict(zip(parsed.frame["item"].astype(str), parsed.frame["value"].astype(int), strict=True))
    reopened = reopen_for_live_answer(conn, q, link.student_id, link.week, given, now)
    return Submitted(
        rows=len(parsed.frame),
        alerts_raised=hook.raised + reopened,
        asks_for_help=asks_for_help(q, form),
        help_due=open_help_due(conn, link.student_id),
    )


def open_help_due(conn: Connection, student_id: str) -> datetime | None:
    """The earliest due time of ``student_id``'s zorgmeldingen that are not closed (None: there are none)."""
    dues = [
        aware(d)
        for d in conn.execute(
            select(SafeguardingAlert.due_at).where(
                SafeguardingAlert.student_id == student_id,
                SafeguardingAlert.status != CLOSED,
                SafeguardingAlert.due_at.is_not(None),
            )
        ).scalars()
        if d is not None
    ]
    return min(dues) if dues else None
