"""Server-rendered pages in Dutch for mentors, the zorgteam, the coachklas coordinator, auditors and the
data team (Jinja2 templates, one small CSS file, no JavaScript), and the students' own pages under ``/v``
(:mod:`serving.web.student_pages`: the questionnaire, the own view, the privacy notice).

The pages call the same functions as the JSON routes (same role checks, same audit log); they add a login
with a server-side session (:mod:`serving.web.session`), CSRF tokens and HTML pages. :func:`install` adds
them to an app, with the security headers on every response (:mod:`serving.web.headers`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ExceptionHandler

from serving.web.datateam_pages import router as datateam_router
from serving.web.headers import SecurityHeaders
from serving.web.pages import error_page, router, validation_page
from serving.web.session import PREFIX
from serving.web.student_pages import router as student_router

STATIC_DIR = Path(__file__).parent / "static"


def is_page(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


async def _http_error(request: Request, exc: Exception) -> Response:
    """HTML error pages (or the login redirect) for the pages; the API keeps its JSON errors."""
    assert isinstance(exc, StarletteHTTPException)
    if is_page(request):
        return await run_in_threadpool(error_page, request, exc)
    return await http_exception_handler(request, exc)


HttpHandler = Callable[[Request, Exception], Awaitable[Response]]


def _validation_error(api_handler: ExceptionHandler) -> HttpHandler:
    """The 422 of a page as a Dutch HTML page; the API keeps the handler it had (JSON)."""
    for_api = cast(HttpHandler, api_handler)

    async def handler(request: Request, exc: Exception) -> Response:
        if is_page(request) and isinstance(exc, RequestValidationError):
            return await run_in_threadpool(validation_page, request, exc)
        return await for_api(request, exc)

    return handler


def install(app: FastAPI) -> None:
    """Add the pages, their static files, their HTML error pages and the security headers to ``app``."""
    app.include_router(router)
    app.include_router(datateam_router)
    app.include_router(student_router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_exception_handler(StarletteHTTPException, _http_error)
    api_handler = app.exception_handlers.get(RequestValidationError, request_validation_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error(api_handler))
    app.add_middleware(SecurityHeaders)


__all__ = ["HTTPException", "install"]
