"""Benchmark: the zorgteam's inbox with 10,000 alerts in the store (targets: server time < 100 ms, page
< 100 KB, thanks to paging).

In-process (TestClient): the queue's count and page queries, the menu counts, the audit entry and the
template; no network. A generated school (one year) is written to a fresh SQLite store, 10,000 alerts are
spread over its students and weeks (a tenth of them "wil praten", a third already closed), and the
first page, a filtered page and the archive are each fetched ``--repeats`` times.
Usage: python -m bench.bench_zorg [--alerts 10000 --repeats 30]   -> var/bench/zorg.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import print_table, write_json

TARGET_MS = 100.0
TARGET_KB = 100.0


def _alerts(students: list[str], n: int, latest: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        week = latest - (i // len(students))  # (student, week, item) stays unique
        help_item = i % 10 == 0
        closed = i % 3 == 0
        rows.append(
            {
                "student_id": students[i % len(students)],
                "week": week,
                "item": "wil_praten" if help_item else f"item_{i % 7}",
                "value": 1,
                "reason": "wil praten met iemand: ja" if help_item else "situatie thuis: antwoord 1 of lager",
                "status": "gesloten" if closed else ("open" if i % 2 else "in behandeling"),
                "raised_at": now - timedelta(hours=i % 500),
                "severity": 1 if help_item else 2,
                "due_at": now - timedelta(hours=(i % 500) - 8),
                "handled_by": "bench-zorg" if closed else None,
                "handled_at": now if closed else None,
                "note": "gesprek gevoerd" if closed else None,
                "closed_reason": "afgehandeld" if closed else None,
            }
        )
    return rows


def _time(client: Any, url: str, repeats: int) -> dict[str, Any]:
    first = client.get(url)
    assert first.status_code == 200, first.text[:500]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    median = statistics.median(times)
    size_kb = len(first.content) / 1024
    return {
        "page": url.split("/web", 1)[1],
        "median_ms": round(median, 1),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
        "size_kb": round(size_kb, 1),
        "ok": median < TARGET_MS and size_kb < TARGET_KB,
    }


def run(n_alerts: int, repeats: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from data.schema import SafeguardingAlert, Student
    from data.store import make_engine, upgrade
    from data.synthetic import GeneratorConfig, generate
    from data.synthetic.writer import store_school
    from data.tables import from_generated
    from serving.app import create_app
    from settings import Settings
    from workflows.users import upsert_user

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw, rest = from_generated(generate(GeneratorConfig(seed=7, n_students=2000, n_years=1)), "bench")
        engine = make_engine(f"sqlite:///{tmp / 'vsv.db'}")
        upgrade(engine)
        latest = int(raw.attendance_weeks["week"].max())
        store_school(engine, raw, rest["audit_attributes"], latest - 1, latest)
        with engine.begin() as conn:
            students = list(conn.execute(select(Student.student_id)).scalars())
            conn.execute(insert(SafeguardingAlert), _alerts(students, n_alerts, latest))
        token = upsert_user(engine, "bench-zorg", "zorgteam", [], "bench-zorg-token")
        settings = Settings(
            var_dir=tmp / "var",
            environment="test",
            load_model_on_startup=False,
            mlflow_tracking_uri=f"sqlite:///{tmp / 'no-mlflow.db'}",
            auth_failures_per_minute=0,
        )
        app = create_app(settings, engine=engine)
        pages = ["/web/zorg", f"/web/zorg?week={latest}&status=open", "/web/zorg?status=gesloten&pagina=40"]
        with TestClient(app) as client:
            client.post("/web/login", data={"token": token})  # a session cookie, as a browser gets
            rows = [_time(client, page, repeats) for page in pages]
        engine.dispose()
    return {
        "alerts": n_alerts,
        "repeats": repeats,
        "target_ms": TARGET_MS,
        "target_kb": TARGET_KB,
        "pages": rows,
        "ok": all(r["ok"] for r in rows),
    }


def answer_rates(n_students: int = 3000) -> list[dict[str, Any]]:
    """How often the generator's students give an alarming answer, per week, as a share of respondents,
    and the alerts one school week pair raises per 1,000 respondents (weeks 4-7 and 30-33 of a year)."""
    from data.questionnaire import load_questionnaire
    from data.synthetic import GeneratorConfig, generate
    from data.tables import from_generated
    from workflows.safeguarding import alert_rules

    rules = alert_rules(load_questionnaire())
    raw, _ = from_generated(generate(GeneratorConfig(seed=0, n_students=n_students, n_years=1)), "bench")
    qa = raw.questionnaire_answers.assign(
        student_id=lambda f: f["student_id"].astype(str), item=lambda f: f["item"].astype(str)
    )
    rows = []
    for first, last in ((4, 7), (30, 33)):
        weeks = qa[qa["week"].between(first, last)]
        respondents = weeks.groupby("week")["student_id"].nunique().mean()
        alarming = weeks.iloc[0:0]
        row: dict[str, Any] = {"weeks": f"{first}-{last}", "respondents_per_week": round(respondents)}
        for rule in rules:
            values = weeks[weeks["item"] == rule.item]["value"]
            hit = values <= rule.threshold if rule.below else values >= rule.threshold
            row[f"{rule.item} %/week"] = round(100 * hit.sum() / len(range(first, last + 1)) / respondents, 2)
            alarming = pd.concat([alarming, weeks[weeks["item"] == rule.item][hit]])
        recent = alarming[alarming["week"] >= last - 1].drop_duplicates(["student_id", "item"])
        row["alerts in 2 weeks per 1000"] = round(1000 * len(recent) / respondents, 1)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    result = run(args.alerts, args.repeats)
    print_table(
        f"Zorgmeldingen inbox, {result['alerts']:,} alerts in the store (server time, in-process)",
        result["pages"],
        list(result["pages"][0]),
    )
    rates = answer_rates()
    print_table("Alarming answers in the generated school (share of respondents)", rates, list(rates[0]))
    result["answer_rates"] = rates
    path = write_json("zorg", result)
    print(f"written: {path}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
