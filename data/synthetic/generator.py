"""Generator of synthetic mbo cohorts with a known true risk.

Each student has a latent weekly state (wellbeing, fit with the programme, personal problems, pull of
paid work) that persists (AR(1)) and takes shocks. From it the generator reads:

* leading indicators: a weekly questionnaire, answered noisily from the *current* state; disengaged
  students answer less often;
* lagging indicators: attendance, which follows the state with a lag of a few weeks, and period results,
  which follow attendance and ability;
* outcomes: weekly hazards of vsv (leaving without startkwalificatie) and of a switch, and graduation at
  the end of the programme. The hazards are stored, so the future-knowing oracle risk is known
  (:mod:`.oracle`).

The whole population is simulated in chunks of students, so memory stays bounded at any size. The output
is deterministic for a given configuration (seed and chunk size included).

The weekly dynamics are small pure functions (:func:`latent_step`, :func:`weekly_hazards`,
:func:`full_week_probability`, ...) over a :class:`WorldState` that one week hands to the next.
:func:`generate_states` runs the same simulation and also keeps a copy of the whole state (with the staff's
measures) at chosen weeks, for the present-knowledge oracle (:mod:`.present_oracle`), which rolls the world
forward from there with the same functions; capturing never changes the tables.

Each chunk also gets an identity table (realistic Dutch names, :mod:`.names`), drawn with a random
generator of its own after the simulation, so the other tables are the same with or without it.

The school's staff act too (:mod:`.staff`): coachklas intake rounds under a capacity and mentor actions,
chosen on what the school observes, with a true effect on the weekly vsv hazard. They draw from a random
stream of their own, and every random draw of the simulation has the same shape every week (one per student
of the chunk, active or not), so the staff change the other tables only through the treated hazard: a
student a measure keeps from leaving stays in the data longer; every other student's answers, attendance,
results and exit are the same draws with or without the staff.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, fields
from typing import Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tqdm import tqdm

from data.action_types import ActionTypes, cached_action_types
from data.calendar import WEEKS_PER_PERIOD, WEEKS_PER_YEAR, SchoolCalendar, cached_school_calendar
from data.questionnaire import Questionnaire, cached_questionnaire
from data.synthetic import params as P  # noqa: N812
from data.synthetic.names import synthetic_identities
from data.synthetic.staff import (
    HAZARD_CAP,
    MeasureEffect,
    StaffDesk,
    StaffSetup,
    capacity_frame,
    chunk_places,
    empty_actions,
    empty_placements,
    school_places,
)
from data.tables import empty_table

Scenario = Literal["baseline", "lockdown", "hot_labour_market", "survey_fatigue"]
SCENARIOS: tuple[str, ...] = ("baseline", "lockdown", "hot_labour_market", "survey_fatigue")
TABLES = (
    "students",
    "audit_attributes",
    "questionnaire_answers",
    "attendance_weeks",
    "progress_results",
    "outcomes",
    "assessment_results",
    "school_signals",
    "synthetic_truth",
    "identities",
)
# What the staff did, written apart (``<out>/staff/``) and imported with ``vsv import-history``; the
# capacity is one table for the whole school (:func:`coachklas_capacity`), the others come per chunk.
STAFF_TABLES = ("coachklas_placements", "actions")
# The identity table's own random stream (per seed and chunk): names never move the simulation's draws.
NAMES_STREAM = 0x6E616D6573  # "names"
# The school-style export's extra signals have a stream of their own too.
EXTRAS_STREAM = 0x6578747261  # "extra"
# Not a table of the contract: what only the school-style export writes (:func:`school_extras`).
SCHOOL_EXTRAS = "school_extras"
# The staff's own random stream (per seed and chunk): their decisions never move the simulation's draws.
STAFF_STREAM = 0x7374616666  # "staff"
FIRST_STUDENT_NUMBER = 1_000_000
INTAKE_SHARE = 0.40  # new year-1 students each year, as a share of the initial population
LOCKDOWN_WEEKS = 12


class GeneratorConfig(BaseModel):
    """What to generate. Every field has a sensible default for a demo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    n_students: int = Field(default=3000, ge=1, description="students enrolled at the start of year 1")
    n_years: int = Field(default=3, ge=1, le=10, description="school years to simulate")
    scenario: Scenario = "baseline"
    scenario_start_week: int | None = Field(
        default=None, ge=0, description="week the scenario starts; default the first week of the last year"
    )
    chunk_size: int = Field(default=25_000, ge=100)
    first_student_number: int = FIRST_STUDENT_NUMBER
    # The staff (data/synthetic/staff.py). 0 places and an action share of 0: no staff at all.
    coachklas_places_per_1000: float = Field(
        default=8.0, ge=0, le=1000, description="coachklas places per 1,000 students enrolled at the start"
    )
    coachklas_intake_weeks: tuple[int, ...] = Field(
        default=(3, 8, 13, 18, 23, 28, 33),
        description="weeks of each school year (0-39, the index modulo 40) with an intake round",
    )
    coachklas_weeks: tuple[int, int] = Field(
        default=(8, 20), description="shortest and longest placement in school weeks (drawn uniformly)"
    )
    coachklas_effect: MeasureEffect = Field(
        default=MeasureEffect(log_hazard=-0.7, weeks_after=10),
        description="true effect of a placement on the weekly vsv hazard, during it and weeks after",
    )
    february_intake_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of each later year's intake that starts halfway the school year (week 20, "
        "February) instead of in its first week; 0 keeps one intake a year",
    )
    action_share: float = Field(
        default=0.01, ge=0, le=1, description="weekly chance of a mentor action for a student of typical need"
    )
    action_effects: dict[str, MeasureEffect] = Field(
        default_factory=lambda: {"conversation": MeasureEffect(log_hazard=-0.2, weeks_after=6)},
        description="true effect of an action type (its code) in its week and weeks after; others none",
    )

    @model_validator(mode="after")
    def _check_staff(self) -> Self:
        wrong = [w for w in self.coachklas_intake_weeks if not 0 <= w < WEEKS_PER_YEAR]
        if wrong:
            raise ValueError(f"coachklas_intake_weeks must lie in 0-{WEEKS_PER_YEAR - 1}, got {wrong}")
        low, high = self.coachklas_weeks
        if not 1 <= low <= high:
            raise ValueError("coachklas_weeks must be (shortest, longest) with 1 <= shortest <= longest")
        return self

    @property
    def n_weeks(self) -> int:
        return self.n_years * WEEKS_PER_YEAR

    @property
    def scenario_start(self) -> int:
        if self.scenario_start_week is not None:
            return self.scenario_start_week
        return (self.n_years - 1) * WEEKS_PER_YEAR

    @property
    def n_total(self) -> int:
        """Students in all: the initial population plus one intake per later year."""
        return self.n_students + round(self.n_students * INTAKE_SHARE) * (self.n_years - 1)

    @property
    def coachklas_places(self) -> int:
        """The school's coachklas places (the same in every week)."""
        return school_places(self.coachklas_places_per_1000, self.n_students)

    @property
    def chunk_sizes(self) -> list[int]:
        total = self.n_total
        return [min(self.chunk_size, total - first) for first in range(0, total, self.chunk_size)]


@dataclass(frozen=True)
class Population:
    """Static attributes of a chunk of students, as arrays of equal length."""

    number: np.ndarray
    level: np.ndarray
    bbl: np.ndarray
    sector: np.ndarray
    programme: np.ndarray
    prior: np.ndarray
    start_week: np.ndarray
    duration: np.ndarray
    age_at_start: np.ndarray
    gender: np.ndarray
    migration: np.ndarray
    ability: np.ndarray
    mu: np.ndarray  # (n, 4) long-run latent means

    def __len__(self) -> int:
        return len(self.number)

    def take(self, idx: np.ndarray) -> Population:
        """The students at ``idx`` (repeats allowed), in that order."""
        return Population(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _draw_categories(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random((probs.shape[0], 1))
    out: np.ndarray = (u > cum).sum(axis=1)
    return out


def sample_population(
    rng: np.random.Generator, n: int, first_index: int, config: GeneratorConfig
) -> Population:
    """Draw the static attributes of ``n`` students, a random mix of initial population and intakes."""
    level = rng.choice(np.array(P.LEVELS), size=n, p=P.LEVEL_SHARES)
    duration = np.vectorize(P.DURATION_YEARS.__getitem__)(level)
    bbl = rng.random(n) < np.vectorize(P.BBL_SHARE.__getitem__)(level)
    sector = rng.choice(len(P.SECTORS), size=n, p=P.SECTOR_SHARES)
    n_prog = np.array([len(P.PROGRAMMES[s]) for s in P.SECTORS])
    programme = (rng.random(n) * n_prog[sector]).astype(int)
    prior = _draw_categories(rng, P.PRIOR_BY_LEVEL[level - 1])

    # Entry: initial population (spread over years of study) or an intake in a later year.
    p_initial = 1.0 / (1.0 + INTAKE_SHARE * (config.n_years - 1))
    initial = rng.random(n) < p_initial
    intake_year = rng.integers(1, max(config.n_years, 2), size=n)
    year_weights = np.array([0.8**k for k in range(4)])
    yos = np.ones(n, dtype=int)
    for d in np.unique(duration):
        sel = initial & (duration == d)
        w = year_weights[:d] / year_weights[:d].sum()
        yos[sel] = rng.choice(np.arange(1, d + 1), size=int(sel.sum()), p=w)
    start_week = np.where(initial, -(yos - 1) * WEEKS_PER_YEAR, intake_year * WEEKS_PER_YEAR)
    if config.february_intake_share > 0:  # drawn only when asked, so other worlds keep their draws
        february = ~initial & (rng.random(n) < config.february_intake_share)
        start_week = start_week + np.where(february, WEEKS_PER_YEAR // 2, 0)

    newcomer = prior == P.PRIOR_EDUCATION.index("newcomer")
    vso = prior == P.PRIOR_EDUCATION.index("vso")
    havo = prior == P.PRIOR_EDUCATION.index("havo")
    pro = prior == P.PRIOR_EDUCATION.index("pro")
    prev_mbo = prior == P.PRIOR_EDUCATION.index("mbo")
    age = 16.2 + rng.normal(0.0, 0.6, n) + 1.2 * havo + 1.5 * prev_mbo + 2.5 * newcomer + 2.0 * bbl
    age_at_start = np.clip(age + np.abs(rng.normal(0, 0.8, n)) * bbl, 15.5, 30.0).round(2)

    male = rng.random(n) < P.SECTOR_MALE_SHARE[sector]
    gender = np.where(male, 0, np.where(rng.random(n) < 0.015, 2, 1))
    p_nw = np.vectorize(P.NON_WESTERN_BY_LEVEL.__getitem__)(level)
    p_nw = np.where(newcomer, 0.85, p_nw)
    u = rng.random(n)
    migration = np.where(u < p_nw, 2, np.where(u < p_nw + np.where(newcomer, 0.12, 0.08), 1, 0))

    ability = rng.normal(0, 1, n) + 0.6 * havo - 0.6 * pro - 0.5 * vso - 0.2 * newcomer + 0.2 * (level - 2.5)
    mu = np.empty((n, 4))
    mu[:, 0] = rng.normal(0, 0.5, n) - 0.3 * vso - 0.2 * newcomer
    mu[:, 1] = rng.normal(0, 0.6, n)
    mu[:, 2] = (
        rng.normal(0, 0.5, n) + 0.4 * newcomer + 0.3 * vso + 0.2 * (level == 1) + 0.15 * (migration == 2)
    )
    mu[:, 3] = rng.normal(0, 0.5, n) + 0.5 * bbl + 0.2 * (level == 2) + 0.15 * (age_at_start >= 18)
    number = config.first_student_number + first_index + np.arange(n)
    return Population(
        number=number,
        level=level,
        bbl=bbl,
        sector=sector,
        programme=programme,
        prior=prior,
        start_week=start_week,
        duration=duration,
        age_at_start=age_at_start,
        gender=gender,
        migration=migration,
        ability=ability,
        mu=mu,
    )


def scenario_shift(config: GeneratorConfig, pop: Population, week: int) -> tuple[np.ndarray, float, float]:
    """Shift of the latent means, extra absence (logit) and response fatigue (logit) in ``week``."""
    shift = np.zeros((len(pop), 4))
    extra_absence = 0.0
    fatigue = 0.0
    since = week - config.scenario_start
    if since < 0 or config.scenario == "baseline":
        return shift, extra_absence, fatigue
    if config.scenario == "lockdown" and since < LOCKDOWN_WEEKS:
        shift[:, 0] = -0.9
        shift[:, 2] = 0.3
        extra_absence = 0.8
    elif config.scenario == "hot_labour_market":
        exposed = pop.bbl | (pop.level == 2)
        shift[:, 3] = np.where(exposed, 0.9, 0.3)
    elif config.scenario == "survey_fatigue":
        fatigue = -min(0.08 * since, 2.5)
    return shift, extra_absence, fatigue


def _by_level(table: dict[int, float], level: np.ndarray) -> np.ndarray:
    """``table[level]`` for every student, read from ``table`` at call time (calibration changes it)."""
    lookup = np.zeros(max(table) + 1)
    for key, value in table.items():
        lookup[key] = value
    out: np.ndarray = lookup[level]
    return out


def weekly_hazards(
    pop: Population,
    x: np.ndarray,
    year1: np.ndarray,
    deficit: np.ndarray,
    absent_streak: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly vsv and switch hazards from the latent state, and the multi-problem flag."""
    w, f, p, j = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
    multi = ((w < -0.9).astype(int) + (f < -0.9) + (p > 0.9) + (j > 0.9)) >= 2
    vso = pop.prior == P.PRIOR_EDUCATION.index("vso")
    newcomer = pop.prior == P.PRIOR_EDUCATION.index("newcomer")
    intercept = _by_level(P.VSV_INTERCEPT, pop.level)
    lin = (
        intercept
        + 0.5 * year1
        + 0.35 * pop.bbl
        + 0.6 * vso
        + 0.6 * newcomer
        + 0.25 * -w
        + 0.35 * -f
        + 0.2 * p
        + 0.3 * j * (1.0 + 0.5 * pop.bbl)
        + 1.2 * deficit
        + 0.25 * np.minimum(absent_streak, 6)
        + np.log(P.MULTI_PROBLEM_FACTOR) * multi
    )
    h_vsv = np.minimum(np.exp(lin), 0.5)
    h_switch = np.minimum(np.exp(P.SWITCH_INTERCEPT + 0.6 * -f + 0.5 * year1), 0.3)
    return h_vsv, h_switch, multi


_hazards = weekly_hazards  # the name data/synthetic/params.py refers to


# --- the world's weekly dynamics, as pure functions (the generator and the present oracle share them) ---


@dataclass(frozen=True)
class SchoolTime:
    """Where each student stands in their programme in a week."""

    since_start: np.ndarray  # weeks since the student's start (negative: not started yet)
    started: np.ndarray
    year1: np.ndarray  # 1.0 in the first year of study
    age: np.ndarray
    final_week: np.ndarray  # the last week of the last year of the programme (the diploma week)


def expected_end_week(start_week: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """The diploma week of :func:`school_time`: the last week of the school year in which the student
    reaches the final year of the programme (``start + duration * 40 - 1`` for a start in week 1 of a
    year; a February starter finishes at the end of a school year too)."""
    final_year_start = start_week + (duration - 1) * WEEKS_PER_YEAR
    out: np.ndarray = final_year_start // WEEKS_PER_YEAR * WEEKS_PER_YEAR + WEEKS_PER_YEAR - 1
    return out


def school_time(pop: Population, week: int) -> SchoolTime:
    since_start = week - pop.start_week
    yos = np.minimum(since_start // WEEKS_PER_YEAR + 1, pop.duration)
    final_week = (week % WEEKS_PER_YEAR == WEEKS_PER_YEAR - 1) & (
        since_start // WEEKS_PER_YEAR + 1 >= pop.duration
    )
    return SchoolTime(
        since_start=since_start,
        started=since_start >= 0,
        year1=(yos == 1).astype(float),
        age=pop.age_at_start + since_start / WEEKS_PER_YEAR,
        final_week=final_week,
    )


# A life event: personal problems up, wellbeing down (latent index, jump).
LIFE_EVENT_JUMP = ((2, 1.2), (0, -0.6))


def latent_step(
    x: np.ndarray, ewma: np.ndarray, mean: np.ndarray, shock: np.ndarray, life: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Next week's latent state (AR(1) around ``mean``, a shock, the jump of a life event for the students
    where ``life`` is true) and the lagged state attendance follows (from this week's state)."""
    next_ewma = 0.75 * ewma + 0.25 * x
    next_x = x - mean
    next_x *= P.PHI
    next_x += mean
    next_x += shock
    for column, jump in LIFE_EVENT_JUMP:
        next_x[life, column] += jump
    return next_x, next_ewma


def credit_deficit(cum_exp: np.ndarray, cum_obt: np.ndarray) -> np.ndarray:
    """The share of this school year's expected credits not obtained, 0-1."""
    out: np.ndarray = np.clip((cum_exp - cum_obt) / np.maximum(cum_exp, 1.0), 0.0, 1.0)
    return out


def graduation_hazard(final_week: np.ndarray, cum_exp: np.ndarray, cum_obt: np.ndarray) -> np.ndarray:
    """The chance of the diploma in the programme's last week, from the share of the year's credits."""
    ratio = np.where(cum_exp > 0, cum_obt / np.maximum(cum_exp, 1.0), 1.0)
    out: np.ndarray = np.where(final_week, _sigmoid(8.0 * (ratio - 0.7)), 0.0)
    return out


def treated_hazard(h_untreated: np.ndarray, log_effect: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """The weekly vsv hazard under the measures that touch a student (capped as the generator caps it)."""
    out: np.ndarray = np.where(touched, np.minimum(h_untreated * np.exp(log_effect), HAZARD_CAP), h_untreated)
    return out


def full_week_probability(ewma: np.ndarray, streak: np.ndarray, extra_absence: float) -> np.ndarray:
    """This week's chance of a whole week absent (it goes on: a streak makes the next week likelier)."""
    return _sigmoid(
        -5.2 + 0.9 * -ewma[:, 1] + 0.7 * ewma[:, 3] + 0.5 * ewma[:, 2] + 2.6 * (streak > 0) + extra_absence
    )


def hour_absence_rates(
    ewma: np.ndarray, over18: np.ndarray, extra_absence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The chance per scheduled hour of unauthorised absence, and of authorised absence of the others."""
    u_rate = _sigmoid(
        -3.2
        + 0.7 * -ewma[:, 1]
        + 0.5 * ewma[:, 3]
        + 0.4 * ewma[:, 2]
        + 0.3 * -ewma[:, 0]
        + 0.25 * over18
        + extra_absence
    )
    a_rate = _sigmoid(-3.3 + 0.5 * -ewma[:, 0] + 0.3 * ewma[:, 2] + 0.5 * extra_absence)
    return u_rate, a_rate


def pass_probability(
    ability: np.ndarray, per_present: np.ndarray, per_sched: np.ndarray, per_fit: np.ndarray
) -> np.ndarray:
    """The chance of passing each unit of a period, from ability, the period's attendance and fit."""
    r = per_present / np.maximum(per_sched, 1.0)
    fit_mean = per_fit / WEEKS_PER_PERIOD
    return _sigmoid(0.8 + 0.9 * ability + 5.0 * (r - 0.85) + 0.3 * fit_mean)


def is_period_end(week: int) -> bool:
    """Period results are recorded in the last week of each period."""
    return (week % WEEKS_PER_PERIOD) == WEEKS_PER_PERIOD - 1


@dataclass
class _Collector:
    """Per-week arrays collected during the simulation, concatenated at the end."""

    parts: dict[str, list[np.ndarray]]

    @classmethod
    def new(cls) -> _Collector:
        return cls(parts={})

    def add(self, **arrays: np.ndarray) -> None:
        for key, value in arrays.items():
            self.parts.setdefault(key, []).append(value)

    def frame(self, columns: dict[str, str]) -> pd.DataFrame:
        data = {
            out: (np.concatenate(self.parts[key]) if key in self.parts else np.array([]))
            for key, out in columns.items()
        }
        return pd.DataFrame(data)


@dataclass
class WorldState:
    """What the simulation carries from one week to the next, one row per student of a chunk."""

    x: np.ndarray  # (n, 4) latent state (P.LATENT)
    ewma: np.ndarray  # (n, 4) lagged state that attendance follows
    streak: np.ndarray  # whole weeks absent in a row
    cum_exp: np.ndarray  # credits expected so far this school year
    cum_obt: np.ndarray  # credits obtained so far this school year
    per_sched: np.ndarray  # scheduled hours so far this period
    per_present: np.ndarray  # present hours so far this period
    per_fit: np.ndarray  # sum of the weekly fit so far this period
    exited: np.ndarray
    exit_week: np.ndarray  # -1 while enrolled
    outcome: np.ndarray  # "" while enrolled

    @classmethod
    def initial(cls, pop: Population, rng: np.random.Generator) -> WorldState:
        n = len(pop)
        stat_sd = P.SHOCK_SD / np.sqrt(1 - P.PHI**2)
        x = pop.mu + rng.normal(0, stat_sd, (n, 4))
        return cls(
            x=x,
            ewma=x.copy(),
            streak=np.zeros(n),
            cum_exp=np.zeros(n),
            cum_obt=np.zeros(n),
            per_sched=np.zeros(n),
            per_present=np.zeros(n),
            per_fit=np.zeros(n),
            exited=np.zeros(n, dtype=bool),
            exit_week=np.full(n, -1),
            outcome=np.full(n, "", dtype=object),
        )

    def copy(self) -> WorldState:
        return WorldState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


@dataclass(frozen=True)
class Treatment:
    """The staff's measures as known at the end of a week: per measure with a true effect, the last week
    it acts on each student (-1: none), and the coachklas placements (start and planned last week)."""

    effects: dict[str, MeasureEffect]
    until: dict[str, np.ndarray]
    placed_start: np.ndarray
    placed_until: np.ndarray

    @classmethod
    def none(cls, n: int) -> Treatment:
        return cls(effects={}, until={}, placed_start=np.full(n, -1), placed_until=np.full(n, -1))

    @classmethod
    def of(cls, staff: StaffDesk | None, n: int) -> Treatment:
        if staff is None:
            return cls.none(n)
        return cls(
            effects=dict(staff.setup.effects),
            until={name: until.copy() for name, until in staff.exposure.items()},
            placed_start=staff.placed_start.copy(),
            placed_until=staff.placed_until.copy(),
        )

    def take(self, idx: np.ndarray) -> Treatment:
        return Treatment(
            effects=self.effects,
            until={name: until[idx] for name, until in self.until.items()},
            placed_start=self.placed_start[idx],
            placed_until=self.placed_until[idx],
        )

    def effect(self, week: int) -> tuple[np.ndarray, np.ndarray]:
        """The summed log-hazard effect in ``week`` of the measures already decided, and who they touch
        (the rule of :meth:`data.synthetic.staff.StaffDesk.effect`)."""
        n = len(self.placed_start)
        log_effect = np.zeros(n)
        touched = np.zeros(n, dtype=bool)
        for name, effect in self.effects.items():
            under = self.until[name] >= week
            log_effect += effect.log_hazard * under
            touched |= under
        return log_effect, touched


@dataclass(frozen=True)
class StudentStates:
    """Everything the simulation holds on a chunk's students at the end of ``week``: the static
    attributes, the weekly state and the staff's measures. Nothing of the weeks after it."""

    week: int
    population: Population
    state: WorldState
    treatment: Treatment

    @property
    def enrolled(self) -> np.ndarray:
        """Started by ``week`` and not left by its end (the students a model scores at ``week``)."""
        out: np.ndarray = (self.population.start_week <= self.week) & ~self.state.exited
        return out


@dataclass(frozen=True)
class _Chunk:
    """What stays the same over the weeks of a chunk's simulation."""

    pop: Population
    config: GeneratorConfig
    loadings: np.ndarray  # (items, 4)
    lo: int
    hi: int
    mid: float
    n_items: int
    sched: np.ndarray
    max_hours: int
    scheduled_hour: np.ndarray  # (n, hours)

    @classmethod
    def of(cls, pop: Population, config: GeneratorConfig, questionnaire: Questionnaire) -> _Chunk:
        loadings = np.array(
            [[item.loadings.get(name, 0.0) for name in P.LATENT] for item in questionnaire.items]
        )
        lo, hi = questionnaire.scale_min, questionnaire.scale_max
        sched = np.where(pop.bbl, P.HOURS_BBL, P.HOURS_BOL)
        max_hours = max(P.HOURS_BBL, P.HOURS_BOL)
        return cls(
            pop=pop,
            config=config,
            loadings=loadings,
            lo=lo,
            hi=hi,
            mid=(lo + hi) / 2.0,
            n_items=len(questionnaire.items),
            sched=sched,
            max_hours=max_hours,
            scheduled_hour=np.arange(max_hours)[None, :] < sched[:, None],
        )


@dataclass
class _Record:
    """The tables collected week by week."""

    att: _Collector
    qa: _Collector
    prog: _Collector
    truth: _Collector

    @classmethod
    def new(cls) -> _Record:
        return cls(_Collector.new(), _Collector.new(), _Collector.new(), _Collector.new())


def _week(
    t: int,
    state: WorldState,
    chunk: _Chunk,
    rng: np.random.Generator,
    staff: StaffDesk | None,
    record: _Record,
) -> WorldState:
    """Simulate week ``t`` of a chunk: update ``state`` (in place, returned) and record the week's rows."""
    pop, n = chunk.pop, len(chunk.pop)
    shift, extra_absence, fatigue = scenario_shift(chunk.config, pop, t)
    events = rng.random((n, 4)) < P.LIFE_EVENT_RATE
    shock = rng.normal(0, P.SHOCK_SD, (n, 4))
    state.x, state.ewma = latent_step(state.x, state.ewma, pop.mu + shift, shock, events[:, 0])
    x, exited, streak = state.x, state.exited, state.streak
    # This week's draws, one per student (see simulate's docstring).
    u_full, u_resp, u_talk, u_exit, u_grad = rng.random((5, n))
    answer_noise = rng.normal(0, 0.7, (n, chunk.n_items))

    time = school_time(pop, t)
    started = time.started
    active = started & ~exited
    if t % WEEKS_PER_YEAR == 0:
        state.cum_exp[:] = 0.0
        state.cum_obt[:] = 0.0
    deficit = credit_deficit(state.cum_exp, state.cum_obt)
    h_untreated, h_switch, multi = weekly_hazards(pop, x, time.year1, deficit, streak)
    if staff is not None:
        log_effect, touched = staff.week(t, active, exited, streak, deficit, time.age)
        h_vsv = treated_hazard(h_untreated, log_effect, touched)
    else:
        touched = np.zeros(n, dtype=bool)
        h_vsv = h_untreated
    h_grad = graduation_hazard(time.final_week, state.cum_exp, state.cum_obt)

    keep = started & ((state.exit_week < 0) | (t <= state.exit_week + WEEKS_PER_YEAR))
    idx = np.flatnonzero(keep)
    record.truth.add(
        s=idx,
        w=np.full(len(idx), t),
        hv=h_vsv[idx],
        hs=h_switch[idx],
        hg=h_grad[idx],
        hu=np.where(touched[idx], h_untreated[idx], np.nan),
        mp=multi[idx],
    )

    p_full = full_week_probability(state.ewma, streak, extra_absence)
    u_rate, a_rate = hour_absence_rates(state.ewma, time.age >= 18, extra_absence)
    full_all = u_full < p_full
    # Hour by hour (a binomial draw would take a varying number of random values, shifting the draws
    # of every later student when one student's state changes): unauthorised with u_rate, and of the
    # other hours authorised with a_rate.
    sched, scheduled_hour = chunk.sched, chunk.scheduled_hour
    u_hours = rng.random((2, n, chunk.max_hours))
    away = (u_hours[0] < u_rate[:, None]) & scheduled_hour
    excused = (u_hours[1] < a_rate[:, None]) & scheduled_hour & ~away
    unauth_all = np.where(full_all, sched, away.sum(axis=1))
    auth_all = np.where(full_all, 0, excused.sum(axis=1))
    p_pass_draw = rng.random((n, P.UNITS_PER_PERIOD)) if is_period_end(t) else None

    a_idx = np.flatnonzero(active)
    full = full_all[a_idx]
    s = sched[a_idx]
    unauth = unauth_all[a_idx]
    auth = auth_all[a_idx]
    present = s - unauth - auth
    streak[a_idx] = np.where(full, streak[a_idx] + 1, 0)
    record.att.add(s=a_idx, w=np.full(len(a_idx), t), sc=s, pr=present, au=auth, un=unauth)
    state.per_sched[a_idx] += s
    state.per_present[a_idx] += present
    state.per_fit[a_idx] += x[a_idx, 1]
    if staff is not None:
        staff.observed.record_attendance(t, a_idx, unauth, s)

    xa = x[a_idx]
    p_resp = _sigmoid(1.1 + 0.35 * xa[:, 1] + 0.3 * xa[:, 0] - 1.2 * full + fatigue)
    resp = a_idx[u_resp[a_idx] < p_resp]
    if len(resp):
        lo, hi = chunk.lo, chunk.hi
        signal = x[resp] @ chunk.loadings.T  # (r, items)
        raw_answer = chunk.mid + signal + answer_noise[resp]
        values = np.clip(np.rint(raw_answer), lo, hi)
        # the bottom answer needs a more extreme state (see P.BOTTOM_CUT_SHIFT)
        values = np.where((values == lo) & (raw_answer > lo + 0.5 - P.BOTTOM_CUT_SHIFT), lo + 1, values)
        talk = u_talk[resp] < _sigmoid(P.TALK_INTERCEPT + 1.0 * x[resp, 2] - 0.8 * x[resp, 0])
        record.qa.add(
            s=np.repeat(resp, chunk.n_items + 1),
            w=np.full(len(resp) * (chunk.n_items + 1), t),
            i=np.tile(np.arange(chunk.n_items + 1), len(resp)),
            v=np.column_stack([values, talk]).ravel().astype(np.int8),
        )
        if staff is not None:
            staff.observed.record_answers(resp, values, talk)

    if p_pass_draw is not None:
        p_pass = pass_probability(
            pop.ability[a_idx], state.per_present[a_idx], state.per_sched[a_idx], state.per_fit[a_idx]
        )
        passed = (p_pass_draw[a_idx] < p_pass[:, None]).sum(axis=1)
        expected = np.full(len(a_idx), P.UNITS_PER_PERIOD * P.CREDITS_PER_UNIT)
        obtained = passed * P.CREDITS_PER_UNIT
        record.prog.add(
            s=a_idx,
            w=np.full(len(a_idx), t),
            p=np.full(len(a_idx), t % WEEKS_PER_YEAR // WEEKS_PER_PERIOD + 1),
            ce=expected,
            co=obtained,
            uf=P.UNITS_PER_PERIOD - passed,
        )
        state.cum_exp[a_idx] += expected
        state.cum_obt[a_idx] += obtained
        state.per_sched[a_idx] = 0.0
        state.per_present[a_idx] = 0.0
        state.per_fit[a_idx] = 0.0

    u = u_exit[a_idx]
    hv, hs = h_vsv[a_idx], h_switch[a_idx]
    leave_vsv = u < hv
    leave_switch = ~leave_vsv & (u < hv + hs)
    graduate = ~leave_vsv & ~leave_switch & (u_grad[a_idx] < h_grad[a_idx])
    for mask, label in ((leave_vsv, "vsv"), (leave_switch, "switch"), (graduate, "graduated")):
        who = a_idx[mask]
        exited[who] = True
        state.exit_week[who] = t
        state.outcome[who] = label
    return state


def simulate(
    pop: Population,
    config: GeneratorConfig,
    questionnaire: Questionnaire,
    rng: np.random.Generator,
    staff: StaffDesk | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate the weeks of a chunk of students and return the raw tables for it.

    Every draw from ``rng`` has one value per student of the chunk each week (used or not), so one student
    leaving earlier or later never shifts another student's draws. ``staff`` (with a random stream of its
    own) decides on placements and actions at the start of each week and gives the effect of the measures
    on the weekly vsv hazard; without it nobody is treated.
    """
    tables, _ = simulate_states(pop, config, questionnaire, rng, staff)
    return tables


def simulate_states(
    pop: Population,
    config: GeneratorConfig,
    questionnaire: Questionnaire,
    rng: np.random.Generator,
    staff: StaffDesk | None = None,
    capture_weeks: Collection[int] = (),
) -> tuple[dict[str, pd.DataFrame], dict[int, StudentStates]]:
    """:func:`simulate`, and a copy of the simulator's state at the end of each of ``capture_weeks``.

    Capturing only copies arrays: the tables are the same with or without it.
    """
    chunk = _Chunk.of(pop, config, questionnaire)
    state = WorldState.initial(pop, rng)
    record = _Record.new()
    wanted = set(capture_weeks)
    captured: dict[int, StudentStates] = {}
    for t in range(config.n_weeks):
        state = _week(t, state, chunk, rng, staff, record)
        if t in wanted:
            captured[t] = StudentStates(t, pop, state.copy(), Treatment.of(staff, len(pop)))

    tables = _tables(
        pop, questionnaire, record.att, record.qa, record.prog, record.truth, state.exit_week, state.outcome
    )
    last_week = config.n_weeks - 1
    if staff is not None:
        placements = staff.placements(pop.number, state.exit_week, state.outcome, last_week)
        tables["coachklas_placements"] = placements
        tables["actions"] = staff.action_table(pop.number, state.exit_week, last_week)
    else:
        tables["coachklas_placements"] = empty_placements()
        tables["actions"] = empty_actions()
    return tables, captured


def _abbrev(abbrev: dict[tuple[int, int], str], sector: int, programme: int, level: int) -> str:
    """Short programme code for team names; entree programmes are per sector."""
    return "EN" + P.SECTORS[sector][0].upper() if level == 1 else abbrev[(sector, programme)]


def _team_codes(pop: Population) -> np.ndarray:
    """Classes of at most 28 students per programme, level, route and start year."""
    frame = pd.DataFrame(
        {
            "sector": pop.sector,
            "programme": pop.programme,
            "level": pop.level,
            "bbl": pop.bbl,
            "start": pop.start_week // WEEKS_PER_YEAR,
            "number": pop.number,
        }
    )
    keys = ["sector", "programme", "level", "bbl", "start"]
    frame = frame.sort_values([*keys, "number"])
    frame["klas"] = frame.groupby(keys).cumcount() // 28
    abbrev = {
        (si, pi): "".join(w[0] for w in name.replace("-", " ").split()).upper()[:3]
        for si, s in enumerate(P.SECTORS)
        for pi, name in enumerate(P.PROGRAMMES[s])
    }
    codes = [
        f"{_abbrev(abbrev, s, p, lv)}{lv}{'L' if b else 'O'}{st % 100:02d}{chr(ord('A') + k % 26)}"
        for s, p, lv, b, st, k in zip(
            frame["sector"],
            frame["programme"],
            frame["level"],
            frame["bbl"],
            frame["start"] + 23,
            frame["klas"],
            strict=True,
        )
    ]
    out = pd.Series(codes, index=frame.index).sort_index().to_numpy()
    return out


def _tables(
    pop: Population,
    questionnaire: Questionnaire,
    att: _Collector,
    qa: _Collector,
    prog: _Collector,
    truth: _Collector,
    exit_week: np.ndarray,
    outcome: np.ndarray,
) -> dict[str, pd.DataFrame]:
    sectors = np.array(P.SECTORS)
    programme_names = np.array(
        [
            (f"Entree {P.SECTORS[s].replace('_', ' en ')}" if lv == 1 else P.PROGRAMMES[P.SECTORS[s]][p])
            for s, p, lv in zip(pop.sector, pop.programme, pop.level, strict=True)
        ]
    )
    students = pd.DataFrame(
        {
            "student_number": pop.number,
            "programme": programme_names,
            "sector": sectors[pop.sector],
            "level": pop.level,
            "route": np.where(pop.bbl, "BBL", "BOL"),
            "team": _team_codes(pop),
            "prior_education": np.array(P.PRIOR_EDUCATION)[pop.prior],
            "start_week": pop.start_week,
            "age_at_start": pop.age_at_start,
            "expected_duration_years": pop.duration,
            # What a school's export holds as the expected end ("verwachte einddatum").
            "expected_end_week": expected_end_week(pop.start_week, pop.duration),
        }
    )
    audit = pd.DataFrame(
        {
            "student_number": pop.number,
            "gender": np.array(P.GENDERS)[pop.gender],
            "migration_background": np.array(P.MIGRATION)[pop.migration],
        }
    )
    attendance = att.frame(
        {
            "s": "student",
            "w": "week",
            "sc": "scheduled_hours",
            "pr": "present_hours",
            "au": "authorised_absence_hours",
            "un": "unauthorised_absence_hours",
        }
    )
    answers = qa.frame({"s": "student", "w": "week", "i": "item", "v": "value"})
    codes = np.array(questionnaire.all_codes)
    answers["item"] = pd.Categorical(codes[answers["item"].to_numpy(dtype=int)], categories=list(codes))
    progress = prog.frame(
        {
            "s": "student",
            "w": "week",
            "p": "period",
            "ce": "credits_expected",
            "co": "credits_obtained",
            "uf": "units_failed",
        }
    )
    truth_frame = truth.frame(
        {
            "s": "student",
            "w": "week",
            "hv": "hazard_vsv",
            "hs": "hazard_switch",
            "hg": "hazard_graduate",
            "mp": "multi_problem",
            "hu": "hazard_vsv_untreated",
        }
    )
    truth_frame["multi_problem"] = truth_frame["multi_problem"].astype("int8")
    left = exit_week >= 0
    outcomes = pd.DataFrame(
        {"student_number": pop.number[left], "week": exit_week[left], "outcome": outcome[left].astype(str)}
    )
    frames = {
        "attendance_weeks": attendance,
        "questionnaire_answers": answers,
        "progress_results": progress,
        "synthetic_truth": truth_frame,
    }
    for name, frame in frames.items():
        frame.insert(0, "student_number", pop.number[frame.pop("student").to_numpy(dtype=int)])
        frames[name] = frame.sort_values(["student_number", "week"], kind="stable").reset_index(drop=True)
    return {
        "students": students,
        "audit_attributes": audit,
        **frames,
        "outcomes": outcomes.sort_values("student_number").reset_index(drop=True),
        # The synthetic college records per-period results and declares no signals of its own: both
        # tables are empty.
        **{name: _empty_export(name) for name in ("assessment_results", "school_signals")},
    }


def _empty_export(name: str) -> pd.DataFrame:
    """A table the generator leaves empty, with its columns, by student number."""
    return empty_table(name).rename(columns={"student_id": "student_number"})


def staff_setup(
    config: GeneratorConfig,
    places: int,
    questionnaire: Questionnaire,
    action_types: ActionTypes,
    calendar: SchoolCalendar,
) -> StaffSetup:
    """What the staff of a chunk with ``places`` coachklas places work with; unknown action codes in
    ``config.action_effects`` are refused."""
    unknown = sorted(set(config.action_effects) - set(action_types.codes))
    if unknown:
        raise ValueError(
            f"action_effects names action types that are not configured: {', '.join(unknown)} "
            f"(known: {', '.join(action_types.codes)})"
        )
    return StaffSetup(
        places=places,
        intake_weeks=config.coachklas_intake_weeks,
        placement_weeks=config.coachklas_weeks,
        coachklas_effect=config.coachklas_effect,
        action_share=config.action_share,
        action_effects=config.action_effects,
        action_types=action_types,
        calendar=calendar,
        higher_is_better=np.array([item.higher_is_better for item in questionnaire.items]),
        scale=(questionnaire.scale_min, questionnaire.scale_max),
    )


def coachklas_capacity(config: GeneratorConfig) -> pd.DataFrame:
    """The school's coachklas capacity (one row: the places from week 0 on); the chunks share it out."""
    return capacity_frame(config.coachklas_places)


def _chunk_world(
    config: GeneratorConfig,
    chunk_no: int,
    questionnaire: Questionnaire,
    action_types: ActionTypes,
    calendar: SchoolCalendar,
) -> tuple[Population, np.random.Generator, StaffDesk]:
    """The students, the simulation's random stream and the staff of chunk ``chunk_no``."""
    first = chunk_no * config.chunk_size
    n = config.chunk_sizes[chunk_no]
    places = chunk_places(config.coachklas_places, config.chunk_sizes)
    rng = np.random.default_rng([config.seed, chunk_no])
    pop = sample_population(rng, n, first, config)
    setup = staff_setup(config, places[chunk_no], questionnaire, action_types, calendar)
    staff_rng = np.random.default_rng([config.seed, chunk_no, STAFF_STREAM])
    staff = StaffDesk.new(setup, staff_rng, n, len(questionnaire.items))
    return pop, rng, staff


def generate_chunks(
    config: GeneratorConfig,
    questionnaire: Questionnaire | None = None,
    progress: bool = False,
    action_types: ActionTypes | None = None,
    calendar: SchoolCalendar | None = None,
) -> Iterator[dict[str, pd.DataFrame]]:
    """Yield the raw tables chunk by chunk; memory is bounded by ``config.chunk_size``.

    Each chunk holds the tables of :data:`TABLES` and the staff's :data:`STAFF_TABLES` (by student number);
    the school's coachklas capacity is :func:`coachklas_capacity`. ``action_types`` and ``calendar``
    default to the shipped configuration (the follow-up dates of actions come from the calendar).
    """
    q = questionnaire or cached_questionnaire()
    types = action_types or cached_action_types()
    school_calendar = calendar or cached_school_calendar()
    n_chunks = len(config.chunk_sizes)
    for chunk_no in tqdm(range(n_chunks), desc="generating", unit="chunk", disable=not progress):
        pop, rng, staff = _chunk_world(config, chunk_no, q, types, school_calendar)
        tables = simulate(pop, config, q, rng, staff)
        names_rng = np.random.default_rng([config.seed, chunk_no, NAMES_STREAM])
        tables["identities"] = synthetic_identities(pop.number, np.array(P.GENDERS)[pop.gender], names_rng)
        extras_rng = np.random.default_rng([config.seed, chunk_no, EXTRAS_STREAM])
        tables[SCHOOL_EXTRAS] = school_extras(pop, extras_rng)
        yield tables


def school_extras(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """Two signals a college's own systems hold at enrolment and the contract does not name, for the
    school-style export (:mod:`data.synthetic.school_export`): ``previous_attempts`` (earlier attempts at
    an mbo programme: more for earlier mbo, personal problems and low ability) and ``prior_grade`` (the
    mean mark of the prior education, 1-10: higher with ability). Both follow the student's latent traits
    at the start, which the model otherwise only sees as the year unfolds; drawn from their own random
    stream, so the simulation does not move."""
    prev_mbo = pop.prior == P.PRIOR_EDUCATION.index("mbo")
    rate = 0.12 + 0.6 * prev_mbo + 0.45 * np.maximum(pop.mu[:, 2], 0.0) + 0.25 * np.maximum(-pop.ability, 0.0)
    grade = np.clip(6.4 + 0.55 * pop.ability + rng.normal(0.0, 0.35, len(pop)), 4.0, 9.5)
    return pd.DataFrame(
        {
            "student_number": pop.number,
            "previous_attempts": rng.poisson(rate).clip(0, 6),
            "prior_grade": grade.round(1),
        }
    )


def generate_states(
    config: GeneratorConfig,
    weeks: Collection[int],
    questionnaire: Questionnaire | None = None,
    action_types: ActionTypes | None = None,
    calendar: SchoolCalendar | None = None,
) -> Iterator[tuple[dict[str, pd.DataFrame], dict[int, StudentStates]]]:
    """Chunk by chunk, the raw tables (as :func:`generate_chunks` gives them, without the identities) and
    the simulator's state at the end of each of ``weeks`` (:class:`StudentStates`).

    The same run as :func:`generate_chunks`: for the same configuration, questionnaire and action types
    the tables are the same, so the states are those of the world the tables describe.
    """
    q = questionnaire or cached_questionnaire()
    types = action_types or cached_action_types()
    school_calendar = calendar or cached_school_calendar()
    for chunk_no in range(len(config.chunk_sizes)):
        pop, rng, staff = _chunk_world(config, chunk_no, q, types, school_calendar)
        yield simulate_states(pop, config, q, rng, staff, capture_weeks=weeks)


def generate(
    config: GeneratorConfig,
    questionnaire: Questionnaire | None = None,
    action_types: ActionTypes | None = None,
    calendar: SchoolCalendar | None = None,
) -> dict[str, pd.DataFrame]:
    """All raw tables in memory, for demo and test sizes: the contract's tables (:data:`TABLES`), then the
    staff's placements and actions (:data:`STAFF_TABLES`, by student number). The capacity, one table for
    the whole school, is :func:`coachklas_capacity`."""
    chunks = list(generate_chunks(config, questionnaire, action_types=action_types, calendar=calendar))
    return {
        name: pd.concat([c[name] for c in chunks], ignore_index=True) for name in (*TABLES, *STAFF_TABLES)
    }
