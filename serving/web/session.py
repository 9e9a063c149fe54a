"""The cookie login of the pages: the token pasted on the login page, kept in an HttpOnly, SameSite=Strict
cookie and looked up exactly as a bearer token is (:func:`workflows.users.find_user`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from serving.deps import AuditEngineDep, AuditWriterDep, Guard, require
from workflows.users import CurrentUser, Role, find_user

COOKIE = "vsv_token"


def cookie_user(request: Request, engine: AuditEngineDep) -> CurrentUser | None:
    """The user holding the cookie's token, or None."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with engine.connect() as conn:
        return find_user(conn, token)


def web_user(request: Request, engine: AuditEngineDep) -> CurrentUser:
    """The logged-in user; 401 (the pages turn it into a redirect to the login page) otherwise."""
    user = cookie_user(request, engine)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Niet ingelogd.")
    return user


WebUserDep = Annotated[CurrentUser, Depends(web_user)]


def web_guard(request: Request, user: WebUserDep, audit: AuditWriterDep) -> Guard:
    return Guard(user, audit, request.method, request.url.path)


def guard_for(roles: frozenset[Role], action: str) -> object:
    """A dependency: the request's :class:`Guard` when the role is one of ``roles``; otherwise the same
    logged 403 as the API (the API's :func:`serving.deps.require`, fed with the cookie user)."""
    check = require(roles, action)

    def dependency(guard: Annotated[Guard, Depends(web_guard)]) -> Guard:
        return check(guard)

    return Depends(dependency)
