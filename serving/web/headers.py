"""Security headers on every response of the service (a pure ASGI middleware, installed by
:func:`serving.web.install`).

* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and ``Referrer-Policy: same-origin`` on
  every response. (Not ``no-referrer``: with it a browser sends ``Origin: null`` on the pages' own form
  posts, which the Origin check would refuse.)
* ``Cache-Control: no-store`` on every response except the static files and ``/health``: pages, exports and
  API answers carry student data and must not stay in a browser's or proxy's cache.
* ``Referrer-Policy: no-referrer`` on the students' pages (``/v/<token>``): the address is their key.
* ``Content-Security-Policy``: the pages (the students' too) load only their own style sheet (no inline
  script or style, charts are inline SVG); the monitoring reports (generated HTML documents with inline
  scripts, e.g. Evidently's) are sandboxed, fetch nothing and cannot be framed; everything else cannot be
  framed.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES_PREFIX = "/web"
PAGE_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
REPORT_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'; sandbox allow-scripts"
)
OTHER_POLICY = "frame-ancestors 'none'"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
STATIC_PREFIX = f"{PAGES_PREFIX}/static/"
STUDENT_PREFIX = "/v/"
REPORT_DOCUMENTS = (f"{PAGES_PREFIX}/monitoring/", "/api/v1/monitoring/reports/")


def _is_report_document(path: str) -> bool:
    """``/web/monitoring/<week>/<file>`` and the API's ``/api/v1/monitoring/reports/<week>/<file>``."""
    return any(path.startswith(p) and path[len(p) :].count("/") == 1 for p in REPORT_DOCUMENTS)


def policy_for(path: str) -> str:
    """The Content-Security-Policy of the response to ``path``."""
    if _is_report_document(path):
        return REPORT_POLICY
    if path == PAGES_PREFIX or path.startswith((PAGES_PREFIX + "/", STUDENT_PREFIX)):
        return PAGE_POLICY
    return OTHER_POLICY


def headers_for(path: str) -> dict[str, str]:
    """Every security header of the response to ``path``. A student's page (``/v/<token>``) sends no
    referrer at all: its address is the student's key."""
    headers = {**ALWAYS, "Content-Security-Policy": policy_for(path)}
    if path.startswith(STUDENT_PREFIX):
        headers["Referrer-Policy"] = "no-referrer"
    if path != "/health" and not path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeaders:
    """Adds :func:`headers_for` to every HTTP response (errors from the app's handlers included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
