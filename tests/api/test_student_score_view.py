"""A student's score as staff read it: reasons grouped by domain with what pushes the risk up and down,
and this week's questionnaire signals in words."""

from __future__ import annotations

from features.register import features_by_name
from tests.api.conftest import WEEK, Api


def test_reasons_sit_in_their_domain_and_every_domain_has_a_balance(api: Api) -> None:
    students = api.client.get(
        f"/api/v1/risk-lists/{api.mentor_team}/{WEEK}", headers=api.headers("mentor")
    ).json()["students"]
    with_reasons = [s for s in students if s["reasons"]][:5]
    assert with_reasons
    for listed in with_reasons:
        score = api.client.get(
            f"/api/v1/students/{listed['student_id']}/scores/{WEEK}", headers=api.headers("mentor")
        ).json()
        domains = {d["domain"]: d for d in score["domains"]}
        assert list(domains) == ["aanwezigheid", "welzijn", "studievoortgang"]
        assert all(d["up"] >= 0 >= d["down"] for d in domains.values())
        register = features_by_name([r["feature"] for r in score["reasons"]])
        for reason in score["reasons"]:
            assert reason["text"] in domains[register[reason["feature"]].domain]["reasons"]
        assert all(isinstance(s, str) and s for s in score["signals"])
        assert score["signals"] == listed["signals"]  # the list and the student page say the same
