"""Helpers shared by routers: finding a student the user may see, 404s with Dutch messages."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from data.scores import StoredScore
from serving.deps import Guard
from serving.queries import stored_score, student_team
from serving.schemas import MessageOut
from workflows.audit import AuditEntry


def not_found(message: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=message)


def student_in_reach(session: Session, guard: Guard, student_id: str, action: str, week: int | None) -> str:
    """The student's team: 404 for an unknown student, 403 (logged) when a mentor may not see it."""
    team = student_team(session, student_id)
    if team is None:
        raise not_found(f"Student {student_id} is onbekend.")
    guard.check_team(AuditEntry(action, student_id, team, week), team)
    return team


def score_or_404(session: Session, student_id: str, week: int) -> StoredScore:
    score = stored_score(session, student_id, week)
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
