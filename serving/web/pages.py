"""The pages. Each one calls the JSON route's own function (same role check, same audit entries, same
queries) and renders the result; forms post, then redirect (303) back with a short message chosen by a code
from :data:`MESSAGES` (never text from the URL). Every POST passes :func:`protect_forms` first (Origin
check, CSRF token); every number a page takes is bounded, so a wrong one is the Dutch 422 page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from data.action_types import ActionTypes
from data.calendar import WEEK_MAX, WEEK_MIN, day_name, week_friday, week_label_or_fallback
from data.context import DeploymentContext
from data.questionnaire import Questionnaire
from data.rounds import round_responses
from data.vocabulary import ACTION_OUTCOME_NL, BANDS, DECISION_NL, PLACEMENT_OUTCOME_NL, band_css
from features.register import features_by_name
from monitoring.effect import points_nl, signed_nl
from serving.deps import (
    AuditEngineDep,
    ContextDep,
    Guard,
    ModelStoreDep,
    SessionDep,
    get_app_settings,
    get_login_limiter,
    login_client,
)
from serving.queries import (
    SPARK_WEEKS,
    answer_history,
    attendance_history,
    recent_attendance,
    recent_probabilities,
    score_history,
    scored_model_versions,
    scored_teams,
    scored_weeks,
    team_leavers,
    week_base_rate,
)
from serving.routes import actions, audit, coachklas, explanations, lists, models, safeguarding, scores
from serving.routes import monitoring as monitoring_routes
from serving.schemas import (
    ActionIn,
    AlertAssignIn,
    AlertCloseIn,
    AlertNoteIn,
    CapacityIn,
    DecisionIn,
    OptionalWeekQuery,
    OutcomeIn,
    OverrideBand,
    OverrideIn,
    PlacementEndIn,
    RiskListItemOut,
)
from serving.web import charts, explanation_view, export
from serving.web.session import (
    PREFIX,
    FormRefused,
    cookie_user,
    csrf_token,
    end_session,
    guard_for,
    had_session_cookie,
    protect_forms,
    start_session,
)
from workflows.audit import AuditEntry
from workflows.cases import OPEN_OUTCOMES, follow_up_state, store_today
from workflows.identity import display_names
from workflows.risk_list import filtered
from workflows.safeguarding import (
    ACKNOWLEDGED,
    ACTIVE,
    CLOSED,
    DEFAULT_PAGE_SIZE,
    OPEN,
    SCHOOL_TZ,
    SEVERITY_NL,
    QueueCounts,
    alert_rules,
    queue_counts,
    zorg_colleagues,
)
from workflows.users import (
    AUDIT_LOG_READ,
    COACHKLAS_READ,
    COACHKLAS_WRITE,
    DATA_TEAM,
    EXPLAIN,
    MODEL_INFO,
    READ_STUDENTS,
    SAFEGUARDING_READ,
    SAFEGUARDING_WRITE,
    WRITE_ACTIONS,
    CurrentUser,
    Role,
    aware,
    find_user,
)

M = TypeVar("M", bound=BaseModel)
TEMPLATES = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
# Every POST to the pages is checked once, here: same origin, and the session's CSRF token.
router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(protect_forms)])

DECISION_TEXT = DECISION_NL
ROLE_TEXT = {
    Role.MENTOR: "mentor",
    Role.ZORGTEAM: "zorgteam",
    Role.COACHKLAS: "coachklascoördinator",
    Role.DATATEAM: "datateam",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "beheerder",
}
STATUS_TEXT = {
    401: "Niet ingelogd",
    403: "Geen toegang",
    404: "Niet gevonden",
    409: "Niet mogelijk",
    422: "Niet goed ingevuld",
    429: "Te veel pogingen",
}
TOO_MANY_LOGINS = (
    "Te veel mislukte inlogpogingen vanaf dit adres. Probeer het over {seconds} seconden opnieuw."
)
UNKNOWN_TOKEN = "Dit token is onbekend of niet meer geldig."

# The short message after a form (``?melding=<code>``): only these fixed texts are ever shown.
MESSAGES: dict[str, str] = {
    "uitgelogd": "U bent uitgelogd.",
    "sessie-verlopen": "Uw sessie is verlopen. Log opnieuw in.",
    "toegewezen": "De melding is toegewezen.",
    "in-behandeling": "De melding is in behandeling genomen.",
    "gesloten": "De melding is gesloten.",
    "champion": "De gekozen versie is nu champion.",
    "actie": "De actie is vastgelegd.",
    "uitkomst": "De uitkomst is vastgelegd.",
    "capaciteit": "Het aantal plaatsen is opgeslagen.",
    "plaatsing-beeindigd": "De plaatsing is beëindigd.",
    **{f"band-{band.value}": f"Band overschreven naar {band.value}." for band in OverrideBand},
    **{f"besluit-{kind}": f"Besluit vastgelegd: {text}." for kind, text in DECISION_TEXT.items()},
}

# Bounded numbers in paths and forms (a huge one is a 422, never a 500 from the database).
WeekPath = Annotated[int, Path(ge=WEEK_MIN, le=WEEK_MAX)]
WeekForm = Annotated[int, Form(ge=WEEK_MIN, le=WEEK_MAX)]
AlertIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]

# Each page as (title, path, roles), for the menu.
MENU = (
    ("Risicolijst", "/lijst", READ_STUDENTS),
    ("Op te volgen", "/opvolgen", WRITE_ACTIONS),
    ("Coachklas", "/coachklas", COACHKLAS_READ),
    ("Zorgmeldingen", "/zorg", SAFEGUARDING_READ),
    ("Modellen", "/modellen", MODEL_INFO),
    ("Auditlog", "/audit", AUDIT_LOG_READ),
    ("Score uitleggen", "/uitleg", EXPLAIN),
    ("Datateam", "/datateam", MODEL_INFO),
    ("Monitoring", "/monitoring", MODEL_INFO),
    ("Effect van maatregelen", "/effecten", MODEL_INFO),
)

Reader = Annotated[Guard, guard_for(READ_STUDENTS, "read_risk_list")]
StudentReader = Annotated[Guard, guard_for(READ_STUDENTS, "read_score")]
Writer = Annotated[Guard, guard_for(WRITE_ACTIONS, "record")]
CoachklasReader = Annotated[Guard, guard_for(COACHKLAS_READ, "read_coachklas")]
CoachklasWriter = Annotated[Guard, guard_for(COACHKLAS_WRITE, "coachklas_decision")]
AlertReader = Annotated[Guard, guard_for(SAFEGUARDING_READ, "read_alerts")]
AlertWriter = Annotated[Guard, guard_for(SAFEGUARDING_WRITE, "handle_alert")]
Explainer = Annotated[Guard, guard_for(EXPLAIN, "explain")]
ModelReader = Annotated[Guard, guard_for(MODEL_INFO, "read_model")]
AuditReader = Annotated[Guard, guard_for(AUDIT_LOG_READ, "read_audit_log")]
Promoter = Annotated[Guard, guard_for(DATA_TEAM, "promote_model")]


# --- helpers --------------------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def band_class(band: str | None) -> str:
    return band_css(band)


def change_view(change: float | None) -> tuple[str, str, str]:
    """(arrow, text, css class) for the change since last week, in percentage points."""
    if change is None:
        return "•", "vorige week niet gescoord", "same"
    points = change * 100
    if points >= 1:
        return "↑", f"gestegen met {points:.0f} procentpunt", "up"
    if points <= -1:
        return "↓", f"gedaald met {-points:.0f} procentpunt", "down"
    return "→", "gelijk gebleven", "same"


TEMPLATES.env.filters["pct"] = pct
TEMPLATES.env.filters["band_class"] = band_class


@pass_context
def _action_label(context: Any, code: str) -> str:
    """The configured Dutch label of an action type (the deployment's data/action_types.yaml)."""
    labels: ActionTypes = context["request"].app.state.context.action_types
    return labels.label(code)


TEMPLATES.env.globals.update(
    action_label=_action_label,
    DECISION_TEXT=DECISION_TEXT,
    ROLE_TEXT=ROLE_TEXT,
    change_view=change_view,
    PREFIX=PREFIX,
)


def menu(user: CurrentUser | None, counts: QueueCounts | None = None) -> list[tuple[str, str]]:
    """The pages this user may open; the zorgmeldingen item carries the open and overdue counts."""
    if user is None:
        return []
    items = []
    for title, path, roles in MENU:
        if user.role not in roles:
            continue
        if path == "/zorg" and counts is not None:
            title = f"{title} ({counts_text(counts)})"
        items.append((title, PREFIX + path))
    return items


def counts_text(counts: QueueCounts) -> str:
    late = f", {counts.overdue} te laat" if counts.overdue else ""
    return f"{counts.open} open{late}"


def day_text(value: datetime | None) -> str:
    """A moment as staff say it, in school time: "dinsdag 1 december"."""
    if value is None:
        return "-"
    return day_name(aware(value).astimezone(SCHOOL_TZ).date())


def moment_text(value: datetime | None) -> str:
    """ "dinsdag 1 december, 17:00" (school time)."""
    if value is None:
        return "-"
    return f"{day_text(value)}, {aware(value).astimezone(SCHOOL_TZ):%H:%M}"


def date_text(value: date | None) -> str:
    """A calendar date as staff say it: "woensdag 3 december 2025"."""
    if value is None:
        return "-"
    return f"{day_name(value)} {value.year}"


def iso_moment_text(value: str | None) -> str:
    """A stored ISO timestamp as staff say it ("woensdag 2 december, 17:14"); as it is when unreadable."""
    if not value:
        return "-"
    try:
        return moment_text(datetime.fromisoformat(value))
    except ValueError:
        return value


def points_text(value: float | None) -> str:
    """A difference in probability as staff read it: "-2,3 procentpunt" (monitoring.effect's wording)."""
    return "-" if value is None else points_nl(value)


def pct1(value: float | None) -> str:
    """A share with one decimal and a decimal comma: "5,5%"."""
    return "-" if value is None else f"{value * 100:.1f}".replace(".", ",") + "%"


def decimal1(value: float | None) -> str:
    """A number with one decimal and a decimal comma: "13,0"."""
    return "-" if value is None else f"{value:.1f}".replace(".", ",")


def decimal2(value: float | None) -> str:
    """A number with two decimals and a decimal comma: "0,85"."""
    return "-" if value is None else f"{value:.2f}".replace(".", ",")


def smd_text(value: float | None) -> str:
    """A standardised mean difference, signed, with a decimal comma: "+0,27"."""
    return "-" if value is None else signed_nl(value, 2)


TEMPLATES.env.filters["day"] = day_text
TEMPLATES.env.filters["pp"] = points_text
TEMPLATES.env.filters["pct1"] = pct1
TEMPLATES.env.filters["decimal1"] = decimal1
TEMPLATES.env.filters["decimal2"] = decimal2
TEMPLATES.env.filters["smd"] = smd_text
TEMPLATES.env.filters["isomoment"] = iso_moment_text
TEMPLATES.env.filters["dayname"] = date_text
TEMPLATES.env.filters["moment"] = moment_text


def week_text(request: Request, week: int) -> str:
    """A school week as staff say it ("wk 47, 17-21 nov"), from the deployment's school calendar."""
    calendar = request.app.state.context.calendar
    return week_label_or_fallback(calendar, week)


@pass_context
def _weeklabel_filter(context: Any, week: int | None) -> str:
    return "-" if week is None else week_text(context["request"], int(week))


TEMPLATES.env.filters["weeklabel"] = _weeklabel_filter


@pass_context
def _weekyear_filter(context: Any, week: int | None) -> str:
    """The week label with its year ("wk 4, 22-26 jan 2024"), for histories that span school years."""
    if week is None:
        return "-"
    calendar = context["request"].app.state.context.calendar
    label = week_text(context["request"], int(week))
    if 0 <= int(week) <= calendar.last_week:
        return f"{label} {week_friday(calendar, int(week)).year}"
    return label


TEMPLATES.env.filters["weekyear"] = _weekyear_filter


def _zorg_counts(request: Request, user: CurrentUser | None) -> QueueCounts | None:
    if user is None or user.role not in SAFEGUARDING_READ:
        return None
    with Session(request.app.state.engine) as session:
        return queue_counts(session)


def render(
    request: Request,
    name: str,
    user: CurrentUser | None,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    counts = _zorg_counts(request, user)
    base = {
        "user": user,
        "menu": menu(user, counts),
        "zorg_counts": counts,
        "message": MESSAGES.get(request.query_params.get("melding") or ""),
        "path": request.url.path,
        "csrf_token": csrf_token(request),
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def login_redirect(request: Request) -> Response:
    """To the login page, and back here after it (to the start page after a form); "sessie verlopen"
    when the browser still sent a session cookie."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = here if request.method == "GET" else f"{PREFIX}/"
    query = {"volgende": target} | ({"melding": "sessie-verlopen"} if had_session_cookie(request) else {})
    return RedirectResponse(f"{PREFIX}/login?{urlencode(query)}", status.HTTP_303_SEE_OTHER)


def _user_or_none(request: Request) -> CurrentUser | None:
    """The session's user for an error page's menu (an error page never fails on it)."""
    try:
        return cookie_user(request)
    except Exception:
        return None


def error_page(request: Request, exc: StarletteHTTPException) -> Response:
    """A 401 sends the browser to the login page; any other error is an HTML page with the Dutch message."""
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        return login_redirect(request)
    title = STATUS_TEXT.get(exc.status_code, "Er ging iets mis")
    logged = exc.status_code == status.HTTP_403_FORBIDDEN and not isinstance(exc, FormRefused)
    context = {"title": title, "status": exc.status_code, "detail": exc.detail, "logged": logged}
    response = render(request, "error.html", _user_or_none(request), context, status_code=exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


FIELD_ERRORS = {
    "missing": "ontbreekt",
    "int_parsing": "moet een geheel getal zijn",
    "int_type": "moet een geheel getal zijn",
    "int_from_float": "moet een geheel getal zijn",
    "bool_parsing": "moet ja of nee zijn",
    "literal_error": "heeft een waarde die niet kan",
    "enum": "heeft een waarde die niet kan",
    "string_too_short": "is te kort",
    "string_type": "moet tekst zijn",
}


def field_error(error: Any) -> tuple[str, str]:
    """(field, what is wrong with it, in Dutch) for one validation error."""
    field = str(error["loc"][-1]) if error.get("loc") else "formulier"
    limits = error.get("ctx") or {}
    kind = error.get("type", "")
    if kind == "greater_than_equal":
        return field, f"moet minstens {limits.get('ge')} zijn"
    if kind == "less_than_equal":
        return field, f"mag hoogstens {limits.get('le')} zijn"
    if kind == "string_too_long":
        return field, f"mag hoogstens {limits.get('max_length')} tekens lang zijn"
    return field, FIELD_ERRORS.get(kind, "is niet goed ingevuld")


def validation_page(request: Request, exc: RequestValidationError) -> Response:
    """A request the page cannot read (a wrong or huge number, a missing field): 422 as an HTML page that
    names each field, instead of FastAPI's JSON."""
    problems = sorted({field_error(e) for e in exc.errors()})
    context = {
        "title": STATUS_TEXT[422],
        "status": 422,
        "detail": "Het formulier of de link is niet goed ingevuld. Controleer het volgende:",
        "problems": problems,
        "logged": False,
    }
    return render(request, "error.html", _user_or_none(request), context, status_code=422)


def safe_target(target: str | None, default: str) -> str:
    """Only redirect to our own pages."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return default


def back(target: str, code: str) -> RedirectResponse:
    """Back to ``target`` after a form, with the message of ``code`` (one of :data:`MESSAGES`)."""
    assert code in MESSAGES, code
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{urlencode({'melding': code})}", status.HTTP_303_SEE_OTHER)


def parse(model: type[M], **data: Any) -> M:
    """Validate form input with the API's own request model; 422 with a Dutch message when it fails."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"Het formulier is niet goed ingevuld ({fields}). Een reden is minstens 3 tekens.",
        ) from exc


def blank_to_none(value: str | None) -> str | None:
    """A form field left empty is a field not given."""
    return (value or "").strip() or None


def action_choices(types: ActionTypes) -> list[tuple[str, str, bool]]:
    """The action form's choices: (code, label, suggests a follow-up date), in the configured order."""
    return [(t.code, t.label, t.follow_up) for t in types.action_types]


def latest_scored_week(session: SessionDep) -> int:
    weeks = scored_weeks(session)
    if not weeks:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Er zijn nog geen weken gescoord.")
    return weeks[0]


# --- login ----------------------------------------------------------------------------------------------


@router.get("")
def root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/")
def home(request: Request) -> Response:
    user = cookie_user(request)
    if user is None:
        return login_redirect(request)
    return render(request, "home.html", user, {"title": "Start"})


def login_page(request: Request, target: str, error: str | None, status_code: int = 200) -> Response:
    settings = get_app_settings(request)
    context = {
        "title": "Inloggen",
        "next": target,
        "error": error,
        "idle_minutes": settings.web_session_minutes,
        "max_hours": settings.web_session_max_hours,
    }
    return render(request, "login.html", None, context, status_code=status_code)


@router.get("/login")
def login_form(request: Request, volgende: str | None = None) -> Response:
    return login_page(request, safe_target(volgende, f"{PREFIX}/"), None)


@router.post("/login")
def login(
    request: Request,
    engine: AuditEngineDep,
    token: Annotated[str, Form(max_length=200)],
    volgende: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Log in with a bearer token: a new session (the cookie holds its id, never the token).

    Failed attempts count towards the API's per-address limit (the same limiter, the same address as the
    API's :func:`serving.deps.login_client`); as on the API, a valid token passes, and a wrong one from an
    address over the limit gets 429 with a Dutch page."""
    target = safe_target(volgende, f"{PREFIX}/")
    token = token.strip()
    with engine.connect() as conn:
        user = find_user(conn, token) if token else None
    if user is not None:
        response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
        start_session(request, response, user)
        return response
    limiter, client = get_login_limiter(request), login_client(request)
    wait = limiter.retry_after(client)
    if wait is not None:
        error = TOO_MANY_LOGINS.format(seconds=wait)
        limited = login_page(request, target, error, status.HTTP_429_TOO_MANY_REQUESTS)
        limited.headers["Retry-After"] = str(wait)
        return limited
    if token:
        limiter.record_failure(client)
    return login_page(request, target, UNKNOWN_TOKEN, status.HTTP_401_UNAUTHORIZED)


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session in the store (the cookie no longer works anywhere) and clear the cookie."""
    response = RedirectResponse(f"{PREFIX}/login?{urlencode({'melding': 'uitgelogd'})}", 303)
    end_session(request, response)
    return response


# --- weekly risk list -----------------------------------------------------------------------------------


SORTS = {
    "rang": "rang (hoogste kans eerst)",
    "naam": "naam",
    "band": "band",
    "verandering": "grootste stijging",
    "signalen": "meeste signalen",
    "actie": "langst geen actie",
}
OUTCOME_SHORT = {"vsv": "gestopt zonder diploma", "switch": "overgestapt", "graduated": "diploma gehaald"}
EXPORT_HEADER = (
    "Rang",
    "Naam",
    "Studentnummer",
    "Band",
    "Kans op vsv (12 weken)",
    "Sinds vorige week",
    "Belangrijkste redenen",
    "Zorgmelding",
    "Wettelijke signalen",
    "Laatste actie",
)


def _name_of(item: RiskListItemOut) -> str:
    return item.name or item.student_number or item.student_id


def _sorted(items: list[RiskListItemOut], sort: str) -> list[RiskListItemOut]:
    """The page's order: open zorgmeldingen first (as the API's ``alerts_first``), then the chosen column."""
    band_order = {b: i for i, b in enumerate(BANDS)}
    keys: dict[str, Callable[[RiskListItemOut], Any]] = {
        "rang": lambda s: s.rank,
        "naam": lambda s: _name_of(s).casefold(),
        "band": lambda s: (band_order.get(s.shown_band, 9), s.rank),
        "verandering": lambda s: -(s.change or 0.0),
        "signalen": lambda s: (
            -(len(s.alert_reasons) + len(s.signals) + s.flag_leerplicht_16u + s.flag_4_weeks_absent),
            s.rank,
        ),
        "actie": lambda s: (s.latest_action.week if s.latest_action else -(10**6), s.rank),
    }
    key = keys.get(sort, keys["rang"])
    return sorted(items, key=lambda s: (not s.open_alert, key(s)))


@dataclass(frozen=True)
class ListView:
    team: str
    week: int
    teams: list[str]
    items: list[RiskListItemOut]
    counts: dict[str, int]
    model_version: str
    base_rate: float | None
    leavers: list[tuple[str, str, int]]


def _list_view(session: Session, ctx: DeploymentContext, guard: Guard, q: ListQuery) -> ListView:
    """What the list page and its exports show: the API's list, filtered, searched and sorted."""
    team, week, band, nieuw, sort, zoek = q.team, q.week, q.band, q.nieuw, q.sorteer, q.zoek
    user = guard.user
    week = latest_scored_week(session) if week is None else week
    teams = sorted(user.teams) if user.role == Role.MENTOR else scored_teams(session, week)
    if team is None:
        if not teams:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Geen teams met scores in week {week}.")
        team = teams[0]
    result = lists.risk_list(team, week, session, ctx, guard, order="alerts_first")
    counts = {b: sum(1 for s in result.students if s.shown_band == b) for b in BANDS}
    items = filtered(result.students, band if band in BANDS else None, nieuw)
    needle = (zoek or "").strip().casefold()
    if needle:
        items = [
            s
            for s in items
            if needle in _name_of(s).casefold()
            or needle in s.student_id
            or needle in (s.student_number or "")
        ]
    return ListView(
        team=team,
        week=week,
        teams=teams,
        items=_sorted(items, sort),
        counts=counts,
        model_version=result.model_version,
        base_rate=week_base_rate(session, week),
        leavers=team_leavers(session, team, week),
    )


@dataclass(frozen=True)
class ListQuery:
    """What the list page and its exports are asked for: the same query string for both."""

    team: str | None
    week: int | None
    band: str | None
    nieuw: bool
    sorteer: str
    zoek: str | None


def list_query(
    team: Annotated[str | None, Query(max_length=40)] = None,
    week: OptionalWeekQuery = None,
    band: Annotated[str | None, Query(max_length=30)] = None,
    nieuw: bool = False,
    sorteer: Annotated[str, Query(max_length=20)] = "rang",
    zoek: Annotated[str | None, Query(max_length=80)] = None,
) -> ListQuery:
    return ListQuery(team, week, band, nieuw, sorteer, zoek)


ListQueryDep = Annotated[ListQuery, Depends(list_query)]


@router.get("/lijst")
def risk_list_page(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    guard: Reader,
    q: ListQueryDep,
) -> Response:
    user = guard.user
    view = _list_view(session, ctx, guard, q)
    ids = [s.student_id for s in view.items]
    probabilities = recent_probabilities(session, ids, view.week)
    attendance = recent_attendance(session, ids, view.week)
    weeks = list(range(view.week - SPARK_WEEKS + 1, view.week + 1))
    rows = [
        {
            "item": s,
            "band": s.shown_band,
            "alert": s.open_alert,
            "new": s.new_this_week,
            "spark_score": charts.sparkline(
                [(w, probabilities.get(s.student_id, {}).get(w)) for w in weeks],
                title="kans de laatste 8 weken",
                y_min=0.0,
                y_max=max(0.1, *probabilities.get(s.student_id, {0: 0.0}).values()),
                fmt=pct,
            ),
            "spark_attendance": charts.sparkline(
                [(w, attendance.get(s.student_id, {}).get(w)) for w in weeks],
                title="aanwezigheid de laatste 8 weken",
                y_min=0.0,
                y_max=1.0,
                fmt=pct,
            ),
        }
        for s in view.items
    ]
    leavers = [sid for sid, _, _ in view.leavers]
    if leavers:  # shown by name beside the list (the list's own entry names the listed students)
        guard.allow([AuditEntry("read_leavers", team=view.team, week=view.week, students=leavers)])
    leaver_names = display_names(session, user, leavers)
    query = {
        k: v
        for k, v in request.query_params.items()
        if k in ("team", "week", "band", "nieuw", "sorteer", "zoek")
    }
    context = {
        "title": f"Risicolijst team {view.team}, {week_text(request, view.week)}",
        "team": view.team,
        "week": view.week,
        "teams": view.teams,
        "weeks": scored_weeks(session),
        "rows": rows,
        "counts": view.counts,
        "bands": BANDS,
        "band_filter": q.band if q.band in BANDS else "",
        "new_filter": q.nieuw,
        "sorts": SORTS,
        "sort": q.sorteer if q.sorteer in SORTS else "rang",
        "search": q.zoek or "",
        "base_rate": view.base_rate,
        "leavers": [
            (
                sid,
                leaver_names[sid].name if sid in leaver_names else sid,
                OUTCOME_SHORT.get(outcome, outcome),
                w,
            )
            for sid, outcome, w in view.leavers
        ],
        "model_version": view.model_version,
        "round": next(iter(round_responses(session, teams=[view.team])), None),
        "actions": action_choices(ctx.action_types),
        "override_bands": [b.value for b in OverrideBand],
        "may_write": user.role in WRITE_ACTIONS,
        "export_query": urlencode({**query, "team": view.team, "week": view.week}),
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return render(request, "risk_list.html", user, context)


def _export_rows(items: list[RiskListItemOut], types: ActionTypes) -> list[list[object]]:
    rows: list[list[object]] = []
    for s in items:
        flags = [
            text
            for flag, text in (
                (s.flag_leerplicht_16u, "16 uur ongeoorloofd verzuim in 4 weken"),
                (s.flag_4_weeks_absent, "4 weken aaneengesloten afwezig"),
            )
            if flag
        ]
        action = f"{types.label(s.latest_action.action)} ({s.latest_action.by})" if s.latest_action else ""
        rows.append(
            [
                s.rank,
                s.name or "",
                s.student_number or s.student_id,
                s.shown_band + (" (onzeker)" if s.band_uncertain else ""),
                pct(s.probability),
                change_view(s.change)[1],
                "; ".join(s.reasons),
                "; ".join(s.alert_reasons),
                "; ".join(flags),
                action,
            ]
        )
    return rows


@router.get("/lijst/export.{fmt}")
def risk_list_export(
    fmt: Literal["csv", "xlsx"],
    session: SessionDep,
    ctx: ContextDep,
    guard: Reader,
    q: ListQueryDep,
) -> Response:
    """The list as on the page (same rows, same order) as CSV or Excel; every export is in the audit log."""
    view = _list_view(session, ctx, guard, q)
    rows = _export_rows(view.items, ctx.action_types)
    guard.allow(
        [
            AuditEntry(
                "export_risk_list",
                team=view.team,
                week=view.week,
                detail=fmt,
                students=[s.student_id for s in view.items],
            )
        ]
    )
    filename = f"risicolijst-{view.team}-week-{view.week}.{fmt}"
    if fmt == "csv":
        body, media = export.to_csv(EXPORT_HEADER, rows), "text/csv; charset=utf-8"
    else:
        body, media = export.to_xlsx(f"Team {view.team}", EXPORT_HEADER, rows), export.XLSX_MEDIA_TYPE
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/leerling/{student_id}/actie")
def record_action(
    student_id: str,
    session: SessionDep,
    ctx: ContextDep,
    guard: Writer,
    week: WeekForm,
    action: Annotated[str, Form(max_length=40)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    owner: Annotated[str | None, Form(max_length=80)] = None,
    follow_up_on: Annotated[str | None, Form(max_length=10)] = None,
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(
        ActionIn,
        week=week,
        action=action,
        note=blank_to_none(note),
        owner=blank_to_none(owner),
        follow_up_on=blank_to_none(follow_up_on),
    )
    actions.record_action(student_id, body, session, ctx, guard)
    target = safe_target(terug, f"{PREFIX}/leerling/{quote(student_id)}?week={week}")
    return back(target, "actie")


@router.post("/leerling/{student_id}/actie/{action_id}/uitkomst")
def record_outcome(
    student_id: str,
    action_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    ctx: ContextDep,
    guard: Writer,
    week: WeekForm,
    outcome: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str | None, Form(max_length=2000)] = None,
    follow_up_on: Annotated[str | None, Form(max_length=10)] = None,
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(
        OutcomeIn,
        outcome=outcome,
        week=week,
        note=blank_to_none(note),
        follow_up_on=blank_to_none(follow_up_on),
    )
    actions.record_outcome(student_id, action_id, body, session, ctx, guard)
    target = safe_target(terug, f"{PREFIX}/leerling/{quote(student_id)}?week={week}")
    return back(target, "uitkomst")


@router.post("/leerling/{student_id}/overschrijven")
def override_band(
    student_id: str,
    session: SessionDep,
    guard: Writer,
    week: WeekForm,
    band: Annotated[str, Form(max_length=30)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(OverrideIn, week=week, band=band, reason=reason.strip())
    actions.override_band(student_id, body, session, guard)
    target = safe_target(terug, f"{PREFIX}/leerling/{quote(student_id)}?week={week}")
    return back(target, f"band-{body.band.value}")


# --- student page ---------------------------------------------------------------------------------------


CHART_WEEKS = 12


def _in_window(week: int, first: int | None, last: int) -> bool:
    return (first is None or week >= first) and week <= last


@router.get("/leerling/{student_id}")
def student_page(
    request: Request,
    student_id: str,
    session: SessionDep,
    ctx: ContextDep,
    guard: StudentReader,
    week: OptionalWeekQuery = None,
    venster: Literal["12", "alles"] = "12",
) -> Response:
    """One student: this week's score and reasons, the zorgmelding, charts over the last 12 weeks (or
    all), and everything done for the student in one history."""
    week = latest_scored_week(session) if week is None else week
    score = scores.student_score(student_id, week, session, ctx, guard)
    history = actions.list_actions(student_id, session, ctx, guard)
    events = actions.student_timeline(student_id, session, ctx, guard)
    today = store_today(ctx.calendar, ctx.latest_week(), datetime.now(UTC).date())
    alerts = scores.student_alert_list(student_id, session, guard)
    first_week = None if venster == "alles" else week - CHART_WEEKS + 1
    score_rows = [r for r in score_history(session, student_id) if _in_window(r["week"], first_week, week)]
    answers = [a for a in answer_history(session, student_id) if _in_window(a[0], first_week, week)]
    attendance = [
        a for a in attendance_history(session, student_id) if _in_window(a["week"], first_week, week)
    ]
    guard.allow([AuditEntry("read_student_page", student_id, score.team, week)])

    def axis(w: int) -> str:
        return week_text(request, w).split(",")[0]

    q = ctx.questionnaire
    weeks = sorted({w for w, _, _ in answers} | {int(a["week"]) for a in attendance})
    by_item: dict[str, dict[int, int]] = {}
    for w, code, value in answers:
        by_item.setdefault(code, {})[w] = value
    item_charts = []
    for item in q.items:
        values = by_item.get(item.code, {})
        points = [(w, float(values[w]) if w in values else None) for w in weeks]
        better = "hoger is beter" if item.higher_is_better else "lager is beter"
        title = f"{item.text} ({q.scale_min}-{q.scale_max}, {better})"
        chart = charts.line_chart(
            points,
            title=title,
            y_min=q.scale_min,
            y_max=q.scale_max,
            fmt=lambda v: f"{v:.0f}",
            height=120,
            now=week,
            x_fmt=axis,
        )
        item_charts.append({"title": title, "chart": chart})
    help_weeks = [w for w, v in by_item.get(q.help_item.code, {}).items() if v == 1]
    att_points = [
        (int(a["week"]), a["present_hours"] / a["scheduled_hours"] if a["scheduled_hours"] else None)
        for a in attendance
    ]
    score_chart = charts.line_chart(
        [(int(r["week"]), float(r["probability"])) for r in score_rows],
        title="Kans op voortijdig schoolverlaten (binnen 12 schoolweken), per week",
        y_min=0.0,
        y_max=max(0.2, max((float(r["probability"]) for r in score_rows), default=0.0) * 1.2),
        fmt=pct,
        now=week,
        x_fmt=axis,
    )
    attendance_chart = charts.line_chart(
        att_points,
        title="Aanwezigheid per week (aanwezige uren gedeeld door geroosterde uren)",
        y_min=0.0,
        y_max=1.0,
        fmt=pct,
        lines=[(0.8, "80%")],
        now=week,
        x_fmt=axis,
    )
    identity = display_names(session, guard.user, [student_id]).get(student_id)
    scale = max((max(d.up, -d.down) for d in score.domains), default=0.0)
    domains = [
        {
            "label": d.label,
            "up": d.up,
            "down": d.down,
            "reasons": d.reasons,
            "bar": charts.balance_bar(d.up, d.down, scale),
        }
        for d in score.domains
    ]
    context = {
        "title": identity.name if identity and not identity.missing else f"Student {student_id}",
        "student_id": student_id,
        "week": week,
        "score": score,
        "alerts": alerts,
        "identity": identity,
        "signals": score.signals,
        "domains": domains,
        "events": events,
        "open_actions": [
            (a, follow_up_state(a.follow_up_on, a.outcome, today))
            for a in reversed(history)
            if a.follow_up_on is not None and a.outcome in OPEN_OUTCOMES
        ],
        "action_outcomes": ACTION_OUTCOME_NL,
        "score_rows": score_rows,
        "score_chart": score_chart,
        "attendance": attendance,
        "attendance_chart": attendance_chart,
        "item_charts": item_charts,
        "help_weeks": help_weeks,
        "help_text": q.help_item.text,
        "window": venster,
        "chart_weeks": CHART_WEEKS,
        "actions": action_choices(ctx.action_types),
        "override_bands": [b.value for b in OverrideBand],
        "may_write": guard.user.role in WRITE_ACTIONS,
        "here": f"{PREFIX}/leerling/{quote(student_id)}?week={week}",
    }
    return render(request, "student.html", guard.user, context)


# --- coachklas ------------------------------------------------------------------------------------------


@router.get("/coachklas")
def coachklas_page(
    request: Request,
    session: SessionDep,
    guard: CoachklasReader,
    week: OptionalWeekQuery = None,
) -> Response:
    """The coachklas: who is in it now against the stored capacity, the candidates for the free places,
    the week's decisions and every placement before."""
    week = latest_scored_week(session) if week is None else week
    intake = coachklas.intake(week, session, guard)
    earlier = [p for p in coachklas.placements(session, guard) if p.end_week is not None]
    context = {
        "title": f"Coachklas, {week_text(request, week)}",
        "week": week,
        "weeks": scored_weeks(session),
        "intake": intake,
        "capacity": intake.capacity,
        "free": intake.free,
        "placed": intake.placed,
        "earlier": earlier,
        "decisions": list(reversed(intake.decisions)),
        "candidates": intake.candidates,
        "decision_kinds": DECISION_TEXT,
        "placement_outcomes": PLACEMENT_OUTCOME_NL,
        "may_write": guard.user.role in COACHKLAS_WRITE,
        "here": f"{PREFIX}/coachklas?week={week}",
    }
    return render(request, "coachklas.html", guard.user, context)


@router.post("/coachklas/besluit")
def coachklas_decision(
    session: SessionDep,
    guard: CoachklasWriter,
    student_id: Annotated[str, Form(max_length=32)],
    week: WeekForm,
    decision: Annotated[str, Form(max_length=30)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(DecisionIn, student_id=student_id, week=week, decision=decision, reason=reason.strip())
    coachklas.decide(body, session, guard)
    target = safe_target(terug, f"{PREFIX}/coachklas?week={week}")
    return back(target, f"besluit-{body.decision.value}")


@router.post("/coachklas/capaciteit")
def coachklas_capacity(
    session: SessionDep,
    guard: CoachklasWriter,
    week: WeekForm,
    capacity: Annotated[int, Form(ge=1, le=500)],
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(CapacityIn, from_week=week, capacity=capacity, reason=blank_to_none(reason))
    coachklas.set_capacity(body, session, guard)
    return back(safe_target(terug, f"{PREFIX}/coachklas?week={week}"), "capaciteit")


@router.post("/coachklas/plaatsing/{placement_id}/einde")
def coachklas_end(
    placement_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    guard: CoachklasWriter,
    end_week: WeekForm,
    outcome: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str | None, Form(max_length=2000)] = None,
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(PlacementEndIn, end_week=end_week, outcome=outcome, note=blank_to_none(note))
    coachklas.end_placement(placement_id, body, session, guard)
    return back(safe_target(terug, f"{PREFIX}/coachklas?week={end_week}"), "plaatsing-beeindigd")


# --- follow-ups -----------------------------------------------------------------------------------------


@router.get("/opvolgen")
def follow_ups_page(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    guard: Writer,
    team: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Op te volgen: the open follow-ups of the mentor's students, overdue first, then due this week."""
    found = actions.follow_ups(session, ctx, guard, team or None)
    week = ctx.latest_week()
    context = {
        "title": "Op te volgen",
        "follow_ups": found,
        "week": week,
        "action_outcomes": ACTION_OUTCOME_NL,
        "here": f"{PREFIX}/opvolgen" + (f"?team={quote(team)}" if team else ""),
    }
    return render(request, "follow_ups.html", guard.user, context)


# --- safeguarding ---------------------------------------------------------------------------------------


@router.get("/zorg")
def safeguarding_page(
    request: Request,
    session: SessionDep,
    guard: AlertReader,
    status_filter: safeguarding.StatusQuery = ACTIVE,
    team: Annotated[str | None, Query(max_length=40)] = None,
    week: OptionalWeekQuery = None,
    item: Annotated[str | None, Query(max_length=40)] = None,
    behandelaar: Annotated[str | None, Query(max_length=80)] = None,
    zoek: Annotated[str | None, Query(max_length=32)] = None,
    pagina: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The zorgteam's queue: this week first, "wil praten" first, overdue marked; the archive as a filter."""
    found = safeguarding.queue(
        session,
        guard,
        status_filter,
        (team or "").strip() or None,
        week,
        (item or "").strip() or None,
        (behandelaar or "").strip() or None,
        (zoek or "").strip() or None,
        pagina,
        DEFAULT_PAGE_SIZE,
    )
    filters = {
        "status": status_filter,
        "team": team or "",
        "week": "" if week is None else week,
        "item": item or "",
        "behandelaar": behandelaar or "",
        "zoek": zoek or "",
    }
    query = {k: v for k, v in filters.items() if v != "" and not (k == "status" and v == ACTIVE)}
    context = {
        "title": "Zorgmeldingen",
        "queue": found,
        "filters": filters,
        "page_url": f"{PREFIX}/zorg?" + urlencode(query) + ("&" if query else "") + "pagina=",
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "statuses": STATUS_CHOICES,
        "items": [(r.item, r.reason) for r in alert_rules(ctx_questionnaire(request))],
        "colleagues": zorg_colleagues(session),
        "severity_text": SEVERITY_NL,
        "may_write": guard.user.role in SAFEGUARDING_WRITE,
    }
    return render(request, "safeguarding.html", guard.user, context)


STATUS_CHOICES = (
    (ACTIVE, "nog te doen (open en in behandeling)"),
    (OPEN, "open"),
    (ACKNOWLEDGED, "in behandeling"),
    (CLOSED, "archief (gesloten)"),
    ("alle", "alle"),
)


def ctx_questionnaire(request: Request) -> Questionnaire:
    questionnaire: Questionnaire = request.app.state.context.questionnaire
    return questionnaire


@router.post("/zorg/{alert_id}/toewijzen")
def assign_alert(
    alert_id: AlertIdPath,
    session: SessionDep,
    guard: AlertWriter,
    aan: Annotated[str, Form(max_length=80)] = "",
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(AlertAssignIn, to=aan.strip())
    safeguarding.assign(alert_id, body, session, guard)
    return back(safe_target(terug, f"{PREFIX}/zorg"), "toegewezen")


@router.post("/zorg/{alert_id}/oppakken")
def acknowledge_alert(
    alert_id: AlertIdPath,
    session: SessionDep,
    guard: AlertWriter,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(AlertNoteIn, note=(note or "").strip() or None)
    safeguarding.acknowledge(alert_id, body, session, guard)
    return back(safe_target(terug, f"{PREFIX}/zorg"), "in-behandeling")


@router.post("/zorg/{alert_id}/sluiten")
def close_alert(
    alert_id: AlertIdPath,
    session: SessionDep,
    guard: AlertWriter,
    note: Annotated[str, Form(max_length=2000)] = "",
    terug: Annotated[str | None, Form()] = None,
) -> Response:
    body = parse(AlertCloseIn, note=note.strip())
    safeguarding.close(alert_id, body, session, guard)
    return back(safe_target(terug, f"{PREFIX}/zorg"), "gesloten")


# --- auditors -------------------------------------------------------------------------------------------


@router.get("/modellen")
def models_page(request: Request, session: SessionDep, store: ModelStoreDep, guard: ModelReader) -> Response:
    current = store.current
    context = {
        "title": "Modellen",
        "current": None if current is None else models.current(current, guard),
        "load_error": store.load_error,
        "versions": scored_model_versions(session),
    }
    return render(request, "models.html", guard.user, context)


@router.get("/modellen/{version}")
def model_card_page(request: Request, version: str, ctx: ContextDep, guard: ModelReader) -> Response:
    from serving.web.markdown import markdown_to_html

    card = models.card(version, ctx, guard)
    context = {
        "title": f"Modelkaart versie {version}",
        "card": card,
        "card_html": markdown_to_html(card.markdown),
    }
    return render(request, "model_card.html", guard.user, context)


def _day(text: str, field: str) -> date | None:
    """A date typed in a filter box (JJJJ-MM-DD); a clear 422 for anything else."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"Datum '{text}' bij '{field}' is niet te lezen: gebruik JJJJ-MM-DD, bijv. 2026-11-30.",
        ) from None


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    guard: AuditReader,
    leerling: Annotated[str | None, Query(max_length=32)] = None,
    gebruiker: Annotated[str | None, Query(max_length=80)] = None,
    van: Annotated[str | None, Query(max_length=10)] = None,
    tot: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    student_id = (leerling or "").strip() or None
    user_name = (gebruiker or "").strip() or None
    day_from, day_to = (van or "").strip(), (tot or "").strip()
    entries = audit.audit_log(
        session, guard, student_id, user_name, _day(day_from, "van"), _day(day_to, "tot"), limit=500
    )
    context = {
        "title": "Auditlog",
        "entries": entries,
        "student_id": student_id or "",
        "user_name": user_name or "",
        "day_from": day_from,
        "day_to": day_to,
    }
    return render(request, "audit_log.html", guard.user, context)


@router.get("/uitleg")
def explanation_search(
    request: Request,
    guard: Explainer,
    leerling: Annotated[str | None, Query(max_length=32)] = None,
    week: OptionalWeekQuery = None,
) -> Response:
    if leerling and week is not None:
        return RedirectResponse(
            f"{PREFIX}/uitleg/{quote(leerling.strip())}/{week}", status.HTTP_303_SEE_OTHER
        )
    return render(request, "explanation_search.html", guard.user, {"title": "Score uitleggen"})


def _explanation_page(
    request: Request,
    student_id: str,
    week: int,
    session: SessionDep,
    guard: Guard,
    replay: Any = None,
) -> Response:
    explained = explanations.explanation(student_id, week, session, guard)
    questionnaire = ctx_questionnaire(request)
    register = features_by_name(explained.shap_values, questionnaire)
    descriptions = {name: entry.description_nl for name, entry in register.items()}
    rows = explanation_view.feature_rows(
        explained.feature_values, explained.shap_values, descriptions, questionnaire
    )
    chart_rows = rows[: explanation_view.CHART_ROWS]
    context = {
        "title": f"Uitleg score {student_id}, {week_text(request, week)}",
        "e": explained,
        "chart_rows": chart_rows,
        "largest": explanation_view.largest_contribution(chart_rows),
        "bar": explanation_view.bar,
        "contribution_text": explanation_view.contribution_text,
        "rows": rows,
        "replay": replay,
    }
    return render(request, "explanation.html", guard.user, context)


@router.get("/uitleg/{student_id}/{week}")
def explanation_page(
    request: Request, student_id: str, week: WeekPath, session: SessionDep, guard: Explainer
) -> Response:
    return _explanation_page(request, student_id, week, session, guard)


@router.post("/uitleg/{student_id}/{week}/herhaal")
def replay_page(
    request: Request,
    student_id: str,
    week: WeekPath,
    session: SessionDep,
    store: ModelStoreDep,
    guard: Explainer,
) -> Response:
    result = explanations.replay_score(student_id, week, session, guard, store)
    return _explanation_page(request, student_id, week, session, guard, replay=result)


# --- data team: serving/web/datateam_pages.py ----------------------------------------------------------


# --- monitoring reports (drift, performance, fairness) ------------------------------------------------


@router.get("/monitoring")
def monitoring_page(request: Request, ctx: ContextDep, guard: ModelReader) -> Response:
    """The weekly reports with their status in words, the status and key figures over the weeks (chart and
    table), and the yearly vsv rates."""
    from monitoring.status import STATUS_MEANING_NL, STATUS_NL, STATUSES
    from serving.web import monitoring_view

    reports = monitoring_routes.reports(ctx, guard)
    trend = monitoring_routes.trend(ctx, guard)
    trend_weeks = [week_text(request, p.week) for p in trend]
    rates = monitoring_routes.yearly(ctx, guard)
    years = sorted({r.school_year for r in rates})
    by_cell = {(r.kind, r.group, r.school_year): r for r in rates}
    groups = sorted(
        {(r.kind, r.group, r.label) for r in rates if r.kind != "team"}, key=lambda g: (g[0] != "all", g[1])
    )
    teams = sorted({(r.kind, r.group, r.label) for r in rates if r.kind == "team"})
    level_points = {
        r.label: [
            (i, by_cell[("level", r.group, y)].rate)
            for i, y in enumerate(years)
            if ("level", r.group, y) in by_cell
        ]
        for r in rates
        if r.kind == "level"
    }
    context = {
        "title": "Monitoring: drift, prestaties en eerlijkheid",
        "reports": reports,
        "statuses": [(s, STATUS_NL[s], STATUS_MEANING_NL[s]) for s in STATUSES],
        "trend_charts": monitoring_view.trend_charts(trend, ctx.calendar, trend_weeks) if trend else [],
        "trend_rows": monitoring_view.trend_rows(trend),
        "top_label": monitoring_view.top_share_label(trend),
        "years": years,
        "groups": groups,
        "teams": teams,
        "cells": by_cell,
        "complete": {r.school_year: r.complete for r in rates},
        "yearly_chart": charts.grouped_bars(
            years,
            level_points,
            targets={r.label: r.target for r in rates if r.kind == "level" and r.target is not None},
        )
        if rates
        else "",
    }
    return render(request, "monitoring.html", guard.user, context)


@router.get("/effecten")
def effects_page(request: Request, ctx: ContextDep, guard: ModelReader) -> Response:
    """The effect of measures: the latest `vsv effect` result per measure, for the data team and auditors."""
    results = monitoring_routes.effects(ctx, guard)
    rows = [
        (r["label"], r["estimate"], r["ci_low"], r["ci_high"], r["naive_difference"], r["true_effect"])
        for r in results
    ]
    context = {
        "title": "Effect van maatregelen",
        "results": results,
        "chart": charts.effect_chart(rows) if rows else "",
    }
    return render(request, "effects.html", guard.user, context)


@router.get("/monitoring/{folder}/{name}")
def monitoring_file(folder: str, name: str, ctx: ContextDep, guard: ModelReader) -> Response:
    return monitoring_routes.report_file(folder, name, ctx, guard)
