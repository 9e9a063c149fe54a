"""Fuzzing with schemathesis against the service's own OpenAPI schema, in-process (ASGI), on every
operation, once with a valid admin token and once without any: never a 500, and every error answers
with a JSON ``detail`` message. Bounded: at most ``MAX_EXAMPLES`` generated cases per operation."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from serving.app import create_app
from serving.model_state import ServingModel
from tests.api.conftest import VERSION, Api, api, api_engine, api_settings

__all__ = ["api", "api_engine"]  # the API fixtures (store on SQLite and PostgreSQL, users, app)
from training.pipeline import TrainingResult

MAX_EXAMPLES = 20
# Server errors the fuzzer found in routes outside this change; each must be fixed in its route, and then
# removed here. They are still fuzzed, and reported as a warning while they still fail.
KNOWN_FINDINGS: set[tuple[str, str]] = set()  # server errors found and not fixed yet: none


@pytest.fixture(scope="module")
def fuzz_app(api: Api, trained: TrainingResult, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app over the loaded, scored store of ``api`` (schemathesis runs its lifespan itself)."""
    return create_app(
        api_settings(tmp_path_factory.mktemp("fuzz")),
        engine=api.engine,
        model=ServingModel(trained.model, VERSION, "run-test"),
    )


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def _without_auth(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}


def _check(case: Any, token: str | None) -> None:
    """One generated request: no 500, and every error a JSON ``detail``; without a token 401 (or 422)."""
    case.headers = _without_auth(case.headers)
    response = case.call(headers={"Authorization": f"Bearer {token}"} if token else {})
    case.validate_response(response, checks=[not_a_server_error])
    where = (case.method, case.formatted_path, response.status_code, response.text[:300])
    if not case.path.startswith("/api/"):  # /health, /ready (and any HTML pages) are open
        return
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and body.get("detail"), where
    if token is None:
        assert response.status_code in (401, 404, 405, 422), where


def _fuzz(operation: Any, token: str | None) -> Callable[[], None]:
    """A Hypothesis test of ``operation`` with (or without) ``token``."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        _check(case, token)

    return run


@pytest.mark.slow
def test_no_server_errors_with_or_without_a_token(api_schema: Any, api: Api) -> None:
    """Every operation, MAX_EXAMPLES generated cases each, with the admin token and without a token.

    (A plain loop over the operations: schemathesis' lazy pytest integration does not run on pytest 9.)
    """
    failures: list[str] = []
    known: set[tuple[str, str]] = set()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        for token in (api.tokens["admin"], None):
            run = _fuzz(operation, token)
            try:
                run()
            except Exception as exc:  # collect, so that one finding does not hide the others
                key = (operation.method.upper(), operation.path)
                if key in KNOWN_FINDINGS:
                    known.add(key)
                else:
                    failures.append(f"{key[0]} {key[1]} token={bool(token)}: {exc}")
    assert len(operations) >= 20
    assert not failures, "\n\n".join(failures)
    if known:  # tolerated until fixed in their routes (see KNOWN_FINDINGS), but shown in the report
        warnings.warn(f"known server errors still found: {sorted(known)}", stacklevel=1)


def test_fuzzing_covers_every_operation(api_schema: Any, fuzz_app: FastAPI) -> None:
    """The fuzzer sees every operation of the app's OpenAPI, and every /api/ operation needs the token."""
    spec = fuzz_app.openapi()
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    operations = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert operations == documented and len(operations) >= 20
    unguarded = [
        (method, path)
        for method, path in sorted(documented)
        if path.startswith("/api/") and not spec["paths"][path][method.lower()].get("security")
    ]
    assert not unguarded, f"API operations without the bearer token: {unguarded}"
