"""The status of a week, from the configured checks, with the reasons; and the one vocabulary every page
and report uses for it (:data:`STATUS_NL`), the checks (:data:`CHECK_NL`) and the column families
(:data:`FAMILY_NL`).

The findings read the same tables the report's charts draw: every drifted column counts (whatever its
family), and calibration is judged by the observed rate's interval (see :mod:`monitoring.performance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from data.vocabulary import ATTRIBUTE_NL, GROUP_NL
from monitoring.config import Check, StatusConfig
from monitoring.drift import FEATURE_FAMILIES, DriftResult, Family, column_label, line_of

Status = Literal["ok", "watch", "retrain"]
STATUSES: tuple[Status, ...] = ("ok", "watch", "retrain")
STATUS_NL: dict[str, str] = {
    "ok": "in orde",
    "watch": "in de gaten houden",
    "retrain": "hertrainen aanbevolen",
}
STATUS_MEANING_NL: dict[str, str] = {
    "ok": "niets te doen",
    "watch": "kijk naar de redenen",
    "retrain": "de prestaties of de kalibratie op uitgekomen labels zijn niet meer goed genoeg",
}
CHECK_NL: dict[str, str] = {
    "feature_drift": "Verschuiving in de gegevens",
    "risk_drift": "Verschuiving in de gegevens",  # the name in reports written before every family counted
    "prediction_drift": "Voorspelde kansen",
    "response": "Vragenlijstrespons",
    "data_quality": "Datakwaliteit",
    "performance": "Prestaties en kalibratie",
    "fairness": "Eerlijkheid",
    "stability": "Stabiliteit van de lijst",
}
FAMILY_NL: dict[str, str] = {
    "response": "respons",
    "answers": "antwoorden",
    "answer_history": "antwoordverloop",
    "lagging": "verzuim en voortgang",
    "context": "achtergrond",
    "prediction": "voorspelde kans",
}
METRIC_NL = {
    "selection_rate": "selectie",
    "false_positive_rate": "vals-positief",
    "false_negative_rate": "vals-negatief",
    "precision": "precisie",
    "calibration": "kalibratie",
}
NAMES_PER_FAMILY = 3
ANSWER_FAMILIES: tuple[Family, ...] = ("answers", "answer_history")
SELECTION_NL = (
    "De verschuiving in de antwoorden valt samen met een daling van de respons: waarschijnlijk vult een "
    "andere groep studenten de vragenlijst nog in (selectie), niet per se een verandering bij de studenten"
)
RESPONSE_ITSELF_NL = "De verschuiving in de respons is de daling van de respons zelf (zie hieronder)"


def status_nl(status: str) -> str:
    """The Dutch word of a status; an unknown one (a report of another version) as it is."""
    return STATUS_NL.get(status, status)


def check_nl(check: str) -> str:
    return CHECK_NL.get(check, check)


@dataclass(frozen=True)
class Finding:
    """One check's outcome: whether it alerts, and why (in Dutch, for the people who read the report)."""

    check: Check
    alert: bool
    message: str


def _number(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def _names(columns: list[str]) -> str:
    shown = ", ".join(column_label(c) for c in columns[:NAMES_PER_FAMILY])
    more = len(columns) - NAMES_PER_FAMILY
    return f"{shown} en nog {more}" if more > 0 else shown


def feature_drift_message(drift: DriftResult, response_alert: bool) -> str:
    """The Dutch message of the drift check: what shifted, per family, and what it coincides with."""
    compared = len(drift.features)
    drifted = drift.drifted
    if not drifted:
        return f"geen verschuiving: alle {compared} gegevens blijven binnen hun grens"
    parts = [
        f"{FAMILY_NL[family]}: {_names(drift.drifted_in((family,)))}"
        for family in FEATURE_FAMILIES
        if drift.drifted_in((family,))
    ]
    sentences = [f"{len(drifted)} van de {compared} gegevens verschoven ({'; '.join(parts)})"]
    if response_alert and drift.drifted_in(ANSWER_FAMILIES):
        sentences.append(SELECTION_NL)
    elif response_alert and drift.drifted_in(("response",)):
        sentences.append(RESPONSE_ITSELF_NL)
    if drift.out_of_season:
        where = (
            f"de dichtstbijzijnde ligt {drift.season_gap} weken verderop"
            if drift.season_gap > 0
            else "een deel ervan ligt in een andere onderwijsperiode, van voor of na de resultaten"
        )
        sentences.append(
            "Let op: de trainingsreferentie heeft te weinig rijen uit deze tijd van het schooljaar "
            f"({where}); gegevens die met het schooljaar meelopen, zoals studievoortgang en weken sinds de "
            "start, kunnen daardoor verschoven lijken"
        )
    return ". ".join(sentences)


def prediction_drift_message(drift: DriftResult, response_alert: bool) -> str:
    prediction = drift.columns[drift.columns["family"] == "prediction"]
    if prediction.empty:
        return "voorspelde kansen niet vergeleken"
    score, line = float(prediction["score"].iloc[0]), float(line_of(prediction).iloc[0])
    if not drift.prediction_drift:
        return f"voorspelde kansen stabiel (afstand {_number(score)}, grens {_number(line)})"
    message = (
        "de verdeling van de voorspelde kansen is verschoven "
        f"(afstand {_number(score)}, grens {_number(line)})"
    )
    if response_alert:
        message += "; dit valt samen met de daling van de respons"
    return message


def drift_findings(drift: DriftResult, response: dict[str, Any]) -> list[Finding]:
    """Drift of the model inputs (every family counts) and of the predicted probabilities."""
    alert = bool(response["alert"])
    return [
        Finding("feature_drift", drift.feature_drift, feature_drift_message(drift, alert)),
        Finding("prediction_drift", drift.prediction_drift, prediction_drift_message(drift, alert)),
    ]


def response_finding(response: dict[str, Any]) -> Finding:
    if response["alert"]:
        levels = ", ".join(response["levels_dropped"]) or "-"
        message = (
            f"vragenlijstrespons gedaald: {response['response_rate']:.0%} tegen "
            f"{response['reference_rate']:.0%} bij training (niveaus: {levels})"
        )
    else:
        message = (
            f"vragenlijstrespons {response['response_rate']:.0%} (training {response['reference_rate']:.0%})"
        )
    return Finding("response", response["alert"], message)


def performance_finding(performance: dict[str, Any]) -> Finding:
    if not performance["judged"]:
        return Finding("performance", False, "nog te weinig uitgekomen labels om prestaties te beoordelen")
    if performance["alert"]:
        return Finding(
            "performance",
            True,
            "op uitgekomen labels niet meer goed genoeg: " + "; ".join(performance["reasons"]),
        )
    return Finding("performance", False, "prestaties en kalibratie op uitgekomen labels binnen de grenzen")


def fairness_finding(fairness: dict[str, Any]) -> Finding:
    if not fairness["alert"]:
        return Finding("fairness", False, "geen groepsverschillen buiten de grenzen bij de auditkenmerken")
    parts = [
        f"{ATTRIBUTE_NL.get(f['attribute'], f['attribute'])} {GROUP_NL.get(f['group'], f['group'])}: "
        f"{METRIC_NL.get(f['metric'], f['metric'])} x{f['ratio']:.2f}".replace(".", ",")
        for f in fairness["alert_flags"][:5]
    ]
    return Finding("fairness", True, "groepsverschillen buiten 0,8-1,25: " + "; ".join(parts))


def stability_finding(stability: dict[str, Any] | None) -> Finding:
    if stability is None:
        return Finding("stability", False, "geen vorige week om mee te vergelijken")
    if stability["alert"]:
        return Finding("stability", True, "lijst onrustig: " + "; ".join(stability["reasons"]))
    return Finding(
        "stability",
        False,
        f"lijst stabiel: overlap top {stability['jaccard_top_k']:.2f}, "
        f"{stability['band_changes']} bandwissels",
    )


def quality_finding(quality: dict[str, Any]) -> Finding:
    if quality["alert"]:
        return Finding(
            "data_quality",
            True,
            f"datakwaliteit: ontbrekende waarden {quality['missing_values']}, "
            f"minder gegevens in {quality['alert_columns']}",
        )
    return Finding("data_quality", False, "geen ontbrekende waarden; aanlevering als bij training")


def decide(findings: list[Finding], config: StatusConfig) -> tuple[Status, list[str]]:
    """retrain when a ``retrain_on`` check alerts, watch when a ``watch_on`` check alerts, else ok.

    The reasons are the alerting findings' messages (retrain reasons first).
    """
    retrain = [f.message for f in findings if f.alert and f.check in config.retrain_on]
    watch = [
        f.message
        for f in findings
        if f.alert and f.check in config.watch_on and f.check not in config.retrain_on
    ]
    if retrain:
        return "retrain", retrain + watch
    if watch:
        return "watch", watch
    return "ok", []
