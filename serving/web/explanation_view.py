"""The auditor's explanation page in words: every feature with its Dutch description from the feature
register beside its code, its value as the mentor reads it (percentages, hours, weeks, answers on the
questionnaire's own scale with the words of its ends) and its SHAP contribution, drawn as bars.

Pure functions of a stored score's feature values and contributions, the register's descriptions and the
questionnaire; the page (:func:`serving.web.pages._explanation_page`) only renders them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup

from data.questionnaire import Item, Questionnaire
from features.leading import INDEX_NAME, QUESTIONNAIRE_WINDOW
from models.reasons import LEVEL_NAMES, dutch_number, format_value, split_item_feature

CHART_ROWS = 12
# The bar of one contribution: a small SVG around a zero line (attributes only: the pages' CSP allows no
# inline style).
BAR_WIDTH, BAR_HEIGHT = 160, 14


@dataclass(frozen=True)
class FeatureRow:
    """One feature of a stored score, as the auditor reads it."""

    feature: str
    description: str
    value: str
    contribution: float

    @property
    def raises(self) -> bool:
        return self.contribution >= 0


def _scale_words(q: Questionnaire, item: Item | None) -> str:
    """The scale with the words of its ends: "1 = heel slecht, 5 = heel goed"."""
    if item is None:  # the composite: every item oriented higher-is-better
        return f"{q.scale_min} = slechtst, {q.scale_max} = best"
    return f"{q.scale_min} = {item.low_label}, {q.scale_max} = {item.high_label}"


def _points(value: float) -> str:
    return f"{dutch_number(abs(value), 2)} punt"


def _item_value(code: str, stat: str, value: float, q: Questionnaire) -> str | None:
    """A questionnaire statistic on the questionnaire's own scale, with the words of its ends."""
    item = next((i for i in q.items if i.code == code), None)
    if item is None and code != INDEX_NAME:
        return None
    # The composite runs 0 (worst) .. 1 (best): turned back to the scale, as the mentor reads it.
    to_points = float(q.scale_max - q.scale_min) if item is None else 1.0
    offset = float(q.scale_min) if item is None else 0.0
    words = _scale_words(q, item)
    if stat in ("latest", "mean_4w"):
        shown = f"{dutch_number(offset + value * to_points)} op {q.scale_max}"
        if item is None:  # the register describes the composite on 0 .. 1: show that value too
            return f"{shown} (score {dutch_number(value, 2)} van 0 tot 1; {words})"
        return f"{shown} ({words})"
    movement = value * to_points
    if round(movement, 2) == 0:
        return "gelijk gebleven" if stat == "change" else "geen trend"
    direction = "hoger" if movement > 0 else "lager"
    if stat == "trend_6w":
        verb = "stijgt" if movement > 0 else "daalt"
        return f"{verb} {_points(movement)} per week ({words})"
    return f"{_points(movement)} {direction} dan de weken ervoor ({words})"


def _weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weken"


def value_text(feature: str, value: float | None, questionnaire: Questionnaire) -> str:
    """A stored feature value as the mentor reads it: "62%", "6 uur", "2 op 5 (1 = heel slecht, 5 = heel
    goed)", "niveau 2", "ja"; "onbekend" for a missing value."""
    if value is None or not math.isfinite(value):
        return "onbekend"
    item = split_item_feature(feature)
    if item is not None:
        shown = _item_value(item[0], item[1], value, questionnaire)
        if shown is not None:
            return shown
    if feature == "q_weeks_since_response":
        n = round(value)
        if n >= QUESTIONNAIRE_WINDOW:
            return f"{QUESTIONNAIRE_WINDOW} weken of langer geleden"
        return "deze week ingevuld" if n == 0 else f"{_weeks(n)} geleden"
    if feature == "att_rate_change_4w":
        points = round(value * 100)
        if points == 0:
            return "gelijk aan de 4 weken ervoor"
        return f"{abs(points)} procentpunt {'hoger' if points > 0 else 'lager'} dan de 4 weken ervoor"
    if feature == "unauth_hours_4w":
        return f"{dutch_number(value)} uur"
    if feature in ("weeks_absent_streak", "weeks_since_start"):
        return _weeks(round(value))
    if feature == "credits_behind_year":
        return f"{dutch_number(value, 0)} studiepunten"
    if feature == "units_failed_year":
        n = round(value)
        return f"{n} {'onderdeel' if n == 1 else 'onderdelen'}"
    if feature == "credits_ratio_year" or feature == "credits_ratio_total":
        return f"{round(value * 100)}% van verwacht"
    if feature == "year_of_study":
        return f"jaar {round(value)}"
    if feature == "level":
        return LEVEL_NAMES.get(round(value), dutch_number(value))
    return format_value(feature, value)


def feature_rows(
    feature_values: Mapping[str, float],
    contributions: Mapping[str, float],
    descriptions: Mapping[str, str],
    questionnaire: Questionnaire,
) -> list[FeatureRow]:
    """Every contribution, largest (in size) first, with the feature's description and readable value."""
    ordered = sorted(contributions.items(), key=lambda kv: abs(kv[1]), reverse=True)
    return [
        FeatureRow(
            feature=name,
            description=descriptions.get(name, name.replace("_", " ")),
            value=value_text(name, feature_values.get(name), questionnaire),
            contribution=float(contribution),
        )
        for name, contribution in ordered
    ]


def contribution_text(value: float) -> str:
    """A SHAP contribution, signed, with a decimal comma: "+0,412"."""
    shown = f"{value:+.3f}".replace(".", ",")
    return shown.replace("-", "−")


def bar(value: float, largest: float) -> Markup:
    """One contribution as a bar from the zero line: right (red) raises the risk, left (green) lowers it."""
    half = BAR_WIDTH / 2
    length = 0.0 if largest <= 0 else min(abs(value) / largest, 1.0) * (half - 2)
    x = half if value >= 0 else half - length
    cls = "bar-up" if value >= 0 else "bar-down"
    return Markup(
        f'<svg class="shap-bar" viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}" width="{BAR_WIDTH}" '
        f'height="{BAR_HEIGHT}" aria-hidden="true" focusable="false">'
        f'<line class="zero" x1="{half}" x2="{half}" y1="0" y2="{BAR_HEIGHT}"/>'
        f'<rect class="{cls}" x="{x:.1f}" y="2" width="{max(length, 1.0):.1f}" height="{BAR_HEIGHT - 4}"/>'
        "</svg>"
    )


def largest_contribution(rows: list[FeatureRow]) -> float:
    return max((abs(r.contribution) for r in rows), default=0.0)
