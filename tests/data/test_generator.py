"""The synthetic world behaves like an mbo college: rates, effects, lags, scenarios and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire, load_questionnaire
from data.synthetic import GeneratorConfig, generate, generate_chunks, oracle_risk
from data.synthetic.calibrate import yearly_rates
from data.synthetic.params import TARGET_YEARLY_VSV


@pytest.fixture(scope="module")
def population() -> dict[str, pd.DataFrame]:
    """A large college for one year: enough students per level to check rates."""
    return generate(GeneratorConfig(seed=2024, n_students=30_000, n_years=1))


@pytest.fixture(scope="module")
def cohort(population: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return yearly_rates(population)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_yearly_vsv_rate_per_level_matches_regional_targets(cohort: pd.DataFrame, level: int) -> None:
    rate = cohort.loc[cohort["level"] == level, "vsv"].mean()
    target = TARGET_YEARLY_VSV[level]
    assert abs(rate - target) <= 0.25 * target, f"level {level}: {rate:.3f} vs target {target}"


def test_level_shares_are_realistic(cohort: pd.DataFrame) -> None:
    shares = cohort["level"].value_counts(normalize=True)
    assert 0.03 < shares[1] < 0.10
    assert shares[4] > shares[3] > shares[1]


def test_risk_factors_raise_vsv_as_in_the_domain(
    population: dict[str, pd.DataFrame], cohort: pd.DataFrame
) -> None:
    by_route = cohort.groupby("route")["vsv"].mean()
    assert by_route["BBL"] > 1.5 * by_route["BOL"]
    first_year = cohort["start_week"] == 0
    assert cohort.loc[first_year, "vsv"].mean() > 1.3 * cohort.loc[~first_year, "vsv"].mean()
    vso = cohort.loc[cohort["prior_education"] == "vso", "vsv"].mean()
    assert 0.14 <= vso <= 0.28, f"vso yearly vsv {vso:.3f}; DOMAIN.md gives 20.6%"
    newcomer = cohort.loc[cohort["prior_education"] == "newcomer", "vsv"].mean()
    assert newcomer > 2 * cohort["vsv"].mean()


def test_several_problems_at_once_about_four_times_the_vsv(
    population: dict[str, pd.DataFrame], cohort: pd.DataFrame
) -> None:
    truth = population["synthetic_truth"]
    at_start = truth[truth["week"] == 0].set_index("student_number")["multi_problem"]
    multi = cohort["student_number"].map(at_start).astype(bool)
    ratio = cohort.loc[multi, "vsv"].mean() / cohort.loc[~multi, "vsv"].mean()
    assert 2.5 <= ratio <= 5.5, f"ratio {ratio:.2f}; DOMAIN.md says about four times"


def _weekly_signals(tables: dict[str, pd.DataFrame], questionnaire: Questionnaire) -> pd.DataFrame:
    answers = tables["questionnaire_answers"]
    items = {i.code: i.higher_is_better for i in questionnaire.items}
    scale = answers[answers["item"].isin(list(items))].copy()
    sign = scale["item"].map(items).astype(bool)
    scale["good"] = np.where(sign, scale["value"], 6 - scale["value"])
    mood = scale.groupby(["student_number", "week"])["good"].mean().rename("mood")
    att = tables["attendance_weeks"].set_index(["student_number", "week"])
    absence = (att["unauthorised_absence_hours"] / att["scheduled_hours"]).rename("absence")
    return pd.concat([mood, absence], axis=1)


def test_questionnaire_changes_lead_absence_changes(
    population: dict[str, pd.DataFrame], questionnaire: Questionnaire
) -> None:
    """Within students, today's answers correlate most with absence a few weeks later, not earlier."""
    signals = _weekly_signals(population, questionnaire).reset_index()
    signals = signals.sort_values(["student_number", "week"])
    demeaned = signals[["mood", "absence"]] - signals.groupby("student_number")[
        ["mood", "absence"]
    ].transform("mean")
    signals[["mood", "absence"]] = demeaned
    grouped = signals.groupby("student_number")

    def corr_at(lag: int) -> float:
        future_absence = grouped["absence"].shift(-lag)
        ok = signals["mood"].notna() & future_absence.notna()
        return float(np.corrcoef(signals.loc[ok, "mood"], future_absence[ok])[0, 1])

    by_lag = {lag: corr_at(lag) for lag in range(-6, 7)}
    strongest = min(by_lag, key=lambda k: by_lag[k])  # most negative: better mood, less absence
    assert strongest > 0, f"absence should follow the questionnaire; correlations by lag: {by_lag}"
    assert by_lag[3] < by_lag[-3]


def test_same_seed_same_data_other_seed_other_data() -> None:
    config = GeneratorConfig(seed=5, n_students=200, n_years=1)
    first, again = generate(config), generate(config)
    other = generate(config.model_copy(update={"seed": 6}))
    for name in first:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert not first["attendance_weeks"].equals(other["attendance_weeks"])


def test_chunks_cover_every_student_once() -> None:
    config = GeneratorConfig(seed=1, n_students=500, n_years=2, chunk_size=150)
    chunks = list(generate_chunks(config))
    numbers = pd.concat([c["students"]["student_number"] for c in chunks])
    assert len(chunks) > 1
    assert numbers.is_unique and len(numbers) == config.n_total


def test_no_data_after_a_student_left(small_tables: dict[str, pd.DataFrame]) -> None:
    left = small_tables["outcomes"].set_index("student_number")["week"]
    att = small_tables["attendance_weeks"]
    last_seen = att.groupby("student_number")["week"].max()
    joined = pd.concat([left.rename("left"), last_seen.rename("seen")], axis=1).dropna()
    assert (joined["seen"] <= joined["left"]).all()


def test_attendance_hours_add_up(small_tables: dict[str, pd.DataFrame]) -> None:
    att = small_tables["attendance_weeks"]
    total = att["present_hours"] + att["authorised_absence_hours"] + att["unauthorised_absence_hours"]
    assert (total == att["scheduled_hours"]).all()
    assert set(att["scheduled_hours"].unique()) <= {8, 24}


def test_answers_stay_on_the_scale(
    small_tables: dict[str, pd.DataFrame], questionnaire: Questionnaire
) -> None:
    answers = small_tables["questionnaire_answers"]
    scale = answers[answers["item"] != questionnaire.help_item.code]["value"]
    assert scale.between(questionnaire.scale_min, questionnaire.scale_max).all()
    assert set(answers.loc[answers["item"] == questionnaire.help_item.code, "value"]) <= {0, 1}


def test_disengaged_students_answer_less(population: dict[str, pd.DataFrame]) -> None:
    att = population["attendance_weeks"]
    answered = population["questionnaire_answers"][["student_number", "week"]].drop_duplicates()
    weeks = att.merge(answered, on=["student_number", "week"], how="left", indicator=True)
    weeks["answered"] = weeks["_merge"].eq("both")
    fully_absent = weeks["present_hours"] == 0
    assert weeks.loc[fully_absent, "answered"].mean() < weeks.loc[~fully_absent, "answered"].mean() - 0.15


def _scenario(name: str) -> dict[str, pd.DataFrame]:
    return generate(GeneratorConfig(seed=3, n_students=3000, n_years=2, scenario=name))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def baseline_world() -> dict[str, pd.DataFrame]:
    return _scenario("baseline")


def _in_scenario_weeks(frame: pd.DataFrame, weeks: int = 12) -> pd.DataFrame:
    start = WEEKS_PER_YEAR
    return frame[(frame["week"] >= start) & (frame["week"] < start + weeks)]


def _mood_and_attendance(world: dict[str, pd.DataFrame]) -> tuple[float, float]:
    answers = _in_scenario_weeks(world["questionnaire_answers"])
    att = _in_scenario_weeks(world["attendance_weeks"])
    mood = float(answers.loc[answers["item"] == "welbevinden", "value"].mean())
    return mood, float(att["present_hours"].sum() / att["scheduled_hours"].sum())


def test_lockdown_lowers_wellbeing_and_attendance(baseline_world: dict[str, pd.DataFrame]) -> None:
    mood_lockdown, att_lockdown = _mood_and_attendance(_scenario("lockdown"))
    mood_base, att_base = _mood_and_attendance(baseline_world)
    assert mood_lockdown < mood_base - 0.25
    assert att_lockdown < att_base - 0.03


def test_hot_labour_market_raises_work_pull_in_bbl(baseline_world: dict[str, pd.DataFrame]) -> None:
    hot = _scenario("hot_labour_market")

    def work_pull(world: dict[str, pd.DataFrame]) -> float:
        bbl = world["students"].loc[world["students"]["route"] == "BBL", "student_number"]
        answers = world["questionnaire_answers"]
        answers = answers[(answers["week"] >= WEEKS_PER_YEAR) & answers["student_number"].isin(bbl)]
        return float(answers.loc[answers["item"] == "denkt_aan_werk", "value"].mean())

    assert work_pull(hot) > work_pull(baseline_world) + 0.5


def test_survey_fatigue_lowers_response_not_attendance(baseline_world: dict[str, pd.DataFrame]) -> None:
    tired = _scenario("survey_fatigue")

    def response_rate(world: dict[str, pd.DataFrame]) -> float:
        att = world["attendance_weeks"]
        att = att[att["week"] >= WEEKS_PER_YEAR + 20]
        answered = world["questionnaire_answers"][["student_number", "week"]].drop_duplicates()
        answered = answered[answered["week"] >= WEEKS_PER_YEAR + 20]
        return len(answered) / len(att)

    assert response_rate(tired) < response_rate(baseline_world) - 0.3
    att_t = tired["attendance_weeks"][tired["attendance_weeks"]["week"] >= WEEKS_PER_YEAR]
    att_b = baseline_world["attendance_weeks"][baseline_world["attendance_weeks"]["week"] >= WEEKS_PER_YEAR]
    rate_t = att_t["present_hours"].sum() / att_t["scheduled_hours"].sum()
    rate_b = att_b["present_hours"].sum() / att_b["scheduled_hours"].sum()
    assert abs(rate_t - rate_b) < 0.01


def test_oracle_ranks_and_calibrates_the_real_outcomes(population: dict[str, pd.DataFrame]) -> None:
    as_of, horizon = 5, 12
    risk = oracle_risk(population["synthetic_truth"], as_of, horizon, id_column="student_number")
    assert risk.between(0, 1).all()
    students = population["students"]
    outcomes = population["outcomes"].set_index("student_number")
    enrolled = students.loc[students["start_week"] <= as_of, "student_number"]
    left_before = outcomes.index[outcomes["week"] <= as_of]
    enrolled = enrolled[~enrolled.isin(left_before)]
    vsv_in_window = outcomes[
        (outcomes["outcome"] == "vsv") & (outcomes["week"] > as_of) & (outcomes["week"] <= as_of + horizon)
    ].index
    y = enrolled.isin(vsv_in_window).to_numpy()
    p = risk.reindex(enrolled).to_numpy()
    assert roc_auc_score(y, p) > 0.8
    assert abs(p.mean() - y.mean()) < 0.2 * y.mean()


def test_oracle_rejects_a_bad_horizon(small_tables: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="horizon"):
        oracle_risk(small_tables["synthetic_truth"], 3, 0, id_column="student_number")


def test_the_questionnaire_file_decides_the_items(tmp_path: object) -> None:
    from pathlib import Path

    base = load_questionnaire()
    short = base.model_copy(update={"items": base.items[:3]})
    tables = generate(GeneratorConfig(seed=1, n_students=100, n_years=1), questionnaire=short)
    assert set(tables["questionnaire_answers"]["item"].unique()) == {*short.item_codes, base.help_item.code}
    bad = Path(str(tmp_path)) / "bad.yaml"
    bad.write_text("items: []\nhelp_item: {code: x1, text: t, description: d}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"invalid questionnaire configuration .*bad\.yaml"):
        load_questionnaire(bad)


def test_protected_attributes_are_kept_apart_and_correlate_like_reality(
    population: dict[str, pd.DataFrame],
) -> None:
    students, audit = population["students"], population["audit_attributes"]
    assert not {"gender", "migration_background"} & set(students.columns)
    merged = students.merge(audit, on="student_number")
    newcomers = merged[merged["prior_education"] == "newcomer"]
    assert (newcomers["migration_background"] == "niet_westers").mean() > 0.7
    tech = merged[merged["sector"] == "techniek"]
    assert (tech["gender"] == "man").mean() > 0.75


def test_the_generator_writes_every_table_of_the_contract_and_the_staff_history(
    small_tables: dict[str, pd.DataFrame],
) -> None:
    from data.contracts import CONTRACTS
    from data.synthetic.generator import STAFF_TABLES
    from data.synthetic.staff import ACTION_COLUMNS, PLACEMENT_COLUMNS

    assert tuple(small_tables) == (*CONTRACTS, *STAFF_TABLES)
    for name, spec in CONTRACTS.items():
        assert list(small_tables[name].columns) == ["student_number", *spec.column_names], name
    assert tuple(small_tables["coachklas_placements"].columns) == PLACEMENT_COLUMNS
    assert tuple(small_tables["actions"].columns) == ACTION_COLUMNS
