"""The students' pages: the weekly questionnaire at ``/v/<token>``, the student's own view at
``/v/<token>`` (a view token), and the school's privacy notice at ``/v/privacy``.

No login: the personal token in the address is the key (and, being secret and bound to one link, also what
stops another site from posting in a student's name; a post that names another origin is refused too).
Every page is Dutch at B1 level, works without JavaScript, loads nothing from elsewhere, shows no risk
score, and links the privacy notice. A malformed, unknown and expired token all get the same page, which
says nothing about whether a student exists. What a student submits or views is written to the audit log
in the same transaction (by "student (eigen link)", role "student", the address without its token).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection
from starlette.responses import Response

from data.calendar import week_label_or_fallback
from data.context import DeploymentContext
from data.questionnaire import Questionnaire
from serving.access_log import redacted
from serving.web.markdown import markdown_to_html
from serving.web.session import foreign_origin
from settings import Settings
from workflows.audit import AuditEntry, append_rows, audit_row
from workflows.cases import store_today
from workflows.mailer import moment_nl
from workflows.rounds import (
    ANSWER,
    VIEW,
    AlreadyAnsweredError,
    InvalidAnswersError,
    LinkAccess,
    mark_seen,
    open_help_due,
    resolve,
    submit_answers,
)
from workflows.safeguarding import SCHOOL_TZ
from workflows.student_view import (
    REACTION_CODES,
    STUDENT_AUTHOR,
    ReactionKind,
    add_reaction,
    hours_nl,
    own_record,
)

PREFIX = "/v"
STUDENT_ROLE = "student"
DEFAULT_PRIVACY_NOTICE = Path(__file__).parent / "content" / "privacy_notice.md"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(prefix=PREFIX, include_in_schema=False)
REACTION_KINDS: dict[str, ReactionKind] = {"opmerking": "comment", "klopt_niet": "contest"}


def _ctx(request: Request) -> DeploymentContext:
    return cast(DeploymentContext, request.app.state.context)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def _page(request: Request, name: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    base = {
        "title": "Vragenlijst",
        "privacy_url": f"{PREFIX}/privacy",
        "school": _settings(request).school_name,
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _not_valid(request: Request) -> Response:
    """One page for a malformed, unknown or expired token (404: nothing is there to be seen)."""
    return _page(request, "student_link_invalid.html", {"title": "Deze link werkt niet"}, 404)


def _already(request: Request, link: LinkAccess) -> Response:
    """The page of a link whose questionnaire was submitted before (409: nothing changed)."""
    context = {"title": "Al ingevuld", "week": _week_text(request, link.week)}
    return _page(request, "student_already.html", context, 409)


def _audit(conn: Connection, request: Request, link: LinkAccess, action: str, detail: str | None) -> None:
    entry = AuditEntry(action, link.student_id, link.team, link.week, detail)
    row = audit_row(
        None, STUDENT_AUTHOR, STUDENT_ROLE, request.method, redacted(request.url.path), entry, True
    )
    append_rows(conn, [row])


def _week_text(request: Request, week: int) -> str:
    return week_label_or_fallback(_ctx(request).calendar, week)


def _form_items(q: Questionnaire, form: Mapping[str, str]) -> list[dict[str, Any]]:
    """The questions as the page shows them, with what the student chose so far."""
    values = list(range(q.scale_min, q.scale_max + 1))
    return [
        {
            "code": item.code,
            "text": item.text,
            "low": item.low_label,
            "high": item.high_label,
            "values": values,
            "chosen": (form.get(item.code) or "").strip(),
        }
        for item in q.items
    ]


def _questionnaire(
    request: Request, link: LinkAccess, form: Mapping[str, str], problems: Mapping[str, str], status_code: int
) -> Response:
    q = _ctx(request).questionnaire
    help_text = q.help_item.question
    context = {
        "title": "Hoe gaat het met je?",
        "week": _week_text(request, link.week),
        "items": _form_items(q, form),
        "help": {
            "code": q.help_item.code,
            "text": help_text,
            "chosen": (form.get(q.help_item.code) or "").strip(),
        },
        "problems": problems,
        "questions": {i.code: i.text for i in q.items} | {q.help_item.code: help_text},
        "until": moment_nl(link.expires_at),
    }
    return _page(request, "student_questionnaire.html", context, status_code)


def _open(request: Request, token: str) -> tuple[LinkAccess | None, Response | None]:
    with _ctx(request).engine.begin() as conn:
        link = resolve(conn, token, datetime.now(UTC))
        if link is None:
            return None, _not_valid(request)
        mark_seen(conn, link, datetime.now(UTC))
        if link.purpose == VIEW:
            return link, _own_view(request, conn, link, message=None, problem=None)
    return link, None


@lru_cache(maxsize=4)
def _notice_html(path: Path) -> str:
    return markdown_to_html(path.read_text(encoding="utf-8"))


# --- the privacy notice (before /{token}: "privacy" is never a token) -----------------------------------


@router.get("/privacy")
def privacy_notice(request: Request) -> Response:
    """The school's privacy notice for students (Markdown, ``VSV_PRIVACY_NOTICE``)."""
    path = _settings(request).privacy_notice or DEFAULT_PRIVACY_NOTICE
    return _page(request, "student_privacy.html", {"title": "Privacy", "notice": _notice_html(path)})


# --- the questionnaire and the own view -----------------------------------------------------------------


@router.get("/{token}")
def open_link(request: Request, token: str) -> Response:
    """The questionnaire (an answer token) or the student's own view (a view token)."""
    link, response = _open(request, token)
    if response is not None:
        return response
    assert link is not None
    if link.answered_at is not None:
        return _already(request, link)
    return _questionnaire(request, link, {}, {}, 200)


def _submit(request: Request, token: str, form: Mapping[str, str]) -> Response:
    ctx, settings = _ctx(request), _settings(request)
    now = datetime.now(UTC)
    link: LinkAccess | None = None
    try:
        with ctx.engine.begin() as conn:
            link = resolve(conn, token, now)
            if link is None:
                return _not_valid(request)
            if link.purpose != ANSWER:
                return _reaction(request, conn, link, form)
            result = submit_answers(
                conn,
                ctx.questionnaire,
                link,
                form,
                window_weeks=settings.alert_window_weeks,
                pseudonym_key=settings.pseudonym_key,
                now=now,
            )
            detail = f"vragenlijst ingevuld; zorgmeldingen: {result.alerts_raised}"
            _audit(conn, request, link, "student_answers", detail)
    except InvalidAnswersError as exc:
        assert link is not None
        return _questionnaire(request, link, form, exc.problems, 422)
    except AlreadyAnsweredError:
        assert link is not None
        return _already(request, link)
    help_due = result.help_due
    context = {
        "title": "Bedankt",
        "asked_for_help": result.asks_for_help,
        "asked_before": not result.asks_for_help and help_due is not None,
        "contact": settings.zorg_contact,
        "due": moment_nl(help_due) if help_due is not None else None,
        "crisis": settings.crisis_contact,
    }
    return _page(request, "student_thanks.html", context)


@router.post("/{token}")
async def post_link(request: Request, token: str) -> Response:
    """A submitted questionnaire (answer token) or a reaction from the own view (view token)."""
    if _origin_refused(request):
        return _page(request, "student_link_invalid.html", {"title": "Deze link werkt niet"}, 403)
    raw = await request.form(max_files=0, max_fields=100)
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    return await run_in_threadpool(_submit, request, token, form)


def _origin_refused(request: Request) -> bool:
    """A post that names another site's origin (``Origin: null``, sent with ``no-referrer``, is let
    through: the token is what authorises the post)."""
    if request.headers.get("origin", "").strip().lower() == "null":
        return False
    return foreign_origin(request)


# --- the own view ---------------------------------------------------------------------------------------


def _own_view(
    request: Request,
    conn: Connection,
    link: LinkAccess,
    *,
    message: str | None,
    problem: str | None,
    status_code: int = 200,
) -> Response:
    ctx, settings = _ctx(request), _settings(request)
    record = own_record(
        conn,
        ctx.questionnaire,
        ctx.action_types,
        link.student_id,
        link.week,
        show_band=settings.student_sees_band,
    )
    _audit(conn, request, link, "student_own_view", None)
    context = {
        "title": "Wat de school over jou bijhoudt",
        "record": record,
        "week_text": lambda w: _week_text(request, w),
        "hours": hours_nl,
        "moment": moment_nl,
        "message": message,
        "problem": problem,
        "help_due": open_help_due(conn, link.student_id),
        "contact": settings.zorg_contact,
        "crisis": settings.crisis_contact,
        "until": moment_nl(link.expires_at),
    }
    return _page(request, "student_view.html", context, status_code)


def _reaction(request: Request, conn: Connection, link: LinkAccess, form: Mapping[str, str]) -> Response:
    kind = REACTION_KINDS.get((form.get("soort") or "").strip())
    text = form.get("reactie") or ""
    if kind is None:
        return _own_view(
            request, conn, link, message=None, problem="Kies wat voor reactie het is.", status_code=422
        )
    ctx = _ctx(request)
    now = datetime.now(UTC)
    today = store_today(ctx.calendar, ctx.latest_week(), now.astimezone(SCHOOL_TZ).date())
    try:  # add_reaction checks the text before it writes anything
        action_id = add_reaction(conn, link.student_id, link.week, kind, text, today=today, now=now)
    except ValueError as exc:
        return _own_view(request, conn, link, message=None, problem=str(exc), status_code=422)
    _audit(conn, request, link, "student_reaction", f"{REACTION_CODES[kind]} (actie {action_id})")
    message = "Dank je. Je mentor en het zorgteam lezen je reactie en nemen contact met je op."
    return _own_view(request, conn, link, message=message, problem=None)


@router.api_route("/{rest:path}", methods=["GET", "POST"])
def no_such_link(request: Request, rest: str) -> Response:
    """Any other address under /v (a link cut in two, a path with slashes): the same page as a bad token."""
    return _not_valid(request)
