"""The effect of a measure on leaving without a startkwalificatie (vsv): participants against comparable
non-participants at the same week (``vsv effect``).

A measure is the coachklas (its placements) or a mentor's action whose type is marked ``measure`` in the
college's action types (``data/action_types.yaml``). Each participant counts once, from the first start
(the first placement, or the first action of that type).

**Design: one comparison per start week.** For every week ``W`` in which participants started, the decision
was taken with what was known by the end of the week before (:data:`DECISION_LAG`): the *decision week*
``d = W - 1``. There, at the same week:

* the participants who started in ``W`` are the treated; those not enrolled at the end of ``d`` (left, or
  not yet started the programme) cannot be compared and are counted apart;
* the comparison pool is every student enrolled at the end of ``d`` who had not started the measure by
  ``W``. Students who start it *later* (within the horizon too) stay in the pool for ``W``: the question is
  "start now" against "not now", the decision staff take each week. Dropping them would keep only students
  who survived until their later start (immortal-time bias, which flatters the measure); keeping them makes
  the estimate, if anything, too small: the result reports how many of the comparison did start later;
* covariates: the same snapshot the model scores (:func:`features.snapshot` as of ``d``, the model's
  features) and, with a model, its risk score at ``d``;
* outcome: vsv in ``(d, d + horizon]`` (:func:`features.labels`; a switch is never vsv), the model's own
  label. Start weeks whose horizon has not passed by the latest week are described but not estimated.

**Estimator.** A propensity score (logistic regression of the start on the covariates, with the week's
sampling offset) fitted on the stacked weeks; per week, each participant is matched to up to
:data:`CONTROLS_PER_PARTICIPANT` nearest non-participants *of the same week* on the logit of the propensity,
within a caliper of :data:`CALIPER_SD` standard deviations (with replacement: a control used for ``m``
participants counts ``m`` times its share). A participant with at least one such control is *matched*.
On the matched sample EconML's :class:`econml.dr.LinearDRLearner` (doubly robust: logistic propensity and
logistic outcome models, strongly regularised (:data:`DR_PROPENSITY_C`: on the matched sample the groups
already look alike and vsv is rare, and unregularised fits of 75 covariates gave wild pseudo-outcomes and
intervals wider than 1), cross-fitted with the folds grouped by student) estimates the effect as a
constant on the weighted matched sample, where participants and their controls weigh the same in total
and look alike: that is the **ATT** (the average effect on the matched participants), with a 95% interval
from the final stage's heteroskedasticity-robust covariance. With a model, its risk score at ``d`` is one
of the covariates; without one, the features alone. The estimate is a difference in probability, participants
minus comparison: negative means fewer leave. The comparison pool is subsampled per week to at most
:data:`POOL_PER_PARTICIPANT` random non-participants per participant (and :data:`POOL_MAX_PER_WEEK`).

**Assumption**: no unmeasured confounding beyond the features (staff choose on what the school observes),
and every participant has comparable non-participants at the same week (overlap; see *matched*).

Beside it: the naive difference (participants' vsv rate minus the rate of *all* non-participants at the
same weeks, weeks weighted as the participants), the true effect when the store holds the generator's
hazards (:func:`true_effect`; the generator stores one hazard "without any measure", so for a participant
who got other measures too their effect is in it), a balance table (standardised mean differences before
and after matching), a description for staff (characteristics, duration, outcomes, attendance and
questionnaire index before and after) and warnings in plain Dutch (:func:`effect_warnings`).
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, select, text
from tqdm import tqdm

from data.action_types import ActionTypes
from data.questionnaire import Questionnaire, cached_questionnaire
from data.schema import CoachklasPlacement, StudentAction
from data.tables import RawTables
from data.vocabulary import (
    ACTION_OUTCOME_NL,
    BAND_INSUFFICIENT,
    BANDS,
    LEVEL_NL,
    MEASURE_COACHKLAS,
    OUTCOME_NL,
    PLACEMENT_OUTCOME_NL,
    ROUTE_NL,
)
from features.labels import labels
from features.register import features_by_name, model_features
from features.snapshot import LOOKBACK_WEEKS, snapshot
from monitoring.model import MonitoredModel, band_weeks

FloatArray = npt.NDArray[np.float64]

DECISION_LAG = 1  # the decision week is the week before the start: what was known when staff chose
CONTROLS_PER_PARTICIPANT = 10  # nearest non-participants per participant (same week, within the caliper)
POOL_PER_PARTICIPANT = 100  # random non-participants per participant per week the propensity is fitted on
POOL_MAX_PER_WEEK = 4000
CALIPER_SD = 0.2  # caliper on the logit of the propensity, in standard deviations (Austin 2011)
MIN_PARTICIPANTS = 200
MIN_MATCHED_SHARE = 0.70
MAX_ABS_SMD = 0.1
MIN_TO_ESTIMATE = 10  # matched participants below which no effect is estimated at all
CROSS_FIT_FOLDS = 3
DR_PROPENSITY_C = 0.01  # inverse L2 penalty of the doubly robust nuisance models (standardised covariates)
DR_OUTCOME_C = 0.01
MIN_PROPENSITY = 0.01  # propensities are clipped here in the doubly robust pseudo-outcomes
WINDOW_WEEKS = 4  # attendance and questionnaire index: the 4 weeks before against the 4 weeks from the start
LATER_STARTERS_NOTE = 0.10  # say so when more of the comparison than this started later within the horizon
RISK_COLUMN = "risk_at_start"
RISK_NL_MODEL = "risicoscore van het model bij de start"
RISK_NL_OWN = "zonder model: alleen de kenmerken"
NOT_ENROLLED_OUTCOME = "enrolled"
OUTCOME_IN_HORIZON_NL = {**OUTCOME_NL, NOT_ENROLLED_OUTCOME: "nog ingeschreven"}
NO_OUTCOME_NL = "nog geen uitkomst vastgelegd"
ATTENDANCE, QUESTIONNAIRE_INDEX = "aanwezigheid", "vragenlijstindex"
PARTICIPANTS_NL, COMPARISON_NL = "deelnemers", "vergelijkingsgroep"

METHOD_NL = (
    "Per startweek worden de deelnemers vergeleken met studenten die in dezelfde week ingeschreven waren en "
    "(nog) niet aan de maatregel begonnen, op wat de school de week vóór de start wist: de kenmerken die "
    "het model gebruikt en, als er een model is, de risicoscore. Elke deelnemer krijgt tot "
    f"{CONTROLS_PER_PARTICIPANT} vergelijkbare studenten uit dezelfde week (op de kans om deel te nemen, "
    "de propensity score). Daarop schat een dubbel robuuste schatter (EconML LinearDRLearner) het "
    "verschil in de kans op voortijdig vertrek zonder startkwalificatie binnen de horizon: deelnemers min "
    "vergelijkingsgroep, met een 95%-betrouwbaarheidsinterval. Negatief betekent: minder vertrek."
)
ASSUMPTIONS_NL = (
    "De schatting klopt alleen als de keuze wie deelnam niet afhing van iets wat de kenmerken niet meten "
    "(wat een mentor in een gesprek hoorde, bijvoorbeeld), en als er voor de deelnemers vergelijkbare "
    "niet-deelnemers waren in dezelfde week. Studenten die later zelf begonnen, tellen in de week ervoor "
    "mee als vergelijking: het effect gaat over 'nu beginnen' tegenover 'nu (nog) niet'."
)


# --- results ---------------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 6) -> float | None:
    """A JSON-safe float: None for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


@dataclass(frozen=True, kw_only=True)
class BalanceRow:
    """One covariate: means of participants and comparison, and the standardised mean difference (SMD)
    before matching (all participants against the whole comparison pool) and after (matched participants
    against the matched comparison, weighted), both on the standard deviation before matching."""

    covariate: str
    description: str
    mean_participants: float
    mean_comparison: float
    mean_participants_matched: float
    mean_comparison_matched: float
    smd_before: float
    smd_after: float

    def to_json(self) -> dict[str, Any]:
        return {
            "covariate": self.covariate,
            "description": self.description,
            "mean_participants": _number(self.mean_participants),
            "mean_comparison": _number(self.mean_comparison),
            "mean_participants_matched": _number(self.mean_participants_matched),
            "mean_comparison_matched": _number(self.mean_comparison_matched),
            "smd_before": _number(self.smd_before, 4),
            "smd_after": _number(self.smd_after, 4),
        }


@dataclass(frozen=True, kw_only=True)
class Count:
    """How many participants have one value (a level, a route, an outcome), with its Dutch label."""

    code: str
    label: str
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "n": self.n}


@dataclass(frozen=True, kw_only=True)
class BeforeAfter:
    """Mean attendance rate or questionnaire index of a group in the :data:`WINDOW_WEEKS` weeks before the
    start (``W - 4 .. W - 1``) and from the start (``W .. W + 3``), over the students with data then."""

    indicator: str
    group: str
    before: float | None
    after: float | None
    n_before: int
    n_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "group": self.group,
            "before": _number(self.before, 4),
            "after": _number(self.after, 4),
            "n_before": self.n_before,
            "n_after": self.n_after,
        }


@dataclass(frozen=True, kw_only=True)
class Description:
    """Who took part and what came of it, for staff: over every participant enrolled the week before the
    start (also those whose horizon has not passed yet)."""

    levels: tuple[Count, ...] = ()
    routes: tuple[Count, ...] = ()
    years_of_study: tuple[Count, ...] = ()
    bands_at_start: tuple[Count, ...] = ()  # empty without a model
    duration_weeks_mean: float | None = None  # coachklas: ended placements, end - start + 1
    duration_weeks_median: float | None = None
    still_running: int | None = None  # coachklas: placements without an end
    measure_outcomes: tuple[Count, ...] = ()  # what was recorded for the placement or the action
    outcomes_in_horizon: tuple[Count, ...] = ()  # vsv / switch / diploma / still enrolled (mature only)
    before_after: tuple[BeforeAfter, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def counts(items: tuple[Count, ...]) -> list[dict[str, Any]]:
            return [c.to_json() for c in items]

        return {
            "levels": counts(self.levels),
            "routes": counts(self.routes),
            "years_of_study": counts(self.years_of_study),
            "bands_at_start": counts(self.bands_at_start),
            "duration_weeks_mean": _number(self.duration_weeks_mean, 2),
            "duration_weeks_median": _number(self.duration_weeks_median, 2),
            "still_running": self.still_running,
            "measure_outcomes": counts(self.measure_outcomes),
            "outcomes_in_horizon": counts(self.outcomes_in_horizon),
            "before_after": [b.to_json() for b in self.before_after],
        }


@dataclass(frozen=True, kw_only=True)
class EffectResult:
    """The evaluation of one measure: everything the command line and a page show.

    ``participants``: students whose first start falls in the period (``since`` on); ``analysed``: those of
    them enrolled the week before the start and whose horizon has passed; ``matched``: those of the analysed
    with comparable non-participants at the same week (the estimate is about them, and so is
    ``true_effect``). ``estimate``, ``ci_low``, ``ci_high``: the effect on vsv within ``horizon`` weeks, a
    difference in probability (participants minus comparison; negative means fewer leave); None when there
    is nothing to estimate (``warnings`` say why). ``true_effect``: only for generated data (None otherwise).
    """

    measure: str
    label: str
    horizon: int
    since: int | None
    participants: int
    analysed: int
    matched: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    naive_difference: float | None
    true_effect: float | None
    true_effect_analysed: float | None = None  # over all analysed participants, matched or not
    vsv_rate_participants: float | None = None  # analysed participants, observed
    vsv_rate_non_participants: float | None = None  # all non-participants at the same weeks (the naive)
    vsv_rate_comparison: float | None = None  # the matched comparison, weighted
    comparison_students: int = 0  # distinct students in the matched comparison
    comparison_later_share: float | None = None  # of the matched comparison: started later within horizon
    not_enrolled_at_start: int = 0  # participants not enrolled the week before their start
    not_yet_mature: int = 0  # participants whose horizon has not passed
    start_weeks: tuple[int, ...] = ()
    first_start_week: int | None = None
    last_start_week: int | None = None
    risk_source: str = ""
    model_version: str | None = None
    balance: tuple[BalanceRow, ...] = ()
    description: Description = field(default_factory=Description)
    warnings: tuple[str, ...] = ()
    conclusion: str = ""
    method: str = METHOD_NL
    assumptions: str = ASSUMPTIONS_NL

    @property
    def matched_share(self) -> float | None:
        return self.matched / self.analysed if self.analysed else None

    def max_abs_smd_after(self) -> float | None:
        values = [abs(b.smd_after) for b in self.balance if math.isfinite(b.smd_after)]
        return max(values) if values else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (plain types; undefined numbers as None), one object per measure."""
        return {
            "measure": self.measure,
            "label": self.label,
            "horizon": self.horizon,
            "since": self.since,
            "participants": self.participants,
            "analysed": self.analysed,
            "matched": self.matched,
            "matched_share": _number(self.matched_share, 4),
            "estimate": _number(self.estimate),
            "ci_low": _number(self.ci_low),
            "ci_high": _number(self.ci_high),
            "naive_difference": _number(self.naive_difference),
            "true_effect": _number(self.true_effect),
            "true_effect_analysed": _number(self.true_effect_analysed),
            "vsv_rate_participants": _number(self.vsv_rate_participants),
            "vsv_rate_non_participants": _number(self.vsv_rate_non_participants),
            "vsv_rate_comparison": _number(self.vsv_rate_comparison),
            "comparison_students": self.comparison_students,
            "comparison_later_share": _number(self.comparison_later_share, 4),
            "not_enrolled_at_start": self.not_enrolled_at_start,
            "not_yet_mature": self.not_yet_mature,
            "start_weeks": list(self.start_weeks),
            "first_start_week": self.first_start_week,
            "last_start_week": self.last_start_week,
            "risk_source": self.risk_source,
            "model_version": self.model_version,
            "max_abs_smd_after": _number(self.max_abs_smd_after(), 4),
            "balance": [b.to_json() for b in self.balance],
            "description": self.description.to_json(),
            "warnings": list(self.warnings),
            "conclusion": self.conclusion,
            "method": self.method,
            "assumptions": self.assumptions,
        }


# --- measures and their participants --------------------------------------------------------------------


def known_measures(action_types: ActionTypes) -> tuple[str, ...]:
    """The measures ``vsv effect`` evaluates: the coachklas, then the action types marked ``measure``."""
    return (MEASURE_COACHKLAS, *action_types.measures)


def measure_label(measure: str, action_types: ActionTypes) -> str:
    return "Coachklas" if measure == MEASURE_COACHKLAS else action_types.label(measure)


def check_measures(requested: str, action_types: ActionTypes) -> tuple[str, ...]:
    """``all`` or one known measure; a :class:`ValueError` naming the known ones otherwise."""
    known = known_measures(action_types)
    if requested == "all":
        return known
    if requested not in known:
        raise ValueError(f"unknown measure {requested!r}; known measures: {', '.join(known)} (or all)")
    return (requested,)


@dataclass(frozen=True)
class MeasureRecords:
    """What staff recorded: coachklas placements (student_id, start_week, end_week, outcome) and actions
    (student_id, week, action, outcome)."""

    placements: pd.DataFrame
    actions: pd.DataFrame


def load_measure_records(engine: Engine) -> MeasureRecords:
    """The placements and actions from the store (only the columns an evaluation reads)."""
    p, a = CoachklasPlacement, StudentAction
    with engine.connect() as conn:
        placements = pd.read_sql(
            select(p.student_id, p.start_week, p.end_week, p.outcome).order_by(p.placement_id), conn
        )
        actions = pd.read_sql(select(a.student_id, a.week, a.action, a.outcome).order_by(a.action_id), conn)
    return MeasureRecords(placements=placements, actions=actions)


LOAD_CHUNK_ROWS = 1_000_000
_WEEKLY_COLUMNS = {
    "questionnaire_answers": ("week", "item", "value"),
    "attendance_weeks": (
        "week",
        "scheduled_hours",
        "present_hours",
        "authorised_absence_hours",
        "unauthorised_absence_hours",
    ),
    "synthetic_truth": ("week", "hazard_vsv", "hazard_vsv_untreated", "hazard_switch", "hazard_graduate"),
}


def _read_compact(engine: Engine, table: str, students: pd.Index, items: Sequence[str] = ()) -> pd.DataFrame:
    """A long weekly table ordered by week, read in chunks of :data:`LOAD_CHUNK_ROWS` rows, with the student
    (and the item) as categories and small number types: a college's answers (tens of millions of rows)
    then take a few hundred MB instead of several GB of Python strings."""
    columns = _WEEKLY_COLUMNS[table]
    query = text(f"SELECT student_id, {', '.join(columns)} FROM {table}")
    student_type = pd.CategoricalDtype(students)
    item_type = pd.CategoricalDtype(pd.Index(items)) if items else None
    parts = []
    with engine.connect() as conn:
        for chunk in pd.read_sql(query, conn, chunksize=LOAD_CHUNK_ROWS):
            chunk["student_id"] = chunk["student_id"].astype(student_type)
            chunk["week"] = chunk["week"].astype(np.int32)
            if item_type is not None:
                chunk["item"] = chunk["item"].astype(item_type)
                chunk["value"] = chunk["value"].astype(np.int16)
            parts.append(chunk)
    if not parts:
        return pd.DataFrame({"student_id": pd.Series(dtype=student_type), **{c: [] for c in columns}})
    return _by_week(pd.concat(parts, ignore_index=True))


def load_effect_tables(engine: Engine, questionnaire: Questionnaire) -> tuple[RawTables, pd.DataFrame]:
    """The model's raw tables and the synthetic truth (empty for a real college) from the store, for an
    evaluation: the same rows as :func:`data.store.load_raw_tables`, with the long weekly tables compact
    (:func:`_read_compact`). Answers to items the questionnaire does not have (retired ones) are dropped."""
    from data.store import read_table

    students = read_table(engine, "students")
    ids = pd.Index(students["student_id"].astype(str))
    answers = _read_compact(engine, "questionnaire_answers", ids, questionnaire.all_codes)
    answers = answers.loc[answers["item"].notna()].reset_index(drop=True)
    tables = RawTables(
        students=students,
        questionnaire_answers=answers,
        attendance_weeks=_read_compact(engine, "attendance_weeks", ids),
        progress_results=read_table(engine, "progress_results"),
        outcomes=read_table(engine, "outcomes"),
        assessment_results=read_table(engine, "assessment_results"),
        school_signals=read_table(engine, "school_signals"),
    )
    return tables, _read_compact(engine, "synthetic_truth", ids)


def first_starts(measure: str, records: MeasureRecords) -> pd.DataFrame:
    """One row per participant, from their first start: ``student_id``, ``start_week``, ``end_week``
    (coachklas; missing while placed or for actions) and ``outcome`` (what was recorded, or missing)."""
    if measure == MEASURE_COACHKLAS:
        frame = records.placements.rename(columns={"start_week": "start_week"})
        frame = frame[["student_id", "start_week", "end_week", "outcome"]]
    else:
        frame = records.actions.loc[records.actions["action"] == measure, ["student_id", "week", "outcome"]]
        frame = frame.rename(columns={"week": "start_week"})
        frame["end_week"] = pd.NA
    frame = frame.sort_values(["student_id", "start_week"], kind="stable")
    first = frame.drop_duplicates("student_id", keep="first").reset_index(drop=True)
    first["start_week"] = first["start_week"].astype(np.int64)
    first["end_week"] = first["end_week"].astype("Int64")
    recorded = first["outcome"].notna() & (first["outcome"].astype(str) != "")
    first["outcome"] = [
        value if known else None for value, known in zip(first["outcome"], recorded, strict=True)
    ]
    return first[["student_id", "start_week", "end_week", "outcome"]]


# --- the rows: one comparison per start week --------------------------------------------------------------


@dataclass
class MeasureRows:
    """The stacked comparisons of one measure.

    ``rows``: one row per participant (``treated``) and per sampled non-participant of each start week,
    with ``week`` (the start week), ``as_of`` (the decision week), ``student_id``, ``vsv``,
    ``outcome_in_horizon``, ``mature``, ``later_start`` (a non-participant who started within the horizon),
    ``sampling_offset`` (minus the log of the week's sampling fraction), the covariates, ``risk_at_start``
    and ``band`` (with a model). ``non_participants``: per mature start week, all non-participants
    (``n``) and their vsv count (``vsv``) and the week's participants (``treated``), for the naive
    difference.
    """

    measure: str
    starts: pd.DataFrame
    rows: pd.DataFrame
    non_participants: pd.DataFrame
    not_enrolled_at_start: int


class _WeeklyTables:
    """The raw tables with answers and attendance sorted by week, so that a decision week's snapshot reads
    a slice (the last :data:`features.LOOKBACK_WEEKS` weeks) instead of copying whole tables; and each
    row's student as an integer (its position in ``students``) for quick look-ups of a few students."""

    def __init__(self, tables: RawTables) -> None:
        self.tables = tables
        self.students = pd.Index(tables.students["student_id"].astype(str))
        self.answers = _by_week(tables.questionnaire_answers)
        self.attendance = _by_week(tables.attendance_weeks)
        # int64 like the bounds searched for: a narrower array would be converted on every search
        self._answer_weeks = self.answers["week"].to_numpy(dtype=np.int64)
        self._attendance_weeks = self.attendance["week"].to_numpy(dtype=np.int64)
        self._answer_codes = self.codes(self.answers["student_id"])
        self._attendance_codes = self.codes(self.attendance["student_id"])

    def codes(self, ids: pd.Series) -> npt.NDArray[np.int64]:
        """The position of each id in ``students`` (-1 for an unknown one)."""
        if isinstance(ids.dtype, pd.CategoricalDtype):
            per_category = self.students.get_indexer(pd.Index(ids.cat.categories.astype(str)))
            raw = ids.cat.codes.to_numpy()
            return np.where(raw >= 0, per_category[raw], -1).astype(np.int64)
        return np.asarray(self.students.get_indexer(pd.Index(ids.astype(str))), dtype=np.int64)

    @staticmethod
    def _span(weeks: npt.NDArray[Any], low: int, high: int) -> slice:
        """Positions of the rows with ``low < week <= high``."""
        start, stop = np.searchsorted(weeks, low, side="right"), np.searchsorted(weeks, high, side="right")
        return slice(int(start), int(stop))

    def at(self, as_of: int) -> RawTables:
        low = as_of - LOOKBACK_WEEKS
        return RawTables(
            students=self.tables.students,
            questionnaire_answers=self.answers.iloc[self._span(self._answer_weeks, low, as_of)],
            attendance_weeks=self.attendance.iloc[self._span(self._attendance_weeks, low, as_of)],
            progress_results=self.tables.progress_results,
            outcomes=self.tables.outcomes,
            assessment_results=self.tables.assessment_results,
            school_signals=self.tables.school_signals,
        )

    def attendance_of(self, students: npt.NDArray[np.int64], low: int, high: int) -> pd.DataFrame:
        """Attendance rows of the students (codes) with ``low < week <= high``, with their ``code``."""
        return self._of(self.attendance, self._attendance_codes, self._attendance_weeks, students, low, high)

    def answers_of(self, students: npt.NDArray[np.int64], low: int, high: int) -> pd.DataFrame:
        return self._of(self.answers, self._answer_codes, self._answer_weeks, students, low, high)

    def _of(
        self,
        frame: pd.DataFrame,
        codes: npt.NDArray[np.int64],
        weeks: npt.NDArray[Any],
        students: npt.NDArray[np.int64],
        low: int,
        high: int,
    ) -> pd.DataFrame:
        span = self._span(weeks, low, high)
        mine = np.flatnonzero(np.isin(codes[span], students)) + span.start
        out: pd.DataFrame = frame.iloc[mine].drop(columns="student_id")
        out.insert(0, "code", codes[mine])
        return out


def _by_week(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = frame if frame["week"].is_monotonic_increasing else frame.sort_values("week", kind="stable")
    out: pd.DataFrame = ordered.reset_index(drop=True)
    return out


def _rng(measure: str, week: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(measure.encode()), week + 10_000])


def collect_rows(
    tables: RawTables,
    starts: Mapping[str, pd.DataFrame],
    *,
    horizon: int,
    covariates: Sequence[str],
    model: MonitoredModel | None = None,
    questionnaire: Questionnaire | None = None,
    since: int | None = None,
    max_week: int | None = None,
    seed: int = 0,
    progress: bool = False,
    weekly: _WeeklyTables | None = None,
) -> dict[str, MeasureRows]:
    """The comparison rows of every measure in ``starts`` (its :func:`first_starts`, all of them: the
    comparison at a week leaves out everyone who started by then, also before ``since``), in one pass over
    the decision weeks: each week's snapshot is computed once for all measures."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 week, got {horizon}")
    q = questionnaire or cached_questionnaire()
    weekly = weekly or _WeeklyTables(tables)
    if max_week is None:
        max_week = tables.latest_week()
    last = max_week if max_week is not None else -(10**9)
    in_period = {
        m: s.loc[(s["start_week"] >= since) if since is not None else slice(None)] for m, s in starts.items()
    }
    by_week: dict[int, list[str]] = {}
    for measure, frame in in_period.items():
        for week in sorted(set(frame["start_week"].tolist())):
            if week - DECISION_LAG <= last:
                by_week.setdefault(int(week), []).append(measure)
    parts: dict[str, list[pd.DataFrame]] = {m: [] for m in starts}
    naive: dict[str, list[dict[str, int]]] = {m: [] for m in starts}
    enrolled_count: dict[str, int] = dict.fromkeys(starts, 0)
    first_of = {m: s.set_index("student_id")["start_week"] for m, s in starts.items()}
    weeks = sorted(by_week)
    for week in tqdm(weeks, desc="startweken", unit="week", disable=not progress):
        as_of = week - DECISION_LAG
        snap = snapshot(weekly.at(as_of), as_of, q)
        if snap.empty:
            continue
        outcome = labels(tables, as_of, horizon, max_week=last)
        snap = snap.merge(outcome[["student_id", "vsv", "outcome_in_horizon"]], on="student_id", how="left")
        if model is not None:
            risk = np.asarray(model.predict_proba(snap), dtype=np.float64)
            snap[RISK_COLUMN] = risk
            band = np.asarray(model.thresholds.band(risk, band_weeks(snap)), dtype=object)
            snap["band"] = np.where(snap["insufficient_data"].to_numpy(dtype=bool), BAND_INSUFFICIENT, band)
        mature = as_of + horizon <= last
        ids = snap["student_id"]
        vsv = snap["vsv"].to_numpy()
        columns = _row_columns(snap, covariates)
        snap = snap.astype({c: np.float32 for c in covariates if c in snap.columns and c != RISK_COLUMN})
        for measure in by_week[week]:
            first = ids.map(first_of[measure])
            treated = (first == week).to_numpy()
            enrolled_count[measure] += int(treated.sum())
            eligible = (first.isna() | (first > week)).to_numpy()
            later = ((first > week) & (first <= as_of + horizon)).to_numpy()
            keep = treated.copy()
            offset = 0.0
            if mature and treated.any():
                pool = np.flatnonzero(eligible)
                wanted = min(len(pool), POOL_PER_PARTICIPANT * int(treated.sum()), POOL_MAX_PER_WEEK)
                chosen = (
                    _rng(measure, week, seed).choice(pool, size=wanted, replace=False) if wanted else pool
                )
                keep[chosen] = True
                offset = -math.log(wanted / len(pool)) if wanted else 0.0
                naive[measure].append(
                    {"week": week, "treated": int(treated.sum()), "n": len(pool), "vsv": int(vsv[pool].sum())}
                )
            part = snap.loc[keep, columns]
            part.insert(0, "week", week)
            part.insert(1, "as_of", as_of)
            part.insert(3, "treated", treated[keep])
            part.insert(4, "later_start", later[keep])
            part.insert(5, "mature", mature)
            part["sampling_offset"] = offset
            parts[measure].append(part)
    out: dict[str, MeasureRows] = {}
    for measure, frames in parts.items():
        period = in_period[measure]
        started = period.loc[period["start_week"] - DECISION_LAG <= last]
        rows = pd.concat(frames, ignore_index=True) if frames else _empty_rows(covariates, model is not None)
        out[measure] = MeasureRows(
            measure=measure,
            starts=period,
            rows=rows,
            non_participants=pd.DataFrame(naive[measure], columns=["week", "treated", "n", "vsv"]),
            not_enrolled_at_start=len(started) - enrolled_count[measure],
        )
    return out


def _row_columns(frame: pd.DataFrame, covariates: Sequence[str]) -> list[str]:
    extra = [c for c in (RISK_COLUMN, "band") if c in frame.columns]
    base = ["student_id", "vsv", "outcome_in_horizon"]
    return [*base, *extra, *[c for c in covariates if c not in extra]]


def _empty_rows(covariates: Sequence[str], with_model: bool) -> pd.DataFrame:
    columns = ["week", "as_of", "student_id", "treated", "vsv", "outcome_in_horizon", "mature", "later_start"]
    columns += [RISK_COLUMN, "band"] if with_model else []
    columns += [*covariates, "sampling_offset"]
    return pd.DataFrame(columns=columns)


# --- the estimator -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """The doubly robust ATT on the matched sample, with what the balance table and the page need.

    ``weights`` (per row of the input): 1 for a matched participant, the summed matching shares for a
    comparison row, 0 for the rest. ``estimate`` is None when there were too few matched participants or
    no vsv at all among the matched (``reason`` says which).
    """

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    analysed: int
    matched: int
    weights: FloatArray
    propensity: FloatArray
    reason: str | None = None


def _standardise(values: FloatArray) -> FloatArray:
    centre = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    out: FloatArray = (values - centre) / scale
    return out


def _varying(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns that vary in ``frame`` (a constant column says nothing and can upset a fit)."""
    return [c for c in columns if frame[c].nunique(dropna=False) > 1]


def _logistic(c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000)


def propensity_scores(rows: pd.DataFrame, covariates: Sequence[str]) -> FloatArray:
    """P(start | covariates, the week's sampling offset) from a logistic regression on all rows."""
    columns = _varying(rows, covariates)
    x = rows[columns].to_numpy(dtype=np.float64) if columns else np.zeros((len(rows), 1))
    if "sampling_offset" in rows.columns:
        x = np.column_stack([x, rows["sampling_offset"].to_numpy(dtype=np.float64)])
    t = rows["treated"].to_numpy(dtype=bool).astype(int)
    model = _logistic().fit(_standardise(x), t)
    out: FloatArray = np.clip(model.predict_proba(_standardise(x))[:, 1], 1e-6, 1 - 1e-6)
    return out


def match_within_weeks(
    weeks: npt.NDArray[Any],
    treated: npt.NDArray[np.bool_],
    propensity: FloatArray,
    controls_per_participant: int = CONTROLS_PER_PARTICIPANT,
    caliper_sd: float = CALIPER_SD,
) -> FloatArray:
    """Matching weights: per week, each participant's up to ``controls_per_participant`` nearest
    non-participants of the same week on the logit of the propensity, within ``caliper_sd`` standard
    deviations of that logit (over all rows). A matched participant weighs 1, a control the sum of
    ``1/m`` over the participants it serves (``m`` their number of controls); the rest 0."""
    logit = np.log(propensity / (1.0 - propensity))
    caliper = caliper_sd * float(logit.std()) if len(logit) > 1 else 0.0
    weights = np.zeros(len(logit))
    for week in np.unique(weeks):
        in_week = weeks == week
        t_idx = np.flatnonzero(in_week & treated)
        c_idx = np.flatnonzero(in_week & ~treated)
        if len(t_idx) == 0 or len(c_idx) == 0:
            continue
        order = np.argsort(logit[c_idx], kind="stable")
        c_sorted, c_logit = c_idx[order], logit[c_idx][order]
        k = min(controls_per_participant, len(c_sorted))
        for i in t_idx:
            pos = int(np.searchsorted(c_logit, logit[i]))
            lo, hi = max(0, pos - k), min(len(c_sorted), pos + k)
            distance = np.abs(c_logit[lo:hi] - logit[i])
            nearest = np.argsort(distance, kind="stable")[:k]
            nearest = nearest[distance[nearest] <= caliper]
            if len(nearest) == 0:
                continue
            weights[i] = 1.0
            weights[c_sorted[lo:hi][nearest]] += 1.0 / len(nearest)
    return weights


def estimate_att(
    rows: pd.DataFrame,
    covariates: Sequence[str],
    *,
    controls_per_participant: int = CONTROLS_PER_PARTICIPANT,
    caliper_sd: float = CALIPER_SD,
    seed: int = 0,
) -> Estimate:
    """The average effect on the matched participants (ATT) with a 95% interval.

    ``rows`` needs ``week``, ``student_id``, ``treated``, ``vsv``, the ``covariates`` and may have
    ``sampling_offset`` (used by the propensity only). The doubly robust fit runs on the matched sample with
    the matching weights: there participants and their controls weigh the same in total and the controls
    look like the participants, so its (weighted) average effect is the effect on the participants.
    """
    from econml.dr import LinearDRLearner

    treated = rows["treated"].to_numpy(dtype=bool)
    analysed = int(treated.sum())
    empty = np.zeros(len(rows))
    if analysed == 0 or treated.all():
        return Estimate(
            estimate=None,
            ci_low=None,
            ci_high=None,
            analysed=analysed,
            matched=0,
            weights=empty,
            propensity=empty,
            reason="geen deelnemers" if analysed == 0 else "geen vergelijkingsgroep",
        )
    propensity = propensity_scores(rows, covariates)
    weights = match_within_weeks(
        rows["week"].to_numpy(), treated, propensity, controls_per_participant, caliper_sd
    )
    matched = int((weights[treated] > 0).sum())

    def no_estimate(reason: str) -> Estimate:
        return Estimate(
            estimate=None,
            ci_low=None,
            ci_high=None,
            analysed=analysed,
            matched=matched,
            weights=weights,
            propensity=propensity,
            reason=reason,
        )

    keep = weights > 0
    y = rows["vsv"].to_numpy(dtype=np.int64)[keep]
    if matched < MIN_TO_ESTIMATE:
        return no_estimate(f"minder dan {MIN_TO_ESTIMATE} deelnemers met een vergelijkingsgroep")
    if y.sum() == 0:
        return no_estimate(
            "niemand in de vergelijking vertrok voortijdig, dus er is geen verschil te schatten"
        )
    sample = rows.loc[keep]
    columns = _varying(sample, covariates)
    w = _standardise(sample[columns].to_numpy(dtype=np.float64)) if columns else np.zeros((len(sample), 1))
    t = treated[keep].astype(int)
    learner = LinearDRLearner(
        model_propensity=_logistic(DR_PROPENSITY_C),
        model_regression=_logistic(DR_OUTCOME_C),
        discrete_outcome=True,
        cv=CROSS_FIT_FOLDS,
        min_propensity=MIN_PROPENSITY,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        learner.fit(
            y,
            t,
            X=None,
            W=w,
            sample_weight=weights[keep],
            groups=sample["student_id"].astype(str).to_numpy(),
            inference="statsmodels",
        )
        inference = learner.ate_inference()
        low, high = inference.conf_int_mean(alpha=0.05)
        point = float(np.ravel(inference.mean_point)[0])
    return Estimate(
        estimate=point,
        ci_low=float(np.ravel(low)[0]),
        ci_high=float(np.ravel(high)[0]),
        analysed=analysed,
        matched=matched,
        weights=weights,
        propensity=propensity,
    )


# --- balance, naive difference, the truth ---------------------------------------------------------------


def _weighted_mean(values: FloatArray, weights: FloatArray) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else float("nan")


def balance_table(
    frame: pd.DataFrame,
    covariates: Sequence[str],
    weights: FloatArray,
    descriptions: Mapping[str, str],
) -> tuple[BalanceRow, ...]:
    """Standardised mean differences per covariate, before and after matching (see :class:`BalanceRow`).

    The SD is ``sqrt((var_participants + var_comparison) / 2)`` before matching; a covariate constant in
    both groups has an SMD of 0."""
    treated = frame["treated"].to_numpy(dtype=bool)
    t_after = np.where(treated, weights, 0.0)
    c_after = np.where(~treated, weights, 0.0)
    out = []
    for name in covariates:
        values = frame[name].to_numpy(dtype=np.float64)
        mt, mc = float(values[treated].mean()), float(values[~treated].mean())
        sd = math.sqrt((float(values[treated].var()) + float(values[~treated].var())) / 2.0)
        mt_after, mc_after = _weighted_mean(values, t_after), _weighted_mean(values, c_after)

        def smd(a: float, b: float, sd: float = sd) -> float:
            if sd > 0:
                return (a - b) / sd
            return (
                0.0
                if a == b or not (math.isfinite(a) and math.isfinite(b))
                else math.copysign(math.inf, a - b)
            )

        out.append(
            BalanceRow(
                covariate=name,
                description=descriptions.get(name, name.replace("_", " ")),
                mean_participants=mt,
                mean_comparison=mc,
                mean_participants_matched=mt_after,
                mean_comparison_matched=mc_after,
                smd_before=smd(mt, mc),
                smd_after=smd(mt_after, mc_after),
            )
        )
    return tuple(out)


def naive_difference(participant_vsv: npt.NDArray[Any], non_participants: pd.DataFrame) -> float | None:
    """Participants' vsv rate minus the vsv rate of all non-participants at the same start weeks (each week's
    rate weighted by its number of participants)."""
    frame = non_participants.loc[non_participants["n"] > 0]
    if len(participant_vsv) == 0 or frame.empty or frame["treated"].sum() == 0:
        return None
    rate = frame["vsv"] / frame["n"]
    comparison = float((rate * frame["treated"]).sum() / frame["treated"].sum())
    return float(np.mean(participant_vsv)) - comparison


def _risk_in_window(window: pd.DataFrame, hazard: str) -> pd.Series:
    """P(vsv in the window) per pair, its weeks in order (the formula of the oracle risk)."""
    stay = (1.0 - window[hazard] - window["hazard_switch"]).clip(lower=0.0) * (
        1.0 - window["hazard_graduate"]
    )
    survival_after = stay.groupby(window["pair"]).cumprod()
    survival_before = (survival_after / stay.replace(0.0, np.nan)).fillna(0.0)
    first = ~window["pair"].duplicated()
    survival_before[first] = 1.0
    return (window[hazard] * survival_before).groupby(window["pair"]).sum()


def true_effect(truth: pd.DataFrame | None, participants: pd.DataFrame, horizon: int) -> float | None:
    """The mean over ``participants`` (``student_id``, ``as_of``) of P(vsv in ``(as_of, as_of + horizon]``
    | the hazards they had) minus the same with the hazards without any measure, from the generator's
    weekly hazards (switch and graduation as competing risks, the formula of
    :func:`data.synthetic.oracle.oracle_risk`). None for a store without synthetic truth or without the
    untreated hazard.

    The untreated hazard is "without any measure": for a participant who also got other measures within
    the horizon, their effect is part of this difference too."""
    if truth is None or truth.empty or "hazard_vsv_untreated" not in truth.columns or participants.empty:
        return None
    pairs = participants[["student_id", "as_of"]].reset_index(drop=True)
    pairs["pair"] = np.arange(len(pairs))
    columns = ["student_id", "week", "hazard_vsv", "hazard_vsv_untreated", "hazard_switch", "hazard_graduate"]
    mine = truth.loc[truth["student_id"].isin(set(pairs["student_id"])), columns]
    window = mine.merge(pairs, on="student_id")
    window = window.loc[(window["week"] > window["as_of"]) & (window["week"] <= window["as_of"] + horizon)]
    window = window.sort_values(["pair", "week"], kind="stable").reset_index(drop=True)
    window["untreated"] = window["hazard_vsv_untreated"].fillna(window["hazard_vsv"])
    treated = _risk_in_window(window, "hazard_vsv").reindex(pairs["pair"]).fillna(0.0)
    untreated = _risk_in_window(window, "untreated").reindex(pairs["pair"]).fillna(0.0)
    return float((treated - untreated).mean())


# --- description -------------------------------------------------------------------------------------------


def _counts(
    values: Iterable[Any], labels_nl: Mapping[Any, str], order: Sequence[Any] = ()
) -> tuple[Count, ...]:
    cleaned = [
        "__none__" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v
        for v in values
    ]
    counted = pd.Series(cleaned, dtype=object).value_counts()
    keys = [k for k in order if k in counted.index] + sorted(
        (k for k in counted.index if k not in order), key=str
    )
    return tuple(
        Count(
            code="" if k == "__none__" else str(k),
            label=NO_OUTCOME_NL if k == "__none__" else labels_nl.get(k, str(k)),
            n=int(counted[k]),
        )
        for k in keys
    )


def _window_means(rows: pd.DataFrame, weekly: _WeeklyTables, questionnaire: Questionnaire) -> pd.DataFrame:
    """Per row (student and start week ``W``): attendance rate (present / scheduled hours) and questionnaire
    index (the mean of the answered items, each rescaled to 0 = worst .. 1 = best) in ``W - 4 .. W - 1``
    (``before``) and ``W .. W + 3`` (``after``)."""
    keys = rows[["student_id", "week"]].drop_duplicates().reset_index(drop=True)
    columns = ["student_id", "week", "att_before", "att_after", "q_before", "q_after"]
    if keys.empty:
        return pd.DataFrame(columns=columns)
    keys["code"] = weekly.codes(keys["student_id"])
    offsets = np.arange(-WINDOW_WEEKS, WINDOW_WEEKS)
    cells = keys.loc[keys.index.repeat(len(offsets)), ["code", "week"]].reset_index(drop=True)
    cells["data_week"] = cells["week"].to_numpy() + np.tile(offsets, len(keys))
    cells["side"] = np.where(np.tile(offsets, len(keys)) < 0, "before", "after")
    low, high = int(cells["data_week"].min()) - 1, int(cells["data_week"].max())
    students = np.unique(keys["code"].to_numpy())
    att = weekly.attendance_of(students, low, high)[["code", "week", "scheduled_hours", "present_hours"]]
    att = cells.merge(att.rename(columns={"week": "data_week"}), on=["code", "data_week"])
    hours = att.groupby(["code", "week", "side"])[["present_hours", "scheduled_hours"]].sum()
    hours = hours.loc[hours["scheduled_hours"] > 0]
    rate = (hours["present_hours"] / hours["scheduled_hours"]).unstack("side")
    spec = {i.code: i for i in questionnaire.items}
    answers = weekly.answers_of(students, low, high)[["code", "week", "item", "value"]]
    answers = answers.loc[answers["item"].isin(list(spec))].rename(columns={"week": "data_week"})
    answers = cells.merge(answers, on=["code", "data_week"])
    lo, hi = float(questionnaire.scale_min), float(questionnaire.scale_max)
    scaled = (answers["value"].astype(np.float64) - lo) / (hi - lo)
    better = answers["item"].map({c: i.higher_is_better for c, i in spec.items()}).astype(bool)
    answers = answers.assign(index=np.where(better, scaled, 1.0 - scaled))
    index = answers.groupby(["code", "week", "side"])["index"].mean().unstack("side")
    out = keys.set_index(["code", "week"])
    for name, table in (("att", rate), ("q", index)):
        for side in ("before", "after"):
            column = table[side] if side in table.columns else pd.Series(dtype=np.float64)
            out[f"{name}_{side}"] = column.reindex(out.index)
    return out.reset_index()[columns]


def _before_after(
    rows: pd.DataFrame, weights: FloatArray | None, weekly: _WeeklyTables, questionnaire: Questionnaire
) -> tuple[BeforeAfter, ...]:
    """Participants (all enrolled at the start) unweighted; the matched comparison with its weights."""
    treated = rows["treated"].to_numpy(dtype=bool)
    groups: list[tuple[str, pd.DataFrame, FloatArray]] = [
        (PARTICIPANTS_NL, rows.loc[treated], np.ones(int(treated.sum())))
    ]
    if weights is not None:
        comparison = ~treated & (weights > 0)
        groups.append((COMPARISON_NL, rows.loc[comparison], weights[comparison]))
    out = []
    for group, frame, w in groups:
        means = _window_means(frame, weekly, questionnaire)
        weighted = frame[["student_id", "week"]].assign(w=w).groupby(["student_id", "week"])["w"].sum()
        means = means.merge(weighted.reset_index(), on=["student_id", "week"], how="left")
        for indicator, prefix in ((ATTENDANCE, "att"), (QUESTIONNAIRE_INDEX, "q")):
            values: dict[str, float | None] = {}
            counts: dict[str, int] = {}
            for side in ("before", "after"):
                known = means[f"{prefix}_{side}"].notna()
                counts[side] = int(known.sum())
                values[side] = (
                    _weighted_mean(
                        means.loc[known, f"{prefix}_{side}"].to_numpy(dtype=np.float64),
                        means.loc[known, "w"].to_numpy(dtype=np.float64),
                    )
                    if counts[side]
                    else None
                )
            out.append(
                BeforeAfter(
                    indicator=indicator,
                    group=group,
                    before=values["before"],
                    after=values["after"],
                    n_before=counts["before"],
                    n_after=counts["after"],
                )
            )
    return tuple(out)


def describe(
    measure: str,
    collected: MeasureRows,
    weights: FloatArray | None,
    weekly: _WeeklyTables,
    questionnaire: Questionnaire,
) -> Description:
    """Who took part (at the start), for how long, what came of it, and attendance and questionnaire index
    before and from the start."""
    rows = collected.rows
    treated = rows.loc[rows["treated"].to_numpy(dtype=bool)]
    starts = collected.starts
    mature = treated.loc[treated["mature"].to_numpy(dtype=bool)]
    duration_mean = duration_median = None
    running = None
    if measure == MEASURE_COACHKLAS:
        ended = starts.loc[starts["end_week"].notna()]
        if len(ended):
            length = (ended["end_week"].astype(np.int64) - ended["start_week"] + 1).to_numpy(dtype=np.float64)
            duration_mean, duration_median = float(length.mean()), float(np.median(length))
        running = int(starts["end_week"].isna().sum())
    outcome_labels = PLACEMENT_OUTCOME_NL if measure == MEASURE_COACHKLAS else ACTION_OUTCOME_NL
    years = treated["year_of_study"].astype(int) if "year_of_study" in treated.columns else pd.Series([])
    routes: list[str] = (
        np.where(treated["route_bbl"] > 0, "BBL", "BOL").tolist() if "route_bbl" in treated.columns else []
    )
    return Description(
        levels=_counts(treated["level"].astype(int) if "level" in treated else [], LEVEL_NL, (1, 2, 3, 4)),
        routes=_counts(routes, ROUTE_NL, ("BOL", "BBL")),
        years_of_study=_counts(years, {y: f"jaar {y}" for y in range(1, 9)}, range(1, 9)),
        bands_at_start=_counts(treated["band"], {}, BANDS) if "band" in treated.columns else (),
        duration_weeks_mean=duration_mean,
        duration_weeks_median=duration_median,
        still_running=running,
        measure_outcomes=_counts(starts["outcome"], outcome_labels, tuple(outcome_labels)),
        outcomes_in_horizon=_counts(
            mature["outcome_in_horizon"], OUTCOME_IN_HORIZON_NL, (*OUTCOME_NL, NOT_ENROLLED_OUTCOME)
        ),
        before_after=_before_after(rows, weights, weekly, questionnaire),
    )


# --- warnings and the conclusion ----------------------------------------------------------------------------


def _pct(share: float) -> str:
    return f"{share:.0%}"


def signed_nl(value: float, digits: int) -> str:
    """A signed number with a decimal comma: "+0,27"."""
    return f"{value:+.{digits}f}".replace(".", ",")


def points_nl(value: float) -> str:
    """A probability difference in percentage points, Dutch style: "-3,2 procentpunt"."""
    return signed_nl(value * 100, 1) + " procentpunt"


def effect_warnings(
    *,
    label: str,
    since: int | None,
    horizon: int,
    participants: int,
    analysed: int,
    matched: int,
    not_yet_mature: int,
    balance: Sequence[BalanceRow],
    later_share: float | None,
    reason: str | None,
) -> tuple[str, ...]:
    """Plain-Dutch warnings where the evidence is thin (staff and auditors read them)."""
    period = f" vanaf week {since}" if since is not None else ""
    if participants == 0:
        return (f"Geen deelnemers aan {label}{period}: er is geen effect te schatten.",)
    out: list[str] = []
    if analysed == 0:
        out.append(
            f"Van de {participants} deelnemers is nog niet bekend hoe het binnen {horizon} weken na de "
            "start afliep (of ze stonden de week ervoor niet ingeschreven): nog geen effect te schatten."
        )
        return tuple(out)
    if analysed < MIN_PARTICIPANTS:
        out.append(
            f"Weinig deelnemers: {analysed} in de vergelijking (minder dan {MIN_PARTICIPANTS}). Het effect "
            "is onzeker; kijk naar het interval, niet alleen naar het getal."
        )
    share = matched / analysed
    if share < MIN_MATCHED_SHARE:
        out.append(
            f"Maar {_pct(share)} van de deelnemers ({matched} van {analysed}) had vergelijkbare "
            f"niet-deelnemers in dezelfde week (minder dan {_pct(MIN_MATCHED_SHARE)}). Het effect geldt "
            "alleen voor de deelnemers die wel te vergelijken waren."
        )
    poor = [b for b in balance if abs(b.smd_after) > MAX_ABS_SMD]
    if poor and matched:
        worst = sorted(poor, key=lambda b: -abs(b.smd_after))[:3]
        # Only the number takes a decimal comma: the descriptions keep their own dots ("t.o.v.").
        names = "; ".join(f"{b.description} ({signed_nl(b.smd_after, 2)})" for b in worst)
        out.append(
            f"Na het vergelijken verschillen deelnemers en vergelijkingsgroep nog op {len(poor)} "
            f"kenmerk(en) meer dan 0,1 standaardafwijking, zoals {names}. De groepen zijn niet goed gelijk "
            "te maken; wees voorzichtig met het effect."
        )
    if reason is not None:
        out.append(f"Geen effect geschat: {reason}.")
    if not_yet_mature:
        out.append(
            f"{not_yet_mature} deelnemers begonnen minder dan {horizon} weken voor de laatste week met "
            "gegevens; hun uitkomst is nog niet bekend en telt niet mee in het effect."
        )
    if later_share is not None and later_share > LATER_STARTERS_NOTE:
        out.append(
            f"{_pct(later_share)} van de vergelijkingsgroep begon binnen {horizon} weken zelf aan de "
            "maatregel. Het effect vergelijkt 'nu beginnen' met 'nu (nog) niet' en valt daardoor eerder te "
            "klein dan te groot uit."
        )
    return tuple(out)


def conclusion(
    label: str, horizon: int, estimate: float | None, low: float | None, high: float | None
) -> str:
    """One sentence for staff about what the interval says."""
    if estimate is None or low is None or high is None:
        return f"Over het effect van {label} is nog niets te zeggen."
    interval = f"95%-interval {points_nl(low)} tot {points_nl(high)}"
    if high < 0:
        return (
            f"Deelnemers aan {label} vertrokken binnen {horizon} weken minder vaak voortijdig dan "
            f"vergelijkbare niet-deelnemers: {points_nl(estimate)} ({interval})."
        )
    if low > 0:
        return (
            f"Deelnemers aan {label} vertrokken binnen {horizon} weken vaker voortijdig dan "
            f"vergelijkbare niet-deelnemers: {points_nl(estimate)} ({interval})."
        )
    return f"Het effect van {label} is niet te onderscheiden van nul: {points_nl(estimate)} ({interval})."


# --- the whole evaluation ---------------------------------------------------------------------------------


def evaluate_measures(
    tables: RawTables,
    records: MeasureRecords,
    measures: Sequence[str],
    action_types: ActionTypes,
    *,
    horizon: int,
    since: int | None = None,
    model: MonitoredModel | None = None,
    model_version: str | None = None,
    truth: pd.DataFrame | None = None,
    questionnaire: Questionnaire | None = None,
    seed: int = 0,
    progress: bool = False,
    on_measure: Callable[[str], None] | None = None,
) -> list[EffectResult]:
    """Evaluate each of ``measures`` (see the module docstring); one :class:`EffectResult` each, in order."""
    q = questionnaire or cached_questionnaire()
    covariates = list(model.features) if model is not None else list(model_features(q))
    register = features_by_name(tuple(covariates), q)
    descriptions = {name: feature.description_nl for name, feature in register.items()}
    descriptions[RISK_COLUMN] = RISK_NL_MODEL
    weekly = _WeeklyTables(tables)
    max_week = tables.latest_week()
    starts = {m: first_starts(m, records) for m in measures}
    collected = collect_rows(
        tables,
        starts,
        horizon=horizon,
        covariates=covariates,
        model=model,
        questionnaire=q,
        since=since,
        max_week=max_week,
        seed=seed,
        progress=progress,
        weekly=weekly,
    )
    results = []
    for measure in measures:
        if on_measure is not None:
            on_measure(measure)
        results.append(
            _evaluate_one(
                collected[measure],
                label=measure_label(measure, action_types),
                horizon=horizon,
                since=since,
                covariates=covariates,
                descriptions=descriptions,
                with_model=model is not None,
                model_version=model_version,
                truth=truth,
                weekly=weekly,
                questionnaire=q,
                seed=seed,
            )
        )
    return results


def _evaluate_one(
    collected: MeasureRows,
    *,
    label: str,
    horizon: int,
    since: int | None,
    covariates: Sequence[str],
    descriptions: Mapping[str, str],
    with_model: bool,
    model_version: str | None,
    truth: pd.DataFrame | None,
    weekly: _WeeklyTables,
    questionnaire: Questionnaire,
    seed: int,
) -> EffectResult:
    rows = collected.rows
    participants = len(collected.starts)
    treated_all = rows["treated"].to_numpy(dtype=bool)
    mature_mask = rows["mature"].to_numpy(dtype=bool)
    analysis = rows.loc[mature_mask].reset_index(drop=True)
    not_yet_mature = int((treated_all & ~mature_mask).sum())
    risk_source = f"model{f' versie {model_version}' if model_version else ''}" if with_model else RISK_NL_OWN
    used = [RISK_COLUMN, *covariates] if with_model else list(covariates)
    result = estimate_att(analysis, used, seed=seed)
    treated = analysis["treated"].to_numpy(dtype=bool)
    weights = result.weights
    balance: tuple[BalanceRow, ...] = ()
    if result.analysed and (~treated).any():
        balance = balance_table(analysis, used, weights, descriptions)
    matched_t = treated & (weights > 0)
    comparison = ~treated & (weights > 0)
    vsv = analysis["vsv"].to_numpy(dtype=np.float64)
    later = analysis["later_start"].to_numpy(dtype=bool)
    participants_frame = analysis.loc[treated, ["student_id", "as_of"]]
    matched_frame = analysis.loc[matched_t, ["student_id", "as_of"]]
    full_weights = np.zeros(len(rows))
    full_weights[np.flatnonzero(mature_mask)] = weights
    description = describe(collected.measure, collected, full_weights, weekly, questionnaire)
    later_share = _weighted_mean(later.astype(np.float64), weights * comparison) if comparison.any() else None
    warn = effect_warnings(
        label=label,
        since=since,
        horizon=horizon,
        participants=participants,
        analysed=result.analysed,
        matched=result.matched,
        not_yet_mature=not_yet_mature,
        balance=balance,
        later_share=later_share,
        reason=result.reason if result.analysed and participants else None,
    )
    start_weeks = tuple(sorted({int(w) for w in collected.starts["start_week"]}))
    return EffectResult(
        measure=collected.measure,
        label=label,
        horizon=horizon,
        since=since,
        participants=participants,
        analysed=result.analysed,
        matched=result.matched,
        estimate=result.estimate,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        naive_difference=naive_difference(vsv[treated], collected.non_participants),
        true_effect=true_effect(truth, matched_frame, horizon) if result.matched else None,
        true_effect_analysed=true_effect(truth, participants_frame, horizon) if result.analysed else None,
        vsv_rate_participants=float(vsv[treated].mean()) if treated.any() else None,
        vsv_rate_non_participants=_non_participant_rate(collected.non_participants),
        vsv_rate_comparison=_weighted_mean(vsv, weights * comparison) if comparison.any() else None,
        comparison_students=int(analysis.loc[comparison, "student_id"].nunique()),
        comparison_later_share=later_share,
        not_enrolled_at_start=collected.not_enrolled_at_start,
        not_yet_mature=not_yet_mature,
        start_weeks=start_weeks,
        first_start_week=start_weeks[0] if start_weeks else None,
        last_start_week=start_weeks[-1] if start_weeks else None,
        risk_source=risk_source,
        model_version=model_version,
        balance=balance,
        description=description,
        warnings=warn,
        conclusion=conclusion(label, horizon, result.estimate, result.ci_low, result.ci_high),
    )


def _non_participant_rate(non_participants: pd.DataFrame) -> float | None:
    frame = non_participants.loc[non_participants["n"] > 0]
    if frame.empty or frame["treated"].sum() == 0:
        return None
    rate = frame["vsv"] / frame["n"]
    return float((rate * frame["treated"]).sum() / frame["treated"].sum())
