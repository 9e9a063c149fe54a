"""What the synthetic school's staff do: the coachklas coordinator's intake rounds, the mentors' actions, and
the true effect of each measure on the weekly vsv hazard.

The staff act only on what the school observes (:func:`need_index`): unauthorised absence over the last
four weeks, the streak of whole weeks absent, the student's latest questionnaire answers and the credits
deficit of the school year; never on the latent state or the true hazard. So placement and actions are
*selection on observables*: an estimator that compares students with the same observed features at the same
week can recover the true effect.

* **Coachklas.** A number of places for the whole school (:func:`school_places`, split over the generator's
  chunks by :func:`chunk_places`). At the intake rounds (fixed weeks of each school year) the free places go
  to the active students with the highest need index plus noise (:func:`pick_for_places`); a student is
  placed at most once. A placement lasts a random number of weeks (or until the student leaves) and ends as
  returned (terug in de klas), left, diploma, or stayed (still in the class when the data end).
* **Mentor actions.** Each week a small share of active students get an action, more often with a higher
  need (:func:`action_probability`); the type follows the signals (:func:`action_weights`), with a Dutch
  note, a follow-up date for the types that have one, and an outcome some weeks later (or none yet).
* **True effects** (:class:`MeasureEffect`): a measure multiplies the weekly vsv hazard by
  ``exp(log_hazard)`` during the measure (a placement's weeks; an action's own week) and for ``weeks_after``
  weeks after it. Effects of several measures at once add up on the log scale. The generator stores the
  hazard without any measure beside the treated one (``hazard_vsv_untreated``), in every week a measure with
  a configured effect (also an effect of 0) touched; elsewhere it is empty, and equal to ``hazard_vsv``.

The staff draw from a random stream of their own, so the simulation's draws are the same with or without
them; only the treated hazard changes who leaves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from data.action_types import ActionTypes
from data.calendar import WEEKS_PER_YEAR, SchoolCalendar
from data.synthetic.params import (
    ABSENCE_REPORT_FACTOR,
    ACTION_NEED_SLOPE,
    ACTION_WEIGHT_OTHER,
    ACTION_WEIGHTS,
    FOLLOW_UP_WEEKS,
    LEGAL_HOURS_4_WEEKS,
    LEGAL_WEEKS_ABSENT,
    NEED_ANSWERS_UNKNOWN,
    NEED_CENTRE,
    NEED_NOISE_SD,
    NEED_STREAK_CAP,
    NEED_WEIGHTS,
    NO_OUTCOME_SHARE,
    OUTCOME_DELAY_WEEKS,
    OUTCOME_SHARES_OTHER,
    OUTCOME_SHARES_REFERRAL,
    PARENTS_UNDER_18_FACTOR,
    WORRYING_ANSWERS,
    ZORG_FACTOR,
)
from data.vocabulary import MEASURE_COACHKLAS

OBSERVED_WEEKS = 4  # the window of recent absence the staff look at
HAZARD_CAP = 0.5  # the generator's cap on the weekly vsv hazard
COACHKLAS_CAPACITY_REASON = "Plaatsen in de coachklas van de synthetische school"
REFERRAL_PREFIX = "referral_"


class MeasureEffect(BaseModel):
    """The true effect of a measure on the weekly vsv hazard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_hazard: float = Field(
        ge=-5.0,
        le=5.0,
        description="added to the log of the weekly vsv hazard: -0.7 multiplies it by 0.50; 0 is no effect",
    )
    weeks_after: int = Field(default=0, ge=0, le=80, description="weeks the effect lasts after the measure")

    @property
    def factor(self) -> float:
        """The multiplicative factor on the weekly vsv hazard."""
        return math.exp(self.log_hazard)


# --- what the school observes --------------------------------------------------------------------------


@dataclass
class Observed:
    """What the school has seen of each student of a chunk: the last four weeks of scheduled and
    unauthorised hours (a ring indexed by week modulo 4), the latest answer per item and to "wil praten"."""

    unauth: np.ndarray
    scheduled: np.ndarray
    answers: np.ndarray
    talk: np.ndarray

    @classmethod
    def empty(cls, n: int, n_items: int) -> Observed:
        return cls(
            unauth=np.zeros((n, OBSERVED_WEEKS)),
            scheduled=np.zeros((n, OBSERVED_WEEKS)),
            answers=np.full((n, n_items), np.nan),
            talk=np.zeros(n),
        )

    def record_attendance(
        self, week: int, idx: np.ndarray, unauth: np.ndarray, scheduled: np.ndarray
    ) -> None:
        """The hours of ``week`` for the students at ``idx`` (the others had no schedule that week)."""
        slot = week % OBSERVED_WEEKS
        self.unauth[:, slot] = 0.0
        self.scheduled[:, slot] = 0.0
        self.unauth[idx, slot] = unauth
        self.scheduled[idx, slot] = scheduled

    def record_answers(self, idx: np.ndarray, values: np.ndarray, talk: np.ndarray) -> None:
        self.answers[idx] = values
        self.talk[idx] = talk


@dataclass(frozen=True)
class Signals:
    """The observed signals of every student of a chunk at the start of a week (what is known by then)."""

    absence: np.ndarray  # unauthorised share of the scheduled hours, last 4 weeks
    unauth_hours: np.ndarray  # unauthorised hours, last 4 weeks
    streak: np.ndarray  # whole weeks absent in a row
    answers: np.ndarray  # how worrying the latest answers are, 0 (all best) to 1 (all worst)
    talk: np.ndarray  # 1 when the latest answer to "wil praten" was yes
    credits: np.ndarray  # credits deficit of the school year, 0-1


def absence_share(unauth: np.ndarray, scheduled: np.ndarray) -> np.ndarray:
    """Unauthorised hours as a share of the scheduled hours over the window (0 without a schedule)."""
    total = scheduled.sum(axis=1)
    out: np.ndarray = np.where(total > 0, unauth.sum(axis=1) / np.maximum(total, 1.0), 0.0)
    return out


def answer_worry(
    answers: np.ndarray, higher_is_better: np.ndarray, scale_min: int, scale_max: int
) -> np.ndarray:
    """How worrying each student's latest answers are: the mean over the answered items of the distance from
    the best answer, 0 (all best) to 1 (all worst); :data:`NEED_ANSWERS_UNKNOWN` before the first answer."""
    span = float(scale_max - scale_min)
    bad = np.where(higher_is_better, scale_max - answers, answers - scale_min) / span
    answered = ~np.isnan(bad)
    counts = answered.sum(axis=1)
    total = np.where(answered, bad, 0.0).sum(axis=1)
    out: np.ndarray = np.where(counts > 0, total / np.maximum(counts, 1), NEED_ANSWERS_UNKNOWN)
    return out


def observed_signals(
    observed: Observed,
    streak: np.ndarray,
    deficit: np.ndarray,
    higher_is_better: np.ndarray,
    scale: tuple[int, int],
) -> Signals:
    return Signals(
        absence=absence_share(observed.unauth, observed.scheduled),
        unauth_hours=observed.unauth.sum(axis=1),
        streak=streak.copy(),
        answers=answer_worry(observed.answers, higher_is_better, *scale),
        talk=observed.talk.copy(),
        credits=deficit.copy(),
    )


def need_parts(signals: Signals) -> dict[str, np.ndarray]:
    """Each signal's part of the need index (a typical student's parts are about 0)."""
    w, c = NEED_WEIGHTS, NEED_CENTRE
    return {
        "absence": w["absence"] * (signals.absence - c["absence"]),
        "streak": w["streak"] * np.minimum(signals.streak, NEED_STREAK_CAP),
        "answers": w["answers"] * (signals.answers - c["answers"]),
        "talk": w["talk"] * signals.talk,
        "credits": w["credits"] * (signals.credits - c["credits"]),
    }


def need_index(signals: Signals) -> np.ndarray:
    """The observed need index: the sum of :func:`need_parts`."""
    out: np.ndarray = np.sum(list(need_parts(signals).values()), axis=0)
    return out


# --- the coachklas -------------------------------------------------------------------------------------


def school_places(places_per_1000: float, n_students: int) -> int:
    """The coachklas places of a school of ``n_students`` (enrolled at the start)."""
    return round(places_per_1000 * n_students / 1000)


def chunk_places(total: int, sizes: Sequence[int]) -> list[int]:
    """``total`` places split over chunks in proportion to their sizes (largest remainder): they add up to
    ``total``, so the school's capacity holds whenever each chunk's does."""
    weight = np.asarray(sizes, dtype=float)
    if total <= 0 or weight.sum() <= 0:
        return [0] * len(sizes)
    exact = total * weight / weight.sum()
    places = np.floor(exact).astype(int)
    rest = total - int(places.sum())
    order = np.argsort(-(exact - places), kind="stable")
    places[order[:rest]] += 1
    return [int(p) for p in places]


def is_intake_week(week: int, intake_weeks: Sequence[int]) -> bool:
    """True in an intake round: a fixed week of the school year (0-39)."""
    return week % WEEKS_PER_YEAR in intake_weeks


def occupied(placed_until: np.ndarray, exited: np.ndarray, week: int) -> np.ndarray:
    """Who holds a place in ``week``: placed until that week or later, and not left before it."""
    out: np.ndarray = (placed_until >= week) & ~exited
    return out


def pick_for_places(score: np.ndarray, candidates: np.ndarray, free: int) -> np.ndarray:
    """The indices of the ``free`` candidates with the highest score (ties by position)."""
    idx = np.flatnonzero(candidates)
    if free <= 0 or len(idx) == 0:
        return np.array([], dtype=int)
    order = np.argsort(-score[idx], kind="stable")
    out: np.ndarray = idx[order[:free]]
    return out


def placement_ends(
    start: np.ndarray,
    planned_end: np.ndarray,
    exit_week: np.ndarray,
    exit_outcome: np.ndarray,
    last_week: int,
) -> tuple[pd.Series, np.ndarray]:
    """End week (inclusive; empty while in the class) and outcome of each placement.

    A student who leaves during the placement ends it that week: ``diploma`` when graduated, else ``left``;
    a placement that runs past the last simulated week has no end yet (``stayed``); the others end at their
    planned week (``returned``, terug in de klas)."""
    left = (exit_week >= start) & (exit_week <= planned_end)
    running = ~left & (planned_end > last_week)
    end = pd.Series(np.where(left, exit_week, planned_end), dtype="Int64")
    end[running] = pd.NA
    graduated = exit_outcome == "graduated"
    outcome = np.where(
        left, np.where(graduated, "diploma", "left"), np.where(running, "stayed", "returned")
    ).astype(object)
    return end, outcome


_SIGNAL_NL = {
    "absence": "veel ongeoorloofd verzuim ({absence:.0%} van de lessen in 4 weken)",
    "streak": "al {streak:.0f} weken helemaal afwezig",
    "answers": "zorgelijke antwoorden op de vragenlijst",
    "talk": "wil praten met iemand van school",
    "credits": "achterstand in studiepunten ({credits:.0%} van dit jaar)",
}


def placement_reason(parts: Mapping[str, float], values: Mapping[str, float]) -> str:
    """Why a student was placed, in the coordinator's words: the two strongest signals at the intake."""
    strongest = [name for name in sorted(parts, key=lambda k: -parts[k]) if parts[name] > 0][:2]
    said = "; ".join(_SIGNAL_NL[name].format(**values) for name in strongest) or "hoge nood volgens het team"
    return f"Bij de intake: {said}"  # the week itself is the placement's start, shown beside it


# --- the mentors' actions ------------------------------------------------------------------------------


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def action_probability(need: np.ndarray, share: float) -> np.ndarray:
    """The chance of an action this week: ``share`` for a typical student (need 0), higher with the need."""
    if share <= 0:
        return np.zeros_like(need)
    if share >= 1:
        return np.ones_like(need)
    out: np.ndarray = 1.0 / (1.0 + np.exp(-(_logit(share) + ACTION_NEED_SLOPE * need)))
    return out


def action_weights(
    codes: Sequence[str], signals: Signals, idx: np.ndarray, under_18: np.ndarray
) -> np.ndarray:
    """Relative chance of each action type (columns in the order of ``codes``) for the students at ``idx``."""
    weights = np.tile([ACTION_WEIGHTS.get(c, ACTION_WEIGHT_OTHER) for c in codes], (len(idx), 1))
    legal = ((signals.unauth_hours[idx] >= LEGAL_HOURS_4_WEEKS) & under_18) | (
        signals.streak[idx] >= LEGAL_WEEKS_ABSENT
    )
    worried = (signals.answers[idx] >= WORRYING_ANSWERS) | (signals.talk[idx] > 0)
    for column, code in enumerate(codes):
        if code == "contact_parents":
            weights[:, column] *= np.where(under_18, PARENTS_UNDER_18_FACTOR, 1.0)
        elif code == "absence_report":
            weights[:, column] *= np.where(legal, ABSENCE_REPORT_FACTOR, 0.2)
        elif code in ("referral_zorgteam", "referral_smw"):
            weights[:, column] *= np.where(worried, ZORG_FACTOR, 1.0)
    out: np.ndarray = weights
    return out


def draw_rows(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One column index per row of ``weights`` (relative chances), from uniforms ``u``."""
    cum = np.cumsum(weights, axis=1)
    cum /= cum[:, -1:]
    out: np.ndarray = np.minimum((u[:, None] > cum).sum(axis=1), weights.shape[1] - 1)
    return out


_NOTES: dict[str, dict[str, tuple[str, ...]]] = {
    "conversation": {
        "absence": (
            "Gesprek over het verzuim van de laatste weken; afgesproken dat de student op tijd komt.",
            "Gesprek gevoerd over de lessen die gemist zijn; student belooft zich voortaan af te melden.",
        ),
        "answers": (
            "Gesprek over hoe het gaat; student vertelt dat het thuis onrustig is.",
            "Gesprek over stress en slaap; student heeft het druk met werk naast school.",
        ),
        "credits": (
            "Gesprek over de studievoortgang; plan gemaakt om de achterstand in te halen.",
            "Gesprek over de resultaten; student twijfelt of de opleiding past.",
        ),
        "general": (
            "Kort gesprek gevoerd; student wil doorgaan met de opleiding.",
            "Gesprek over de stage en de planning van de komende weken.",
        ),
    },
    "contact_parents": {
        "absence": ("Ouders/verzorgers gebeld over het verzuim.",),
        "general": ("Ouders/verzorgers op de hoogte gebracht van hoe het op school gaat.",),
    },
    "referral_zorgteam": {
        "general": ("Aangemeld bij het zorgteam: zorgen over het welbevinden van de student.",),
    },
    "referral_smw": {
        "general": ("Doorverwezen naar schoolmaatschappelijk werk vanwege problemen thuis.",),
    },
    "referral_onderwijsmakelaar": {
        "general": ("Doorverwezen naar de onderwijsmakelaar: geldzorgen en een bijbaan die veel tijd kost.",),
    },
    "referral_coachklas": {
        "general": ("Aangemeld voor de coachklas; de coördinator bekijkt het bij de volgende intake.",),
    },
    "absence_report": {
        "general": ("Verzuimmelding gedaan bij leerplicht / het Doorstroompunt.",),
    },
    "note": {
        "absence": ("Student was ziek en heeft zich netjes afgemeld.", "Student kwam twee keer te laat."),
        "general": ("Student is gemotiveerd en werkt goed mee.", "Afspraak met de student verzet."),
    },
    "nothing_needed": {
        "general": ("Signaal bekeken met de student; geen actie nodig.",),
    },
}
_OTHER_NOTE = "Actie vastgelegd door de mentor."


def main_signal(parts: Mapping[str, np.ndarray]) -> np.ndarray:
    """The strongest signal of each student, for the wording of a note: absence (with the streak), answers
    (with "wil praten"), credits, or general when none stands out."""
    grouped = np.column_stack(
        [parts["absence"] + parts["streak"], parts["answers"] + parts["talk"], parts["credits"]]
    )
    names = np.array(["absence", "answers", "credits"], dtype=object)
    out: np.ndarray = np.where(grouped.max(axis=1) > 0.5, names[grouped.argmax(axis=1)], "general")
    return out


def action_note(code: str, signal: str, pick: int) -> str:
    """A Dutch note for an action of type ``code`` prompted by ``signal``."""
    by_signal = _NOTES.get(code)
    if by_signal is None:
        return _OTHER_NOTE
    texts = by_signal.get(signal, by_signal["general"])
    return texts[pick % len(texts)]


def follow_up_dates(calendar: SchoolCalendar, weeks: np.ndarray, offset_days: np.ndarray) -> list[str]:
    """ISO dates ``offset_days`` after the Monday of each week; empty for a week outside the calendar."""
    out: list[str] = []
    for week, days in zip(weeks.tolist(), offset_days.tolist(), strict=True):
        if 0 <= week <= calendar.last_week:
            day: date = calendar.monday(week) + timedelta(days=days)
            out.append(day.isoformat())
        else:
            out.append("")
    return out


def action_outcomes(
    week: np.ndarray,
    delay: np.ndarray,
    code: np.ndarray,
    recorded: np.ndarray,
    exit_week: np.ndarray,
    last_week: int,
) -> tuple[np.ndarray, pd.Series]:
    """Outcome and outcome week of each followed-up action: ``code`` ``delay`` weeks later when recorded and
    within the data; ``student_left`` in the week the student left before that; else none yet (empty)."""
    due = week + delay
    left = (exit_week >= week) & (exit_week < due)
    known = ~left & recorded & (due <= last_week)
    outcome = np.where(left, "student_left", np.where(known, code, "")).astype(object)
    outcome_week = pd.Series(np.where(left, exit_week, due), dtype="Int64")
    outcome_week[~left & ~known] = pd.NA
    return outcome, outcome_week


# --- the staff of one chunk, week by week ---------------------------------------------------------------


@dataclass(frozen=True)
class StaffSetup:
    """What the staff of one chunk work with."""

    places: int
    intake_weeks: tuple[int, ...]
    placement_weeks: tuple[int, int]
    coachklas_effect: MeasureEffect
    action_share: float
    action_effects: Mapping[str, MeasureEffect]
    action_types: ActionTypes
    calendar: SchoolCalendar
    higher_is_better: np.ndarray
    scale: tuple[int, int]

    @property
    def effects(self) -> dict[str, MeasureEffect]:
        """Every measure with a true effect (the coachklas, when it has places, and the action types)."""
        out = dict(self.action_effects)
        if self.places > 0:
            out[MEASURE_COACHKLAS] = self.coachklas_effect
        return out


@dataclass
class StaffDesk:
    """The staff of one chunk: their observations, placements, actions and who is under which measure."""

    setup: StaffSetup
    rng: np.random.Generator
    observed: Observed
    placed_start: np.ndarray
    placed_until: np.ndarray
    exposure: dict[str, np.ndarray]
    reasons: dict[int, str] = field(default_factory=dict)
    actions: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def new(cls, setup: StaffSetup, rng: np.random.Generator, n: int, n_items: int) -> StaffDesk:
        return cls(
            setup=setup,
            rng=rng,
            observed=Observed.empty(n, n_items),
            placed_start=np.full(n, -1),
            placed_until=np.full(n, -1),
            exposure={name: np.full(n, -1) for name in setup.effects},
        )

    def week(
        self,
        week: int,
        active: np.ndarray,
        exited: np.ndarray,
        streak: np.ndarray,
        deficit: np.ndarray,
        age: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The staff's decisions at the start of ``week`` (on what was observed by the end of the week
        before); returns the log-hazard effect on each student this week and who a measure touches."""
        setup = self.setup
        signals = observed_signals(self.observed, streak, deficit, setup.higher_is_better, setup.scale)
        parts = need_parts(signals)
        need: np.ndarray = np.sum(list(parts.values()), axis=0)
        if setup.places > 0 and is_intake_week(week, setup.intake_weeks):
            self._intake(week, active, exited, signals, parts, need)
        if setup.action_share > 0:
            self._actions(week, active, signals, parts, need, age < 18)
        return self.effect(week)

    def _intake(
        self,
        week: int,
        active: np.ndarray,
        exited: np.ndarray,
        signals: Signals,
        parts: Mapping[str, np.ndarray],
        need: np.ndarray,
    ) -> None:
        setup = self.setup
        score = need + self.rng.normal(0.0, NEED_NOISE_SD, len(need))
        free = setup.places - int(occupied(self.placed_until, exited, week).sum())
        chosen = pick_for_places(score, active & (self.placed_start < 0), free)
        if len(chosen) == 0:
            return
        low, high = setup.placement_weeks
        weeks = self.rng.integers(low, high + 1, size=len(chosen))
        self.placed_start[chosen] = week
        self.placed_until[chosen] = week + weeks - 1
        if MEASURE_COACHKLAS in self.exposure:
            self.exposure[MEASURE_COACHKLAS][chosen] = week + weeks - 1 + setup.coachklas_effect.weeks_after
        for i in chosen.tolist():
            values = {
                "absence": signals.absence[i],
                "streak": signals.streak[i],
                "credits": signals.credits[i],
            }
            self.reasons[i] = placement_reason({k: float(v[i]) for k, v in parts.items()}, values)

    def _actions(
        self,
        week: int,
        active: np.ndarray,
        signals: Signals,
        parts: Mapping[str, np.ndarray],
        need: np.ndarray,
        under_18: np.ndarray,
    ) -> None:
        setup = self.setup
        u = self.rng.random(len(need))
        idx = np.flatnonzero(active & (u < action_probability(need, setup.action_share)))
        if len(idx) == 0:
            return
        codes = setup.action_types.codes
        kind = draw_rows(action_weights(codes, signals, idx, under_18[idx]), self.rng.random(len(idx)))
        signal = main_signal({k: v[idx] for k, v in parts.items()})
        low, high = FOLLOW_UP_WEEKS
        follow_days = 7 * self.rng.integers(low, high + 1, size=len(idx)) + self.rng.integers(
            0, 5, size=len(idx)
        )
        d_low, d_high = OUTCOME_DELAY_WEEKS
        self.add_actions(
            s=idx,
            w=np.full(len(idx), week),
            k=kind,
            sig=signal,
            pick=self.rng.integers(0, 1 << 16, size=len(idx)),
            fd=follow_days,
            delay=self.rng.integers(d_low, d_high + 1, size=len(idx)),
            rec=self.rng.random(len(idx)) >= NO_OUTCOME_SHARE,
            ou=self.rng.random(len(idx)),
        )
        for column, code in enumerate(codes):
            effect = setup.action_effects.get(code)
            if effect is not None:
                who = idx[kind == column]
                self.exposure[code][who] = np.maximum(self.exposure[code][who], week + effect.weeks_after)

    def add_actions(self, **arrays: np.ndarray) -> None:
        for key, value in arrays.items():
            self.actions.setdefault(key, []).append(value)

    def effect(self, week: int) -> tuple[np.ndarray, np.ndarray]:
        """The summed log-hazard effect of the measures each student is under in ``week``, and who any
        measure with a configured effect touches."""
        n = len(self.placed_start)
        log_effect = np.zeros(n)
        touched = np.zeros(n, dtype=bool)
        for name, effect in self.setup.effects.items():
            under = self.exposure[name] >= week
            log_effect += effect.log_hazard * under
            touched |= under
        return log_effect, touched

    # --- the tables, once the chunk's weeks are done ---

    def placements(
        self, numbers: np.ndarray, exit_week: np.ndarray, exit_outcome: np.ndarray, last_week: int
    ) -> pd.DataFrame:
        idx = np.flatnonzero(self.placed_start >= 0)
        end, outcome = placement_ends(
            self.placed_start[idx], self.placed_until[idx], exit_week[idx], exit_outcome[idx], last_week
        )
        frame = pd.DataFrame(
            {
                "student_number": numbers[idx],
                "start_week": self.placed_start[idx],
                "end_week": end.to_numpy(),
                "outcome": outcome,
                "reason": [self.reasons[i] for i in idx.tolist()],
            }
        )
        frame["end_week"] = frame["end_week"].astype("Int64")
        return frame.sort_values(["student_number", "start_week"], kind="stable").reset_index(drop=True)

    def action_table(self, numbers: np.ndarray, exit_week: np.ndarray, last_week: int) -> pd.DataFrame:
        setup = self.setup
        parts = {k: np.concatenate(v) for k, v in self.actions.items()}
        if not parts:
            return empty_actions()
        idx, week, kind = parts["s"], parts["w"], parts["k"]
        types = setup.action_types.action_types
        codes = np.array([t.code for t in types], dtype=object)[kind]
        follows = np.array([t.follow_up for t in types])[kind]
        referral = np.array([t.code.startswith(REFERRAL_PREFIX) for t in types])[kind]
        drawn = np.where(
            referral,
            _draw_code(OUTCOME_SHARES_REFERRAL, parts["ou"]),
            _draw_code(OUTCOME_SHARES_OTHER, parts["ou"]),
        )
        outcome, outcome_week = action_outcomes(
            week, parts["delay"], drawn, parts["rec"], exit_week[idx], last_week
        )
        outcome = np.where(follows, outcome, "")
        outcome_week[~follows] = pd.NA
        dates = follow_up_dates(setup.calendar, week, parts["fd"])
        frame = pd.DataFrame(
            {
                "student_number": numbers[idx],
                "week": week,
                "action": codes,
                "note": [
                    action_note(c, s, p)
                    for c, s, p in zip(
                        codes.tolist(), parts["sig"].tolist(), parts["pick"].tolist(), strict=True
                    )
                ],
                "follow_up_on": np.where(follows, np.array(dates, dtype=object), ""),
                "outcome": outcome,
                "outcome_week": outcome_week.to_numpy(),
            }
        )
        frame["outcome_week"] = frame["outcome_week"].astype("Int64")
        return frame.sort_values(["student_number", "week"], kind="stable").reset_index(drop=True)


def _draw_code(shares: Mapping[str, float], u: np.ndarray) -> np.ndarray:
    names = np.array(list(shares), dtype=object)
    cum = np.cumsum(list(shares.values()))
    cum /= cum[-1]
    out: np.ndarray = names[np.minimum(np.searchsorted(cum, u, side="right"), len(names) - 1)]
    return out


PLACEMENT_COLUMNS = ("student_number", "start_week", "end_week", "outcome", "reason")
ACTION_COLUMNS = ("student_number", "week", "action", "note", "follow_up_on", "outcome", "outcome_week")
CAPACITY_COLUMNS = ("from_week", "capacity", "reason")


def empty_placements() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in PLACEMENT_COLUMNS})
    for column in ("student_number", "start_week"):
        frame[column] = frame[column].astype("int64")
    frame["end_week"] = frame["end_week"].astype("Int64")
    return frame


def empty_actions() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in ACTION_COLUMNS})
    for column in ("student_number", "week"):
        frame[column] = frame[column].astype("int64")
    frame["outcome_week"] = frame["outcome_week"].astype("Int64")
    return frame


def capacity_frame(places: int) -> pd.DataFrame:
    """The coachklas capacity of the school: ``places`` from week 0 on."""
    return pd.DataFrame({"from_week": [0], "capacity": [places], "reason": [COACHKLAS_CAPACITY_REASON]})
