"""Ingest over HTTP (validated, atomic, idempotent) and safeguarding alerts raised at once on ingest."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pandas as pd
from sqlalchemy import text

from tests.api.conftest import WEEK, Api, student_of


def _answers_csv(student: str, week: int, rows: list[tuple[str, int]]) -> bytes:
    frame = pd.DataFrame([{"student_id": student, "week": week, "item": i, "value": v} for i, v in rows])
    return frame.to_csv(index=False).encode()


def _upload(
    api: Api, content: bytes, role: str = "datateam", name: str = "questionnaire_answers.csv"
) -> httpx.Response:
    response: httpx.Response = api.client.post(
        "/api/v1/ingest", files=[("files", (name, content, "text/csv"))], headers=api.headers(role)
    )
    return response


def test_ingest_raises_alerts_at_once_and_is_idempotent(api: Api) -> None:
    student = student_of(api, api.other_team)
    week = WEEK + 1  # a week the weekly job has not scored: alerts do not wait for it
    content = _answers_csv(student, week, [("wil_praten", 1), ("welbevinden", 1), ("stress", 3)])
    r = _upload(api, content)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reports"][0]["inserted"] == 3
    assert body["alerts_raised"] == 2
    again = _upload(api, content).json()
    assert again["reports"][0]["unchanged"] == 3 and again["alerts_raised"] == 0
    alerts = api.client.get("/api/v1/safeguarding/alerts?limit=1000", headers=api.headers("zorgteam")).json()
    mine = [a for a in alerts if a["student_id"] == student and a["week"] == week]
    assert {a["item"] for a in mine} == {"wil_praten", "welbevinden"}
    assert all(a["status"] == "open" and a["reason"] for a in mine)

    alert_id = mine[0]["alert_id"]
    ack = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/acknowledge", json={}, headers=api.headers("zorgteam")
    )
    assert ack.status_code == 200 and ack.json()["status"] == "in behandeling"
    no_note = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/close", json={}, headers=api.headers("zorgteam")
    )
    assert no_note.status_code == 422 and no_note.json()["detail"][0]["loc"] == ["body", "note"]
    close = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/close",
        json={"note": "gesprek gevoerd met zorgcoördinator"},
        headers=api.headers("zorgteam"),
    )
    assert close.status_code == 200 and close.json()["status"] == "gesloten"
    twice = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/close",
        json={"note": "nog eens"},
        headers=api.headers("zorgteam"),
    )
    assert twice.status_code == 409
    missing = api.client.post(
        "/api/v1/safeguarding/alerts/999999/acknowledge", json={}, headers=api.headers("zorgteam")
    )
    assert missing.status_code == 404
    refused = api.client.post(
        f"/api/v1/safeguarding/alerts/{alert_id}/acknowledge", json={}, headers=api.headers("mentor")
    )
    assert refused.status_code == 403


def test_bad_upload_is_refused_whole_with_line_and_column(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    good = _answers_csv(student, WEEK + 2, [("slaap", 3)]).decode()
    bad = good + f"{student},{WEEK + 2},stress,9\n"
    r = _upload(api, bad.encode())
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail[0]["loc"][:4] == ["body", "files", "questionnaire_answers.csv", 3]
    with api.engine.connect() as conn:
        n = conn.execute(
            text("SELECT COUNT(*) FROM questionnaire_answers WHERE student_id = :s AND week = :w"),
            {"s": student, "w": WEEK + 2},
        ).scalar_one()
    assert n == 0
    assert _upload(api, b"a,b\n1,2\n", name="notes.csv").status_code == 422
    assert _upload(api, good.encode(), role="mentor").status_code == 403


def test_an_open_alert_is_not_raised_again_until_it_is_closed(api: Api) -> None:
    """Alert fatigue: one open alert per student and item; a new one only after the zorgteam closed it."""
    alerts = api.client.get("/api/v1/safeguarding/alerts?limit=1000", headers=api.headers("zorgteam")).json()
    alerted = {a["student_id"] for a in alerts if a["item"] == "wil_praten" and a["status"] != "gesloten"}
    student = next(
        s
        for s in api.client.get(
            f"/api/v1/risk-lists/{api.other_team}/{WEEK}", headers=api.headers("zorgteam")
        ).json()["students"]
        if s["student_id"] not in alerted
    )["student_id"]
    first = _upload(api, _answers_csv(student, WEEK + 3, [("wil_praten", 1)])).json()
    second = _upload(api, _answers_csv(student, WEEK + 4, [("wil_praten", 1)])).json()
    assert (first["alerts_raised"], second["alerts_raised"]) == (1, 0)
    mine = [
        a
        for a in api.client.get(
            "/api/v1/safeguarding/alerts?limit=1000", headers=api.headers("zorgteam")
        ).json()
        if a["student_id"] == student and a["item"] == "wil_praten"
    ]
    assert [a["week"] for a in mine] == [WEEK + 3]
    closed = api.client.post(
        f"/api/v1/safeguarding/alerts/{mine[0]['alert_id']}/close",
        json={"note": "gesprek gevoerd"},
        headers=api.headers("zorgteam"),
    )
    assert closed.status_code == 200
    third = _upload(api, _answers_csv(student, WEEK + 5, [("wil_praten", 1)])).json()
    assert third["alerts_raised"] == 1


def _student_without_open_help_alert(api: Api, skip: set[str]) -> str:
    """A student of the other team, still enrolled in week WEEK + 6 (a leaver's alert closes itself), whose
    earlier "wil praten" alerts the zorgteam has closed."""
    students = api.client.get(
        f"/api/v1/risk-lists/{api.other_team}/{WEEK}", headers=api.headers("zorgteam")
    ).json()["students"]
    with api.engine.connect() as conn:
        left = set(
            conn.execute(text("SELECT student_id FROM outcomes WHERE week <= :w"), {"w": WEEK + 6}).scalars()
        )
    student: str = next(s["student_id"] for s in students if s["student_id"] not in skip | left)
    with api.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE safeguarding_alerts SET status = 'gesloten' WHERE student_id = :s "
                "AND item = 'wil_praten'"
            ),
            {"s": student},
        )
    return student


# The same answers as an export can really look: the header variants the importer accepts.
HEADER_VARIANTS: dict[str, Callable[[str, int], str]] = {
    "spaces after commas": lambda s, w: f"student_id, week, item, value\n{s}, {w}, wil_praten, 1\n",
    "byte order mark": lambda s, w: f"\ufeffstudent_id,week,item,value\n{s},{w},wil_praten,1\n",
    "other column order": lambda s, w: f"item,value,week,student_id\nwil_praten,1,{w},{s}\n",
    "windows line ends": lambda s, w: f"student_id,week,item,value\r\n{s},{w},wil_praten,1\r\n",
    "padded header": lambda s, w: f" student_id , week , item , value \n{s},{w},wil_praten,1\n",
}


def test_every_header_variant_raises_the_help_alert(api: Api) -> None:
    """A call for help is never stored without an alert, however the export's header looks (a missed
    "wil praten" answer was a safety defect: the scan re-read the file with the raw header)."""
    used: set[str] = set()
    for variant, render in HEADER_VARIANTS.items():
        student = _student_without_open_help_alert(api, used)
        used.add(student)
        week = WEEK + 6
        response = _upload(api, render(student, week).encode("utf-8"))
        assert response.status_code == 200, (variant, response.text)
        assert response.json()["alerts_raised"] == 1, variant
        with api.engine.connect() as conn:
            open_alerts = conn.execute(
                text(
                    "SELECT COUNT(*) FROM safeguarding_alerts WHERE student_id = :s AND week = :w "
                    "AND item = 'wil_praten' AND status = 'open'"
                ),
                {"s": student, "w": week},
            ).scalar_one()
        assert open_alerts == 1, variant
