"""The FastAPI app factory. The model is loaded in ``lifespan``, never on import.

``create_app(settings)`` builds the app; tests pass an ``engine`` and a ``model`` (a
:class:`workflows.model_state.ServingModel`) to skip the database URL and the MLflow registry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from data.context import DeploymentContext, build_context
from serving.access_log import install_access_filter
from serving.docs import install_docs
from serving.edge import RefuseControlCharacters
from serving.limits import BodyLimit, Limits
from serving.routes import (
    actions,
    audit,
    coachklas,
    explanations,
    health,
    identities,
    ingest,
    jobs,
    lists,
    models,
    monitoring,
    rounds,
    safeguarding,
    scores,
)
from serving.routes.common import AUTH_ERRORS
from serving.web import install as install_web
from settings import Settings, get_settings
from workflows.audit import AuditWriter
from workflows.exposure import exposure_problems
from workflows.model_state import ModelStore, ServingModel
from workflows.safeguarding import scan

log = logging.getLogger(__name__)
OPEN_ROUTERS = (health.router,)
# Every API router needs a bearer token and a role: their 401, 403 and 429 are documented here, once.
API_ROUTERS = (
    scores.router,
    lists.router,
    actions.router,
    actions.cases_router,
    coachklas.router,
    safeguarding.router,
    explanations.router,
    models.router,
    ingest.router,
    jobs.router,
    audit.router,
    monitoring.router,
    identities.router,
    rounds.router,
)
DESCRIPTION = """
Vroegsignaal: weekly dropout-risk (vsv) scores with plain-Dutch reasons for mbo mentors, the zorgteam and
the coachklas coordinator; safeguarding alerts; explanations and replay for auditors.

Every request needs a bearer token (`vsv users add`). Every request that touches a student's data is
written to an append-only audit log. A score supports a person; it never decides alone.
"""


def _scan_alerts(ctx: DeploymentContext) -> None:
    """Raise alerts for recent answers imported while the service was down (e.g. with `vsv import`)."""
    try:
        with ctx.engine.begin() as conn:
            result = scan(conn, ctx.questionnaire, ctx.settings.alert_window_weeks)
        if result.raised or result.closed_for_leavers:
            log.info(
                "safeguarding at start-up: %d alerts raised, %d closed (student left)",
                result.raised,
                result.closed_for_leavers,
            )
    except Exception as exc:
        log.warning("safeguarding scan at start-up failed: %s", exc)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    model: ServingModel | None = None,
) -> FastAPI:
    """Build the app. Without ``model`` the registry's champion is loaded at start-up (if configured)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_access_filter()
        ctx = build_context(settings, engine=engine, pool_size=settings.db_pool_size)
        problems = exposure_problems(settings, settings.host, ctx.engine)
        if problems:
            ctx.close()
            raise RuntimeError("refusing to start: " + "; ".join(problems))
        app.state.context = ctx
        app.state.settings = settings
        app.state.engine = ctx.engine
        # Token look-ups and audit entries get a pool of their own (see serving.deps.get_audit_engine).
        app.state.audit_engine = ctx.extra_engine()
        app.state.audit_writer = AuditWriter(app.state.audit_engine)
        app.state.models = ModelStore(ctx.registry, model)
        if model is None and settings.load_model_on_startup:
            await run_in_threadpool(app.state.models.load_current)
        await run_in_threadpool(_scan_alerts, ctx)
        try:
            yield
        finally:
            app.state.audit_writer.close()
            app.state.audit_engine.dispose()
            ctx.close()

    docs = settings.docs_enabled()
    app = FastAPI(
        title="Vroegsignaal",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url=None,
        redoc_url=None,
    )
    # Outermost: a body over its route's limit is refused before anything reads or authenticates it.
    limits = Limits(settings.max_json_body_bytes, settings.max_upload_bytes)
    app.add_middleware(RefuseControlCharacters)  # just inside: NUL and other control characters, 422
    app.add_middleware(BodyLimit, limits=lambda: limits)
    if docs:
        install_docs(app)
    for router in OPEN_ROUTERS:
        app.include_router(router)
    for router in API_ROUTERS:
        app.include_router(router, responses=AUTH_ERRORS)
    install_web(app)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory serving.app:app_from_environment`` (settings from ``VSV_*``)."""
    return create_app(get_settings())
