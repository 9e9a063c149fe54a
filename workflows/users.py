"""Roles, bearer tokens and users.

A token is a random string shown once; the store keeps only its SHA-256 hash. A lookup hashes the token
presented, finds the row by its hash and compares the hashes with :func:`hmac.compare_digest`. A token
expires (``users.expires_at``, ``VSV_TOKEN_TTL_DAYS`` after it was issued) and can be revoked
(``vsv users revoke``); an expired, revoked or inactive token is refused like an unknown one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from data.schema import User, UserTeam


class Role(StrEnum):
    """The roles of the service."""

    MENTOR = "mentor"
    ZORGTEAM = "zorgteam"
    COACHKLAS = "coachklas"
    DATATEAM = "datateam"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Who may do what. The auditor reads everything and writes nothing; mentors are further limited to their
# own teams (see :meth:`CurrentUser.may_see_team`).
READ_STUDENTS = frozenset({Role.MENTOR, Role.ZORGTEAM, Role.COACHKLAS, Role.AUDITOR, Role.ADMIN})
WRITE_ACTIONS = frozenset({Role.MENTOR, Role.ZORGTEAM, Role.ADMIN})
COACHKLAS_READ = frozenset({Role.COACHKLAS, Role.ZORGTEAM, Role.AUDITOR, Role.ADMIN})
COACHKLAS_WRITE = frozenset({Role.COACHKLAS, Role.ADMIN})
SAFEGUARDING_READ = frozenset({Role.ZORGTEAM, Role.AUDITOR, Role.ADMIN})
SAFEGUARDING_WRITE = frozenset({Role.ZORGTEAM, Role.ADMIN})
EXPLAIN = frozenset({Role.AUDITOR, Role.ADMIN})
MODEL_INFO = frozenset({Role.DATATEAM, Role.AUDITOR, Role.ADMIN})
DATA_TEAM = frozenset({Role.DATATEAM, Role.ADMIN})
AUDIT_LOG_READ = frozenset({Role.AUDITOR, Role.ADMIN})
# The questionnaire's response per team and round (counts, no student): everyone (a mentor: own teams).
ROUND_RESPONSE_READ = frozenset(Role)


@dataclass(frozen=True)
class CurrentUser:
    """The user behind a request."""

    user_id: int
    name: str
    role: Role
    teams: frozenset[str]

    def may_see_team(self, team: str) -> bool:
        """Mentors see their own teams only; every other role sees all teams."""
        return self.role != Role.MENTOR or team in self.teams


@dataclass(frozen=True)
class UserRow:
    """A user as listed (never with a token)."""

    name: str
    role: str
    teams: tuple[str, ...]
    active: bool
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


DEFAULT_TTL_DAYS = 90


def aware(value: datetime) -> datetime:
    """SQLite returns timestamps without a time zone; the store writes UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def find_user(conn: Connection, token: str, now: datetime | None = None) -> CurrentUser | None:
    """The active, unexpired, unrevoked user holding ``token``, or None."""
    digest = hash_token(token)
    # One round trip: the user with each of their teams (one row per team; one row, NULL team, for none).
    rows = conn.execute(
        select(
            User.user_id,
            User.name,
            User.role,
            User.token_hash,
            User.active,
            User.expires_at,
            User.revoked_at,
            UserTeam.team,
        )
        .outerjoin(UserTeam, UserTeam.user_id == User.user_id)
        .where(User.token_hash == digest)
    ).all()
    if not rows:
        return None
    row = rows[0]
    if not hmac.compare_digest(row.token_hash, digest):
        return None
    if not row.active or row.revoked_at is not None:
        return None
    if row.expires_at is not None and aware(row.expires_at) <= (now or datetime.now(UTC)):
        return None
    teams = frozenset(str(r.team) for r in rows if r.team is not None)
    return CurrentUser(row.user_id, row.name, Role(row.role), teams)


def _validate(name: str, role: str, teams: list[str]) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
    if not name.strip():
        raise ValueError("a user needs a name")
    if parsed == Role.MENTOR and not teams:
        raise ValueError("a mentor needs at least one --team")
    if parsed != Role.MENTOR and teams:
        raise ValueError("only mentors are bound to teams")
    return parsed


def _known_teams(conn: Connection) -> set[str]:
    return set(conn.execute(text("SELECT DISTINCT team FROM students")).scalars().all())


def upsert_user(
    engine: Engine,
    name: str,
    role: str,
    teams: list[str],
    token: str | None = None,
    ttl_days: int | None = DEFAULT_TTL_DAYS,
) -> str:
    """Create ``name`` (or replace its role, teams and token) in one transaction; returns the token.

    The token expires ``ttl_days`` from now (``None``: never); issuing a new token lifts a revocation.
    """
    parsed = _validate(name, role, teams)
    if ttl_days is not None and ttl_days < 1:
        raise ValueError("a token must be valid for at least one day")
    token = token or new_token()
    now = datetime.now(UTC)
    expires_at = None if ttl_days is None else now + timedelta(days=ttl_days)
    with engine.begin() as conn:
        unknown = sorted(set(teams) - _known_teams(conn))
        if unknown:
            raise ValueError(f"unknown team(s) {unknown}; import the students first")
        existing = conn.execute(select(User.user_id).where(User.name == name)).scalar_one_or_none()
        values = {
            "role": parsed.value,
            "token_hash": hash_token(token),
            "active": True,
            "expires_at": expires_at,
            "revoked_at": None,
        }
        if existing is None:
            result = conn.execute(insert(User).values(name=name, created_at=now, **values))
            user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        else:
            user_id = int(existing)
            conn.execute(update(User).where(User.user_id == user_id).values(**values))
            conn.execute(delete(UserTeam).where(UserTeam.user_id == user_id))
        if teams:
            conn.execute(insert(UserTeam), [{"user_id": user_id, "team": t} for t in sorted(set(teams))])
    return token


def add_user(
    engine: Engine, name: str, role: str, teams: list[str], ttl_days: int | None = DEFAULT_TTL_DAYS
) -> str:
    """Create a new user; refuses a name that exists. Returns the token (shown once)."""
    with engine.connect() as conn:
        if conn.execute(select(User.user_id).where(User.name == name)).first() is not None:
            raise ValueError(f"user {name!r} exists already")
    return upsert_user(engine, name, role, teams, ttl_days=ttl_days)


def revoke_user(engine: Engine, name: str) -> datetime:
    """Revoke ``name``'s token at once (the user stays listed, inactive); returns when. Idempotent."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(select(User.user_id, User.revoked_at).where(User.name == name)).first()
        if row is None:
            raise ValueError(f"no user {name!r}")
        if row.revoked_at is not None:
            return aware(row.revoked_at)
        conn.execute(update(User).where(User.user_id == row.user_id).values(active=False, revoked_at=now))
    return now


def list_users(engine: Engine) -> list[UserRow]:
    with engine.connect() as conn:
        users = conn.execute(
            select(
                User.user_id, User.name, User.role, User.active, User.expires_at, User.revoked_at
            ).order_by(User.name)
        ).all()
        teams = conn.execute(select(UserTeam.user_id, UserTeam.team)).all()
    by_user: dict[int, list[str]] = {}
    for user_id, team in teams:
        by_user.setdefault(user_id, []).append(team)
    return [
        UserRow(
            u.name,
            u.role,
            tuple(sorted(by_user.get(u.user_id, []))),
            u.active,
            None if u.expires_at is None else aware(u.expires_at),
            None if u.revoked_at is None else aware(u.revoked_at),
        )
        for u in users
    ]


def demo_token(secret: str, role: Role) -> str:
    """A stable demo token per role, derived from a secret, so that re-running the demo prints the same."""
    digest = hmac.new(secret.encode("utf-8"), f"vroegsignaal-demo-{role.value}".encode(), hashlib.sha256)
    return f"demo-{role.value}-{digest.hexdigest()[:24]}"


def demo_team(engine: Engine) -> str:
    """The team the demo mentor is bound to: the largest team in the store."""
    with engine.connect() as conn:
        team = conn.execute(
            text("SELECT team FROM students GROUP BY team ORDER BY COUNT(*) DESC, team LIMIT 1")
        ).scalar_one_or_none()
    if team is None:
        raise ValueError("the store has no students; import data first (`vsv import`)")
    return str(team)


def create_demo_users(
    engine: Engine, secret: str, ttl_days: int | None = DEFAULT_TTL_DAYS
) -> list[tuple[str, Role, str | None, str]]:
    """One demo user per role (idempotent); returns (name, role, team, token) for each."""
    team = demo_team(engine)
    out: list[tuple[str, Role, str | None, str]] = []
    for role in Role:
        name = f"demo-{role.value}"
        teams = [team] if role == Role.MENTOR else []
        token = upsert_user(
            engine, name, role.value, teams, token=demo_token(secret, role), ttl_days=ttl_days
        )
        out.append((name, role, teams[0] if teams else None, token))
    return out
