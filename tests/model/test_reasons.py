"""Reasons a teacher can act on: changeable signals only, pushing the risk up, with direction and scale.

A property over every score of the small trained model on the test school, and hand-made rows for the
wording, the domain summary and this week's questionnaire signals.
"""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire, cached_questionnaire
from features import snapshot
from features.register import (
    SIGNAL_DOMAINS,
    Feature,
    excluded_features,
    features_by_name,
    load_register,
    read_register_file,
)
from models.reasons import (
    Reason,
    domain_summary,
    dutch_number,
    questionnaire_signals,
    reason_text,
    top_reasons,
)
from models.risk_model import Scored
from tests.conftest import School
from training.pipeline import TrainingResult

# Every reason says which way is worse or on what scale the value is.
DIRECTION_OR_SCALE = re.compile(
    r"lager|hoger|daalt|stijgt|zorgelijker|%|procentpunt| op \d| op een schaal|niet gehaald|niet ingevuld"
    r"|achter|afwezig|praten"
)
FIXED_CONTEXT = {
    "level",
    "route_bbl",
    "year_of_study",
    "weeks_since_start",
    "over_18",
    *(f.name for f in load_register() if f.name.startswith("prior_")),
}
WEEKS = (2 * WEEKS_PER_YEAR + 4, 2 * WEEKS_PER_YEAR + 15, 2 * WEEKS_PER_YEAR + 30, 3 * WEEKS_PER_YEAR - 1)


@pytest.fixture(scope="module")
def scored_weeks(trained: TrainingResult, school: School) -> list[tuple[pd.DataFrame, Scored]]:
    out = []
    for week in WEEKS:
        frame = snapshot(school.tables, week)
        out.append((frame, trained.model.score(frame)))
    return out


@pytest.fixture(scope="module")
def q() -> Questionnaire:
    return cached_questionnaire()


def test_the_register_says_domain_and_whether_a_feature_may_be_a_reason() -> None:
    register = {f.name: f for f in load_register()}
    assert {f.domain for f in register.values()} == {"aanwezigheid", "welzijn", "studievoortgang", "context"}
    assert register["att_rate_4w"].domain == "aanwezigheid" and register["att_rate_4w"].may_be_reason
    assert register["units_failed_year"].domain == "studievoortgang"
    assert (
        register["q_welbevinden_change"].domain == "welzijn"
        and register["q_welbevinden_change"].may_be_reason
    )
    for name in FIXED_CONTEXT:
        assert register[name].domain == "context" and not register[name].may_be_reason, name
    for name in ("has_attendance_8w", "has_progress_year", "has_questionnaire_4w"):
        assert not register[name].may_be_reason, name  # missing-value indicators
    # the migration proxy is no model input: kept in the register with the decision and its figures
    assert "prior_newcomer" not in register
    excluded = {e.name: e for e in excluded_features()}
    assert excluded["prior_newcomer"].proxy and "ablation" in (excluded["prior_newcomer"].decision or "")
    assert not features_by_name(["prior_newcomer"])["prior_newcomer"].shown_to_staff
    # a feature of another questionnaire gets its template's entry; an unknown name is never shown
    other = features_by_name(["q_reistijd_mean_4w", "postcode"])
    assert other["q_reistijd_mean_4w"].domain == "welzijn" and other["q_reistijd_mean_4w"].may_be_reason
    assert not other["postcode"].shown_to_staff and not other["postcode"].may_be_reason


def test_context_cannot_be_written_as_a_reason(tmp_path: Path) -> None:
    target = tmp_path / "register.yaml"
    target.write_text(
        "proxy_threshold: 0.65\nitem_features: []\nfeatures:\n"
        "  - {name: level, family: context, description_nl: niveau, reason: true,"
        " justification: een rechtvaardiging van tien tekens}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="never be a reason"):
        load_register(path=target)
    read_register_file.cache_clear()


@pytest.mark.slow
def test_every_reason_is_a_changeable_signal_pushing_up_in_plain_dutch(
    trained: TrainingResult, scored_weeks: list[tuple[pd.DataFrame, Scored]]
) -> None:
    model = trained.model
    register = model.feature_register()
    hidden = {name for name, f in register.items() if not f.shown_to_staff}
    assert "prior_newcomer" not in model.features  # decided out of the inputs (the register says why)
    index = {name: j for j, name in enumerate(model.features)}
    n_reasons = 0
    for frame, scored in scored_weeks:
        assert len(scored.reasons) == len(frame)
        for i, reasons in enumerate(scored.reasons):
            assert len(reasons) <= 3
            contributions = [r.contribution for r in reasons]
            assert contributions == sorted(contributions, reverse=True)
            assert len({r.feature for r in reasons}) == len(reasons)
            for r in reasons:
                n_reasons += 1
                assert r.feature not in FIXED_CONTEXT and r.feature not in hidden, r
                assert register[r.feature].may_be_reason and register[r.feature].domain != "context"
                assert r.contribution > 0 and r.contribution == scored.shap_values[i, index[r.feature]]
                assert r.value == float(frame[r.feature].iloc[i])
                assert DIRECTION_OR_SCALE.search(r.text), r.text
                assert "_" not in r.text and not re.search(r"\d\.\d", r.text), r.text  # words, decimal comma
    assert n_reasons > 100  # the property was tested on real reasons


@pytest.mark.slow
def test_high_risk_students_get_reasons_and_scoring_twice_gives_the_same(
    trained: TrainingResult, scored_weeks: list[tuple[pd.DataFrame, Scored]]
) -> None:
    frame, scored = scored_weeks[1]
    high = np.flatnonzero(scored.band == "hoog")
    assert len(high) > 0
    assert sum(bool(scored.reasons[i]) for i in high) >= 0.9 * len(high)
    again = trained.model.score(frame.iloc[high].reset_index(drop=True))
    assert again.reasons == [scored.reasons[i] for i in high]


def test_a_model_stored_before_the_register_fields_still_gives_reasons(
    trained: TrainingResult, scored_weeks: list[tuple[pd.DataFrame, Scored]]
) -> None:
    old = pickle.loads(pickle.dumps(trained.model))
    del old.__dict__["questionnaire"], old.__dict__["_register"]  # as unpickled from an older artefact
    frame, scored = scored_weeks[0]
    assert old.score(frame.head(50)).reasons == scored.reasons[:50]


@pytest.mark.slow
def test_domain_summary_adds_up_to_the_domains_contributions(
    trained: TrainingResult, scored_weeks: list[tuple[pd.DataFrame, Scored]]
) -> None:
    model = trained.model
    register = model.feature_register()
    frame, scored = scored_weeks[2]
    for i in range(0, len(frame), 7):
        contributions = dict(zip(model.features, scored.shap_values[i].tolist(), strict=True))
        summary = domain_summary(contributions, register)
        assert [b.domain for b in summary] == list(SIGNAL_DOMAINS)
        assert summary == domain_summary(contributions)  # the register read by default is the same
        for balance in summary:
            members = [
                c
                for name, c in contributions.items()
                if register[name].domain == balance.domain and register[name].shown_to_staff
            ]
            assert balance.up >= 0 >= balance.down
            assert balance.up == pytest.approx(sum(c for c in members if c > 0), abs=1e-12)
            assert balance.down == pytest.approx(sum(c for c in members if c < 0), abs=1e-12)
            assert balance.net == pytest.approx(math.fsum(members), abs=1e-12)
        assert summary[1].label == "welzijn (vragenlijst)"


def test_domain_summary_leaves_out_context_and_proxies() -> None:
    register = features_by_name(["att_rate_4w", "att_rate_8w", "q_index_mean_4w", "level", "prior_newcomer"])
    summary = domain_summary(
        {
            "att_rate_4w": 0.3,
            "att_rate_8w": -0.1,
            "q_index_mean_4w": -0.2,
            "level": 0.9,
            "prior_newcomer": 0.5,
        },
        register,
    )
    by_domain = {b.domain: b for b in summary}
    assert (by_domain["aanwezigheid"].up, by_domain["aanwezigheid"].down) == (0.3, -0.1)
    assert (by_domain["welzijn"].up, by_domain["welzijn"].down) == (0.0, -0.2)
    assert (by_domain["studievoortgang"].up, by_domain["studievoortgang"].down) == (0.0, 0.0)
    assert "context" not in by_domain


def _row(**values: float) -> dict[str, float]:
    base = {
        "has_attendance_8w": 1.0,
        "has_progress_year": 1.0,
        "has_questionnaire_4w": 1.0,
        "has_questionnaire_baseline": 1.0,
        "q_weeks_since_response": 0.0,
    }
    return {**base, **values}


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("att_rate_4w", 0.62, "aanwezig 62% van de lessen in de laatste 4 weken"),
        ("att_rate_change_4w", -0.18, "aanwezigheid 18 procentpunt lager dan in de 4 weken ervoor"),
        ("units_failed_year", 3.0, "3 vakken niet gehaald dit schooljaar"),
        ("units_failed_year", 1.0, "1 vak niet gehaald dit schooljaar"),
        ("unauth_hours_4w", 12.5, "12,5 uur ongeoorloofd afwezig in de laatste 4 weken"),
        ("weeks_absent_streak", 3.0, "3 weken achter elkaar helemaal afwezig"),
        ("credits_ratio_year", 0.45, "45% van de verwachte studiepunten gehaald dit schooljaar"),
        ("credits_behind_year", 27.0, "27 studiepunten achter dit schooljaar"),
        (
            "q_index_mean_4w",
            0.275,
            "welzijn, alle vragen samen: gemiddeld 2,1 op 5 in de laatste 4 weken (lager is zorgelijker)",
        ),
        (
            "q_welbevinden_mean_4w",
            2.1,
            "hoe de student zich voelt: gemiddeld 2,1 op 5 in de laatste 4 weken (lager is zorgelijker)",
        ),
        (
            "q_stress_latest",
            5.0,
            "ervaren stress: laatste antwoord 5 op 5 (deze week, hoger is zorgelijker)",
        ),
        (
            "q_welbevinden_change",
            -1.1,
            "hoe de student zich voelt: gemiddeld 1,1 punt lager in de laatste 4 weken dan in de weken "
            "daarvoor (schaal 1 tot 5, lager is zorgelijker)",
        ),
        (
            "q_stress_trend_6w",
            0.3,
            "ervaren stress: stijgt de laatste 6 weken, gemiddeld 0,3 punt per week "
            "(schaal 1 tot 5, hoger is zorgelijker)",
        ),
        ("q_weeks_since_response", 5.0, "vragenlijst de laatste 5 weken niet ingevuld"),
        ("q_wants_to_talk_4w", 1.0, "wil met iemand praten (aangegeven in de laatste 4 weken)"),
    ],
)
def test_reason_texts_say_direction_and_scale(
    feature: str, value: float, expected: str, q: Questionnaire
) -> None:
    row = _row(**{feature: value})
    assert reason_text(feature, row, q) == expected
    assert DIRECTION_OR_SCALE.search(expected)


@pytest.mark.parametrize(
    ("feature", "value"),
    [
        ("q_welbevinden_latest", 4.5),  # good news
        ("q_welbevinden_mean_4w", 3.0),  # the midpoint: also what an unanswered week is filled with
        ("q_stress_mean_4w", 1.5),  # little stress
        ("q_index_mean_4w", 0.8),
        ("q_welbevinden_change", 0.9),  # better than before
        ("q_welbevinden_change", -0.2),  # too small to matter
        ("q_plezier_opleiding_trend_6w", 0.26),
        ("q_response_rate_8w", 1.0),  # "vragenlijst ingevuld: 100%"
        ("att_rate_2w", 0.97),
        ("att_rate_4w", 0.897),  # shown as 90%: not under 90%
        ("att_rate_change_4w", 0.01),
        ("auth_rate_4w", 0.0),
        ("unauth_hours_4w", 0.0),
        ("credits_ratio_year", 1.0),
        ("units_failed_year", 0.0),
        ("q_wants_to_talk_4w", 0.0),
        ("level", 1.0),  # fixed context is never worded as a reason
        ("prior_newcomer", 1.0),
        ("year_of_study", 1.0),
    ],
)
def test_good_news_and_context_are_not_reasons(feature: str, value: float, q: Questionnaire) -> None:
    assert reason_text(feature, _row(**{feature: value}), q) is None


def test_filled_values_are_not_reasons(q: Questionnaire) -> None:
    no_attendance = _row(att_rate_4w=0.5, has_attendance_8w=0.0)
    assert reason_text("att_rate_4w", no_attendance, q) is None
    no_baseline = _row(q_welbevinden_change=-1.5, has_questionnaire_baseline=0.0)
    assert reason_text("q_welbevinden_change", no_baseline, q) is None


def test_the_scale_comes_from_the_questionnaire(q: Questionnaire) -> None:
    ten = q.model_copy(update={"scale_min": 0, "scale_max": 10})
    text = reason_text("q_welbevinden_mean_4w", _row(q_welbevinden_mean_4w=3.5), ten)
    assert text == (
        "hoe de student zich voelt: gemiddeld 3,5 op een schaal van 0 tot 10 in de laatste 4 weken "
        "(lager is zorgelijker)"
    )
    assert reason_text("q_index_mean_4w", _row(q_index_mean_4w=0.25), ten) == (
        "welzijn, alle vragen samen: gemiddeld 2,5 op een schaal van 0 tot 10 in de laatste 4 weken "
        "(lager is zorgelijker)"
    )
    seven = q.model_copy(update={"scale_max": 7})
    assert reason_text("q_stress_mean_4w", _row(q_stress_mean_4w=6.0), seven) == (
        "ervaren stress: gemiddeld 6 op 7 in de laatste 4 weken (hoger is zorgelijker)"
    )


def test_top_reasons_skip_context_proxies_good_news_and_downward_pushes(q: Questionnaire) -> None:
    names = [
        "level",
        "prior_newcomer",
        "year_of_study",
        "q_welbevinden_latest",
        "att_rate_4w",
        "q_index_mean_4w",
        "units_failed_year",
        "credits_ratio_year",
        "att_rate_8w",
    ]
    register: dict[str, Feature] = features_by_name(names)
    row = _row(
        level=1.0,
        prior_newcomer=1.0,
        year_of_study=1.0,
        q_welbevinden_latest=4.5,  # good news with a positive contribution
        att_rate_4w=0.62,
        q_index_mean_4w=0.275,
        units_failed_year=3.0,
        credits_ratio_year=0.4,  # worrying, but pushes the risk down here
        att_rate_8w=0.7,
    )
    contributions = {
        "level": 2.0,
        "prior_newcomer": 1.5,
        "year_of_study": 1.0,
        "q_welbevinden_latest": 0.9,
        "att_rate_4w": 0.4,
        "q_index_mean_4w": 0.6,
        "units_failed_year": 0.2,
        "credits_ratio_year": -0.3,
        "att_rate_8w": 0.1,
    }
    reasons = top_reasons(row, contributions, register, q)
    assert [r.feature for r in reasons] == ["q_index_mean_4w", "att_rate_4w", "units_failed_year"]
    assert reasons[1] == Reason("att_rate_4w", "aanwezig 62% van de lessen in de laatste 4 weken", 0.62, 0.4)
    assert top_reasons(row, contributions, register, q, top_n=1)[0].feature == "q_index_mean_4w"
    assert top_reasons(row, {k: -abs(v) for k, v in contributions.items()}, register, q) == []


def test_questionnaire_signals_of_this_week(q: Questionnaire) -> None:
    row = _row(
        q_welbevinden_latest=2.0,
        q_stress_latest=4.0,
        q_slaap_latest=3.0,  # the midpoint: not a signal
        q_plezier_opleiding_latest=5.0,
        q_past_opleiding_latest=4.0,
        q_grip_studie_latest=2.0,
        q_thuis_latest=1.0,
        q_geldzorgen_latest=1.0,
        q_denkt_aan_werk_latest=5.0,
        q_wants_to_talk_4w=1.0,
    )
    assert questionnaire_signals(row, q) == [
        "wil met iemand praten (aangegeven in de laatste 4 weken)",
        "situatie thuis: 1 op 5 (lager is zorgelijker)",
        "denkt aan stoppen om te werken: 5 op 5 (hoger is zorgelijker)",
        "hoe de student zich voelt: 2 op 5 (lager is zorgelijker)",
    ]
    assert len(questionnaire_signals(row, q, limit=5)) == 1 + 5  # stress 4 and grip 2 as well
    calm = _row(**{f"q_{item.code}_latest": 3.0 for item in q.items}, q_wants_to_talk_4w=0.0)
    assert questionnaire_signals(calm, q) == []


def test_questionnaire_signals_when_not_answered_this_week(q: Questionnaire) -> None:
    old = _row(q_weeks_since_response=3.0, q_welbevinden_latest=1.0, q_wants_to_talk_4w=1.0)
    assert questionnaire_signals(old, q) == [
        "wil met iemand praten (aangegeven in de laatste 4 weken)",
        "vragenlijst deze week niet ingevuld (laatste keer 3 weken geleden)",
    ]
    never = _row(q_weeks_since_response=16.0, q_welbevinden_latest=3.0)
    assert questionnaire_signals(never, q) == [
        "vragenlijst deze week niet ingevuld (al 16 weken of langer niet)"
    ]
    assert questionnaire_signals({"att_rate_4w": 0.5}, q) == []  # a model without the questionnaire


def test_questionnaire_signals_use_the_configured_scale(q: Questionnaire) -> None:
    ten = q.model_copy(update={"scale_min": 0, "scale_max": 10})
    row = _row(q_denkt_aan_werk_latest=9.0, q_welbevinden_latest=6.0)
    assert questionnaire_signals(row, ten) == [
        "denkt aan stoppen om te werken: 9 op een schaal van 0 tot 10 (hoger is zorgelijker)"
    ]


def test_dutch_numbers() -> None:
    assert [dutch_number(v) for v in (2.0, 2.14, -0.04, 12.5)] == ["2", "2,1", "0", "12,5"]
