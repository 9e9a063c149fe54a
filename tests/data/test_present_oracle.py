"""The present-knowledge oracle: the state capture leaves the world unchanged, and the oracle is the
expectation of the future-knowing oracle given the as-of week, ranks between a trivial baseline and the
future-knowing oracle, is calibrated, and has a small Monte Carlo error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data.calendar import WEEKS_PER_YEAR
from data.synthetic import (
    ORACLE_FUTURE,
    ORACLE_PRESENT,
    GeneratorConfig,
    generate,
    generate_states,
    oracle_future_column,
    oracle_future_risk,
    oracle_present,
    oracle_risk,
    present_oracle_column,
)
from data.synthetic import params as P  # noqa: N812
from data.synthetic.generator import (
    TABLES,
    StudentStates,
    credit_deficit,
    scenario_shift,
    school_time,
    treated_hazard,
    weekly_hazards,
)
from data.synthetic.present_oracle import (
    GENERATOR_CONFIG_FILE,
    last_result_week,
    load_generator_config,
    replica_blocks,
    rollout_risk,
    window_end,
)
from data.synthetic.writer import write_generated
from data.tables import from_generated

HORIZON = 12
KEY = "present-oracle-test-key"
# The mature as-of weeks of the second school year, every third (a label needs the horizon inside the data).
YEAR_2_WEEKS = list(range(WEEKS_PER_YEAR, 2 * WEEKS_PER_YEAR - HORIZON, 3))


@dataclass(frozen=True)
class World:
    config: GeneratorConfig
    tables: dict[str, pd.DataFrame]
    scored: pd.DataFrame  # as_of, student_number, oracle_present, oracle_future, vsv (realised), students


def vsv_in_window(rows: pd.DataFrame, outcomes: pd.DataFrame) -> pd.Series:
    """1 when the student of the row left as vsv in ``(as_of, as_of + HORIZON]``."""
    by_number = outcomes.set_index("student_number")
    week = rows["student_number"].map(by_number["week"])
    outcome = rows["student_number"].map(by_number["outcome"])
    inside = (outcome == "vsv") & (week > rows["as_of"]) & (week <= rows["as_of"] + HORIZON)
    return inside.astype(int)


def scored_world(config: GeneratorConfig, weeks: list[int], seed: int = 0) -> World:
    tables = generate(config)
    rows = oracle_present(config, weeks, HORIZON, seed=seed)
    rows[ORACLE_FUTURE] = oracle_future_column(rows, tables["synthetic_truth"], HORIZON, "student_number")
    rows["vsv"] = vsv_in_window(rows, tables["outcomes"])
    students = tables["students"].set_index("student_number")
    for column in ("level", "route", "start_week"):
        rows[column] = rows["student_number"].map(students[column])
    return World(config, tables, rows)


@pytest.fixture(scope="module")
def staffed() -> World:
    """A school with its staff (the default coachklas and mentor actions)."""
    return scored_world(GeneratorConfig(seed=11, n_students=1500, n_years=2), YEAR_2_WEEKS)


@pytest.fixture(scope="module")
def lockdown() -> World:
    """A school without staff whose second year has a lockdown, which the oracle must see coming."""
    config = GeneratorConfig(
        seed=13,
        n_students=1500,
        n_years=2,
        scenario="lockdown",
        scenario_start_week=45,
        coachklas_places_per_1000=0.0,
        action_share=0.0,
    )
    return scored_world(config, YEAR_2_WEEKS)


@pytest.fixture(scope="module")
def year_end() -> World:
    """A school without staff seen in the last weeks of a school year: the windows cross into the next
    year (credits start again, diplomas in the last week, second-year hazards)."""
    config = GeneratorConfig(
        seed=14, n_students=1500, n_years=2, coachklas_places_per_1000=0.0, action_share=0.0
    )
    return scored_world(config, list(range(WEEKS_PER_YEAR - HORIZON, WEEKS_PER_YEAR, 2)))


# --- the state capture ------------------------------------------------------------------------------


def test_capturing_states_leaves_the_tables_unchanged() -> None:
    config = GeneratorConfig(
        seed=5,
        n_students=400,
        n_years=2,
        chunk_size=300,
        scenario="lockdown",
        scenario_start_week=30,
        coachklas_places_per_1000=50.0,
        action_share=0.05,
    )
    plain = generate(config)
    captured = list(generate_states(config, [0, 17, 39, 60, 79]))
    assert len(captured) == len(config.chunk_sizes) > 1
    for name in (*TABLES, "coachklas_placements", "actions"):
        if name == "identities":
            continue
        rerun = pd.concat([tables[name] for tables, _ in captured], ignore_index=True)
        pd.testing.assert_frame_equal(plain[name], rerun, check_exact=True, obj=name)
    assert all(set(states) == {0, 17, 39, 60, 79} for _, states in captured)


def _one_chunk_states(config: GeneratorConfig, week: int) -> tuple[dict[str, pd.DataFrame], StudentStates]:
    [(tables, states)] = list(generate_states(config, [week]))
    return tables, states[week]


def test_the_captured_state_is_the_state_the_tables_show() -> None:
    config = GeneratorConfig(seed=6, n_students=800, n_years=2, coachklas_places_per_1000=40.0)
    week = WEEKS_PER_YEAR + 25
    tables, states = _one_chunk_states(config, week)
    numbers = states.population.number
    # who has left by the end of the week
    outcomes = tables["outcomes"].set_index("student_number")["week"]
    left = pd.Series(numbers).map(outcomes).le(week).to_numpy()
    np.testing.assert_array_equal(states.state.exited, left)
    # the credits of this school year so far
    progress = tables["progress_results"]
    year = progress[(progress["week"] >= WEEKS_PER_YEAR) & (progress["week"] <= week)]
    obtained = year.groupby("student_number")["credits_obtained"].sum()
    np.testing.assert_array_equal(states.state.cum_obt, pd.Series(numbers).map(obtained).fillna(0).to_numpy())
    # the streak of whole weeks absent of the students still enrolled
    attendance = tables["attendance_weeks"]
    whole = attendance[attendance["week"] <= week].assign(
        full=lambda f: f["unauthorised_absence_hours"] == f["scheduled_hours"]
    )
    enrolled = states.enrolled
    for i in np.flatnonzero(enrolled)[:200]:
        weeks = whole[whole["student_number"] == numbers[i]].sort_values("week")["full"].to_numpy()
        streak = len(weeks) - (np.flatnonzero(~weeks)[-1] + 1) if (~weeks).any() else len(weeks)
        assert states.state.streak[i] == streak
    # the measures that touch each student this week are those the truth marks as treated
    truth = tables["synthetic_truth"]
    treated = truth[truth["week"] == week].set_index("student_number")["hazard_vsv_untreated"].notna()
    _, touched = states.treatment.effect(week)
    shown = pd.Series(numbers).map(treated)
    known = shown.notna().to_numpy()
    assert touched[known].sum() > 0
    np.testing.assert_array_equal(touched[known], shown[known].astype(bool).to_numpy())


# --- the present oracle against the future-knowing one and the outcomes ------------------------------


@pytest.mark.parametrize("world", ["lockdown", "year_end"])
def test_without_staff_the_present_oracle_is_the_expected_future_oracle(
    world: str, request: pytest.FixtureRequest
) -> None:
    """E[future-knowing oracle | the as-of week's state] is the present oracle: the future-knowing oracle's
    mean overall and within each fifth of the present oracle matches it, through a lockdown and across the
    end of a school year (a wrong dynamic, a missed scenario or a lost piece of state moves these ratios)."""
    rows = request.getfixturevalue(world).scored
    assert abs(rows[ORACLE_FUTURE].mean() / rows[ORACLE_PRESENT].mean() - 1) < 0.05
    fifth = pd.qcut(rows[ORACLE_PRESENT].rank(method="first"), 5, labels=False)
    means = rows.groupby(fifth)[[ORACLE_PRESENT, ORACLE_FUTURE]].mean()
    ratio = means[ORACLE_FUTURE] / means[ORACLE_PRESENT]
    assert ratio.between(0.88, 1.12).all(), ratio.round(3).to_dict()


def test_the_present_oracle_follows_an_absence_streak(lockdown: World) -> None:
    """Students absent the whole as-of week: their streak raises the hazard while it lasts, and most come
    back; the rollouts must carry the streak on (or end it) as the generator does."""
    rows = lockdown.scored
    attendance = lockdown.tables["attendance_weeks"].rename(columns={"week": "as_of"})
    weeks = rows[["student_number", "as_of"]].merge(attendance, on=["student_number", "as_of"], how="left")
    absent = (weeks["unauthorised_absence_hours"] == weeks["scheduled_hours"]).to_numpy()
    assert absent.sum() > 100
    streak = rows[absent]
    assert 0.85 < streak[ORACLE_FUTURE].mean() / streak[ORACLE_PRESENT].mean() < 1.15


def test_the_first_week_of_a_rollout_is_the_generator_week_after_the_as_of_week(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without shocks and life events the first week's hazard is known exactly: the week after the as-of
    week, with its new school year (credits reset, second-year students), the lockdown starting that week
    and the measures still running then."""
    config = GeneratorConfig(
        seed=7,
        n_students=600,
        n_years=2,
        scenario="lockdown",
        scenario_start_week=WEEKS_PER_YEAR,
        coachklas_places_per_1000=50.0,
        action_share=0.05,
    )
    as_of = WEEKS_PER_YEAR - 1
    _, states = _one_chunk_states(config, as_of)
    monkeypatch.setattr(P, "SHOCK_SD", 0.0)
    monkeypatch.setattr(P, "LIFE_EVENT_RATE", 0.0)
    numbers, risk = rollout_risk(states, config, 1, 2, np.random.default_rng(0))
    enrolled = np.flatnonzero(states.enrolled)
    pop = states.population.take(enrolled)
    week = as_of + 1
    shift, _, _ = scenario_shift(config, pop, week)
    mean = pop.mu + shift
    x = mean + P.PHI * (states.state.x[enrolled] - mean)
    time = school_time(pop, week)
    no_credits = np.zeros(len(enrolled))
    h_untreated, _, _ = weekly_hazards(
        pop, x, time.year1, credit_deficit(no_credits, no_credits), states.state.streak[enrolled]
    )
    log_effect, touched = states.treatment.take(enrolled).effect(week)
    assert touched.sum() > 5 and (states.state.cum_exp[enrolled] > 0).all()
    np.testing.assert_array_equal(numbers, pop.number)
    np.testing.assert_allclose(risk, treated_hazard(h_untreated, log_effect, touched), rtol=1e-12)


def test_the_present_oracle_knows_the_scenario_calendar(lockdown: World) -> None:
    """Two weeks before the lockdown nothing of it shows in the state yet; the oracle's rollouts follow the
    configuration's calendar, so the same states give a clearly higher risk than without the scenario."""
    config = lockdown.config
    week = config.scenario_start - 2
    _, states = _one_chunk_states(config, week)
    _, with_it = rollout_risk(states, config, HORIZON, 40, np.random.default_rng(0))
    baseline = config.model_copy(update={"scenario": "baseline"})
    _, without = rollout_risk(states, baseline, HORIZON, 40, np.random.default_rng(0))
    assert with_it.mean() > 1.2 * without.mean()


def test_with_staff_the_present_oracle_errs_only_by_measures_not_yet_decided(staffed: World) -> None:
    """The rollouts continue the measures known at the as-of week and decide no new ones, so they can only
    over-estimate, and by little: the new measures of the horizon touch few students."""
    ratio = staffed.scored[ORACLE_FUTURE].mean() / staffed.scored[ORACLE_PRESENT].mean()
    assert 0.9 < ratio < 1.02


def _trivial_baseline(rows: pd.DataFrame) -> pd.Series:
    """The realised vsv rate of the row's level, route and year of study (in-sample, so flattering)."""
    first_year = (rows["as_of"] - rows["start_week"]) < WEEKS_PER_YEAR
    keys = [rows["level"], rows["route"], first_year]
    return rows.groupby(keys)["vsv"].transform("mean")


@pytest.mark.slow
def test_the_present_oracle_ranks_between_a_trivial_baseline_and_the_future_oracle() -> None:
    weeks = list(range(WEEKS_PER_YEAR, 2 * WEEKS_PER_YEAR - HORIZON, 4))
    world = scored_world(GeneratorConfig(seed=21, n_students=5000, n_years=2), weeks)
    rows = world.scored
    assert rows.loc[rows["vsv"] == 1, "student_number"].nunique() > 150
    auc = {
        name: roc_auc_score(rows["vsv"], scores)
        for name, scores in (
            ("future", rows[ORACLE_FUTURE]),
            ("present", rows[ORACLE_PRESENT]),
            ("baseline", _trivial_baseline(rows)),
        )
    }
    assert auc["baseline"] + 0.05 < auc["present"] <= auc["future"], auc


def test_the_present_oracle_is_calibrated_against_the_realised_outcomes(lockdown: World) -> None:
    """Mean predicted against observed over all rows, within three Poisson standard errors of the number
    of leavers (rows of one student in overlapping windows are not independent)."""
    rows = lockdown.scored
    leavers = rows.loc[rows["vsv"] == 1, "student_number"].nunique()
    tolerance = 3.0 / np.sqrt(leavers)
    assert abs(rows["vsv"].mean() / rows[ORACLE_PRESENT].mean() - 1) < tolerance


def test_two_seeds_agree_within_the_monte_carlo_error(staffed: World) -> None:
    weeks = YEAR_2_WEEKS[::3]
    first = staffed.scored[staffed.scored["as_of"].isin(weeks)].reset_index(drop=True)
    second = oracle_present(staffed.config, weeks, HORIZON, seed=1)
    assert list(second["student_number"]) == list(first["student_number"])
    a, b = first[ORACLE_PRESENT].to_numpy(), second[ORACLE_PRESENT].to_numpy()
    assert not np.array_equal(a, b)  # fresh draws
    relative = np.abs(a - b) / np.maximum((a + b) / 2, 1e-12)
    assert np.median(relative) < 0.10
    assert abs(a.mean() / b.mean() - 1) < 0.02
    y = first["vsv"]
    assert abs(roc_auc_score(y, a) - roc_auc_score(y, b)) < 0.01


# --- rows, identifiers and the configuration ---------------------------------------------------------


def test_only_enrolled_students_get_a_row_and_the_others_zero(staffed: World) -> None:
    rows, tables = staffed.scored, staffed.tables
    outcomes = tables["outcomes"].set_index("student_number")["week"]
    assert (rows["student_number"].map(outcomes).fillna(np.inf) > rows["as_of"]).all()
    assert (rows["start_week"] <= rows["as_of"]).all()
    assert rows[ORACLE_PRESENT].between(0, 1).all() and (rows[ORACLE_PRESENT] > 0).all()
    as_of = YEAR_2_WEEKS[-1]
    left = outcomes[outcomes <= as_of].index[:5]
    frame = pd.DataFrame({"student_number": [*left, rows["student_number"].iloc[-1]], "as_of": as_of})
    column = present_oracle_column(frame, staffed.config, HORIZON)
    assert (column.iloc[:-1] == 0).all()
    assert column.iloc[-1] == pytest.approx(rows[ORACLE_PRESENT].iloc[-1])


def test_the_column_matches_the_store_pseudonyms_and_checks_the_config(staffed: World) -> None:
    raw, rest = from_generated(staffed.tables, KEY)
    week = YEAR_2_WEEKS[2]
    by_number = staffed.scored[staffed.scored["as_of"] == week]
    frame = pd.DataFrame({"as_of": week, "student_id": raw.students["student_id"]}).iloc[::7]
    column = present_oracle_column(
        frame, staffed.config, HORIZON, pseudonym_key=KEY, truth=rest["synthetic_truth"]
    )
    numbers = staffed.tables["students"]["student_number"].iloc[::7].to_numpy()
    expected = pd.Series(numbers).map(by_number.set_index("student_number")[ORACLE_PRESENT]).fillna(0.0)
    np.testing.assert_allclose(column.to_numpy(), expected.to_numpy())
    with pytest.raises(ValueError, match="pseudonym_key"):
        present_oracle_column(frame, staffed.config, HORIZON)
    wrong = staffed.config.model_copy(update={"seed": staffed.config.seed + 1})
    with pytest.raises(ValueError, match="does not reproduce the stored synthetic truth"):
        present_oracle_column(
            frame, wrong, HORIZON, pseudonym_key=KEY, truth=rest["synthetic_truth"], replicas=2
        )


def test_the_window_stops_at_the_end_of_the_data_and_refuses_a_bad_horizon() -> None:
    assert window_end(10, 12, 40) == 22
    assert window_end(35, 12, 40) == 39
    assert last_result_week(3, 15) == 9 and last_result_week(3, 9) == 3
    config = GeneratorConfig(seed=3, n_students=200, n_years=1)
    rows = oracle_present(config, [config.n_weeks - 1, config.n_weeks + 5], HORIZON, replicas=4)
    assert len(rows) > 0 and (rows[ORACLE_PRESENT] == 0).all()
    assert set(rows["as_of"]) == {config.n_weeks - 1}
    with pytest.raises(ValueError, match="horizon"):
        oracle_present(config, [3], 0)
    _, states = _one_chunk_states(config, 5)
    with pytest.raises(ValueError, match="replicas"):
        rollout_risk(states, config, HORIZON, 0, np.random.default_rng(0))


def test_replicas_are_split_into_even_blocks_that_add_up() -> None:
    for replicas, students in ((100, 3500), (7, 10), (1, 5), (100, 100_000)):
        blocks = replica_blocks(replicas, students)
        assert sum(blocks) == replicas
        assert all(b % 2 == 0 for b in blocks[:-1])


def test_the_future_oracle_keeps_its_old_name(staffed: World) -> None:
    truth = staffed.tables["synthetic_truth"]
    future = oracle_future_risk(truth, 50, HORIZON, "student_number")
    old = oracle_risk(truth, 50, HORIZON, "student_number")
    assert future.name == ORACLE_FUTURE and old.name == "oracle_risk"
    pd.testing.assert_series_equal(future.rename("oracle_risk"), old)


def test_the_generator_config_is_read_from_the_generated_folder(tmp_path: Path) -> None:
    """`vsv generate` (write_generated) records the configuration beside the tables."""
    config = GeneratorConfig(seed=9, n_students=100, n_years=1, scenario="survey_fatigue", action_share=0.02)
    write_generated(config, tmp_path / "school")
    assert load_generator_config(tmp_path / "school") == config
    assert load_generator_config(tmp_path / "school" / GENERATOR_CONFIG_FILE) == config


@pytest.mark.slow
def test_worker_processes_give_the_same_values() -> None:
    config = GeneratorConfig(seed=4, n_students=300, n_years=1)
    serial = oracle_present(config, [5, 20], HORIZON, replicas=10)
    parallel = oracle_present(config, [5, 20], HORIZON, replicas=10, workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
