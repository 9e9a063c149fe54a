"""FastAPI dependencies, as named ``Annotated`` aliases so that route signatures read like prose.

``SettingsDep``, ``EngineDep``, ``AuditEngineDep`` (a pool of its own for token look-ups and audit
entries), ``SessionDep`` (one transaction per request: committed when the endpoint
returns, rolled back on any error), ``ModelDep`` (503 while no model is loaded), ``UserDep`` (401 without a
valid bearer token; 429 with ``Retry-After`` for a bad token from an address with too many bad tokens, see
:mod:`serving.ratelimit`; each refusal is one audit entry without a user), and :func:`require` (403,
logged, for a role that may not do this).

Every refusal names what the request concerned: :class:`Guard` carries the student, team and week of the
request's path and query (:func:`concerns_of`) and fills them into a denied entry that lacks them, so the
audit log's search by student finds a refused request too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from data.calendar import WEEK_MAX, WEEK_MIN
from data.context import DeploymentContext
from serving.ratelimit import FORWARDED_FOR, FailedLoginLimiter, client_key
from settings import Settings
from workflows.audit import AuditEntry, AuditWriter
from workflows.model_state import ModelStore, ServingModel
from workflows.users import CurrentUser, Role, find_user

NO_MODEL = (
    "Er is nog geen model beschikbaar: train en promoveer een model (vsv train, vsv promote) "
    "en laad het opnieuw."
)
NOT_LOGGED_IN = "Niet ingelogd: stuur een geldig token mee (Authorization: Bearer <token>)."
TOO_MANY_FAILURES = (
    "Te veel mislukte inlogpogingen vanaf dit adres: probeer het over {seconds} seconden opnieuw."
)
REFUSED_LOGIN = "refused_login"
NO_TOKEN = "geen token"
BAD_TOKEN = "ongeldig token"
LIMITED = "ongeldig token, te veel mislukte pogingen"


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_context(request: Request) -> DeploymentContext:
    """The deployment context the app was started in (engine, questionnaire, registry, reports)."""
    ctx: DeploymentContext = request.app.state.context
    return ctx


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_audit_engine(request: Request) -> Engine:
    """The engine for short, independent transactions: token look-ups and audit entries.

    It has a connection pool of its own. A request holds a connection of the main pool for its session
    and then has its audit entry written; were that entry to need a second connection from the same pool,
    under load every holder would wait for another (a deadlock until the pool's timeout, then a 500).
    """
    engine: Engine = request.app.state.audit_engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ContextDep = Annotated[DeploymentContext, Depends(get_context)]
EngineDep = Annotated[Engine, Depends(get_engine)]
AuditEngineDep = Annotated[Engine, Depends(get_audit_engine)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """One transaction per request: commit when the endpoint returns, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_model_store(request: Request) -> ModelStore:
    store: ModelStore = request.app.state.models
    return store


ModelStoreDep = Annotated[ModelStore, Depends(get_model_store)]


def get_model(models: ModelStoreDep) -> ServingModel:
    """The model in service, or 503 while there is none."""
    if models.current is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=NO_MODEL + (f" (fout bij laden: {models.load_error})" if models.load_error else ""),
        )
    return models.current


ModelDep = Annotated[ServingModel, Depends(get_model)]

bearer = HTTPBearer(auto_error=False, description="Token from `vsv users add` (or `vsv users demo`).")


def get_login_limiter(request: Request) -> FailedLoginLimiter:
    """The app's failed-login limiter (made on first use, from ``auth_failures_per_minute``)."""
    limiter: FailedLoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        settings: Settings = request.app.state.settings
        limiter = FailedLoginLimiter(settings.auth_failures_per_minute)
        request.app.state.login_limiter = limiter
    return limiter


def trusted_proxies(request: Request) -> frozenset[str]:
    """The proxies whose ``X-Forwarded-For`` is believed: none unless a setting names them."""
    named: Iterable[str] | None = getattr(request.app.state.settings, "trusted_proxies", None)
    return frozenset(named or ())


def login_client(request: Request) -> str:
    """The address a failed login counts against (:func:`serving.ratelimit.client_key`)."""
    peer = request.client.host if request.client is not None else None
    return client_key(peer, request.headers, trusted_proxies(request))


def get_audit_writer(request: Request) -> AuditWriter:
    """The app's audit writer (group commit of the entries of concurrent requests)."""
    writer: AuditWriter = request.app.state.audit_writer
    return writer


AuditWriterDep = Annotated[AuditWriter, Depends(get_audit_writer)]


@dataclass(frozen=True)
class Concerns:
    """The student, team and week a request is about, as its path and query name them (unvalidated)."""

    student_id: str | None = None
    team: str | None = None
    week: int | None = None

    def fill(self, entry: AuditEntry) -> AuditEntry:
        """``entry`` with the student, team and week it lacks taken from the request."""
        return replace(
            entry,
            student_id=entry.student_id if entry.student_id is not None else self.student_id,
            team=entry.team if entry.team is not None else self.team,
            week=entry.week if entry.week is not None else self.week,
        )


_WEEK = re.compile(r"-?\d{1,6}")


def _week(value: str | None) -> int | None:
    """A week named in a request, when it is one of the calendar's (else None: the entry gets no week)."""
    if value is None or not _WEEK.fullmatch(value):
        return None
    week = int(value)
    return week if WEEK_MIN <= week <= WEEK_MAX else None


def concerns_of(request: Request) -> Concerns:
    """What the request names in its path (first) and query: ``student_id`` (or ``student``), ``team``,
    ``week``. Kept as sent; the audit log fits them to its columns (:func:`workflows.audit.fit`)."""
    params: Mapping[str, str] = {**request.query_params, **request.path_params}
    return Concerns(
        student_id=params.get("student_id", params.get("student")) or None,
        team=params.get("team") or None,
        week=_week(params.get("week")),
    )


def _refuse_login(request: Request, audit: AuditWriter, reason: str) -> None:
    """One audit entry for a request without a valid token: no user; the address, path and reason."""
    address = request.client.host if request.client is not None else "onbekend"
    forwarded = request.headers.get(FORWARDED_FOR)
    via = f" (X-Forwarded-For: {forwarded[:200]})" if forwarded else ""
    entry = concerns_of(request).fill(AuditEntry(REFUSED_LOGIN, detail=f"adres {address}{via}; {reason}"))
    audit.write_anonymous(request.method, request.url.path, [entry])


def get_current_user(
    request: Request,
    engine: AuditEngineDep,
    audit: AuditWriterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CurrentUser:
    """The user holding the bearer token, or 401; 429 for a bad token from an address with too many.

    A valid token passes whatever its address did before: the limit slows down guessing, it never locks
    out a colleague behind the same address. Every refusal is one audit entry (no user, the address).
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        _refuse_login(request, audit, NO_TOKEN)
        raise _not_logged_in()
    # One statement, so no transaction: without one the look-up saves a BEGIN and a ROLLBACK round trip.
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        user = find_user(conn, credentials.credentials)
    if user is not None:
        return user
    limiter = get_login_limiter(request)
    client = login_client(request)
    wait = limiter.retry_after(client)
    if wait is not None:
        _refuse_login(request, audit, LIMITED)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=TOO_MANY_FAILURES.format(seconds=wait),
            headers={"Retry-After": str(wait)},
        )
    limiter.record_failure(client)
    _refuse_login(request, audit, BAD_TOKEN)
    raise _not_logged_in()


def _not_logged_in() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=NOT_LOGGED_IN, headers={"WWW-Authenticate": "Bearer"}
    )


UserDep = Annotated[CurrentUser, Depends(get_current_user)]


@dataclass(frozen=True)
class Guard:
    """The user of a request plus the means to log what they get to see (or are refused).

    ``concerns``: what the request names (:func:`concerns_of`); a refusal is logged with it, so that a
    search of the audit log by student or team finds refused requests too.
    """

    user: CurrentUser
    audit: AuditWriter
    method: str
    path: str
    concerns: Concerns = Concerns()

    def allow(self, entries: Iterable[AuditEntry]) -> None:
        """Log access that is allowed; call before returning the data."""
        self.audit.write(self.user, self.method, self.path, entries, allowed=True)

    def deny(self, entry: AuditEntry, message: str) -> HTTPException:
        """Log a refused access (with the student, team and week of the request) and return the 403."""
        self.audit.write(self.user, self.method, self.path, [self.concerns.fill(entry)], allowed=False)
        return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)

    def check_role(self, roles: frozenset[Role], entry: AuditEntry) -> None:
        """403 (logged as ``entry``) when the user's role is not one of ``roles``."""
        if self.user.role not in roles:
            raise self.deny(entry, f"Geen toegang: uw rol ({self.user.role}) mag dit niet.")

    def check_team(self, entry: AuditEntry, team: str) -> None:
        """403 (logged) when a mentor asks for a team that is not theirs.

        ``team`` is a team the request names (a team's list) or a student's *current* team
        (:func:`serving.routes.common.student_in_reach`), never the team stored with a score.
        """
        if not self.user.may_see_team(team):
            raise self.deny(entry, "Geen toegang: deze student of dit team hoort niet bij uw teams.")


def get_guard(request: Request, user: UserDep, audit: AuditWriterDep) -> Guard:
    return Guard(user, audit, request.method, request.url.path, concerns_of(request))


GuardDep = Annotated[Guard, Depends(get_guard)]


def require(roles: frozenset[Role], action: str) -> Callable[[Guard], Guard]:
    """A dependency that lets only ``roles`` through; a refusal is logged as ``action``, with the student,
    team and week the request names."""

    def dependency(guard: GuardDep) -> Guard:
        guard.check_role(roles, AuditEntry(action))
        return guard

    return dependency
