"""The status of a week, ok / watch / retrain recommended, with the reasons, from the configured checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from monitoring.config import Check, StatusConfig

Status = Literal["ok", "watch", "retrain"]
STATUS_NL: dict[str, str] = {
    "ok": "in orde",
    "watch": "in de gaten houden",
    "retrain": "hertrainen aanbevolen",
}


@dataclass(frozen=True)
class Finding:
    """One check's outcome: whether it alerts, and why (in Dutch, for the people who read the report)."""

    check: Check
    alert: bool
    message: str


def drift_findings(drift: dict[str, Any], response: dict[str, Any]) -> list[Finding]:
    """Risk drift, and prediction drift explained by a fall in response when the risk signals are steady."""
    out = []
    columns = ", ".join(drift["risk_columns_drifted"][:6])
    out.append(
        Finding(
            "risk_drift",
            drift["risk_drift"],
            f"verschuiving in risicosignalen (antwoorden, verzuim, voortgang): {columns}"
            if drift["risk_drift"]
            else "geen verschuiving in risicosignalen",
        )
    )
    explained = drift["prediction_drift"] and response["alert"] and not drift["risk_drift"]
    if explained:
        message = (
            "de voorspelde kansen verschuiven doordat minder studenten de vragenlijst invullen, "
            "niet doordat de risicosignalen veranderen"
        )
    elif drift["prediction_drift"]:
        message = (
            f"de verdeling van de voorspelde kansen is verschoven (afstand {drift['prediction_score']:.2f})"
        )
    else:
        message = "voorspelde kansen stabiel"
    out.append(Finding("prediction_drift", drift["prediction_drift"] and not explained, message))
    return out


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
        return Finding("performance", True, "prestaties gedaald: " + "; ".join(performance["reasons"]))
    return Finding("performance", False, "prestaties op uitgekomen labels binnen de grenzen")


def fairness_finding(fairness: dict[str, Any]) -> Finding:
    if not fairness["alert"]:
        return Finding("fairness", False, "geen groepsverschillen buiten de grenzen bij de auditkenmerken")
    parts = [
        f"{f['attribute']}={f['group']}: {f['metric']} x{f['ratio']:.2f}" for f in fairness["alert_flags"][:5]
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
