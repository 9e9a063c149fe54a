"""The login of the pages: a server-side session (:mod:`workflows.web_sessions`), CSRF tokens and the
Origin check.

Logging in with a bearer token opens a session; the cookie holds only the random session id (HttpOnly,
SameSite=Strict, Path=/, Secure over HTTPS: :func:`over_https`), never the token. Every POST to the pages
must come from the service's own origin (the ``Origin`` header, else ``Referer``, when the browser sends
one) and, except the login form, carry the session's CSRF token in the form field ``csrf_token``:
:func:`protect_forms` checks both once, for every page route.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from serving.deps import (
    AuditWriterDep,
    Guard,
    concerns_of,
    get_app_settings,
    get_audit_engine,
    require,
    trusted_proxies,
)
from workflows.users import CurrentUser, Role
from workflows.web_sessions import (
    ActiveSession,
    NewSession,
    SessionPolicy,
    csrf_matches,
    open_session,
    resume_session,
    revoke_session,
    session_policy,
)

PREFIX = "/web"
COOKIE = "vsv_session"
# The cookie of earlier versions held the bearer token itself: it is removed at login and logout.
LEGACY_COOKIE = "vsv_token"
CSRF_FIELD = "csrf_token"
LOGIN_PATH = f"{PREFIX}/login"
FORWARDED_PROTO = "x-forwarded-proto"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FOREIGN_ORIGIN = (
    "Dit formulier is niet vanaf Vroegsignaal zelf verstuurd en is daarom geweigerd. "
    "Open de pagina opnieuw via Vroegsignaal en probeer het nog eens."
)
BAD_CSRF = (
    "Dit formulier is verlopen of niet vanaf deze pagina verstuurd en is daarom geweigerd. "
    "Laad de pagina opnieuw en probeer het nog eens."
)
_CACHE = "web_session"


class FormRefused(HTTPException):
    """A POST refused before anything was read or written: another origin, or a missing or wrong CSRF
    token. Not an access attempt on student data, so not in the audit log."""

    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, detail=detail)


def policy_of(request: Request) -> SessionPolicy:
    settings = get_app_settings(request)
    return session_policy(settings.web_session_minutes, settings.web_session_max_hours)


def current_session(request: Request) -> ActiveSession | None:
    """The request's valid session, or None; looked up (and renewed) once per request."""
    cached: ActiveSession | str | None = getattr(request.state, _CACHE, "unknown")
    if not isinstance(cached, str):
        return cached
    session_id = request.cookies.get(COOKIE)
    found = None
    if session_id:
        found = resume_session(get_audit_engine(request), session_id, policy_of(request))
    setattr(request.state, _CACHE, found)
    return found


def cookie_user(request: Request) -> CurrentUser | None:
    """The user of the request's session, or None."""
    found = current_session(request)
    return None if found is None else found.user


def csrf_token(request: Request) -> str:
    """The CSRF token to put in the page's forms ("" without a session)."""
    found = current_session(request)
    return "" if found is None else found.csrf_token


def over_https(request: Request) -> bool:
    """Whether the browser reached the service over HTTPS, so the cookie gets its Secure flag: the
    request's own scheme (which uvicorn sets from ``X-Forwarded-Proto`` of a proxy in its
    ``--forwarded-allow-ips``), or ``X-Forwarded-Proto: https`` sent by a proxy named in
    ``VSV_TRUSTED_PROXIES`` (the proxy that ends TLS in front of ``vsv serve``)."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client is not None else None
    if peer is None or peer not in trusted_proxies(request):
        return False
    proto = request.headers.get(FORWARDED_PROTO, "")
    return proto.split(",")[-1].strip().lower() == "https"


def had_session_cookie(request: Request) -> bool:
    return bool(request.cookies.get(COOKIE))


def start_session(request: Request, response: Response, user: CurrentUser) -> NewSession:
    """Open a session for ``user`` and put its id in the response's cookie; a session the browser still
    had is revoked (a fresh id at every login)."""
    old = request.cookies.get(COOKIE)
    engine = get_audit_engine(request)
    if old:
        revoke_session(engine, old)
    policy = policy_of(request)
    new = open_session(engine, user, policy)
    response.set_cookie(
        COOKIE,
        new.session_id,
        max_age=int(policy.max_age.total_seconds()),
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LEGACY_COOKIE, path="/", httponly=True, samesite="strict")
    return new


def end_session(request: Request, response: Response) -> None:
    """Revoke the request's session in the store and clear the browser's cookies."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        revoke_session(get_audit_engine(request), session_id)
    secure = over_https(request)
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(LEGACY_COOKIE, path="/", httponly=True, samesite="strict")


def foreign_origin(request: Request) -> bool:
    """Whether the request names an origin (``Origin``, else ``Referer``) other than the service's own.

    The host and port must be the request's own ``Host``; the scheme must be the request's or https (a
    proxy in front may end TLS and forward plain http). ``Origin: null`` is foreign.
    """
    source = request.headers.get("origin")
    if source is None:
        source = request.headers.get("referer")
    if source is None:
        return False
    parts = urlsplit(source.strip())
    if parts.scheme not in (request.url.scheme, "https"):
        return True
    return parts.netloc.lower() != request.url.netloc.lower()


async def protect_forms(request: Request) -> None:
    """For every page route: a POST from another origin is refused (403); any POST but the login's needs
    the session's CSRF token (403 when it is missing or wrong; 401, the login page, without a session)."""
    if request.method in SAFE_METHODS:
        return
    if foreign_origin(request):
        raise FormRefused(FOREIGN_ORIGIN)
    if request.url.path == LOGIN_PATH:
        return
    found = await run_in_threadpool(current_session, request)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Niet ingelogd.")
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    if not isinstance(presented, str) or not csrf_matches(found, presented):
        raise FormRefused(BAD_CSRF)


def web_user(request: Request) -> CurrentUser:
    """The logged-in user; 401 (the pages turn it into a redirect to the login page) otherwise."""
    user = cookie_user(request)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Niet ingelogd.")
    return user


WebUserDep = Annotated[CurrentUser, Depends(web_user)]


def web_guard(request: Request, user: WebUserDep, audit: AuditWriterDep) -> Guard:
    """As the API's :func:`serving.deps.get_guard`: a refusal is logged with the student, team and week
    the page names (:func:`serving.deps.concerns_of`)."""
    return Guard(user, audit, request.method, request.url.path, concerns_of(request))


def guard_for(roles: frozenset[Role], action: str) -> object:
    """A dependency: the request's :class:`Guard` when the role is one of ``roles``; otherwise the same
    logged 403 as the API (the API's :func:`serving.deps.require`, fed with the session's user)."""
    check = require(roles, action)

    def dependency(guard: Annotated[Guard, Depends(web_guard)]) -> Guard:
        return check(guard)

    return Depends(dependency)
