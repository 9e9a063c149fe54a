"""The interactive API documentation (Swagger UI) at ``/docs``, from assets served by the service itself.

Nothing is fetched from the internet: the Swagger UI files come from the ``fastapi-offline`` package and are
served under ``/docs/assets``. Whether ``/docs`` and ``/openapi.json`` exist at all is the setting
``VSV_PUBLIC_DOCS`` (default: on in development and test, off in production).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_assets() -> Path:
    """The folder with ``swagger-ui-bundle.js`` and ``swagger-ui.css``."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI for the app's OpenAPI document at ``/docs``, with local assets only."""
    app.mount(ASSETS, StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Vroegsignaal API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="data:,",
        )
