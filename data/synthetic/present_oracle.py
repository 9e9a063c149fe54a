"""The present-knowledge oracle: the best probability of vsv anyone could give in the as-of week.

The future-knowing oracle (:func:`data.synthetic.oracle.oracle_future_risk`) reads the hazards along the
student's realised latent path, future shocks included, so no model can reach it. This oracle knows the
generator's whole state at the end of the as-of week (latent state, lagged state, absence streak, credits,
the period so far, the staff's measures) but nothing after it: it rolls the world forward ``replicas`` times
with the generator's own dynamics (:mod:`.generator`'s weekly functions) and fresh random draws, and
averages over the rollouts the exact probability of vsv along each simulated path (the survival formula of
:mod:`.oracle`, which varies less than counting exits):

    P(vsv in (as_of, as_of + h]) = mean_r sum_k h_vsv_r(k) prod_{j<k} (1 - h_vsv_r(j) - h_switch_r(j))
                                                                       (1 - h_grad_r(j))

Choices (the docstrings of :func:`rollout_risk` say why):

* **Staff.** Measures already decided at the as-of week (a coachklas placement until its planned end, an
  action, each with the weeks its effect lasts) keep acting as scheduled; the rollouts decide no new ones.
* **Scenario.** The oracle knows the configuration's scenario calendar (lockdown, labour market, survey
  fatigue), like the generator: it is part of the world's dynamics, not of a student's future.
* **End of the data.** The window stops at the last simulated week, as the stored hazards do.

The states come from re-running the deterministic simulation of the same configuration
(:func:`data.synthetic.generator.generate_states`), so the oracle needs the generator configuration (and the
questionnaire and action types) the tables were made with; :func:`present_oracle_column` checks the re-run
against the stored ``synthetic_truth`` when it is given.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from data.action_types import ActionTypes
from data.calendar import DEFAULT_HORIZON, WEEKS_PER_YEAR, SchoolCalendar
from data.pseudonym import pseudonymise_column
from data.questionnaire import Questionnaire
from data.synthetic import params as P  # noqa: N812
from data.synthetic.generator import (
    GeneratorConfig,
    StudentStates,
    credit_deficit,
    full_week_probability,
    generate_states,
    graduation_hazard,
    hour_absence_rates,
    is_period_end,
    latent_step,
    pass_probability,
    scenario_shift,
    school_time,
    treated_hazard,
    weekly_hazards,
)

ORACLE_PRESENT = "oracle_present"
DEFAULT_REPLICAS = 100  # 50 antithetic pairs; the report and the tests measure the Monte Carlo error
BLOCK_ROWS = 40_000  # student rows rolled out at once (see replica_blocks)
# The oracle's own random stream (per seed, chunk and as-of week): a row's value does not depend on which
# other weeks are asked for.
PRESENT_STREAM = 0x70726573656E74  # "present"
GENERATOR_CONFIG_FILE = "GENERATOR_CONFIG.json"  # written by `vsv generate` (data/synthetic/writer.py)


def window_end(as_of: int, horizon: int, n_weeks: int) -> int:
    """The last week of the window after ``as_of``: ``as_of + horizon``, at most the last simulated week."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, got {horizon}")
    return min(as_of + horizon, n_weeks - 1)


def last_result_week(as_of: int, end: int) -> int:
    """The last week in ``(as_of, end)`` with period results (they move the hazards from the week after
    on); ``as_of`` when there is none, so attendance after it cannot change the window's hazards."""
    weeks = [t for t in range(as_of + 1, end) if is_period_end(t)]
    return weeks[-1] if weeks else as_of


def rollout_risk(
    states: StudentStates,
    config: GeneratorConfig,
    horizon: int,
    replicas: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """P(vsv in ``(week, week + horizon]``) of each student enrolled at the end of ``states.week``: the
    student numbers and the probabilities, the mean over ``replicas`` rollouts.

    Each rollout runs the generator's weekly dynamics from the captured state: the AR(1) latent state with
    shocks and life events, the scenario's shift, the lagged state, whole weeks absent (the streak), the
    period's attendance and its results (the credits deficit), the year's reset and the diploma week.
    The draws differ from the generator's only in form, not in distribution: present hours are one
    binomial draw (each scheduled hour is present with chance (1 - unauthorised)(1 - authorised), as hour
    by hour) and passed units one binomial of the period's units. Exits are not drawn: the state moves the
    same whether a student stays or not, so the survival formula along the path is the exact probability.

    The staff: the measures decided by the as-of week act as the generator scheduled them (what the school
    itself knows of its coachklas and actions); new ones are not decided in the rollouts. Re-applying the
    staff's policy would need the answers and observations of every replica and the coachklas capacity
    shared over a whole replicated school each week, several times the cost; measures decided later lower
    the hazard of only a few students (the price is a slight over-estimate for students the staff will
    pick up, which the tests' calibration tolerance covers).
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    as_of = states.week
    end = window_end(as_of, horizon, config.n_weeks)
    enrolled = np.flatnonzero(states.enrolled)
    numbers = states.population.number[enrolled]
    if end <= as_of or len(enrolled) == 0:
        return numbers, np.zeros(len(enrolled))
    total = np.zeros(len(enrolled))
    for block in replica_blocks(replicas, len(enrolled)):
        total += _rollout_block(states, enrolled, config, end, block, rng)
    out: np.ndarray = total / replicas
    return numbers, out


def replica_blocks(replicas: int, students: int, rows: int = BLOCK_ROWS) -> list[int]:
    """The replicas split into blocks of about ``rows`` student rows (even sizes, for the antithetic
    twins, where the total allows): small arrays stay in the processor's cache."""
    size = max(2, rows // max(students, 1) // 2 * 2)
    blocks = [size] * (replicas // size)
    if replicas % size:
        blocks.append(replicas % size)
    return blocks


def _rollout_block(
    states: StudentStates,
    enrolled: np.ndarray,
    config: GeneratorConfig,
    end: int,
    replicas: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The sum over ``replicas`` rollouts of each enrolled student's P(vsv in the window)."""
    as_of = states.week
    rows = np.tile(enrolled, replicas)  # replica r holds rows r*m .. r*m + m - 1
    n = len(rows)
    pop = states.population.take(rows)
    treatment = states.treatment.take(rows)
    state = states.state
    x, ewma, streak = state.x[rows], state.ewma[rows], state.streak[rows]
    cum_exp, cum_obt = state.cum_exp[rows], state.cum_obt[rows]
    per_sched, per_present, per_fit = state.per_sched[rows], state.per_present[rows], state.per_fit[rows]
    sched = np.where(pop.bbl, P.HOURS_BBL, P.HOURS_BOL)
    results_until = last_result_week(as_of, end)
    survival = np.ones(n)
    risk = np.zeros(n)
    for t in range(as_of + 1, end + 1):
        shift, extra_absence, _fatigue = scenario_shift(config, pop, t)
        life = _antithetic_uniform(rng, n) < P.LIFE_EVENT_RATE
        shock = _antithetic_normal(rng, n, P.SHOCK_SD)
        x, ewma = latent_step(x, ewma, pop.mu + shift, shock, life)
        time = school_time(pop, t)
        if t % WEEKS_PER_YEAR == 0:
            cum_exp = np.zeros(n)
            cum_obt = np.zeros(n)
        deficit = credit_deficit(cum_exp, cum_obt)
        h_untreated, h_switch, _multi = weekly_hazards(pop, x, time.year1, deficit, streak)
        h_vsv = treated_hazard(h_untreated, *treatment.effect(t))
        any_final = bool(time.final_week.any())
        h_grad = graduation_hazard(time.final_week, cum_exp, cum_obt) if any_final else np.zeros(n)
        risk += survival * h_vsv
        survival *= np.clip(1.0 - h_vsv - h_switch, 0.0, None) * (1.0 - h_grad)
        if t == end:
            break
        full = _antithetic_uniform(rng, n) < full_week_probability(ewma, streak, extra_absence)
        streak = np.where(full, streak + 1, 0.0)
        if t > results_until:
            continue  # no period results left in the window: attendance cannot move its hazards
        u_rate, a_rate = hour_absence_rates(ewma, time.age >= 18, extra_absence)
        present = np.where(full, 0, rng.binomial(sched, (1.0 - u_rate) * (1.0 - a_rate)))
        per_sched = per_sched + sched
        per_present = per_present + present
        per_fit = per_fit + x[:, 1]
        if is_period_end(t):
            p_pass = pass_probability(pop.ability, per_present, per_sched, per_fit)
            passed = rng.binomial(P.UNITS_PER_PERIOD, p_pass)
            cum_exp = cum_exp + P.UNITS_PER_PERIOD * P.CREDITS_PER_UNIT
            cum_obt = cum_obt + passed * P.CREDITS_PER_UNIT
            per_sched, per_present, per_fit = np.zeros(n), np.zeros(n), np.zeros(n)
    out: np.ndarray = risk.reshape(replicas, len(enrolled)).sum(axis=0)
    return out


def _antithetic_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniforms whose second half mirrors the first (u and 1 - u): the replicas of the second half
    are the antithetic twins of the first (rows ``i`` and ``i + n/2``), which lowers the Monte Carlo error
    of the mean at no cost; each replica alone is a correct draw."""
    half = rng.random((n + 1) // 2)
    out: np.ndarray = np.concatenate([half, 1.0 - half])[:n]
    return out


def _antithetic_normal(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """``(n, 4)`` normal shocks, the second half the negated first (see :func:`_antithetic_uniform`)."""
    half = rng.normal(0.0, sd, ((n + 1) // 2, 4))
    out: np.ndarray = np.concatenate([half, -half])[:n]
    return out


def oracle_present(
    config: GeneratorConfig,
    as_of_weeks: Iterable[int],
    horizon: int = DEFAULT_HORIZON,
    replicas: int = DEFAULT_REPLICAS,
    seed: int = 0,
    questionnaire: Questionnaire | None = None,
    action_types: ActionTypes | None = None,
    calendar: SchoolCalendar | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """The present-knowledge oracle for every student enrolled at the end of each of ``as_of_weeks``.

    Columns ``student_number``, ``as_of``, :data:`ORACLE_PRESENT`; students who had not started or had
    already left by the end of the week have no row. ``questionnaire`` and ``action_types`` must be those
    the world was generated with (they shape the simulation's draws). ``workers`` above 1 rolls the weeks
    out in that many spawned processes (the caller's main module must be safe to import); the values are
    the same for any number of workers.
    """
    frame, _ = _present(
        config, as_of_weeks, horizon, replicas, seed, questionnaire, action_types, calendar, workers
    )
    return frame


@dataclass(frozen=True)
class _WeekTask:
    """One as-of week of one chunk to roll out (picklable, for a worker process)."""

    states: StudentStates
    config: GeneratorConfig
    horizon: int
    replicas: int
    seed: int
    chunk_no: int


def _week_rows(task: _WeekTask) -> pd.DataFrame:
    """The oracle's rows of one as-of week of one chunk; its random stream depends only on the seed, the
    chunk and the week, so the result is the same in any process and for any other weeks asked."""
    week = task.states.week
    rng = np.random.default_rng([task.seed, PRESENT_STREAM, task.chunk_no, week])
    numbers, risk = rollout_risk(task.states, task.config, task.horizon, task.replicas, rng)
    return pd.DataFrame({"student_number": numbers, "as_of": week, ORACLE_PRESENT: risk})


def _present(
    config: GeneratorConfig,
    as_of_weeks: Iterable[int],
    horizon: int,
    replicas: int,
    seed: int,
    questionnaire: Questionnaire | None,
    action_types: ActionTypes | None,
    calendar: SchoolCalendar | None,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The oracle's rows, and the re-run's ``synthetic_truth`` rows of the as-of weeks (for the check)."""
    weeks = sorted({int(w) for w in as_of_weeks})
    window_end(0, horizon, config.n_weeks)  # refuses a bad horizon before simulating
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    parts: list[pd.DataFrame] = []
    truth_parts: list[pd.DataFrame] = []
    with ExitStack() as stack:
        pool = (
            stack.enter_context(ProcessPoolExecutor(workers, mp_context=get_context("spawn")))
            if workers > 1
            else None
        )
        chunks = generate_states(config, weeks, questionnaire, action_types, calendar)
        for chunk_no, (tables, captured) in enumerate(chunks):
            truth = tables["synthetic_truth"]
            truth_parts.append(truth.loc[truth["week"].isin(weeks), ["student_number", "week", "hazard_vsv"]])
            tasks = [
                _WeekTask(captured[week], config, horizon, replicas, seed, chunk_no)
                for week in weeks
                if week in captured
            ]
            parts.extend(pool.map(_week_rows, tasks) if pool is not None else map(_week_rows, tasks))
    columns = ["student_number", "as_of", ORACLE_PRESENT]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    truth_rows = pd.concat(truth_parts, ignore_index=True)
    return frame.sort_values(["as_of", "student_number"], kind="stable").reset_index(drop=True), truth_rows


def check_reproduces(
    stored: pd.DataFrame, regenerated: pd.DataFrame, id_column: str, weeks: Collection[int]
) -> None:
    """Raise ValueError unless the stored ``synthetic_truth`` has the re-run's hazards in ``weeks`` (same
    students, same values): the oracle's states belong to the stored world only when the configuration,
    questionnaire and action types are the ones it was generated with."""
    mine = stored.loc[stored["week"].isin(list(weeks)), [id_column, "week", "hazard_vsv"]]
    merged = mine.merge(regenerated, on=[id_column, "week"], how="outer", suffixes=("", "_rerun"))
    same = np.isclose(merged["hazard_vsv"], merged["hazard_vsv_rerun"], rtol=1e-9, atol=0.0)
    if len(mine) != len(regenerated) or not bool(same.all()):
        wrong = int((~same).sum())
        raise ValueError(
            f"the generator configuration does not reproduce the stored synthetic truth ({wrong} of "
            f"{len(merged)} student-weeks differ): give the configuration, questionnaire and action types "
            "the data were generated with"
        )


def present_oracle_column(
    frame: pd.DataFrame,
    config: GeneratorConfig,
    horizon: int = DEFAULT_HORIZON,
    *,
    pseudonym_key: str | None = None,
    truth: pd.DataFrame | None = None,
    replicas: int = DEFAULT_REPLICAS,
    seed: int = 0,
    questionnaire: Questionnaire | None = None,
    action_types: ActionTypes | None = None,
    workers: int = 1,
) -> pd.Series:
    """:data:`ORACLE_PRESENT` for every (student, ``as_of``) row of ``frame``, aligned with its index.

    Students are matched on ``student_number`` when ``frame`` has it, else on ``student_id``: the store's
    pseudonym, computed from the generator's numbers with ``pseudonym_key`` (the key the data were imported
    with). A row of a student not enrolled at the end of ``as_of`` gets 0 (as the future-knowing oracle's
    column does). With ``truth`` (the stored ``synthetic_truth``, by the same identifier) the re-run is
    checked against it first (:func:`check_reproduces`). The other arguments are those of
    :func:`oracle_present`.
    """
    id_column = "student_number" if "student_number" in frame.columns else "student_id"
    if id_column == "student_id" and not pseudonym_key:
        raise ValueError("frame identifies students by student_id: give the pseudonym_key to match them")
    weeks = sorted({int(w) for w in frame["as_of"].unique()})
    risk, regenerated = _present(
        config, weeks, horizon, replicas, seed, questionnaire, action_types, None, workers
    )
    if id_column == "student_id" and pseudonym_key:
        risk.insert(0, "student_id", pseudonymise_column(risk.pop("student_number"), pseudonym_key))
        regenerated.insert(
            0, "student_id", pseudonymise_column(regenerated.pop("student_number"), pseudonym_key)
        )
    if truth is not None:
        check_reproduces(truth, regenerated, id_column, weeks)
    keys = frame[["as_of", id_column]].astype({"as_of": "int64"})
    merged = keys.merge(risk, on=["as_of", id_column], how="left", validate="many_to_one")
    return merged[ORACLE_PRESENT].fillna(0.0).set_axis(frame.index).rename(ORACLE_PRESENT)


def load_generator_config(path: Path) -> GeneratorConfig:
    """The configuration `vsv generate` recorded beside the tables (a folder, or the JSON file itself)."""
    path = Path(path)
    file = path / GENERATOR_CONFIG_FILE if path.is_dir() else path
    return GeneratorConfig.model_validate_json(file.read_text(encoding="utf-8"))
