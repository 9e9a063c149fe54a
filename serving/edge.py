"""Control characters refused at the door, before any route, query or page sees them.

:class:`RefuseControlCharacters` is plain ASGI middleware, just inside :class:`serving.limits.BodyLimit`.
A request whose percent-decoded path or query string holds a control character (C0 but tab, line feed and
carriage return, or DEL: :data:`CONTROL`) gets a 422, and so does a form body
(``application/x-www-form-urlencoded``) with one in a field's name or value. PostgreSQL can neither store
nor compare a NUL byte, so such a value that reached a query was a 500; here the whole class of them is
closed for every route at once, the pages' and the API's alike. Tabs and line breaks pass: a note typed in
a text area has them.

A form body is read here in full (:class:`~serving.limits.BodyLimit`, outside, caps it) and replayed to the
app unchanged. Other bodies (JSON, uploads) are not read: their routes check what they hold.

The refusal is FastAPI's validation-error JSON (``{"detail": [{"loc", "msg", "type"}]}``) for the API and a
short Dutch HTML page (the pages' own ``error.html``) for ``/web``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote_to_bytes

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES_PREFIX = "/web"
STUDENT_PREFIX = "/v/"
TEMPLATES_DIR = Path(__file__).parent / "web" / "templates"
# C0 control characters and DEL, except tab, line feed and carriage return (as workflows.audit escapes).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORM_TYPE = "application/x-www-form-urlencoded"
BAD_ADDRESS = "Ongeldige tekens in het adres."
BAD_FORM = "Ongeldige tekens in het formulier."
PROBLEM = "bevat een stuurteken (zoals een NUL-teken); dat kan niet"
API_MESSAGE = "Ongeldige tekens: stuurtekens (zoals NUL) zijn hier niet toegestaan."
TITLE = "Niet goed ingevuld"
ERROR_TYPE = "value_error"

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]), auto_reload=False
)
_templates.globals.update(PREFIX=PAGES_PREFIX)


def shown(value: str) -> str:
    """``value`` with its control characters written as ``\\xNN`` (safe to show and to log)."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def has_control(value: str) -> bool:
    return CONTROL.search(value) is not None


def bad_fields(encoded: bytes) -> list[str]:
    """The names of the fields of a URL-encoded ``encoded`` (a query string or form body) whose name or
    value holds a control character, once its percent escapes are decoded; ``[""]`` when only the text
    as a whole does (a malformed escape, a stray separator)."""
    text = encoded.decode("latin-1")
    found = [
        name
        for name, value in parse_qsl(text, keep_blank_values=True)
        if has_control(name) or has_control(value)
    ]
    if not found and CONTROL_BYTES.search(unquote_to_bytes(text.replace("+", " "))):
        found = [""]
    return list(dict.fromkeys(found))


def is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return bool(value.decode("latin-1").split(";")[0].strip().lower() == FORM_TYPE)
    return False


def is_page(path: str) -> bool:
    """The staff's pages and the students' (``/v/...``) get an HTML refusal; the API its JSON."""
    return path == PAGES_PREFIX or path.startswith((PAGES_PREFIX + "/", STUDENT_PREFIX))


class RefuseControlCharacters:
    """ASGI middleware: 422 for a control character in the path, the query string or a form field."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        locations: list[list[str]] = []
        if has_control(scope["path"]):
            locations.append(["path"])
        locations += [
            ["query", name] if name else ["query"] for name in bad_fields(scope.get("query_string", b""))
        ]
        if locations:
            await _refuse(scope, send, BAD_ADDRESS, locations)
            return
        if not is_form(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        fields = bad_fields(bytes(body))
        if fields:
            await _refuse(scope, send, BAD_FORM, [["body", name] if name else ["body"] for name in fields])
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


def page(message: str, locations: list[list[str]]) -> str:
    """The Dutch HTML page of a refusal: the pages' ``error.html``, without a menu."""
    problems = sorted({(shown(loc[-1]) if len(loc) > 1 else "adres", PROBLEM) for loc in locations})
    context = {"title": TITLE, "status": 422, "detail": message, "problems": problems, "logged": False}
    return _templates.get_template("error.html").render(user=None, menu=[], message=None, **context)


def api_detail(locations: list[list[str]]) -> dict[str, object]:
    """FastAPI's 422 shape (``HTTPValidationError``): one entry per place that holds a control character."""
    return {
        "detail": [
            {"type": ERROR_TYPE, "loc": [shown(part) for part in loc], "msg": API_MESSAGE}
            for loc in locations
        ]
    }


async def _refuse(scope: Scope, send: Send, message: str, locations: list[list[str]]) -> None:
    if is_page(scope["path"]):
        body = page(message, locations).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps(api_detail(locations)).encode()
        content_type = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
