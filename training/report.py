"""Pictures and the model card of a training run (Markdown and HTML), written to a folder."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.calendar import WEEKS_PER_YEAR
from data.vocabulary import ATTRIBUTE_NL, GROUP_NL
from features.register import Feature, excluded_features
from models.evaluation import Evaluation
from training.extension_check import ExtensionCheck

SCORER_LABELS = {
    "model": "model (LightGBM, gekalibreerd)",
    "oracle": "oracle (ware kans)",
    "logistic": "logistische regressie",
    "no_questionnaire": "model zonder vragenlijst",
    "rules": "regels (verzuim, studiepunten)",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_nl(config: dict[str, Any]) -> str:
    """The training label in Dutch, from a run's configuration (``label``; absent: ``horizon``)."""
    if config.get("label", "horizon") == "programme_end":
        return "vertrek zonder startkwalificatie voor het einde van de opleiding"
    return f"vsv binnen {config['horizon']} schoolweken"


def reliability_plot(
    frame: pd.DataFrame,
    scorers: list[str],
    path: Path,
    n_bins: int = 10,
    predicted: str = "vsv (12 weken)",
) -> Path:
    """Observed against predicted per bin; ``predicted`` names what the probability is of."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for s in scorers:
        edges = np.unique(np.quantile(frame[s], np.linspace(0, 1, n_bins + 1)))
        bins = np.clip(np.searchsorted(edges, frame[s], side="right") - 1, 0, max(len(edges) - 2, 0))
        grouped = frame.groupby(bins).agg(p=(s, "mean"), y=("vsv", "mean"))
        ax.plot(grouped["p"], grouped["y"], marker="o", label=SCORER_LABELS.get(s, s))
        top = max(top, float(grouped[["p", "y"]].max().max()))
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect gekalibreerd")
    ax.set_xlabel(f"voorspelde kans op {predicted}")
    ax.set_ylabel("werkelijk aandeel vsv")
    ax.set_title("Betrouwbaarheid van de kansen (testjaar)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def pr_curve_plot(
    frame: pd.DataFrame, scorers: list[str], rule_point: tuple[float, float], path: Path
) -> Path:
    from sklearn.metrics import precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for s in scorers:
        precision, recall, _ = precision_recall_curve(frame["vsv"], frame[s])
        ax.plot(recall, precision, label=SCORER_LABELS.get(s, s))
    ax.scatter([rule_point[1]], [rule_point[0]], color="black", zorder=5, label=SCORER_LABELS["rules"])
    ax.set_xlabel("recall (aandeel vsv'ers gevonden)")
    ax.set_ylabel("precisie (aandeel terecht gesignaleerd)")
    ax.set_title("Precisie en recall (testjaar)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def by_week_plot(by_week: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for scorer, part in by_week.groupby("scorer"):
        ax.plot(
            part["week_in_year"], part[metric], marker=".", label=SCORER_LABELS.get(str(scorer), str(scorer))
        )
    ax.set_xlabel("week van het schooljaar")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def shap_summary_plot(
    shap_values: np.ndarray, x: pd.DataFrame, descriptions: dict[str, str], path: Path
) -> Path:
    """Mean |SHAP| per feature (top 15) as a bar chart, labelled with the Dutch descriptions."""
    plt = _plt()
    importance = pd.Series(np.abs(shap_values).mean(axis=0), index=x.columns).sort_values().tail(15)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.barh([descriptions.get(c, c) for c in importance.index], importance.to_numpy(), color="#2b6cb0")
    ax.set_xlabel("gemiddelde |SHAP-bijdrage| (log-odds)")
    ax.set_title("Wat weegt het zwaarst (testjaar)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


@dataclass(frozen=True)
class CardInputs:
    """What the model card says."""

    version_note: str
    data_summary: dict[str, Any]
    config: dict[str, Any]
    evaluation: Evaluation
    register: tuple[Feature, ...]
    used_features: tuple[str, ...]
    thresholds: dict[str, float]
    calibration: str
    targets: pd.DataFrame
    # The proxy check of the college's declared extensions (training.extension_check), when it has any.
    extension_checks: tuple[ExtensionCheck, ...] = ()


INTENDED_USE = (
    "Supports mentors, zorgteams and the coachklas coordinator of an mbo college in noticing students who "
    "drift towards leaving without a startkwalificatie (vsv), early enough to talk with them. A score is a "
    "signal for a conversation, read together with the mentor's own judgement; it never decides alone "
    "(GDPR art. 22, EU AI Act human oversight)."
)
MISUSE = (
    "Not for: selection or refusal at intake, sanctions, grading, reporting students to authorities, "
    "ranking teams or staff, or any decision without a person who can disregard the score. Not validated "
    "outside the population it was trained on."
)
LIMITATIONS = [
    "Trained and tested on synthetic data from data/synthetic unless stated otherwise: the figures show the "
    "method works where the truth is known, not that it works at a given school.",
    "Labels mature 12 school weeks after the as-of week; the latest weeks cannot be evaluated yet.",
    "SHAP contributions explain the model's log-odds before calibration; they rank reasons, they are not "
    "causes.",
    "Groups with few students have wide error bars; subgroup ratios on small groups are indicative only.",
    "Teachers' judgement beats models in the first weeks (Eegdeman); show both.",
]


PROGRAMME_END_MATURITY = (
    "Labels mature at the student's expected end of the programme (label: programme_end); a student-week "
    "is trained, calibrated and tested only when its window closed inside its fold, so with few school "
    "years of data the model learns from students near the end of their programme and is applied to "
    "students further from it as well."
)


def limitations(config: dict[str, Any]) -> list[str]:
    """:data:`LIMITATIONS` for the run's label (the maturity line differs for ``programme_end``)."""
    if config.get("label", "horizon") != "programme_end":
        return LIMITATIONS
    return [PROGRAMME_END_MATURITY if item.startswith("Labels mature") else item for item in LIMITATIONS]


def fairness_sections(ev: Evaluation) -> list[str]:
    """Every ratio outside 0.8-1.25 with the same ratio within level and route, and the proxy ablation."""
    out = ["## Every subgroup ratio outside 0.8-1.25, and within level and route"]
    if ev.conditional.empty:
        out.append("None.")
    else:
        out.append(
            "conditional_ratio: the group's events over those expected if each of its students were treated "
            "like the reference group at the same level and route (indirect standardisation); remains = the "
            "gap is still outside 0.8-1.25 among comparable students."
        )
        out.append(_table_md(ev.conditional))
    out.append("## Proxy ablation (each proxy-flagged input left out, the same test rows)")
    out.append(
        "No input is flagged as a proxy." if ev.proxy_ablation.empty else _table_md(ev.proxy_ablation, 4)
    )
    return out


def excluded_section() -> list[str]:
    """The register's entries that are not model inputs, with their decisions."""
    excluded = excluded_features()
    if not excluded:
        return []
    return [
        "## Left out of the inputs (register decisions)",
        *(f"- **{e.name}**: {e.decision}" for e in excluded),
    ]


def extensions_section(checks: tuple[ExtensionCheck, ...]) -> list[str]:
    """The college's declared extensions (data.extensions), each with its proxy check on the training rows
    and whether the model uses it."""
    if not checks:
        return []
    rows = pd.DataFrame(
        [
            {
                "extension": c.name,
                "used": "yes" if c.used else "no",
                "gender_auc": (c.auc or {}).get("gender", float("nan")),
                "migration_background_auc": (c.auc or {}).get("migration_background", float("nan")),
                "decision": c.why,
            }
            for c in checks
        ]
    )
    return [
        "## School-specific signals (extension register)",
        "Each declared extension is an input only after its proxy check on this college's training rows "
        "(folded ROC-AUC for each protected attribute, the register's threshold).",
        _table_md(rows),
    ]


def _table_md(frame: pd.DataFrame, digits: int = 3) -> str:
    frame = frame.reset_index() if frame.index.name else frame
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


METRIC_NL = {
    "selection_rate": "kans om in 'hoog' te staan",
    "false_positive_rate": "kans om onterecht in 'hoog' te staan (blijft wel)",
    "false_negative_rate": "kans om gemist te worden (valt uit zonder 'hoog')",
}
SCORER_NL = {
    "model": "het model",
    "oracle_present": "de bovengrens met kennis van nu",
    "oracle": "de bovengrens die de toekomst kent",
    "oracle_future": "de bovengrens die de toekomst kent",
    "logistic": "logistische regressie",
    "rule_score": "de regels",
}


def _cell(frame: pd.DataFrame, row: str, column: str) -> float:
    return float(np.asarray(frame.loc[row, column], dtype=np.float64))


def _nl(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _pct(value: float) -> str:
    return f"{value:.0%}".replace(".", ",")


def group_nl(attribute: str, group: str) -> str:
    """A subgroup in words: ``niveau 1``, ``migratieachtergrond niet_westers``."""
    return f"{ATTRIBUTE_NL.get(attribute, attribute)} {value_nl(group)}"


def value_nl(group: str) -> str:
    """A group value as people write it: ``4`` not ``4.0``, ``niet-westers`` not ``niet_westers``."""
    shown = group[:-2] if group.endswith(".0") else group
    return GROUP_NL.get(shown, shown.replace("_", "-"))


def conditional_line(row: dict[Any, Any]) -> str:
    """One ratio outside the range, in words, with the same ratio among comparable students."""
    within = "hetzelfde niveau en dezelfde leerweg" if "level" in str(row["within"]) else "dezelfde leerweg"
    verdict = "het verschil blijft" if row["remains"] else "het verschil verdwijnt"
    reference = value_nl(str(row["reference_group"]))
    return (
        f"{group_nl(str(row['attribute']), str(row['group']))} (tegen {reference}): "
        f"{METRIC_NL[str(row['metric'])]} x{_nl(float(row['ratio']))}; binnen {within} "
        f"x{_nl(float(row['conditional_ratio']))} ({verdict})"
    )


def data_years_note(data_summary: dict[str, Any]) -> str:
    """What the folds did with a last school year that was not complete (``incomplete_year``)."""
    left_out = int(data_summary.get("weeks_left_out", 0))
    in_test = int(data_summary.get("weeks_in_test_year", WEEKS_PER_YEAR))
    if left_out:
        return (
            f"The data's last school year holds only {left_out} of {WEEKS_PER_YEAR} weeks: those weeks were "
            "left out of every fold (incomplete_year: leave_out); the test year is the last complete one."
        )
    if in_test < WEEKS_PER_YEAR:
        return (
            f"The test year holds only {in_test} of {WEEKS_PER_YEAR} weeks (incomplete_year: test): its "
            "as-of weeks whose label window had not closed are not in the test fold."
        )
    return f"Every school year holds all {WEEKS_PER_YEAR} weeks."


def summary_nl(card: CardInputs) -> str:
    """The card's opening in plain Dutch: ranking, calibration, how early against the rules at the same
    flag rate, for whom it works worse, and the known limits; every figure from the evaluation."""
    ev = card.evaluation
    o = ev.overall
    auc = _cell(o, "model", "roc_auc")
    by_horizon = card.config.get("label", "horizon") == "horizon"
    departed = f"binnen {card.config['horizon']} weken" if by_horizon else "voor het einde van de opleiding"
    window = "binnen de horizon" if by_horizon else "voor het einde van de opleiding"
    others = ", ".join(
        f"{SCORER_NL[s]} {_nl(_cell(o, s, 'roc_auc'))}" for s in SCORER_NL if s in o.index and s != "model"
    )
    lines = [
        "## Samenvatting",
        f"- **Rangschikken.** ROC-AUC {_nl(auc)} op het testjaar (0,5 = gokken, 1 = perfect); "
        f"ter vergelijking: {others}. In de top {_pct(card.config['capacity_share'])} per week is "
        f"{_pct(_cell(o, 'model', 'precision_at_k'))} van de studenten {departed} voortijdig vertrokken.",
        f"- **Betrouwbaarheid van de kansen.** Gemiddeld wijkt de voorspelde kans "
        f"{_nl(100 * _cell(o, 'model', 'ece'), 1)} procentpunt af van wat er werkelijk gebeurde "
        "(ECE; doel hoogstens 2).",
    ]
    if "model_at_rule_rate" in ev.lead.index and "rules" in ev.lead.index:
        same = ev.same_flag_rate
        lines.append(
            f"- **Hoe vroeg.** Als het model evenveel studenten signaleert als de regels "
            f"({_pct(float(same['flag_rate']))} per week), vindt het {_pct(float(same['model_recall']))} van "
            f"de vertrekkers {window}, de regels {_pct(float(same['rule_recall']))}. Van de "
            f"{int(_cell(ev.lead, 'rules', 'vsv_students'))} vsv'ers van het testjaar signaleerde het model "
            f"{_pct(_cell(ev.lead, 'model_at_rule_rate', 'flagged_before_leaving'))} vóór hun vertrek "
            f"(mediaan {_nl(_cell(ev.lead, 'model_at_rule_rate', 'median_lead_weeks_flagged'), 0)} weken "
            "eerder), de regels "
            f"{_pct(_cell(ev.lead, 'rules', 'flagged_before_leaving'))} (mediaan "
            f"{_nl(_cell(ev.lead, 'rules', 'median_lead_weeks_flagged'), 0)} weken). Alleen 'hoog' (top "
            f"{_pct(card.config['capacity_share'])}) signaleerde "
            f"{_pct(_cell(ev.lead, 'model', 'flagged_before_leaving'))}."
        )
    if not ev.conditional.empty:
        worse = [conditional_line(row) for row in ev.conditional.to_dict("records")]
        lines.append(
            "- **Voor wie werkt het anders.** Elke verhouding buiten 0,8-1,25:\n"
            + "\n".join(f"  - {w}" for w in worse)
        )
    else:
        lines.append(
            "- **Voor wie werkt het anders.** Geen verhouding buiten 0,8-1,25 bij de auditkenmerken."
        )
    if not ev.band_shares.empty:
        shares = ev.band_shares["high_share"]
        lines.append(
            f"- **Banden.** 'Hoog' hield per week van het testjaar {_pct(float(shares.min()))} tot "
            f"{_pct(float(shares.max()))} van de studenten (bedoeld: ongeveer "
            f"{_pct(card.config['capacity_share'])})."
        )
    lines.append(
        "- **Grenzen.** Getraind en getest op gesimuleerde gegevens, tenzij anders vermeld; een score is een "
        "aanleiding voor een gesprek en beslist nooit alleen. Zie 'Limitations' onderaan."
    )
    return "\n".join(lines)


def model_card_markdown(card: CardInputs) -> str:
    ev = card.evaluation
    used = set(card.used_features)
    features = pd.DataFrame(
        [
            {
                "feature": f.name,
                "family": f.family,
                "description_nl": f.description_nl,
                "proxy_auc_max": max(f.proxy_auc.values()) if f.proxy_auc else float("nan"),
                "proxy": {True: "yes", False: "no", None: "not measured"}[f.is_proxy],
            }
            for f in card.register
            if f.name in used
        ]
    )
    justification = "\n".join(f"- **{f.name}**: {f.justification}" for f in card.register if f.name in used)
    parts = [
        "# Model card: Vroegsignaal vsv risk model",
        card.version_note,
        f"**Label**: {label_nl(card.config)} (label: {card.config.get('label', 'horizon')}).",
        summary_nl(card),
        "## Intended use",
        INTENDED_USE,
        "## Out of scope and misuse",
        MISUSE,
        "## Data",
        _table_md(pd.DataFrame([card.data_summary])),
        data_years_note(card.data_summary),
        "## Model",
        f"LightGBM on {len(card.used_features)} features from the feature register, calibrated "
        f"({card.calibration}) on a later school year. Bands: hoog from p >= {card.thresholds['high']:.3f} "
        f"(top {card.config['capacity_share']:.0%} of the calibration year), verhoogd from p >= "
        f"{card.thresholds['elevated']:.3f}. A band is marked uncertain when the 95% interval of the "
        "probability crosses a band threshold.",
        "## Targets",
        _table_md(card.targets),
        "## Test-year metrics (all scorers on the same rows)",
        _table_md(ev.overall.drop(columns=["n"], errors="ignore")),
        "## Per as-of week",
        _table_md(
            ev.by_week[ev.by_week["week_in_year"].isin(card.config["report_weeks"])][
                ["week_in_year", "scorer", "roc_auc", "pr_auc", "brier", "precision_at_k", "recall_at_k"]
            ]
        ),
        "## Model against the rules at the same flag rate",
        _table_md(pd.DataFrame([ev.same_flag_rate])),
        "## Lead time (test year, students who left as vsv)",
        _table_md(ev.lead),
        "## Subgroups (audit-only attributes, level, age)",
        "Selection = in the top band (hoog). Ratios are to the largest group; outside 0.8-1.25 needs a look.",
        _table_md(
            ev.subgroups[
                [
                    "attribute",
                    "group",
                    "n",
                    "positives",
                    "selection_rate",
                    "false_positive_rate",
                    "false_negative_rate",
                    "precision",
                    "mean_probability",
                    "observed_rate",
                    "selection_rate_ratio",
                    "false_negative_rate_ratio",
                ]
            ]
        ),
        *fairness_sections(ev),
        *excluded_section(),
        *extensions_section(card.extension_checks),
        "## Features",
        _table_md(features),
        "### Justifications",
        justification,
        "## Limitations",
        "\n".join(f"- {item}" for item in limitations(card.config)),
        *(["## Notes", "\n".join(f"- {n}" for n in ev.notes)] if ev.notes else []),
    ]
    return "\n\n".join(parts) + "\n"


def markdown_to_html(markdown: str, title: str) -> str:
    """A small converter for the card's own Markdown (headings, tables, lists, paragraphs)."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush_table() -> None:
        if not table:
            return
        head, *body = table
        out.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>")
        out.extend("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
        out.append("</tbody></table>")
        table.clear()

    for line in markdown.splitlines():
        text = html.escape(line)
        if line.startswith("|"):
            cells = [c.strip() for c in text.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{text[level:].strip()}</h{level}>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{text[2:]}</li></ul>")
        elif line.strip():
            out.append(f"<p>{text}</p>")
    flush_table()
    style = (
        "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1a202c}"
        "table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #cbd5e0;"
        "padding:.25rem .5rem;text-align:left}th{background:#edf2f7}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(out)}</body></html>"
    )
