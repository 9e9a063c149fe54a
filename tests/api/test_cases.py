"""A student's case (issue 15), on SQLite and PostgreSQL: configured action types, follow-ups and what came
of them, one timeline per student, and the coachklas over time (stored capacity, placements with a start,
an end and an outcome); bad input is refused naming the field, and nothing is half-written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, text

from data.calendar import cached_school_calendar, week_monday
from data.schema import AlertEvent, Outcome, SafeguardingAlert
from tests.api.conftest import WEEK, Api, api, api_engine, student_of
from tests.web.helpers import page_get, page_post

__all__ = ["api", "api_engine"]


def _monday(week: int) -> date:
    return week_monday(cached_school_calendar(None), week)


def _action(api: Api, student: str, **body: object) -> dict[str, object]:
    r = api.client.post(
        f"/api/v1/students/{student}/actions",
        json={"week": WEEK, "action": "conversation", **body},
        headers=api.headers("mentor"),
    )
    assert r.status_code == 201, r.text
    result: dict[str, object] = r.json()
    return result


def _nth_of_team(api: Api, n: int) -> str:
    """The n-th highest-risk student of the mentor's team in WEEK (another than the other tests use)."""
    with api.engine.connect() as conn:
        ids = conn.execute(
            text(
                "SELECT s.student_id FROM scores s JOIN students t ON t.student_id = s.student_id "
                "WHERE s.week = :w AND t.team = :t ORDER BY s.probability DESC, s.student_id"
            ),
            {"w": WEEK, "t": api.mentor_team},
        ).scalars()
        return str(list(ids)[n])


def _count(api: Api, table: str) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_the_action_types_come_from_the_configuration(api: Api) -> None:
    types = api.client.get("/api/v1/action-types", headers=api.headers("mentor")).json()
    labels = {t["code"]: t["label"] for t in types}
    assert labels["contact_parents"] == "Contact met ouders/verzorgers"
    assert labels["absence_report"] == "Verzuimmelding leerplicht / Doorstroompunt"
    assert {"conversation", "referral_zorgteam", "referral_smw", "note"} <= set(labels)


def test_unknown_types_and_dates_before_the_action_are_refused_and_nothing_is_written(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    before = _count(api, "actions")
    bad = [
        ({"action": "koffie_drinken"}, "action"),
        ({"follow_up_on": (_monday(WEEK) - timedelta(days=1)).isoformat()}, "follow_up_on"),
        ({"follow_up_on": "3-12-2026"}, "follow_up_on"),
    ]
    for body, field in bad:
        r = api.client.post(
            f"/api/v1/students/{student}/actions",
            json={"week": WEEK, "action": "conversation", **body},
            headers=api.headers("mentor"),
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == field
    assert _count(api, "actions") == before


def test_an_outcome_is_recorded_later_and_never_before_its_action(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    action = _action(api, student, note="gesprek over stage", follow_up_on=_monday(WEEK).isoformat())
    url = f"/api/v1/students/{student}/actions/{action['action_id']}/outcome"
    early = api.client.post(
        url, json={"outcome": "resolved", "week": WEEK - 1}, headers=api.headers("mentor")
    )
    assert early.status_code == 422 and early.json()["detail"][0]["loc"] == ["body", "week"]
    unknown = api.client.post(url, json={"outcome": "vergeten", "week": WEEK}, headers=api.headers("mentor"))
    assert unknown.status_code == 422
    ok = api.client.post(
        url,
        json={"outcome": "resolved", "week": WEEK, "note": "loopt weer stage"},
        headers=api.headers("mentor"),
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["outcome"], ok.json()["outcome_label"]) == ("resolved", "opgelost")
    other = api.client.post(
        f"/api/v1/students/{student_of(api, api.other_team)}/actions/{action['action_id']}/outcome",
        json={"outcome": "resolved", "week": WEEK},
        headers=api.headers("admin"),
    )
    assert other.status_code == 404  # an action is reached through its own student only


def test_follow_ups_due_this_week_and_overdue_until_an_outcome_closes_them(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    found = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor")).json()
    today = date.fromisoformat(found["today"])
    overdue = _action(
        api, student, week=WEEK - 4, action="contact_parents", follow_up_on=_monday(WEEK - 4).isoformat()
    )
    due = _action(api, student, follow_up_on=today.isoformat())
    later = _action(api, student, follow_up_on=(today + timedelta(days=30)).isoformat())
    found = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor")).json()
    state = {i["action"]["action_id"]: i["state"] for i in found["items"]}
    assert state[overdue["action_id"]] == "overdue" and state[due["action_id"]] == "this_week"
    assert later["action_id"] not in state
    assert {i["team"] for i in found["items"]} <= {api.mentor_team}  # a mentor sees own teams only
    # "loopt nog" keeps it open (with a new date); "opgelost" closes it.
    url = f"/api/v1/students/{student}/actions/{overdue['action_id']}/outcome"
    new_date = (today + timedelta(days=1)).isoformat()
    api.client.post(
        url,
        json={"outcome": "ongoing", "week": WEEK, "follow_up_on": new_date},
        headers=api.headers("mentor"),
    )
    found = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor")).json()
    assert {i["action"]["action_id"]: i["state"] for i in found["items"]}.get(overdue["action_id"]) in (
        "this_week",
        None,  # tomorrow may fall in next week
    )
    api.client.post(url, json={"outcome": "resolved", "week": WEEK}, headers=api.headers("mentor"))
    found = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor")).json()
    assert overdue["action_id"] not in {i["action"]["action_id"] for i in found["items"]}
    page = page_get(api, "mentor", "/web/opvolgen")
    assert page.status_code == 200 and "Op te volgen" in page.text
    assert f"/actie/{due['action_id']}/uitkomst" in page.text
    assert api.client.get("/api/v1/follow-ups", headers=api.headers("datateam")).status_code == 403


def test_one_timeline_holds_actions_outcomes_placements_and_decisions(api: Api) -> None:
    student = student_of(api, api.mentor_team, WEEK - 1)
    action = _action(api, student, action="referral_smw", note="thuis lastig")
    api.client.post(
        f"/api/v1/students/{student}/actions/{action['action_id']}/outcome",
        json={"outcome": "referred", "week": WEEK},
        headers=api.headers("mentor"),
    )
    capacity = api.client.get(
        f"/api/v1/coachklas/intake?week={WEEK - 1}", headers=api.headers("coachklas")
    ).json()
    api.client.post(
        "/api/v1/coachklas/capacity",
        json={"from_week": WEEK - 1, "capacity": capacity["occupied"] + 5},
        headers=api.headers("coachklas"),
    )
    decision = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": student, "week": WEEK - 1, "decision": "placed", "reason": "veel verzuim"},
        headers=api.headers("coachklas"),
    )
    assert decision.status_code == 201, decision.text
    events = api.client.get(f"/api/v1/students/{student}/timeline", headers=api.headers("mentor")).json()
    titles = [e["title"] for e in events]
    assert any(t.startswith("Doorverwezen naar schoolmaatschappelijk werk") for t in titles)
    assert "uitkomst van 'Doorverwezen naar schoolmaatschappelijk werk': doorverwezen" in titles
    assert "begonnen in de coachklas" in titles and "coachklas: geplaatst" in titles
    weeks = [e["week"] for e in events]
    assert weeks == sorted(weeks, reverse=True)
    page = page_get(api, "mentor", f"/web/leerling/{student}?week={WEEK}")
    assert "begonnen in de coachklas" in page.text and "Tijdlijn" in page.text


def test_placements_end_with_an_outcome_and_free_their_place(api: Api) -> None:
    headers = api.headers("coachklas")
    week = WEEK - 1
    intake = api.client.get(f"/api/v1/coachklas/intake?week={week}", headers=headers).json()
    api.client.post(
        "/api/v1/coachklas/capacity",
        json={"from_week": week, "capacity": intake["occupied"] + 1},
        headers=headers,
    )
    full = api.client.get(f"/api/v1/coachklas/intake?week={week}", headers=headers).json()
    assert full["free"] == 1
    first, second = (c["student_id"] for c in full["candidates"][:2])
    placed = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": first, "week": week, "decision": "placed", "reason": "hoge nood"},
        headers=headers,
    )
    assert placed.status_code == 201
    decisions_before = _count(api, "coachklas_decisions")
    refused = api.client.post(
        "/api/v1/coachklas/decisions",
        json={"student_id": second, "week": week, "decision": "placed", "reason": "hoge nood"},
        headers=headers,
    )
    assert refused.status_code == 409 and "vol" in refused.json()["detail"]
    assert _count(api, "coachklas_decisions") == decisions_before  # the decision and its place, or neither
    now = api.client.get(f"/api/v1/coachklas/placements?week={week}", headers=headers).json()
    mine = next(p for p in now if p["student_id"] == first)
    end = f"/api/v1/coachklas/placements/{mine['placement_id']}/end"
    backwards = api.client.post(end, json={"end_week": week - 1, "outcome": "returned"}, headers=headers)
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["body", "end_week"]
    ended = api.client.post(end, json={"end_week": week, "outcome": "returned"}, headers=headers)
    assert ended.status_code == 200 and ended.json()["outcome_label"] == "terug in de klas"
    assert (
        api.client.post(end, json={"end_week": week, "outcome": "left"}, headers=headers).status_code == 409
    )
    later = api.client.get(f"/api/v1/coachklas/intake?week={WEEK}", headers=headers).json()
    assert first not in {p["student_id"] for p in later["placed"]}
    history = page_get(api, "coachklas", f"/web/coachklas?week={WEEK}").text
    assert "Eerdere plaatsingen" in history and "terug in de klas" in history
    assert (
        api.client.post(
            end, json={"end_week": week, "outcome": "left"}, headers=api.headers("mentor")
        ).status_code
        == 403
    )


def test_the_web_forms_record_an_action_with_a_follow_up_and_its_outcome(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    follow = _monday(WEEK).isoformat()
    r = page_post(
        api,
        "mentor",
        f"/web/leerling/{student}/actie",
        {
            "week": str(WEEK),
            "action": "absence_report",
            "note": "16 uur",
            "follow_up_on": follow,
            "owner": "",
        },
    )
    assert r.status_code == 303, r.text
    actions = api.client.get(f"/api/v1/students/{student}/actions", headers=api.headers("mentor")).json()
    newest = actions[-1]
    assert (newest["action"], newest["follow_up_on"], newest["owner"]) == (
        "absence_report",
        follow,
        "test-mentor",
    )
    r = page_post(
        api,
        "mentor",
        f"/web/leerling/{student}/actie/{newest['action_id']}/uitkomst",
        {"week": str(WEEK), "outcome": "ongoing"},
    )
    assert r.status_code == 303
    assert (
        page_post(
            api, "mentor", f"/web/leerling/{student}/actie", {"week": str(WEEK), "action": ""}
        ).status_code
        == 422
    )


def test_the_zorgteams_notes_reach_the_timeline_of_the_zorgteam_only(api: Api) -> None:
    student = _nth_of_team(api, 2)
    now = datetime.now(UTC)
    with api.engine.begin() as conn:
        created = conn.execute(
            insert(SafeguardingAlert).values(
                student_id=student,
                week=WEEK,
                item="wil_praten_tijdlijn",
                value=1,
                reason="wil praten met iemand van school",
                status="gesloten",
                raised_at=now,
            )
        ).inserted_primary_key
        assert created is not None
        alert_id = created[0]
        conn.execute(
            insert(AlertEvent).values(
                alert_id=alert_id, at=now, user_name="test-zorgteam", action="gesloten", note="NOTITIE-ZORG"
            )
        )
    url = f"/api/v1/students/{student}/timeline"
    mentor = api.client.get(url, headers=api.headers("mentor")).json()
    zorg = api.client.get(url, headers=api.headers("zorgteam")).json()
    assert any(e["title"] == "zorgmelding afgesloten" for e in mentor)
    assert "NOTITIE-ZORG" not in str(mentor) and "NOTITIE-ZORG" in str(zorg)


def test_a_student_who_left_drops_off_the_follow_ups(api: Api) -> None:
    student = _nth_of_team(api, 3)
    action = _action(api, student, week=WEEK - 4, follow_up_on=_monday(WEEK - 4).isoformat())

    def ids() -> set[int]:
        found = api.client.get("/api/v1/follow-ups", headers=api.headers("mentor")).json()
        return {i["action"]["action_id"] for i in found["items"]}

    assert action["action_id"] in ids()
    with api.engine.begin() as conn:
        conn.execute(text("DELETE FROM outcomes WHERE student_id = :s"), {"s": student})
        conn.execute(insert(Outcome).values(student_id=student, week=WEEK, outcome="switch"))
    assert action["action_id"] not in ids()
    timeline = api.client.get(f"/api/v1/students/{student}/timeline", headers=api.headers("mentor")).json()
    assert any(e["kind"] == "left" for e in timeline) and any(e["kind"] == "action" for e in timeline)
