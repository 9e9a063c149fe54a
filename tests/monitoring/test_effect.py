"""`vsv effect`: the effect of a measure, participants against comparable non-participants at the same week.

(a) A simple simulation written here (selection on observed covariates under a capacity, a planted effect
on the probability of leaving): over 10 seeds the 95% interval covers the true effect at least 9 times,
covers 0 at least 9 times when the effect is 0, and the naive difference is more positive than the truth
(participants are riskier). (b) The same on the synthetic school's staff (the generator's coachklas
intake) through a store. (c) Warnings, no participants, the command line's JSON and its refusal of an
unknown measure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from data.action_types import cached_action_types
from data.store import load_raw_tables, make_engine, read_table, upgrade
from data.synthetic import GeneratorConfig, generate
from data.synthetic.generator import coachklas_capacity
from data.synthetic.staff import MeasureEffect
from data.synthetic.writer import store_school
from data.tables import from_generated
from data.vocabulary import MEASURE_COACHKLAS
from monitoring.effect import (
    MIN_PARTICIPANTS,
    BalanceRow,
    EffectResult,
    MeasureRecords,
    check_measures,
    effect_warnings,
    estimate_att,
    evaluate_measures,
    load_measure_records,
)
from settings import get_settings
from tests.conftest import TEST_KEY
from vroegsignaal.cli import app

SEEDS = range(10)
COVARIATES = [f"x{i}" for i in range(6)]


# --- (a) a simple simulation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulated:
    rows: pd.DataFrame  # the estimator's input: week, student_id, treated, vsv, covariates, sampling_offset
    effect: np.ndarray  # per row: the true effect on the probability (treated rows), NaN for the others


def simulate(
    seed: int, relative_effect: float, weeks: int = 6, pool: int = 1500, places: int = 50
) -> Simulated:
    """Each week ``pool`` enrolled students; the ``places`` with the highest observed need plus noise start
    the measure (selection on observables under a capacity). The probability of leaving is logistic in
    the covariates with an interaction (no model is exactly right); the measure multiplies it by
    ``1 + relative_effect``. A noisy risk score plays the model's."""
    rng = np.random.default_rng(seed)
    parts, effects = [], []
    for week in range(weeks):
        x = rng.normal(size=(pool, len(COVARIATES)))
        logit = -3.0 + x[:, :4] @ np.array([0.6, 0.5, 0.4, 0.3]) + 0.3 * x[:, 4] * x[:, 5]
        p0 = 1.0 / (1.0 + np.exp(-logit))
        need = x[:, :4] @ np.array([0.8, 0.4, 0.5, 0.2]) + 0.3 * x[:, 4] + rng.normal(0.0, 0.8, pool)
        treated = np.zeros(pool, dtype=bool)
        treated[np.argsort(-need)[:places]] = True
        p = np.where(treated, p0 * (1.0 + relative_effect), p0)
        frame = pd.DataFrame(x, columns=COVARIATES)
        frame["risk_at_start"] = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 0.3, pool))))
        frame.insert(0, "week", week)
        frame.insert(1, "student_id", [f"s{week}-{i}" for i in range(pool)])
        frame["treated"] = treated
        frame["vsv"] = (rng.random(pool) < p).astype(int)
        frame["sampling_offset"] = 0.0
        parts.append(frame)
        effects.append(np.where(treated, p0 * relative_effect, np.nan))
    return Simulated(pd.concat(parts, ignore_index=True), np.concatenate(effects))


@dataclass(frozen=True)
class Run:
    truth: float
    estimate: float
    low: float
    high: float
    naive: float

    @property
    def covers(self) -> bool:
        return self.low <= self.truth <= self.high


def run_simulation(seed: int, relative_effect: float) -> Run:
    sim = simulate(seed, relative_effect)
    rows = sim.rows
    result = estimate_att(rows, [*COVARIATES, "risk_at_start"], seed=seed)
    assert result.estimate is not None and result.ci_low is not None and result.ci_high is not None
    treated = rows["treated"].to_numpy()
    matched = treated & (result.weights > 0)
    vsv = rows["vsv"].to_numpy()
    return Run(
        truth=float(np.mean(sim.effect[matched])),
        estimate=result.estimate,
        low=result.ci_low,
        high=result.ci_high,
        naive=float(vsv[treated].mean() - vsv[~treated].mean()),
    )


@pytest.fixture(scope="module")
def planted() -> list[Run]:
    return [run_simulation(seed, -0.5) for seed in SEEDS]


@pytest.fixture(scope="module")
def no_effect() -> list[Run]:
    return [run_simulation(seed, 0.0) for seed in SEEDS]


def test_interval_covers_the_planted_effect(planted: list[Run]) -> None:
    covered = sum(run.covers for run in planted)
    assert covered >= 9, [(round(r.truth, 4), round(r.low, 4), round(r.high, 4)) for r in planted]
    assert all(run.truth < -0.05 for run in planted)  # the planted effect is there to be found


def test_interval_covers_zero_when_there_is_no_effect(no_effect: list[Run]) -> None:
    assert all(run.truth == 0.0 for run in no_effect)
    covered = sum(run.low <= 0.0 <= run.high for run in no_effect)
    assert covered >= 9, [(round(r.low, 4), round(r.high, 4)) for r in no_effect]


def test_naive_difference_is_biased_the_way_selection_predicts(
    planted: list[Run], no_effect: list[Run]
) -> None:
    # Participants were chosen for their need, so they were riskier: comparing them with everyone else
    # hides the benefit (and with no effect at all, makes the measure look harmful).
    for run in [*planted, *no_effect]:
        assert run.naive > run.truth + 0.02
    assert sum(run.naive > 0 for run in no_effect) == len(no_effect)


# --- (b) the synthetic school's staff, through a store ------------------------------------------------------

SCHOOL_STUDENTS = 700


def school(seed: int, log_hazard: float) -> GeneratorConfig:
    """A small school whose coachklas (20 places per 1,000 students: 14) has a planted effect on the weekly
    vsv hazard; no other measure has an effect, so the true effect is the coachklas's own."""
    return GeneratorConfig(
        seed=seed,
        n_students=SCHOOL_STUDENTS,
        n_years=3,
        coachklas_places_per_1000=20.0,
        coachklas_effect=MeasureEffect(log_hazard=log_hazard, weeks_after=10),
        action_effects={},
    )


def store_generated(engine: Engine, config: GeneratorConfig) -> None:
    raw, rest = from_generated(generate(config), TEST_KEY)
    store_school(
        engine,
        raw,
        rest["audit_attributes"],
        since=0,
        until=config.n_weeks - 1,
        truth=rest["synthetic_truth"],
        staff={
            "coachklas_capacity": coachklas_capacity(config),
            "coachklas_placements": rest["coachklas_placements"],
            "actions": rest["actions"],
        },
    )


def evaluate_store(engine: Engine, measure: str = MEASURE_COACHKLAS, seed: int = 0) -> EffectResult:
    tables = load_raw_tables(engine)
    (result,) = evaluate_measures(
        tables,
        load_measure_records(engine),
        [measure],
        cached_action_types(),
        horizon=12,
        truth=read_table(engine, "synthetic_truth"),
        seed=seed,
    )
    return result


def school_result(tmp_path: Path, seed: int, log_hazard: float) -> EffectResult:
    engine = make_engine(f"sqlite:///{tmp_path / f'school-{seed}-{log_hazard}.db'}")
    try:
        upgrade(engine)
        store_generated(engine, school(seed, log_hazard))
        return evaluate_store(engine, seed=seed)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("log_hazard", [-0.7, 0.0], ids=["planted", "zero"])
def test_coachklas_of_the_synthetic_school(tmp_path: Path, log_hazard: float) -> None:
    results = [school_result(tmp_path, seed, log_hazard) for seed in SEEDS]
    summary = [
        (r.matched, r.estimate, r.ci_low, r.ci_high, r.naive_difference, r.true_effect) for r in results
    ]
    for r in results:
        assert r.estimate is not None and r.ci_low is not None and r.ci_high is not None, r.warnings
        assert r.true_effect is not None and r.naive_difference is not None
        assert r.matched >= 30
    covered = sum(r.ci_low <= r.true_effect <= r.ci_high for r in results)  # type: ignore[operator]
    assert covered >= 9, summary
    if log_hazard == 0.0:
        assert all(abs(r.true_effect) < 1e-12 for r in results)  # type: ignore[arg-type]
        assert sum(r.ci_low <= 0.0 <= r.ci_high for r in results) >= 9, summary  # type: ignore[operator]
    else:
        assert all(r.true_effect < -0.01 for r in results), summary  # type: ignore[operator]
    # the coordinator places the students with the highest need: the naive comparison flatters nothing
    assert sum(r.naive_difference > r.true_effect for r in results) >= 9, summary  # type: ignore[operator]


# --- (c) warnings, no participants, the command line -----------------------------------------------------


def test_few_participants_are_warned_about() -> None:
    balance = (
        BalanceRow(
            covariate="att_rate_4w",
            description="aanwezig in de laatste 4 weken",
            mean_participants=0.7,
            mean_comparison=0.9,
            mean_participants_matched=0.7,
            mean_comparison_matched=0.8,
            smd_before=-1.0,
            smd_after=-0.35,
        ),
    )
    warnings = effect_warnings(
        label="Coachklas",
        since=None,
        horizon=12,
        participants=40,
        analysed=30,
        matched=12,
        not_yet_mature=10,
        balance=balance,
        later_share=0.25,
        reason=None,
    )
    text = " ".join(warnings)
    assert f"minder dan {MIN_PARTICIPANTS}" in text
    assert "40%" in text and "minder dan 70%" in text  # 12 of 30 matched
    assert "aanwezig in de laatste 4 weken (-0,35)" in text
    assert "10 deelnemers begonnen minder dan 12 weken" in text
    assert "25% van de vergelijkingsgroep" in text


@pytest.fixture(scope="module")
def small_school() -> tuple[object, MeasureRecords, pd.DataFrame]:
    config = GeneratorConfig(seed=5, n_students=600, n_years=2, coachklas_places_per_1000=10.0)
    raw, rest = from_generated(generate(config), TEST_KEY)
    records = MeasureRecords(placements=rest["coachklas_placements"], actions=rest["actions"])
    return raw, records, rest["synthetic_truth"]


def test_a_small_coachklas_gets_its_warning_and_a_description(
    small_school: tuple[object, MeasureRecords, pd.DataFrame],
) -> None:
    raw, records, truth = small_school
    (result,) = evaluate_measures(
        raw,  # type: ignore[arg-type]
        records,
        [MEASURE_COACHKLAS],
        cached_action_types(),
        horizon=12,
        truth=truth,
    )
    assert 0 < result.participants < MIN_PARTICIPANTS
    assert any("Weinig deelnemers" in w for w in result.warnings)
    data = result.to_json()
    for key in ("measure", "participants", "matched", "estimate", "ci_low", "ci_high", "naive_difference"):
        assert key in data
    assert data["measure"] == MEASURE_COACHKLAS
    description = data["description"]
    assert sum(c["n"] for c in description["levels"]) <= result.participants
    assert description["measure_outcomes"] and description["duration_weeks_mean"] > 0
    indicators = {(b["indicator"], b["group"]) for b in description["before_after"]}
    assert ("aanwezigheid", "deelnemers") in indicators and ("vragenlijstindex", "deelnemers") in indicators
    assert data["balance"] and all(row["description"] for row in data["balance"])
    json.dumps(data)  # JSON-ready


def test_a_measure_without_participants_says_so_instead_of_a_number(
    small_school: tuple[object, MeasureRecords, pd.DataFrame],
) -> None:
    raw, records, truth = small_school
    none = MeasureRecords(placements=records.placements.iloc[0:0], actions=records.actions)
    (result,) = evaluate_measures(
        raw,  # type: ignore[arg-type]
        none,
        [MEASURE_COACHKLAS],
        cached_action_types(),
        horizon=12,
        truth=truth,
    )
    assert result.participants == 0
    assert result.estimate is None and result.ci_low is None and result.true_effect is None
    assert result.warnings == ("Geen deelnemers aan Coachklas: er is geen effect te schatten.",)
    assert "nog niets te zeggen" in result.conclusion


def test_unknown_measure_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown measure 'yoga'; known measures: coachklas, conversation"):
        check_measures("yoga", cached_action_types())
    assert check_measures("all", cached_action_types())[0] == MEASURE_COACHKLAS


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VSV_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.delenv("VSV_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    engine = make_engine(get_settings().resolved_database_url())
    upgrade(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_cli_json_gives_one_object_per_measure_and_refuses_an_unknown_one(cli_env: Engine) -> None:
    config = GeneratorConfig(seed=3, n_students=500, n_years=2, coachklas_places_per_1000=20.0)
    store_generated(cli_env, config)
    runner = CliRunner()
    result = runner.invoke(app, ["effect", "--measure", "all", "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    objects = [json.loads(line) for line in lines]
    assert [o["measure"] for o in objects] == list(check_measures("all", cached_action_types()))
    for o in objects:
        assert {"measure", "participants", "matched", "estimate", "ci_low", "ci_high"} <= set(o)
        assert {"naive_difference", "true_effect", "warnings", "balance", "description"} <= set(o)
    coachklas = objects[0]
    assert coachklas["participants"] > 0 and coachklas["horizon"] == 12
    assert coachklas["risk_source"] == "zonder model: alleen de kenmerken"
    empty = [o for o in objects if o["participants"] == 0]
    assert all(o["estimate"] is None and o["warnings"][0].startswith("Geen deelnemers") for o in empty)

    human = runner.invoke(app, ["effect", "--measure", MEASURE_COACHKLAS, "--since", "40"])
    assert human.exit_code == 0, human.output
    assert "Coachklas" in human.stdout and "95%-interval" in human.stdout

    unknown = runner.invoke(app, ["effect", "--measure", "yoga"])
    assert unknown.exit_code == 2
    assert "unknown measure 'yoga'" in unknown.output and "coachklas" in unknown.output
