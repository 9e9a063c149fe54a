"""The summary page of a weekly run: Dutch headings, the status and its reasons, tables and charts
(performance over the matured weeks, calibration, fairness ratios, response per level, drift per column).

The charts are drawn here (matplotlib, embedded as base64 PNG); the page itself is the Jinja2 template
``monitoring/templates/summary.html`` (autoescaped: reasons and labels are text, never markup).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from matplotlib.ticker import MaxNLocator

from data.vocabulary import ATTRIBUTE_NL, GROUP_NL
from monitoring.drift import column_label, line_of
from monitoring.status import (
    CHECK_NL,
    FAMILY_NL,
    METRIC_NL,
    STATUS_MEANING_NL,
    STATUS_NL,
    STATUSES,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from monitoring.result import WeeklyResult

TEMPLATES = Path(__file__).parent / "templates"
SUMMARY_TEMPLATE = "summary.html"
FAIRNESS_RANGE = (0.8, 1.25)
LOW_TEAMS_SHOWN = 20
DRIFT_COLUMNS_SHOWN = 15
DRIFT_CHART_CAP = 2.0  # longer bars are cut off here, their value written beside them

STATUS_COLOUR = {"ok": "#2e7d32", "watch": "#ef6c00", "retrain": "#c62828"}
# Column headers of the fairness table: what each metric is, and which way is better.
METRIC_HEADER_NL = {
    "selection_rate": "geselecteerd",
    "false_positive_rate": "vals-positief (lager is beter)",
    "false_negative_rate": "vals-negatief (lager is beter)",
    "precision": "precisie (hoger is beter)",
    "calibration": "kalibratie (1 is ideaal)",
}
PERCENT_KEYS = frozenset({"observed_rate", "mean_probability"})
# Rows of the performance table: key, what it measures, which way is better.
PERFORMANCE_ROWS = (
    ("roc_auc", "ROC-AUC: zet het model vsv'ers boven de anderen?", "hoger is beter"),
    ("precision_at_k", "precisie in de top k: aandeel echte vsv'ers bovenaan de lijst", "hoger is beter"),
    ("brier", "Brier-score: gemiddelde fout van de kansen", "lager is beter"),
    ("ece", "kalibratiefout (ECE): verschil voorspelde en werkelijke kans", "lager is beter"),
    ("calibration_ratio", "kalibratie: werkelijk vsv / voorspeld vsv", "1 is ideaal"),
    ("observed_rate", "werkelijk vsv-aandeel (studentweken)", "telling"),
    ("mean_probability", "voorspelde kans, gemiddeld", "dicht bij werkelijk is beter"),
    ("positives", "vsv-gevallen (studentweken)", "telling"),
)


@dataclass(frozen=True)
class Table:
    """A table for the template: headers and rows of text (numbers already formatted)."""

    headers: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # indexes of the columns aligned right


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _png(fig: Figure) -> str:
    """The figure as a base64 PNG, for ``<img src="data:image/png;base64,...">``."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _group_label(attribute: str, group: str) -> str:
    return f"{ATTRIBUTE_NL.get(attribute, attribute)}: {GROUP_NL.get(group, group)}"


def short_week(label: str) -> str:
    """A week's label for a chart's axis: "wk 47" of "wk 47, 17-21 nov" (a fallback label as it is)."""
    return label.split(",")[0]


def _week_ticks(ax: Any, weeks: Sequence[int], labels: Mapping[int, str], extra: Sequence[str] = ()) -> None:
    """Tick each as-of week with its school week ("wk 47"), or its number without a calendar."""
    names = [short_week(labels[w]) if w in labels else str(w) for w in weeks]
    positions = [float(w) for w in weeks]
    if extra:
        positions.append(float(max(weeks, default=0)) + 1.5)
    slanted = {"rotation": 45, "ha": "right"} if labels else {}
    ax.set_xticks(positions, [*names, *extra], **slanted)


def performance_chart(
    by_week: pd.DataFrame, reference: dict[str, Any], labels: Mapping[int, str] | None = None
) -> str:
    """ROC-AUC and precision at k per matured as-of week, with the reference as dashed lines (base64 PNG)."""
    fig, ax = _figure()
    for metric, label, colour in (
        ("roc_auc", "ROC-AUC", "#1565c0"),
        ("precision_at_k", "precisie top k", "#6a1b9a"),
    ):
        ax.plot(by_week["as_of"], by_week[metric], marker="o", label=label, color=colour)
        ax.axhline(float(reference[metric]), linestyle="--", color=colour, alpha=0.6)
    ax.set_xlabel("peilweek (labels uitgekomen)")
    if labels:
        _week_ticks(ax, [int(w) for w in by_week["as_of"]], labels)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1)
    ax.set_title("Prestaties per week, hoger is beter (stippellijn: bij training)")
    ax.legend(loc="center right")  # between ROC-AUC (high) and precision at k (low)
    return _png(fig)


def calibration_chart(
    by_week: pd.DataFrame, current: dict[str, Any], level: float, labels: Mapping[int, str] | None = None
) -> str:
    """Per matured as-of week the observed vsv rate with its interval and the mean predicted probability;
    at the right the weeks together, the figures the status is decided on (base64 PNG)."""
    fig, ax = _figure()
    weeks = by_week["as_of"].to_numpy()
    observed = by_week["observed_rate"].to_numpy()
    if {"observed_low", "observed_high"} <= set(by_week.columns):
        errors = [
            observed - by_week["observed_low"].to_numpy(),
            by_week["observed_high"].to_numpy() - observed,
        ]
        ax.errorbar(weeks, observed, yerr=errors, fmt="s", capsize=3, color="#ef6c00", label="werkelijk vsv")
    else:
        ax.plot(weeks, observed, marker="s", color="#ef6c00", label="werkelijk vsv")
    ax.plot(weeks, by_week["mean_probability"], marker="o", color="#1565c0", label="voorspeld")
    together = float(weeks.max()) + 1.5
    low, high = current.get("observed_low"), current.get("observed_high")
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        rate = float(current["observed_rate"])
        ax.errorbar(
            [together],
            [rate],
            yerr=[[rate - low], [high - rate]],
            fmt="s",
            capsize=5,
            color="#8a4500",
            elinewidth=2.5,
        )
        ax.plot([together], [current["mean_probability"]], marker="o", markersize=8, color="#0b3d91")
    _week_ticks(ax, [int(w) for w in weeks], labels or {}, extra=("samen",))
    ax.set_xlabel("peilweek; 'samen': alle weken, daarop beslist de status")
    ax.set_ylabel("aandeel binnen de horizon")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.1f}%".replace(".", ","))
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"Kalibratie: voorspeld en werkelijk vsv, met {level:.0%}-interval (voorspeld binnen is goed)"
    )
    ax.legend(loc="lower left")
    return _png(fig)


def fairness_chart(table: pd.DataFrame, low: float, high: float) -> str:
    """Ratios to the reference group per attribute, group and metric; the band [low, high] shaded."""
    metrics = list(METRIC_NL)
    rows = table[table["group"] != table["reference_group"]]
    labels = [_group_label(str(r.attribute), str(r.group)) for r in rows.itertuples()]
    fig, ax = _figure(8.0, max(2.5, 0.45 * len(labels) + 1))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = rows[f"{metric}_ratio"].clip(upper=4).fillna(0).to_numpy()
        positions = [j + i * width for j in range(len(labels))]
        ax.barh(positions, values, height=width, label=METRIC_NL[metric])
    ax.axvspan(low, high, color="#c8e6c9", alpha=0.6, zorder=0)
    ax.axvline(1.0, color="black", linewidth=0.8, zorder=3)
    ax.set_yticks([j + 0.4 - width / 2 for j in range(len(labels))], labels)
    ax.set_xlabel("verhouding tot de referentiegroep (1 is gelijk; groen: 0,8-1,25; afgekapt op 4)")
    ax.set_title("Eerlijkheid per groep (dichter bij 1 is beter)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def response_chart(by_level: list[dict[str, Any]]) -> str:
    """Questionnaire response per level, this week against training (base64 PNG)."""
    frame = pd.DataFrame(by_level)
    fig, ax = _figure(6.0, 3.0)
    x = range(len(frame))
    ax.bar([i - 0.2 for i in x], frame["response_rate"], width=0.4, label="deze week")
    ax.bar([i + 0.2 for i in x], frame["reference_rate"], width=0.4, label="bij training")
    ax.set_xticks(list(x), [f"niveau {g}" for g in frame["group"]])
    ax.set_ylim(0, 1.2)  # room above 100% for the legend
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title("Respons per niveau, laatste 8 weken (hoger is beter)")
    ax.legend(loc="upper center", ncol=2)
    return _png(fig)


def drift_chart(columns: pd.DataFrame, top: int = DRIFT_COLUMNS_SHOWN) -> str:
    """The first ``top`` columns of the drift table (furthest past their line first), drifted ones in red,
    each with its own line (the larger of the threshold and the noise) as a black mark (base64 PNG)."""
    shown = columns.head(top).iloc[::-1]
    fig, ax = _figure(7.0, 0.3 * len(shown) + 1.2)
    colours = ["#c62828" if d else "#90a4ae" for d in shown["drifted"]]
    labels = []
    for column, family in zip(shown["column"].astype(str), shown["family"].astype(str), strict=True):
        label, kind = column_label(column, 40), FAMILY_NL.get(family, family)
        labels.append(label if label == kind else f"{label} ({kind})")
    positions = list(range(len(shown)))
    scores = shown["score"].astype(float)
    ax.barh(positions, scores.clip(upper=DRIFT_CHART_CAP), color=colours)
    for position, score in zip(positions, scores, strict=True):
        if score > DRIFT_CHART_CAP:  # a bar cut off at the cap: its value beside it
            ax.text(DRIFT_CHART_CAP, position, f" {score:.1f}".replace(".", ","), va="center", fontsize=8)
    ax.scatter(line_of(shown), positions, marker="|", s=260, color="black", zorder=3, label="grens")
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, min(max(float(scores.max()), float(line_of(shown).max())) * 1.1, DRIFT_CHART_CAP * 1.15))
    ax.set_xlabel(
        f"afstand tot training (Wasserstein, genormeerd; lager is beter; afgekapt op {DRIFT_CHART_CAP:g})"
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Grootste verschuivingen per kolom (rood: voorbij de eigen grens, telt mee)", fontsize=11)
    return _png(fig)


def _number(value: Any, digits: int = 3) -> str:
    """A measure as text with ``digits`` decimals; missing as a dash."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _count(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{round(float(value))}"


def _percent1(value: Any) -> str:
    """A share with one decimal and a decimal comma: "2,0%"."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value) * 100:.1f}%".replace(".", ",")


def _percent(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):.0%}"


def performance_table(performance: dict[str, Any]) -> Table:
    """The pooled figures on the matured weeks against the figures at training, one row per measure; the
    observed vsv rate with the interval the calibration check uses."""
    rows = []
    current, reference = performance["current"], performance["reference"]
    for key, label, direction in PERFORMANCE_ROWS:
        fmt = _count if key == "positives" else _percent1 if key in PERCENT_KEYS else _number
        now = fmt(current.get(key))
        if key == "observed_rate" and current.get("observed_low") is not None:
            level = float(performance.get("calibration_level", 0.95))
            now += (
                f" ({level:.0%}-interval {_percent1(current.get('observed_low'))}"
                f"-{_percent1(current.get('observed_high'))})"
            )
        rows.append([label, direction, now, fmt(reference.get(key))])
    return Table(["maat", "richting", "nu", "bij training"], rows, frozenset({2, 3}))


def fairness_rows(table: pd.DataFrame) -> Table:
    """Per attribute and group: size, vsv rows, the metrics and the metrics marked (flagged)."""
    rows = []
    for record in table.to_dict("records"):
        flagged = [METRIC_NL[m] for m in METRIC_NL if bool(record.get(f"{m}_flag", False))]
        attribute, group = str(record["attribute"]), str(record["group"])
        rows.append(
            [
                ATTRIBUTE_NL.get(attribute, attribute),
                GROUP_NL.get(group, group),
                GROUP_NL.get(str(record["reference_group"]), str(record["reference_group"])),
                _count(record["n"]),
                _count(record["positives"]),
                *(_number(record[m]) for m in METRIC_NL),
                ", ".join(flagged) or "–",
            ]
        )
    headers = ["kenmerk", "groep", "vergeleken met", "studentweken", "vsv-gevallen"]
    headers += [*METRIC_HEADER_NL.values(), "gemarkeerd"]
    return Table(headers, rows, frozenset(range(3, 3 + 2 + len(METRIC_NL))))


def response_rows(by_level: list[dict[str, Any]]) -> Table:
    return Table(
        ["niveau", "studenten", "respons deze week", "respons bij training"],
        [
            [
                f"niveau {r['group']}",
                _count(r.get("students")),
                _percent(r.get("response_rate")),
                _percent(r.get("reference_rate")),
            ]
            for r in by_level
        ],
        frozenset({1, 2, 3}),
    )


def drift_rows(columns: pd.DataFrame, top: int = DRIFT_COLUMNS_SHOWN) -> Table:
    """Every drifted column and the next ones up to ``top`` rows: the numbers of the chart and the status."""
    shown = columns[columns["drifted"].astype(bool) | (np.arange(len(columns)) < top)]
    return Table(
        ["gegeven", "soort", "afstand (lager is beter)", "grens", "verschoven", "kolom"],
        [
            [
                column_label(str(r["column"]), 80),
                FAMILY_NL.get(str(r["family"]), str(r["family"])),
                _number(r["score"]),
                _number(line),
                "ja" if bool(r["drifted"]) else "nee",
                str(r["column"]),
            ]
            for r, line in zip(shown.to_dict("records"), line_of(shown), strict=True)
        ],
        frozenset({2, 3}),
    )


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page_context(result: WeeklyResult, drift_report: bool = True) -> dict[str, Any]:
    """Everything the template shows, as text, numbers and base64 charts."""
    response = result.response
    low_teams = list(response["teams_below_minimum"])
    performance = None
    if len(result.performance_by_week):
        weeks = result.evaluated_weeks
        performance = {
            "first_week": weeks[0] if weeks else None,
            "last_week": weeks[-1] if weeks else None,
            "first_label": result.week_label(weeks[0]) if weeks else None,
            "last_label": result.week_label(weeks[-1]) if weeks else None,
            "chart": performance_chart(
                result.performance_by_week, result.performance["reference"], result.week_labels
            ),
            "calibration_chart": calibration_chart(
                result.performance_by_week,
                result.performance["current"],
                float(result.performance.get("calibration_level", 0.95)),
                result.week_labels,
            ),
            "table": performance_table(result.performance),
        }
    fairness = None
    if len(result.fairness_table):
        fairness = {
            "chart": fairness_chart(result.fairness_table, *FAIRNESS_RANGE),
            "table": fairness_rows(result.fairness_table),
        }
    return {
        "week": result.week,
        "week_label": result.week_label(),
        "model_label": result.model_label,
        "scored_students": result.scored_students,
        "status": result.status,
        "status_nl": STATUS_NL[result.status],
        "status_colour": STATUS_COLOUR[result.status],
        "statuses": [(STATUS_NL[s], STATUS_MEANING_NL[s]) for s in STATUSES],
        "reasons": list(result.reasons),
        "findings": [
            {"check": CHECK_NL.get(f.check, f.check), "alert": f.alert, "message": f.message}
            for f in result.findings
        ],
        "drift": {
            "reference_rows": result.drift.reference_rows,
            "current_rows": result.drift.current_rows,
            "report": drift_report,
            "threshold": _number(result.drift.columns["threshold"].max(), 2).replace(".", ",")
            if len(result.drift.columns)
            else "–",
            "permutations": result.drift.permutations,
            "false_alarm": _percent(result.drift.false_alarm_rate),
            "drifted": len(result.drift.drifted),
            "compared": len(result.drift.features),
            "out_of_season": result.drift.out_of_season,
            "reference_weeks": "-".join(map(str, result.drift.reference_weeks or ())) or "–",
            "chart": drift_chart(result.drift.columns),
            "table": drift_rows(result.drift.columns),
        },
        "response": {
            "rate": _percent(response.get("response_rate")),
            "reference_rate": _percent(response.get("reference_rate")),
            "chart": response_chart(response["by_level"]),
            "table": response_rows(response["by_level"]),
            "rounds": response.get("rounds"),
            "rounds_rate": _percent((response.get("rounds") or {}).get("rate")),
            "low_teams": low_teams[:LOW_TEAMS_SHOWN],
            "more_low_teams": max(len(low_teams) - LOW_TEAMS_SHOWN, 0),
        },
        "performance": performance,
        "fairness": fairness,
        "fairness_low": str(FAIRNESS_RANGE[0]).replace(".", ","),
        "fairness_high": str(FAIRNESS_RANGE[1]).replace(".", ","),
        "stability": result.stability,
    }


def write_summary_page(result: WeeklyResult, path: Path) -> Path:
    """Write the summary page (self-contained: charts embedded) to ``path``."""
    drift_report = result.drift.evidently is not None or (path.parent / "drift.html").is_file()
    page = _environment().get_template(SUMMARY_TEMPLATE).render(page_context(result, drift_report))
    path.write_text(page, encoding="utf-8")
    return path
