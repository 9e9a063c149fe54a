"""FastAPI dependencies, as named ``Annotated`` aliases so that route signatures read like prose.

``SettingsDep``, ``EngineDep``, ``AuditEngineDep`` (a pool of its own for token look-ups and audit
entries), ``SessionDep`` (one transaction per request: committed when the endpoint
returns, rolled back on any error), ``ModelDep`` (503 while no model is loaded), ``UserDep`` (401 without a
valid bearer token; 429 with ``Retry-After`` after too many bad tokens from one address, see
:mod:`serving.ratelimit`), and :func:`require` (403, logged, for a role that may not do this).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from data.context import DeploymentContext
from serving.ratelimit import FailedLoginLimiter
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
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=NO_MODEL)
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


def get_current_user(
    request: Request,
    engine: AuditEngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CurrentUser:
    """The user holding the bearer token, or 401 (429 after too many bad tokens from this address)."""
    user = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        limiter = get_login_limiter(request)
        client = request.client.host if request.client is not None else "unknown"
        wait = limiter.retry_after(client)
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=TOO_MANY_FAILURES.format(seconds=wait),
                headers={"Retry-After": str(wait)},
            )
        with engine.connect() as conn:
            user = find_user(conn, credentials.credentials)
        if user is None:
            limiter.record_failure(client)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=NOT_LOGGED_IN, headers={"WWW-Authenticate": "Bearer"}
        )
    return user


UserDep = Annotated[CurrentUser, Depends(get_current_user)]


@dataclass(frozen=True)
class Guard:
    """The user of a request plus the means to log what they get to see (or are refused)."""

    user: CurrentUser
    audit: AuditWriter
    method: str
    path: str

    def allow(self, entries: Iterable[AuditEntry]) -> None:
        """Log access that is allowed; call before returning the data."""
        self.audit.write(self.user, self.method, self.path, entries, allowed=True)

    def deny(self, entry: AuditEntry, message: str) -> HTTPException:
        """Log a refused access and return the 403 to raise."""
        self.audit.write(self.user, self.method, self.path, [entry], allowed=False)
        return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)

    def check_team(self, entry: AuditEntry, team: str) -> None:
        """403 (logged) when a mentor asks for a team (or its student) that is not theirs."""
        if not self.user.may_see_team(team):
            raise self.deny(entry, "Geen toegang: deze student of dit team hoort niet bij uw teams.")


def get_audit_writer(request: Request) -> AuditWriter:
    """The app's audit writer (group commit of the entries of concurrent requests)."""
    writer: AuditWriter = request.app.state.audit_writer
    return writer


AuditWriterDep = Annotated[AuditWriter, Depends(get_audit_writer)]


def get_guard(request: Request, user: UserDep, audit: AuditWriterDep) -> Guard:
    return Guard(user, audit, request.method, request.url.path)


GuardDep = Annotated[Guard, Depends(get_guard)]


def require(roles: frozenset[Role], action: str) -> Callable[[Guard], Guard]:
    """A dependency that lets only ``roles`` through; a refusal is logged as ``action``."""

    def dependency(guard: GuardDep) -> Guard:
        if guard.user.role not in roles:
            raise guard.deny(AuditEntry(action), f"Geen toegang: uw rol ({guard.user.role}) mag dit niet.")
        return guard

    return dependency
