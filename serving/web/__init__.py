"""Server-rendered pages in Dutch for mentors, the zorgteam, the coachklas coordinator, auditors and the
data team (Jinja2 templates, one small CSS file, no JavaScript build step).

The pages call the same functions as the JSON routes (same role checks, same audit log); they only add a
cookie login and HTML. :func:`install` adds them to an app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from serving.web.pages import PREFIX, error_page, router

STATIC_DIR = Path(__file__).parent / "static"


async def _http_error(request: Request, exc: Exception) -> Response:
    """HTML error pages (or the login redirect) for the pages; the API keeps its JSON errors."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/"):
        return error_page(request, exc)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their HTML error pages to ``app``."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="web-static")
    app.add_exception_handler(StarletteHTTPException, _http_error)


__all__ = ["HTTPException", "install"]
