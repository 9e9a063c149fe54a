"""Hostile input at the door: bodies over their limit are refused before they are read or authenticated,
anonymous uploads are never read, a file that is wrong throughout gets a short answer, NUL bytes are
refused, refused ingests are audited, and the API docs load nothing from the internet."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from starlette.types import Message, Scope

from data.csv_io import EXAMPLES_PER_PROBLEM, CsvImportError, import_files
from data.questionnaire import Questionnaire
from serving.access_log import DropQueryStrings
from serving.app import create_app
from serving.routes import ingest as ingest_route
from settings import Settings
from tests.api.conftest import api_settings, make_users
from tests.conftest import TEST_KEY

JSON_LIMIT = 4096
UPLOAD_LIMIT = 512 * 1024
LISTED = 10
STUDENTS_HEADER = (
    "student_number,programme,sector,level,route,team,prior_education,start_week,age_at_start,"
    "expected_duration_years\n"
)


@pytest.fixture
def client(
    store: Engine, tmp_path: Path, small_csv_dir: Path, questionnaire: Questionnaire
) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    import_files(store, [small_csv_dir / "students.csv"], TEST_KEY, questionnaire)
    with store.connect() as conn:
        first, second = (
            conn.execute(text("SELECT DISTINCT team FROM students ORDER BY team")).scalars().all()[:2]
        )
    settings = api_settings(
        tmp_path,
        max_json_body_bytes=JSON_LIMIT,
        max_upload_bytes=UPLOAD_LIMIT,
        max_listed_errors=LISTED,
    )
    tokens = make_users(store, first, second)
    with TestClient(create_app(settings, engine=store)) as test_client:
        yield test_client, store, tokens


def bearer(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_an_anonymous_body_over_the_limit_gets_413_before_authentication(
    client: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    http, _, _ = client
    body = b'{"rows": [' + b"1," * JSON_LIMIT + b"1]}"
    response = http.post("/api/v1/scores", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "te groot" in response.json()["detail"]
    assert "4 kB" in response.json()["detail"]


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(
    client: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    """Driven as the server does, chunk by chunk (the test client would read a streamed body whole before
    the app sees it): the app stops pulling the body at the first chunk past the limit and answers 413."""
    http, _, tokens = client
    chunk = b"1," * 512
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {tokens['datateam']}".encode()),
    ]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/scores",
        "raw_path": b"/api/v1/scores",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    assert http.portal is not None
    http.portal.call(http.app, scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled == JSON_LIMIT // len(chunk) + 1  # not one chunk more than it took to pass the limit
    assert b"te groot" in b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_under_the_limit_is_still_served(client: tuple[TestClient, Engine, dict[str, str]]) -> None:
    """An upload just under the upload limit, and a form just under the JSON limit, reach their routes."""
    http, _, tokens = client
    upload = STUDENTS_HEADER.encode() + b"x" * (UPLOAD_LIMIT - len(STUDENTS_HEADER) - 1024)
    files = {"files": ("students.csv", upload, "text/csv")}
    response = http.post("/api/v1/ingest", files=files, headers=bearer(tokens, "datateam"))
    assert response.status_code == 422, response.text[:300]  # read and parsed: the one line is no student
    assert "body" in response.json()["detail"][0]["loc"]
    http.cookies.clear()
    form = {"token": tokens["admin"], "opvulling": "x" * (JSON_LIMIT - 200)}  # an extra field is ignored
    login = http.post("/web/login", data=form, follow_redirects=False)
    assert login.status_code == 303, login.text[:300]  # logged in: the form was read whole
    http.cookies.clear()


def test_an_anonymous_upload_is_refused_without_reading_it(
    client: tuple[TestClient, Engine, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _, _ = client
    read: list[str] = []

    async def spy(*args: object) -> list[Path]:
        read.append("read")
        return []

    monkeypatch.setattr(ingest_route, "_save_uploads", spy)
    files = {"files": ("students.csv", b"x" * 1000, "text/csv")}
    assert http.post("/api/v1/ingest", files=files).status_code == 401
    mentor = bearer(client[2], "mentor")
    assert http.post("/api/v1/ingest", files=files, headers=mentor).status_code == 403
    assert read == []


def test_an_upload_over_its_limit_gets_413(client: tuple[TestClient, Engine, dict[str, str]]) -> None:
    http, _, tokens = client
    files = {"files": ("students.csv", STUDENTS_HEADER.encode() + b"x" * UPLOAD_LIMIT, "text/csv")}
    response = http.post("/api/v1/ingest", files=files, headers=bearer(tokens, "datateam"))
    assert response.status_code == 413


def bad_students(rows: int) -> bytes:
    """A students file in which every row has a bad level and a bad age."""
    line = "S{i},Verzorgende IG,zorg_welzijn,9,BOL,team-a,vmbo_kb,1,abc,3\n"
    return (STUDENTS_HEADER + "".join(line.format(i=i) for i in range(rows))).encode()


def test_a_file_wrong_throughout_gets_a_short_answer_that_still_counts_everything(
    client: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    http, engine, tokens = client
    files = {"files": ("students.csv", bad_students(3000), "text/csv")}
    response = http.post("/api/v1/ingest", files=files, headers=bearer(tokens, "datateam"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    listed = [d for d in detail if d["type"] == "value_error"]
    counted = [d for d in detail if d["type"] == "value_error.more"]
    assert len(listed) == LISTED
    assert {tuple(d["loc"][:4]) for d in counted} == {
        ("body", "files", "students.csv", "level"),
        ("body", "files", "students.csv", "age_at_start"),
    }
    numbers = [int(d["msg"].split()[1]) for d in counted]
    assert sum(numbers) + LISTED == 2 * 3000
    assert len(response.content) < 10_000
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM students WHERE level = 9")).scalar_one() == 0
        refused = conn.execute(text("SELECT detail FROM audit_log WHERE action = 'ingest_refused'")).scalars()
        assert any("6000 problemen" in str(d) for d in refused)


def test_a_nul_byte_in_a_cell_is_refused_not_cut_short(
    client: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    http, engine, tokens = client
    body = (STUDENTS_HEADER + "S1,Verzorgende IG,zorg_welzijn,2,BOL,team-a\x00evil,vmbo_kb,1,17,3\n").encode()
    files = {"files": ("students.csv", body, "text/csv")}
    response = http.post("/api/v1/ingest", files=files, headers=bearer(tokens, "datateam"))
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"][0]["msg"]
    assert "line 2" in response.json()["detail"][0]["msg"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM students WHERE team LIKE 'team-a%'")).scalar_one() == 0


def test_the_import_keeps_a_bounded_list_of_problems_and_counts_the_rest(
    store: Engine, tmp_path: Path, questionnaire: Questionnaire
) -> None:
    path = tmp_path / "students.csv"
    path.write_bytes(bad_students(EXAMPLES_PER_PROBLEM * 5))
    with pytest.raises(CsvImportError) as refused:
        import_files(store, [path], TEST_KEY, questionnaire)
    assert refused.value.total == 2 * EXAMPLES_PER_PROBLEM * 5
    assert len(refused.value.errors) == 2 * EXAMPLES_PER_PROBLEM
    assert "more problems" in str(refused.value) or "more lines" in str(refused.value)


def test_the_api_docs_load_nothing_from_the_internet(
    client: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    http, _, _ = client
    page = http.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert http.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert http.get("/docs/assets/swagger-ui.css").status_code == 200
    assert http.get("/openapi.json").status_code == 200


def test_production_serves_no_api_docs_unless_asked(store: Engine, tmp_path: Path) -> None:
    key = "k" * 40
    production = Settings(
        var_dir=tmp_path, environment="production", pseudonym_key=key, load_model_on_startup=False
    )
    with TestClient(create_app(production, engine=store)) as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/openapi.json").status_code == 404
    asked = production.model_copy(update={"public_docs": True})
    with TestClient(create_app(asked, engine=store)) as http:
        assert http.get("/openapi.json").status_code == 200


def test_the_access_log_keeps_no_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/lists?token=secret-token&team=a", "1.1", 401),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert "secret-token" not in record.getMessage()
    assert "/api/v1/lists?…" in record.getMessage()
