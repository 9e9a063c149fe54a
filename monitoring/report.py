"""The summary page of a weekly run: Dutch headings, the status and its reasons, tables and charts
(performance over the matured weeks, calibration, fairness ratios, response per level, drift per column)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from monitoring.status import STATUS_NL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from monitoring.weekly import WeeklyResult

STATUS_COLOUR = {"ok": "#2e7d32", "watch": "#ef6c00", "retrain": "#c62828"}
METRIC_NL = {
    "selection_rate": "selectie",
    "false_positive_rate": "vals-positief",
    "false_negative_rate": "vals-negatief",
    "precision": "precisie",
    "calibration": "kalibratie",
}


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.subplots()


def _img(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="grafiek" src="data:image/png;base64,{data}">'


def performance_chart(by_week: pd.DataFrame, reference: dict[str, Any]) -> str:
    """ROC-AUC and precision at k per matured as-of week, with the reference as dashed lines."""
    fig, ax = _figure()
    for metric, label, colour in (
        ("roc_auc", "ROC-AUC", "#1565c0"),
        ("precision_at_k", "precisie top k", "#6a1b9a"),
    ):
        ax.plot(by_week["as_of"], by_week[metric], marker="o", label=label, color=colour)
        ax.axhline(float(reference[metric]), linestyle="--", color=colour, alpha=0.6)
    ax.set_xlabel("peilweek (labels uitgekomen)")
    ax.set_ylim(0, 1)
    ax.set_title("Prestaties per week (stippellijn: bij training)")
    ax.legend(loc="upper right")
    return _img(fig)


def calibration_chart(by_week: pd.DataFrame) -> str:
    fig, ax = _figure()
    ax.plot(by_week["as_of"], by_week["mean_probability"], marker="o", label="voorspeld")
    ax.plot(by_week["as_of"], by_week["observed_rate"], marker="s", label="werkelijk vsv")
    ax.set_xlabel("peilweek")
    ax.set_ylabel("aandeel binnen de horizon")
    ax.set_title("Kalibratie: voorspelde kans en werkelijk vsv per week")
    ax.legend()
    return _img(fig)


def fairness_chart(table: pd.DataFrame, low: float, high: float) -> str:
    """Ratios to the reference group per attribute, group and metric; the band [low, high] shaded."""
    metrics = list(METRIC_NL)
    rows = table[table["group"] != table["reference_group"]]
    labels = [f"{r.attribute}={r.group}" for r in rows.itertuples()]
    fig, ax = _figure(8.0, max(2.5, 0.45 * len(labels) + 1))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = rows[f"{metric}_ratio"].clip(upper=4).fillna(0).to_numpy()
        positions = [j + i * width for j in range(len(labels))]
        ax.barh(positions, values, height=width, label=METRIC_NL[metric])
    ax.axvspan(low, high, color="#c8e6c9", alpha=0.5)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks([j + 0.4 - width / 2 for j in range(len(labels))], labels)
    ax.set_xlabel("verhouding tot de referentiegroep (groen: 0,8-1,25; afgekapt op 4)")
    ax.set_title("Eerlijkheid per groep")
    ax.legend(fontsize=7, loc="lower right")
    return _img(fig)


def response_chart(by_level: list[dict[str, Any]]) -> str:
    frame = pd.DataFrame(by_level)
    fig, ax = _figure(6.0, 3.0)
    x = range(len(frame))
    ax.bar([i - 0.2 for i in x], frame["response_rate"], width=0.4, label="deze week")
    ax.bar([i + 0.2 for i in x], frame["reference_rate"], width=0.4, label="bij training")
    ax.set_xticks(list(x), [f"niveau {g}" for g in frame["group"]])
    ax.set_ylim(0, 1)
    ax.set_title("Respons op de vragenlijst per niveau (laatste 8 weken)")
    ax.legend()
    return _img(fig)


def drift_chart(columns: pd.DataFrame, top: int = 15) -> str:
    shown = columns.head(top).iloc[::-1]
    fig, ax = _figure(7.0, 0.3 * len(shown) + 1.2)
    colours = ["#c62828" if d else "#90a4ae" for d in shown["drifted"]]
    ax.barh(
        [f"{c} ({f})" for c, f in zip(shown["column"], shown["family"], strict=True)],
        shown["score"],
        color=colours,
    )
    ax.axvline(float(columns["threshold"].iloc[0]), linestyle="--", color="black")
    ax.set_xlabel("afstand tot de trainingsreferentie (Wasserstein, genormeerd)")
    ax.set_title("Grootste verschuivingen per kolom")
    return _img(fig)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(
        index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="tabel", na_rep="-"
    )


def write_summary_page(result: WeeklyResult, path: Path) -> Path:
    """Write the summary page (self-contained: charts embedded) to ``path``."""
    s = result.summary()
    colour = STATUS_COLOUR[result.status]
    parts = [
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>",
        f"<title>Monitoring week {result.week}</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.4}"
        "table.tabel{border-collapse:collapse;font-size:0.85em}table.tabel td,table.tabel th"
        "{padding:2px 8px;border-bottom:1px solid #ddd}img{max-width:100%}</style></head><body>",
        f"<h1>Monitoring week {result.week}</h1>",
        f"<p>Model: {html.escape(result.model_label)}; {result.scored_students} studenten gescoord.</p>",
        f"<h2 style='color:{colour}'>Status: {STATUS_NL[result.status]}</h2>",
        "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in result.reasons) + "</ul>"
        if result.reasons
        else "",
        "<h2>Alle controles</h2><ul>",
        *(f"<li>{'⚠ ' if f.alert else '✓ '}{html.escape(f.message)}</li>" for f in result.findings),
        "</ul>",
        "<h2>Verschuiving van gegevens (drift)</h2>",
        f"<p>Vergeleken met {result.drift.reference_rows} rijen uit de trainingsreferentie van dezelfde tijd "
        f"van het jaar. Het volledige Evidently-rapport: <a href='drift.html'>drift.html</a>.</p>",
        drift_chart(result.drift.columns),
        "<h2>Respons op de vragenlijst</h2>",
        response_chart(result.response["by_level"]),
    ]
    low_teams = result.response["teams_below_minimum"]
    if low_teams:
        parts.append(f"<p>Teams met lage respons: {html.escape(', '.join(low_teams[:20]))}</p>")
    parts.append("<h2>Prestaties op uitgekomen labels</h2>")
    if len(result.performance_by_week):
        weeks = result.evaluated_weeks
        parts += [
            f"<p>Peilweken {weeks[0]}-{weeks[-1]}: hun horizon is voorbij, dus de uitkomst is bekend.</p>",
            performance_chart(result.performance_by_week, result.performance["reference"]),
            calibration_chart(result.performance_by_week),
            _table(_performance_table(s["performance"])),
        ]
    else:
        parts.append("<p>Nog geen peilweken met uitgekomen labels.</p>")
    parts.append("<h2>Eerlijkheid</h2>")
    if len(result.fairness_table):
        fair = result.fairness_table
        parts += [
            "<p>Per auditkenmerk (geslacht, migratieachtergrond; nooit modelinvoer), niveau en "
            "leeftijdsgroep. "
            "Geselecteerd = band 'hoog'. Een verhouding buiten 0,8-1,25 met een significant verschil wordt "
            "gemarkeerd.</p>",
            fairness_chart(fair, 0.8, 1.25),
            _table(fair[["attribute", "group", "reference_group", "n", "positives", *METRIC_NL]]),
        ]
    parts.append("<h2>Stabiliteit van de lijst</h2>")
    if result.stability is not None:
        st = result.stability
        parts.append(
            f"<p>Overlap (Jaccard) van de top {st['top_k']} met vorige week: {st['jaccard_top_k']:.2f}; "
            f"{st['band_changes']} studenten ({st['band_change_share']:.0%}) wisselden van band.</p>"
        )
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _performance_table(performance: dict[str, Any]) -> pd.DataFrame:
    keys = ("roc_auc", "precision_at_k", "brier", "ece", "calibration_ratio", "positives")
    return pd.DataFrame(
        {
            "maat": list(keys),
            "nu": [performance["current"].get(k) for k in keys],
            "bij training": [performance["reference"].get(k) for k in keys],
        }
    )
