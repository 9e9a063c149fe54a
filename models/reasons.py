"""Reasons a teacher can act on: which SHAP contributions become reasons, and how they are worded.

The risk model (:class:`models.risk_model.RiskModel`) explains each score with SHAP contributions on the
log-odds scale. This module turns them into what staff see:

* :func:`top_reasons`: at most three reasons per score. A feature is a reason only when

  1. the feature register allows it (:attr:`features.register.Feature.may_be_reason`): a changeable
     signal (attendance, questionnaire answers, study progress and their trends), never fixed context
     (level, route, year of study, weeks since start, age, prior education), never a missing-value
     indicator, never a feature the register flags as a proxy of a protected attribute;
  2. its contribution pushes the risk **up** (good news is not a risk reason);
  3. its value is on the worrying side (:func:`reason_text` returns ``None`` otherwise): a wellbeing of
     4,5 op 5 or an attendance of 97% can get a positive contribution from the trees, but a mentor cannot
     act on it and it would read as a contradiction. The limits are in :data:`CONCERN`.

  Reasons are ordered by contribution, largest first (ties in model order), so a replay gives the very
  same reasons.
* :func:`reason_text`: plain Dutch with direction and scale: "aanwezig 62% van de lessen in de laatste 4
  weken", "hoe de student zich voelt: gemiddeld 2,1 op 5 in de laatste 4 weken (lager is zorgelijker)",
  "aanwezigheid 18 procentpunt lager dan in de 4 weken ervoor", "3 vakken niet gehaald dit schooljaar".
  Questionnaire answers are on the questionnaire's own ``scale_min..scale_max``; the 0..1 composite
  (``q_index_*``) is turned back to that scale ("welzijn, alle vragen samen").
* :func:`domain_summary`: per domain (aanwezigheid, welzijn, studievoortgang) the total contribution
  pushing the risk up and pushing it down, for a "win-loss" summary on the student page.
* :func:`questionnaire_signals`: this week's questionnaire signals in words ("wil met iemand praten",
  the worst answers of this week, "denkt aan stoppen om te werken: 5 op 5 (hoger is zorgelijker)").

Everything here is a pure function of a feature row (``{feature: value}``, as stored with each score),
its contributions, the register entries and the questionnaire.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from data.questionnaire import Item, Questionnaire
from features.leading import INDEX_NAME, QUESTIONNAIRE_WINDOW, RECENT_WEEKS, TREND_WEEKS
from features.register import DOMAIN_LABELS, SIGNAL_DOMAINS, Domain, Feature, features_by_name

TOP_N = 3
ITEM_STATS = ("latest", "mean_4w", "trend_6w", "change")

# When a value is on the worrying side (beyond these it may be a reason; a value on the good side never is).
# Questionnaire levels: strictly worse than the scale's midpoint (a filled, unanswered value is exactly the
# midpoint, so it never counts); trends and changes: a worsening at least as large as below.
CONCERN = {
    "attendance_below": 0.90,  # att_rate_*: attended under 90% of scheduled hours
    "attendance_drop_points": 5.0,  # att_rate_change_4w: at least 5 percentage points lower
    "authorised_rate_from": 0.10,  # auth_rate_4w: authorised absence (illness, appointments) from 10%
    "response_rate_below": 0.75,  # q_response_rate_8w: answered in under 75% of the weeks (6 of 8)
    "weeks_since_response_from": 2,  # q_weeks_since_response: not answered this week nor the week before
    "trend_points_from": 0.1,  # q_*_trend_6w: worsening by at least 0.1 point a week (0.5 over 6 weeks)
    "change_points_from": 0.5,  # q_{item}_change: the latest 4 weeks at least half a point worse
    "index_change_points_from": 0.25,  # q_index_change: the composite moves less, being a mean of all items
}


@dataclass(frozen=True)
class Reason:
    """One plain-Dutch reason: a feature's value and how much it moved the score (log-odds, > 0)."""

    feature: str
    text: str
    value: float
    contribution: float


@dataclass(frozen=True)
class DomainBalance:
    """What one domain did to a score: the SHAP contributions (log-odds) pushing the risk up and down."""

    domain: Domain
    label: str  # the Dutch label, e.g. "welzijn (vragenlijst)"
    up: float  # sum of the positive contributions of the domain's features (>= 0)
    down: float  # sum of the negative contributions (<= 0)

    @property
    def net(self) -> float:
        """The domain's total contribution: ``up + down``."""
        return self.up + self.down


# ---- formatting -------------------------------------------------------------------------------------


def dutch_number(value: float, decimals: int = 1) -> str:
    """``2.1`` -> ``"2,1"``, ``2.0`` -> ``"2"``: a decimal comma, no trailing ``,0``."""
    rounded = round(float(value), decimals)
    if rounded == 0:
        rounded = 0.0  # no "-0"
    if float(rounded).is_integer():
        return f"{int(rounded)}"
    return f"{rounded:.{decimals}f}".rstrip("0").replace(".", ",")


def _percent(rate: float) -> str:
    return f"{round(rate * 100)}%"


def _weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weken"


def _scale(q: Questionnaire) -> str:
    """``"op 5"`` on a 1..5 scale, else ``"op een schaal van 0 tot 4"``."""
    return f"op {q.scale_max}" if q.scale_min == 1 else f"op een schaal van {q.scale_min} tot {q.scale_max}"


def _orientation(higher_is_better: bool) -> str:
    return "lager is zorgelijker" if higher_is_better else "hoger is zorgelijker"


YES_NO_FEATURES = frozenset({"over_18", "route_bbl", "q_wants_to_talk_4w"})
LEVEL_NAMES = {1: "entree", 2: "niveau 2", 3: "niveau 3", 4: "niveau 4"}


def format_value(feature: str, value: float) -> str:
    """Any feature value in a readable form (ja/nee, percentages, Dutch decimals), e.g. for an auditor's
    table of inputs. Reasons use :func:`reason_text`, which also says direction and scale."""
    if feature in YES_NO_FEATURES or feature.startswith(("has_", "prior_", "flag_")):
        return "ja" if value >= 0.5 else "nee"
    if feature == "level":
        return LEVEL_NAMES.get(round(value), f"{value:g}")
    if "_change" in feature and "_rate" in feature:
        return f"{value * 100:+.0f} procentpunt".replace("+", "+ ").replace("-", "- ")
    if "_rate" in feature or "_ratio" in feature:
        return f"{value * 100:.0f}%"
    if "_trend" in feature:
        return f"{value:+.2f} per week".replace(".", ",")
    return dutch_number(value)


# ---- questionnaire features -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """How to read one questionnaire feature: its description, orientation and the factor to scale points."""

    description: str
    higher_is_better: bool
    to_points: float  # multiply a value (or a movement) by this to get points on the questionnaire scale
    offset: float  # add after multiplying, for levels


def _item_scale(code: str, q: Questionnaire) -> _Scale | None:
    if code == INDEX_NAME:  # the composite: 0 (worst) .. 1 (best), every item oriented higher-is-better
        return _Scale(
            "welzijn, alle vragen samen", True, float(q.scale_max - q.scale_min), float(q.scale_min)
        )
    item = next((i for i in q.items if i.code == code), None)
    if item is None:  # an item this questionnaire does not have: its direction is unknown, so no reason
        return None
    return _Scale(item.description, item.higher_is_better, 1.0, 0.0)


def split_item_feature(feature: str) -> tuple[str, str] | None:
    """``q_{code}_{stat}`` -> ``(code, stat)`` for the per-item and composite statistics."""
    if not feature.startswith("q_"):
        return None
    for stat in ITEM_STATS:
        if feature.endswith(f"_{stat}") and len(feature) > len(stat) + 3:
            return feature[2 : -len(stat) - 1], stat
    return None


def _when(weeks_ago: float | None) -> str:
    if weeks_ago is None:
        return "datum onbekend"
    n = round(weeks_ago)
    return "deze week" if n == 0 else "vorige week" if n == 1 else f"{n} weken geleden"


def _questionnaire_text(
    code: str, stat: str, value: float, row: Mapping[str, float], q: Questionnaire
) -> str | None:
    scale = _item_scale(code, q)
    if scale is None:
        return None
    mid = (q.scale_min + q.scale_max) / 2.0
    sign = 1.0 if scale.higher_is_better else -1.0  # positive = better
    tail = f"({_orientation(scale.higher_is_better)})"
    if stat in ("latest", "mean_4w"):
        points = scale.offset + value * scale.to_points
        if sign * (points - mid) >= 0:
            return None  # at or on the good side of the midpoint (also: a filled, unanswered value)
        if stat == "latest":
            since = row.get("q_weeks_since_response")
            if since is not None and since >= QUESTIONNAIRE_WINDOW:
                return None
            return (
                f"{scale.description}: laatste antwoord {dutch_number(points)} {_scale(q)} "
                f"({_when(since)}, {_orientation(scale.higher_is_better)})"
            )
        if row.get("has_questionnaire_4w", 1.0) < 0.5:
            return None
        return (
            f"{scale.description}: gemiddeld {dutch_number(points)} {_scale(q)} "
            f"in de laatste {RECENT_WEEKS} weken {tail}"
        )
    movement = value * scale.to_points
    shown = dutch_number(abs(movement))
    if stat == "trend_6w":
        smallest = CONCERN["trend_points_from"]
    else:
        smallest = CONCERN["index_change_points_from" if code == INDEX_NAME else "change_points_from"]
    if sign * movement >= 0 or abs(movement) < smallest or shown == "0":
        return None  # not worsening, or too small to matter
    range_ = f"schaal {q.scale_min} tot {q.scale_max}"
    if stat == "trend_6w":
        verb = "stijgt" if movement > 0 else "daalt"
        return (
            f"{scale.description}: {verb} de laatste {TREND_WEEKS} weken, gemiddeld {shown} punt per week "
            f"({range_}, {_orientation(scale.higher_is_better)})"
        )
    if row.get("has_questionnaire_baseline", 1.0) < 0.5 or row.get("has_questionnaire_4w", 1.0) < 0.5:
        return None
    direction = "hoger" if movement > 0 else "lager"
    return (
        f"{scale.description}: gemiddeld {shown} punt {direction} in de laatste {RECENT_WEEKS} weken "
        f"dan in de weken daarvoor ({range_}, {_orientation(scale.higher_is_better)})"
    )


# ---- the other changeable signals -------------------------------------------------------------------


def _attendance_text(feature: str, value: float, row: Mapping[str, float]) -> str | None:
    if row.get("has_attendance_8w", 1.0) < 0.5:
        return None  # no scheduled hours recorded: the rates are filled, not measured
    if feature.startswith("att_rate_") and feature.endswith("w") and "change" not in feature:
        weeks = feature.removeprefix("att_rate_").removesuffix("w")
        if round(value * 100) >= round(CONCERN["attendance_below"] * 100) or not weeks.isdigit():
            return None  # compared as shown: 89,7% reads "90%", which is not under 90%
        return f"aanwezig {_percent(value)} van de lessen in de laatste {weeks} weken"
    if feature == "att_rate_change_4w":
        points = round(-value * 100)
        if points < CONCERN["attendance_drop_points"]:
            return None
        return f"aanwezigheid {points} procentpunt lager dan in de 4 weken ervoor"
    if feature == "unauth_hours_4w":
        hours = dutch_number(value)
        return None if hours == "0" else f"{hours} uur ongeoorloofd afwezig in de laatste 4 weken"
    if feature == "unauth_rate_4w":
        shown = _percent(value)
        return (
            None if shown == "0%" else f"ongeoorloofd afwezig bij {shown} van de lessen in de laatste 4 weken"
        )
    if feature == "auth_rate_4w":
        if value < CONCERN["authorised_rate_from"]:
            return None
        share = _percent(value)
        return f"geoorloofd afwezig (ziekte, afspraken) bij {share} van de lessen in de laatste 4 weken"
    if feature == "weeks_absent_streak":
        n = round(value)
        if n < 1:
            return None
        return "de laatste week helemaal afwezig" if n == 1 else f"{n} weken achter elkaar helemaal afwezig"
    return None


def _progress_text(feature: str, value: float, row: Mapping[str, float]) -> str | None:
    if feature in ("credits_ratio_year", "credits_ratio_total"):
        if feature == "credits_ratio_year" and row.get("has_progress_year", 1.0) < 0.5:
            return None
        shown = _percent(value)
        if value >= 1.0 or shown == "100%":
            return None
        scope = "dit schooljaar" if feature.endswith("_year") else "tot nu toe in de opleiding"
        return f"{shown} van de verwachte studiepunten gehaald {scope}"
    if feature == "credits_behind_year":
        shown = dutch_number(value, 0)
        return None if value <= 0 or shown == "0" else f"{shown} studiepunten achter dit schooljaar"
    if feature == "units_failed_year":
        n = round(value)
        if n < 1:
            return None
        return f"{n} {'vak' if n == 1 else 'vakken'} niet gehaald dit schooljaar"
    return None


def _other_questionnaire_text(feature: str, value: float, q: Questionnaire) -> str | None:
    if feature == "q_weeks_since_response":
        n = round(value)
        if n < CONCERN["weeks_since_response_from"]:
            return None
        if n >= QUESTIONNAIRE_WINDOW:
            return f"vragenlijst de laatste {QUESTIONNAIRE_WINDOW} weken of langer niet ingevuld"
        return f"vragenlijst de laatste {_weeks(n)} niet ingevuld"
    if feature == "q_response_rate_8w":
        if round(value * 100) >= round(CONCERN["response_rate_below"] * 100):
            return None
        return f"vragenlijst maar in {_percent(value)} van de weken ingevuld (laatste 8 weken)"
    if feature == "q_wants_to_talk_4w":
        return (
            f"{q.help_item.description} (aangegeven in de laatste {RECENT_WEEKS} weken)"
            if value >= 0.5
            else None
        )
    return None


def reason_text(feature: str, row: Mapping[str, float], questionnaire: Questionnaire) -> str | None:
    """The reason a mentor reads for ``feature`` in the feature row ``row``, or ``None`` when the value is
    not on the worrying side (or the feature is not a changeable signal this module can word).

    ``row`` holds the feature values of one score (``{name: value}``); some texts read a neighbour (how
    long ago the latest answer was, whether attendance or answers were recorded at all).
    """
    value = row.get(feature)
    if value is None or not math.isfinite(value):
        return None
    item = split_item_feature(feature)
    if item is not None:
        return _questionnaire_text(item[0], item[1], value, row, questionnaire)
    if feature.startswith("q_"):
        return _other_questionnaire_text(feature, value, questionnaire)
    if feature.startswith(("att_", "unauth_", "auth_", "weeks_absent")):
        return _attendance_text(feature, value, row)
    if feature.startswith(("credits_", "units_")):
        return _progress_text(feature, value, row)
    return None


def top_reasons(
    row: Mapping[str, float],
    contributions: Mapping[str, float],
    register: Mapping[str, Feature],
    questionnaire: Questionnaire,
    top_n: int = TOP_N,
) -> list[Reason]:
    """At most ``top_n`` reasons for one score: the features the register allows as reasons, whose
    contribution is positive and whose value is on the worrying side, largest contribution first (ties in
    the order of ``contributions``)."""
    candidates = [
        name
        for name, contribution in contributions.items()
        if contribution > 0 and name in register and register[name].may_be_reason
    ]
    candidates.sort(key=lambda name: -contributions[name])  # stable: ties keep model order
    out: list[Reason] = []
    for name in candidates:
        if len(out) >= top_n:
            break
        text = reason_text(name, row, questionnaire)
        if text is not None:
            out.append(Reason(name, text, float(row[name]), float(contributions[name])))
    return out


# ---- the student page: domain summary and this week's questionnaire signals -------------------------


def domain_summary(
    contributions: Mapping[str, float], register: Mapping[str, Feature] | None = None
) -> tuple[DomainBalance, ...]:
    """Per domain (aanwezigheid, welzijn, studievoortgang, in that order) the total SHAP contribution
    pushing the risk up and pushing it down, over the domain's features that are shown to staff.

    ``contributions`` is a score's ``{feature: SHAP value}``; ``register`` its register entries
    (default: :func:`features.register.features_by_name` of the contributions). Context features and
    features flagged as a proxy are in no domain's total, so the three do not add up to the raw score.
    """
    entries = register if register is not None else features_by_name(contributions)
    ups: dict[Domain, list[float]] = {d: [] for d in SIGNAL_DOMAINS}
    downs: dict[Domain, list[float]] = {d: [] for d in SIGNAL_DOMAINS}
    for name, contribution in contributions.items():
        entry = entries.get(name)
        if entry is None or entry.domain not in ups or not entry.shown_to_staff:
            continue
        (ups if contribution > 0 else downs)[entry.domain].append(float(contribution))
    return tuple(
        DomainBalance(domain, DOMAIN_LABELS[domain], math.fsum(ups[domain]), math.fsum(downs[domain]))
        for domain in SIGNAL_DOMAINS
    )


def _badness(item: Item, value: float, q: Questionnaire) -> float:
    """0 (best answer) .. 1 (worst answer)."""
    position = (value - q.scale_min) / (q.scale_max - q.scale_min)
    return 1.0 - position if item.higher_is_better else position


def questionnaire_signals(
    feature_values: Mapping[str, float], questionnaire: Questionnaire, limit: int = 3
) -> list[str]:
    """This week's questionnaire signals in words, most urgent first.

    From a snapshot's features (as stored with each score): "wil met iemand praten" when the help item was
    answered yes in the latest 4 weeks (``q_wants_to_talk_4w``); then, when the questionnaire was answered
    this week (``q_weeks_since_response`` = 0), this week's answers on the worrying side of the scale's
    midpoint (``q_{code}_latest``), worst first, at most ``limit``, e.g. "denkt aan stoppen om te werken:
    5 op 5 (hoger is zorgelijker)"; when it was not answered this week, that fact ("vragenlijst deze week
    niet ingevuld (laatste keer 3 weken geleden)") instead of older answers. Empty when there is nothing
    to say (or the row has no questionnaire features, e.g. a model without the questionnaire).
    """
    out: list[str] = []
    if feature_values.get("q_wants_to_talk_4w", 0.0) >= 0.5:
        out.append(f"{questionnaire.help_item.description} (aangegeven in de laatste {RECENT_WEEKS} weken)")
    since = feature_values.get("q_weeks_since_response")
    if since is not None and round(since) >= 1:
        n = round(since)
        when = (
            f"al {QUESTIONNAIRE_WINDOW} weken of langer niet"
            if n >= QUESTIONNAIRE_WINDOW
            else f"laatste keer {'vorige week' if n == 1 else f'{n} weken geleden'}"
        )
        out.append(f"vragenlijst deze week niet ingevuld ({when})")
        return out
    mid = (questionnaire.scale_min + questionnaire.scale_max) / 2.0
    worrying: list[tuple[float, int, str]] = []
    for order, item in enumerate(questionnaire.items):
        value = feature_values.get(f"q_{item.code}_latest")
        if value is None or not math.isfinite(value):
            continue
        sign = 1.0 if item.higher_is_better else -1.0
        if sign * (value - mid) >= 0:
            continue
        text = (
            f"{item.description}: {dutch_number(value)} {_scale(questionnaire)} "
            f"({_orientation(item.higher_is_better)})"
        )
        worrying.append((-_badness(item, value, questionnaire), order, text))
    out.extend(text for _, _, text in sorted(worrying)[: max(limit, 0)])
    return out


def reasons_for_rows(
    features: Sequence[str],
    values: Sequence[Sequence[float]],
    contributions: Sequence[Sequence[float]],
    register: Mapping[str, Feature],
    questionnaire: Questionnaire,
    top_n: int = TOP_N,
) -> list[list[Reason]]:
    """:func:`top_reasons` for every row of a batch (values and contributions in ``features`` order)."""
    return [
        top_reasons(
            dict(zip(features, row, strict=True)),
            dict(zip(features, shap, strict=True)),
            register,
            questionnaire,
            top_n,
        )
        for row, shap in zip(values, contributions, strict=True)
    ]
