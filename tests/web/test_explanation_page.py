"""The auditor's explanation page: the SHAP bars carry the feature register's Dutch description beside the
code, and every value reads as the mentor reads it (percentages, hours, answers on the questionnaire's
scale with its words), never as a raw float."""

from __future__ import annotations

import html
import math
import re

import pytest

from data.questionnaire import Questionnaire
from features.register import features_by_name
from serving.web.explanation_view import feature_rows, value_text
from tests.api.conftest import WEEK, Api, student_of
from tests.web.helpers import page_get

RAW_FLOAT = re.compile(r"^-?\d+\.\d{3,}$")


@pytest.mark.parametrize(
    ("feature", "value", "shown"),
    [
        ("att_rate_4w", 0.874, "87%"),
        ("att_rate_change_4w", -0.18, "18 procentpunt lager dan de 4 weken ervoor"),
        ("unauth_hours_4w", 6.0, "6 uur"),
        ("unauth_hours_4w", 2.5, "2,5 uur"),
        ("weeks_absent_streak", 1.0, "1 week"),
        ("credits_behind_year", 12.4, "12 studiepunten"),
        ("credits_ratio_year", 0.62, "62% van verwacht"),
        ("units_failed_year", 1.0, "1 onderdeel"),
        ("level", 1.0, "entree"),
        ("level", 3.0, "niveau 3"),
        ("route_bbl", 1.0, "ja"),
        ("prior_vso", 0.0, "nee"),
        ("q_weeks_since_response", 0.0, "deze week ingevuld"),
        ("q_weeks_since_response", 3.0, "3 weken geleden"),
        ("q_response_rate_8w", 0.75, "75%"),
        ("q_welbevinden_latest", 2.0, "2 op 5 (1 = heel slecht, 5 = heel goed)"),
        ("q_stress_mean_4w", 3.5, "3,5 op 5 (1 = geen stress, 5 = heel veel stress)"),
        ("q_slaap_trend_6w", -0.15, "daalt 0,15 punt per week (1 = heel slecht, 5 = heel goed)"),
        (
            "q_stress_change",
            0.75,
            "0,75 punt hoger dan de weken ervoor (1 = geen stress, 5 = heel veel stress)",
        ),
        (
            "q_index_latest",
            0.5,
            "3 op 5 (score 0,5 van 0 tot 1; 1 = slechtst, 5 = best)",
        ),  # composite, on the scale
        ("q_index_change", 0.0, "gelijk gebleven"),
        ("att_rate_4w", math.nan, "onbekend"),
        ("att_rate_4w", None, "onbekend"),
    ],
)
def test_values_read_as_the_mentor_reads_them(
    feature: str, value: float | None, shown: str, questionnaire: Questionnaire
) -> None:
    assert value_text(feature, value, questionnaire) == shown


def test_rows_are_ordered_by_size_and_carry_the_registers_description(questionnaire: Questionnaire) -> None:
    contributions = {"att_rate_4w": 0.1, "q_stress_latest": -0.4, "level": 0.25}
    register = features_by_name(contributions, questionnaire)
    descriptions = {name: entry.description_nl for name, entry in register.items()}
    rows = feature_rows(
        {"att_rate_4w": 0.5, "q_stress_latest": 4.0, "level": 2.0}, contributions, descriptions, questionnaire
    )
    assert [r.feature for r in rows] == ["q_stress_latest", "level", "att_rate_4w"]
    assert rows[0].description == "ervaren stress: laatste antwoord" and not rows[0].raises
    assert [r.value for r in rows] == ["4 op 5 (1 = geen stress, 5 = heel veel stress)", "niveau 2", "50%"]


def test_the_explanation_page_shows_descriptions_beside_codes_and_formatted_values(api: Api) -> None:
    student = student_of(api, api.mentor_team)
    page = page_get(api, "auditor", f"/web/uitleg/{student}/{WEEK}")
    assert page.status_code == 200
    stored = api.client.get(f"/api/v1/explanations/{student}/{WEEK}", headers=api.headers("auditor")).json()
    values, shap = stored["feature_values"], stored["shap_values"]
    register = features_by_name(shap)
    text = html.unescape(page.text)
    assert f"week {WEEK}" not in text and re.search(
        r"<h1>Uitleg score [^<]*, wk \d+, ", text
    )  # a date, no index
    # the chart: the largest contributions, each with its description and code
    chart = re.search(r'<ol class="shap-bars" id="shap-chart">(.*?)</ol>', text, re.S)
    assert chart
    bars = re.findall(
        r'<span class="shap-desc">([^<]*)</span> <code class="shap-code">([^<]*)</code></span>\s*'
        r'<span class="shap-value">([^<]*)</span>',
        chart.group(1),
    )
    largest = sorted(shap, key=lambda name: abs(shap[name]), reverse=True)[: len(bars)]
    assert len(bars) == 12 and [code for _, code, _ in bars] == largest
    for description, code, _ in bars:
        assert description == register[code].description_nl
    # every value in the full table: as the mentor reads it, never the stored float
    table = re.findall(
        r'<td data-label="Kenmerk">([^<]*)</td><td data-label="Code"><code>([^<]*)</code></td>'
        r'<td data-label="Waarde">([^<]*)</td>',
        text,
    )
    assert {code for _, code, _ in table} == set(shap)
    shown = {code: value for _, code, value in table}
    for code, value in shown.items():
        assert not RAW_FLOAT.match(value), (code, value)
    assert shown["att_rate_4w"] == f"{round(values['att_rate_4w'] * 100)}%"
    assert shown["unauth_hours_4w"].endswith(" uur")
    assert shown["level"] in {"entree", "niveau 2", "niveau 3", "niveau 4"}
    assert shown["q_welbevinden_latest"].endswith("op 5 (1 = heel slecht, 5 = heel goed)")
