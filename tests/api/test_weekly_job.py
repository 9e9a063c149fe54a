"""The weekly job: idempotent re-runs, crash safety, the change since last week, and its endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from data.schema import Score
from features import LOOKBACK_WEEKS, snapshot
from serving.app import create_app
from tests.api.conftest import WEEK, api_settings, load_school, make_users
from tests.conftest import School
from training.pipeline import TrainingResult
from workflows.model_state import ServingModel
from workflows.weekly_job import score_week


def _week_rows(engine: Engine, week: int) -> dict[str, tuple[float, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT student_id, probability, model_version FROM scores WHERE week = :w"), {"w": week}
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def loaded(store: Engine, school: School) -> Engine:
    load_school(store, school, WEEK - 1 - LOOKBACK_WEEKS, WEEK)
    return store


def test_rerun_replaces_the_week(loaded: Engine, trained: TrainingResult, school: School) -> None:
    first = score_week(loaded, trained.model, "1", WEEK - 1)
    second = score_week(loaded, trained.model, "1", WEEK)
    expected = snapshot(school.tables, as_of=WEEK)
    assert second.students == len(expected) and first.replaced == 0
    before = _week_rows(loaded, WEEK)
    again = score_week(loaded, trained.model, "2", WEEK)
    after = _week_rows(loaded, WEEK)
    assert again.replaced == second.students
    assert set(after) == set(before)
    assert all(after[s][0] == before[s][0] and after[s][1] == "2" for s in after)
    with loaded.connect() as conn:
        change = conn.execute(
            text(
                "SELECT s.change, s.probability - p.probability FROM scores s JOIN scores p "
                "ON p.student_id = s.student_id AND p.week = s.week - 1 WHERE s.week = :w"
            ),
            {"w": WEEK},
        ).all()
    assert change and all(a == pytest.approx(b) for a, b in change)


def test_a_crash_leaves_earlier_weeks_and_the_week_intact(loaded: Engine, trained: TrainingResult) -> None:
    score_week(loaded, trained.model, "1", WEEK - 1)
    score_week(loaded, trained.model, "1", WEEK)
    previous, current = _week_rows(loaded, WEEK - 1), _week_rows(loaded, WEEK)

    def crash(conn: Connection, stage: str) -> None:
        columns = ", ".join(c.name for c in Score.__table__.columns)
        half = len(current) // 2
        conn.execute(text(f"INSERT INTO scores ({columns}) SELECT {columns} FROM {stage} LIMIT {half}"))
        raise RuntimeError("power cut")  # half of the week moved in, then the job dies

    with pytest.raises(RuntimeError, match="power cut"):
        score_week(loaded, trained.model, "2", WEEK, before_write=crash, chunk_students=7)
    assert _week_rows(loaded, WEEK - 1) == previous
    assert _week_rows(loaded, WEEK) == current
    rerun = score_week(loaded, trained.model, "2", WEEK)
    assert rerun.students == len(current)


def test_a_crash_in_a_later_chunk_leaves_the_week_intact(
    loaded: Engine, trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    score_week(loaded, trained.model, "1", WEEK)
    current = _week_rows(loaded, WEEK)
    calls = {"n": 0}
    real_score = trained.model.score

    def fails_on_the_third_chunk(frame: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("out of memory in chunk 3")
        return real_score(frame)

    monkeypatch.setattr(trained.model, "score", fails_on_the_third_chunk)
    with pytest.raises(MemoryError):
        score_week(loaded, trained.model, "2", WEEK, chunk_students=10)
    assert calls["n"] == 3
    assert _week_rows(loaded, WEEK) == current, "the staged chunks never reached the scores"


def _stored(engine: Engine, week: int) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(
            text("SELECT * FROM scores WHERE week = :w ORDER BY student_id"), conn, params={"w": week}
        )
    return frame.drop(columns=["scored_at"])


def test_the_chunked_job_stores_the_same_rows_as_one_chunk(loaded: Engine, trained: TrainingResult) -> None:
    score_week(loaded, trained.model, "1", WEEK - 1)
    whole = score_week(loaded, trained.model, "1", WEEK, chunk_students=1_000_000)
    one_chunk = _stored(loaded, WEEK)
    chunked = score_week(loaded, trained.model, "1", WEEK, chunk_students=9)
    assert chunked.students == whole.students and chunked.replaced == whole.students
    assert whole.students > 3 * 9, "several chunks"
    pd.testing.assert_frame_equal(_stored(loaded, WEEK), one_chunk)
    assert one_chunk["previous_probability"].notna().all(), "last week's scores found in every chunk"


def test_job_endpoint(loaded: Engine, trained: TrainingResult, tmp_path: Path) -> None:
    make_users(loaded, *_two_teams(loaded))
    app = create_app(api_settings(tmp_path), engine=loaded, model=ServingModel(trained.model, "1"))
    headers = {"Authorization": "Bearer tok-datateam"}
    with TestClient(app) as client:
        r = client.post("/api/v1/jobs/score-week", json={"week": WEEK}, headers=headers)
        assert r.status_code == 200 and r.json()["students"] > 0 and r.json()["replaced"] == 0
        r = client.post("/api/v1/jobs/score-week", json={"week": WEEK}, headers=headers)
        assert r.json()["replaced"] == r.json()["students"]
        assert client.post("/api/v1/jobs/score-week", json={"week": -300}, headers=headers).status_code == 404
        r = client.post("/api/v1/jobs/score-week", json={"week": "volgende"}, headers=headers)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "week"]
        mentor = {"Authorization": "Bearer tok-mentor"}
        assert client.post("/api/v1/jobs/score-week", json={"week": WEEK}, headers=mentor).status_code == 403


def _two_teams(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        first, second, *_ = conn.execute(text("SELECT DISTINCT team FROM students ORDER BY team")).scalars()
    return str(first), str(second)
