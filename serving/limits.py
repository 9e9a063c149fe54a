"""Request body limits, enforced before anything reads, parses or authenticates a body.

:class:`BodyLimit` is plain ASGI middleware, outermost in the app. A request whose ``Content-Length`` is over
its route's limit gets 413 at once, without a byte of its body read; a body sent without a length (chunked)
is counted while it streams and cut off with 413 as soon as it passes the limit. The limit is
``max_upload_bytes`` for the CSV ingest route and ``max_json_body_bytes`` for every other route (see
:mod:`settings`). The ingest route itself authenticates before it reads its upload
(:mod:`serving.routes.ingest`), so an anonymous upload is refused before it is spooled anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PATHS = ("/api/v1/ingest",)
# A student's questionnaire or reaction (serving.web.student_pages): a few kilobytes at most.
STUDENT_PREFIX = "/v/"
STUDENT_FORM_BYTES = 16 * 1024
TOO_LARGE = (
    "Het verzoek is te groot: de grens is {limit}. Stuur minder gegevens tegelijk of splits het bestand."
)


@dataclass(frozen=True)
class Limits:
    """The byte limits: uploads (CSV ingest) and everything else (JSON and forms)."""

    json_bytes: int
    upload_bytes: int

    def for_path(self, path: str) -> int:
        if path in UPLOAD_PATHS:
            return self.upload_bytes
        if path.startswith(STUDENT_PREFIX):
            return min(STUDENT_FORM_BYTES, self.json_bytes)
        return self.json_bytes


def readable_size(n_bytes: int) -> str:
    """``n_bytes`` as a Dutch reader would say it (e.g. ``1 MB``, ``512 kB``)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n_bytes >= size:
            value = n_bytes / size
            shown = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
            return f"{shown} {unit}"
    return f"{n_bytes} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes its limit.

    An HTTPException, so that whatever reads the body (FastAPI turns other errors while reading a body
    into a 400) passes it on and the app answers 413 with the message."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=TOO_LARGE.format(limit=readable_size(limit)))


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None when absent; -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class BodyLimit:
    """ASGI middleware: 413 for a body over its route's limit, by header and while streaming."""

    def __init__(self, app: ASGIApp, limits: Callable[[], Limits]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits().for_path(scope["path"])
        length = declared_length(scope)
        if length is not None and (length < 0 or length > limit):
            await _too_large(send, limit, scope["path"])
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit, scope["path"])


STUDENT_TOO_LARGE = (
    '<!doctype html><html lang="nl"><head><meta charset="utf-8"><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><title>Te veel tekst</title></head><body><main>'
    "<h1>Te veel tekst</h1><p>Wat je stuurde is te lang. Ga terug, maak je tekst korter en probeer het "
    "opnieuw.</p></main></body></html>"
)


async def _too_large(send: Send, limit: int, path: str = "") -> None:
    student = path.startswith(STUDENT_PREFIX)
    if student:
        body, content_type = STUDENT_TOO_LARGE.encode(), b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": TOO_LARGE.format(limit=readable_size(limit))}).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
