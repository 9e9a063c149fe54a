"""Helpers shared by routers: the routers themselves (:func:`api_router`), finding a student the user may
see (on the student's current team), 404s with Dutch messages."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from data.scores import StoredScore
from serving.deps import Guard
from serving.queries import stored_score, student_team
from serving.schemas import MessageOut
from workflows.audit import AuditEntry


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity as its text ("nan", "inf"): JSON has no such numbers, so a 422
    that echoes one as its ``input`` could not be sent (a 500 instead)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class ApiRoute(APIRoute):
    """An API route whose 422 can always be sent, and sent short: the validation errors' inputs made
    JSON-safe (:func:`json_safe`), since Python's JSON parser takes ``NaN`` and ``Infinity`` in a request
    body; at most ``max_listed_errors`` of them listed, then one entry (type ``value_error.more``, as the
    ingest route's) that counts the rest, so a body wrong throughout gets no answer ten times its size."""

    DEFAULT_LISTED = 100

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                settings = getattr(request.app.state, "settings", None)
                limit = int(getattr(settings, "max_listed_errors", ApiRoute.DEFAULT_LISTED))
                errors: Sequence[Any] = json_safe(ApiRoute.capped(list(exc.errors()), limit))
                raise RequestValidationError(
                    errors, body=json_safe(exc.body), endpoint_ctx=exc.endpoint_ctx
                ) from None

        return route

    @staticmethod
    def capped(errors: list[Any], limit: int) -> list[Any]:
        """The first ``limit`` of ``errors``, and one entry counting the rest when there are more."""
        if len(errors) <= limit:
            return errors
        rest = len(errors) - limit
        first = errors[limit].get("loc") if isinstance(errors[limit], dict) else None
        more = {
            "type": "value_error.more",
            "loc": list(first or ("body",))[:1],  # where they are: body, query or path
            "msg": f"nog {rest} fout(en) niet getoond; de eerste {limit} staan hierboven",
        }
        return [*errors[:limit], more]


def api_router(prefix: str, tags: list[str]) -> APIRouter:
    """A router of the API (:class:`ApiRoute` for every route)."""
    return APIRouter(prefix=prefix, tags=list(tags), route_class=ApiRoute)


def field_error(field: str, message: str, body: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own shape for a rule a workflow checks (an unknown action type, an end before
    its start): ``loc`` names the body field, ``msg`` says why in Dutch."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": json_safe(body)}]
    )


def not_found(message: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=message)


def student_in_reach(session: Session, guard: Guard, student_id: str, action: str, week: int | None) -> str:
    """The student's *current* team (``students.team``): 404 for an unknown student, 403 (logged) when a
    mentor may not see it. Every read or write of one student's data, in any week, passes here: access
    follows the team the student is in now, never the team stored with an old score."""
    return in_reach(guard, student_id, student_team(session, student_id), action, week)


def in_reach(guard: Guard, student_id: str, team: str | None, action: str, week: int | None) -> str:
    """:func:`student_in_reach` for a student whose current team (None: unknown) was read already."""
    if team is None:
        raise not_found(f"Student {student_id} is onbekend.")
    guard.check_team(AuditEntry(action, student_id, team, week), team)
    return team


def score_or_404(session: Session, student_id: str, week: int) -> StoredScore:
    return found_score(stored_score(session, student_id, week), student_id, week)


def found_score(score: StoredScore | None, student_id: str, week: int) -> StoredScore:
    """``score``, or 404 when the student has no score in ``week``."""
    if score is None:
        raise not_found(f"Geen score van student {student_id} in week {week}.")
    return score


ERROR_TEXTS = {
    401: "Not logged in: no or an invalid bearer token",
    403: "The role (or, for a mentor, the team) may not do this; the attempt is logged",
    404: "Unknown student, week, team, alert or model version",
    409: "Conflict with the current state",
    422: "Invalid request: field-level messages",
    429: "Too many failed logins from this address: try again after Retry-After seconds",
    503: "No model is loaded yet",
}
ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the error responses an endpoint can give (FastAPI documents 422 itself)."""
    return {
        code: {"model": MessageOut, "description": ERROR_TEXTS[code]}
        | ({"headers": ERROR_HEADERS[code]} if code in ERROR_HEADERS else {})
        for code in codes
        if code != 422
    }


# What every /api/ route can answer, whatever it does: each needs a bearer token (serving.deps.UserDep: 401,
# or 429 after too many bad tokens from one address) and a role (serving.deps.require: 403). Declared once,
# for every API router, in serving.app.create_app.
AUTH_ERRORS = errors(401, 403, 429)
