"""Fuzzing with schemathesis against the service's own OpenAPI schema, in-process (ASGI), on every
operation, on SQLite and PostgreSQL.

* Positive phase: valid requests, once with a valid admin token and once without any: never a 500, every
  status one the schema documents for that operation, every body (errors too) matching its documented
  schema, and every error a JSON ``detail`` with a clear message.
* Negative phase: requests that break the schema (wrong types, out-of-range and huge numbers, over-long
  strings, NUL bytes and other control characters, bad encodings), with the admin token: never a 500,
  always refused with a documented 4xx whose body matches its schema.

Bounded: at most ``MAX_EXAMPLES`` generated cases per operation and phase."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.errors import FailureGroup

from serving.app import create_app
from tests.api.conftest import VERSION, Api, api, api_engine, api_settings
from workflows.model_state import ServingModel

__all__ = ["api", "api_engine"]  # the API fixtures (store on SQLite and PostgreSQL, users, app)
from training.pipeline import TrainingResult

MAX_EXAMPLES = 20
# Findings (a server error, an undocumented status, a body off its schema) in operations not fixed yet: each
# must be fixed in its route (or its `responses=`), and then removed here. They are still fuzzed, and
# reported as a warning while they still fail.
KNOWN_FINDINGS: set[tuple[str, str]] = set()  # none
# Every response: no 500; a status the operation documents (its `responses=`, the shared 401/403/429 of
# the API routers, FastAPI's own 422); body, content type and headers as documented for that status. FastAPI's
# 422 schema (HTTPValidationError: `detail` a list of {loc, msg, type}) is what routes that raise their own
# 422 give too, so the schema check holds for errors as well.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]


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


def _is_clear(detail: Any) -> bool:
    """A message a person can act on: a non-empty string, or a non-empty list of {loc, msg, type}."""
    if isinstance(detail, str):
        return bool(detail.strip())
    return (
        isinstance(detail, list)
        and bool(detail)
        and all(
            isinstance(item, dict)
            and isinstance(item.get("loc"), list)
            and isinstance(item.get("msg"), str)
            and bool(item["msg"].strip())
            and isinstance(item.get("type"), str)
            for item in detail
        )
    )


def _check(case: Any, token: str | None) -> None:
    """One generated request: the CHECKS, every API error a clear JSON ``detail``; no token: 401 (or 422)."""
    case.headers = _without_auth(case.headers)
    response = case.call(headers={"Authorization": f"Bearer {token}"} if token else {})
    case.validate_response(response, checks=CHECKS)
    where = (case.method, case.formatted_path, response.status_code, response.text[:300])
    if not case.path.startswith("/api/"):  # /health, /ready (and any HTML pages) are open
        return
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lower-case name, values
        assert content_type.startswith("application/json"), where
        body = response.json()
        assert isinstance(body, dict) and _is_clear(body.get("detail")), where
    if token is None:
        assert response.status_code in (401, 404, 405, 422), where


def _describe(exc: BaseException) -> str:
    """A finding in a few lines: each failed check's title and message (schemathesis groups them)."""
    if isinstance(exc, FailureGroup):
        return "\n".join(f"{failure.title}: {failure.message}" for failure in exc.exceptions)
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


NEGATIVE_CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    response_schema_conformance,
    content_type_conformance,
]


def _check_negative(case: Any, token: str) -> None:
    """One request that breaks the schema: refused with a documented 4xx and a clear JSON ``detail``."""
    case.headers = _without_auth(case.headers)
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=NEGATIVE_CHECKS)
    where = (case.method, case.formatted_path, response.status_code, response.text[:300])
    # negative_data_rejection asks for a 4xx wherever the broken input survives serialisation (a number
    # where a query string is expected does not: it arrives as valid text).
    if response.status_code >= 400 and case.path.startswith("/api/"):
        assert _is_clear(response.json().get("detail")), where


def _fuzz(
    operation: Any, token: str | None, mode: GenerationMode = GenerationMode.POSITIVE
) -> Callable[[], None]:
    """A Hypothesis test of ``operation`` with (or without) ``token``, valid or schema-breaking requests."""

    # In the negative phase only the operation's own input is broken: the token is fixed (a broken token
    # is the positive phase's case "without a token").
    fixed = {"headers": {"Authorization": f"Bearer {token}"}} if mode is GenerationMode.NEGATIVE else {}

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if mode is GenerationMode.NEGATIVE:
            assert token is not None
            _check_negative(case, token)
        else:
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
            # Collect, so that one finding does not hide the others. Schemathesis raises its failures as a
            # BaseExceptionGroup (FailureGroup), and Hypothesis may group several distinct ones.
            except (Exception, BaseExceptionGroup) as exc:
                key = (operation.method.upper(), operation.path)
                if key in KNOWN_FINDINGS:
                    known.add(key)
                else:
                    failures.append(f"{key[0]} {key[1]} token={bool(token)}: {_describe(exc)}")
    assert len(operations) >= 20
    assert not failures, "\n\n".join(failures)
    if known:  # tolerated until fixed in their routes (see KNOWN_FINDINGS), but shown in the report
        warnings.warn(f"known findings still found: {sorted(known)}", stacklevel=1)


def _has_input(operation: Any) -> bool:
    """Whether a request to ``operation`` can break its schema at all (it takes parameters or a body)."""
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.slow
def test_requests_that_break_the_schema_are_refused_not_crashed(api_schema: Any, api: Api) -> None:
    """The negative phase: every operation that takes input, MAX_EXAMPLES schema-breaking cases each."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    negated = [op for op in operations if _has_input(op)]
    unbreakable: list[str] = []
    for operation in negated:
        run = _fuzz(operation, api.tokens["admin"], GenerationMode.NEGATIVE)
        try:
            run()
        except Unsatisfiable:
            # Only free-text path parameters: every string is valid there, so nothing breaks the schema.
            unbreakable.append(f"{operation.method.upper()} {operation.path}")
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {_describe(exc)}")
    assert len(negated) - len(unbreakable) >= 15, unbreakable
    assert not failures, "\n\n".join(failures)


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


def test_every_api_operation_documents_its_errors(fuzz_app: FastAPI) -> None:
    """What the fuzzer cannot reach is still documented: every /api/ operation's 401, 403 and 429 (the
    limiter is off in the fuzzed app), and every documented error is a JSON message or a field list."""
    spec = fuzz_app.openapi()
    messages = {"#/components/schemas/MessageOut", "#/components/schemas/HTTPValidationError"}
    missing: list[tuple[str, str, str]] = []
    unclear: list[tuple[str, str, str]] = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.startswith("/api/"):
                missing += [
                    (method.upper(), path, code) for code in ("401", "403", "429") if code not in responses
                ]
            for code, response in responses.items():
                if not code.startswith(("4", "5")) or path == "/ready":  # /ready answers 503 with its report
                    continue
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                if ref not in messages:
                    unclear.append((method.upper(), path, code))
    assert not missing, f"undocumented auth errors: {missing}"
    assert not unclear, f"error responses without a documented message schema: {unclear}"
