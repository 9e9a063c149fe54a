"""Sessions of the web pages, kept in the store (table ``web_sessions``).

Logging in on the pages with a bearer token opens a session: a random session id goes into the browser's
cookie, the store keeps only its SHA-256 hash. A session ends

* after ``idle`` without a request (each request renews it, at most one UPDATE per minute),
* ``max_age`` after it was opened, in use or not,
* when it is revoked (logging out), and
* when the user's bearer token is revoked, expires or is replaced, or the user is made inactive: a
  session is valid only while the token it was opened with is (it remembers the token's hash).

Each session has a CSRF secret of its own; the pages put it in every form and check it on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update

from data.schema import User, UserTeam, WebSession
from workflows.users import CurrentUser, Role, aware

RENEW_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request, ``max_age`` at most."""

    idle: timedelta
    max_age: timedelta

    @property
    def renew_after(self) -> timedelta:
        """Renew ``last_seen_at`` once a minute (more often only for an idle limit of minutes)."""
        return min(RENEW_EVERY, self.idle / 4)


def session_policy(idle_minutes: int, max_hours: int) -> SessionPolicy:
    return SessionPolicy(timedelta(minutes=idle_minutes), timedelta(hours=max_hours))


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``session_id`` goes into the cookie and is stored nowhere."""

    session_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ActiveSession:
    """A valid session and its user, as found for a request."""

    session_hash: str
    user: CurrentUser
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def hash_session_id(session_id: str) -> str:
    """SHA-256 hex digest of a session id: what the store keeps."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def purge_ended(conn: Connection, now: datetime) -> int:
    """Delete sessions past their absolute end (idle or revoked ones go at the latest then)."""
    return conn.execute(delete(WebSession).where(WebSession.expires_at <= now)).rowcount


def open_session(
    engine: Engine, user: CurrentUser, policy: SessionPolicy, now: datetime | None = None
) -> NewSession:
    """Open a session for ``user`` (found by their bearer token just now); tidy up ended sessions."""
    now = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = now + policy.max_age
    with engine.begin() as conn:
        token_hash = conn.execute(select(User.token_hash).where(User.user_id == user.user_id)).scalar_one()
        purge_ended(conn, now)
        conn.execute(
            insert(WebSession).values(
                session_hash=hash_session_id(session_id),
                user_id=user.user_id,
                token_hash=token_hash,
                csrf_secret=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
                revoked_at=None,
            )
        )
    return NewSession(session_id, csrf, expires_at)


def _ended(row: Row[*tuple[Any, ...]], policy: SessionPolicy, now: datetime) -> bool:
    """Whether the session row (joined with its user) can no longer be used at ``now``."""
    session_ended = (
        row.revoked_at is not None
        or aware(row.expires_at) <= now
        or aware(row.last_seen_at) + policy.idle <= now
    )
    token_ended = (
        not row.active
        or row.user_revoked_at is not None
        or (row.user_expires_at is not None and aware(row.user_expires_at) <= now)
        or not hmac.compare_digest(row.token_hash, row.user_token_hash)
    )
    return bool(session_ended or token_ended)


def resume_session(
    engine: Engine, session_id: str, policy: SessionPolicy, now: datetime | None = None
) -> ActiveSession | None:
    """The valid session with this id and its user, or None; renews ``last_seen_at`` when it is due."""
    now = now or datetime.now(UTC)
    digest = hash_session_id(session_id)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                WebSession.session_hash,
                WebSession.token_hash,
                WebSession.csrf_secret,
                WebSession.created_at,
                WebSession.last_seen_at,
                WebSession.expires_at,
                WebSession.revoked_at,
                User.user_id,
                User.name,
                User.role,
                User.active,
                User.token_hash.label("user_token_hash"),
                User.expires_at.label("user_expires_at"),
                User.revoked_at.label("user_revoked_at"),
            )
            .join(User, User.user_id == WebSession.user_id)
            .where(WebSession.session_hash == digest)
        ).first()
        if row is None or not hmac.compare_digest(row.session_hash, digest) or _ended(row, policy, now):
            return None
        teams = conn.execute(select(UserTeam.team).where(UserTeam.user_id == row.user_id)).scalars().all()
        last_seen = aware(row.last_seen_at)
        if now - last_seen >= policy.renew_after:
            conn.execute(
                update(WebSession)
                .where(WebSession.session_hash == digest, WebSession.last_seen_at < now - policy.renew_after)
                .values(last_seen_at=now)
            )
            conn.commit()
            last_seen = now
    user = CurrentUser(row.user_id, row.name, Role(row.role), frozenset(teams))
    return ActiveSession(
        digest, user, row.csrf_secret, aware(row.created_at), last_seen, aware(row.expires_at)
    )


def revoke_session(engine: Engine, session_id: str, now: datetime | None = None) -> bool:
    """End the session with this id at once (logging out); True when a live session was revoked."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        result = conn.execute(
            update(WebSession)
            .where(WebSession.session_hash == hash_session_id(session_id), WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return result.rowcount > 0


def csrf_matches(session: ActiveSession, presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's (compared in constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), session.csrf_token.encode("utf-8"))
