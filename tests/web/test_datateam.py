"""The data team's page: the registered versions with their metrics, a version compared side by side with
the champion by the service (the comparison of `vsv promote`, on the same test rows), and promotion from
that list through the same check, with who, why and when stored; only the data team compares and promotes.

One registry per module: version 1 (the champion, the trained model), version 2 (the challenger, the same
model with a calibration that turns the ranking around, so its ROC-AUC is far under the champion's) and
version 3 (a tampered artefact, which the check refuses before unpickling it).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from models.registry import CHALLENGER, CHAMPION, configure, load, log_risk_model, set_alias, version_for
from models.risk_model import Calibrator, RiskModel
from serving.app import create_app
from tests.api.conftest import Api, load_school, make_users, registry_settings
from tests.conftest import School, new_store
from tests.model.test_supply_chain import plant_payload
from tests.web.helpers import page_get, page_post
from training.pipeline import TrainingResult

CHAMPION_METRICS = {
    "roc_auc": 0.7612,
    "pr_auc": 0.0634,
    "precision_at_k": 0.1021,
    "ece": 0.0042,
    "brier": 0.0181,
}


@dataclass(frozen=True)
class Registry:
    api: Api
    name: str
    champion: str
    challenger: str
    tampered: str
    marker: Path


def _inverted(model: RiskModel) -> RiskModel:
    """The same model with a decreasing calibration: the highest raw score gets the lowest probability."""
    raw = np.linspace(-6.0, 6.0, 2000)
    falling = np.random.default_rng(0).binomial(1, 1 / (1 + np.exp(raw)))  # noisy, so the slope stays finite
    upside_down = Calibrator.fit(raw, falling, "sigmoid")
    return dataclasses.replace(model, calibrator=upside_down)


def _register(model: RiskModel, name: str, metrics: dict[str, float] | None = None) -> str:
    """Log ``model`` in a run (with the test-year metrics a training run logs) and register it."""
    import mlflow

    with mlflow.start_run():
        mlflow.log_params({"capacity_share": 0.05})
        for key, value in (metrics or {}).items():
            mlflow.log_metric(f"model.{key}", value)
        return log_risk_model(model, name)


@pytest.fixture(scope="module")
def registry(
    school: School, trained: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    import mlflow

    tmp = tmp_path_factory.mktemp("datateam")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    configure(uri, tmp / "artifacts")
    settings = registry_settings(tmp, uri)
    name = settings.registered_model
    champion = _register(trained.model, name, CHAMPION_METRICS)
    set_alias(name, CHAMPION, champion)
    from models.registry import tag_version

    tag_version(name, champion, {"data_fingerprint": "abcdef0123456789"})
    challenger = _register(_inverted(trained.model), name, {"roc_auc": 0.2388})
    tampered = _register(trained.model, name)
    set_alias(name, CHALLENGER, challenger)
    marker = tmp / "unpickled"
    plant_payload(name, tampered, marker)
    for engine in new_store("sqlite", tmp):
        load_school(engine, school, 0, 10_000)  # every week: the test year the versions are compared on
        teams = sorted(set(school.tables.students["team"]))
        tokens = make_users(engine, teams[0], teams[1])
        with TestClient(create_app(settings, engine=engine)) as client:
            yield Registry(
                Api(client, engine, tokens, teams[0], teams[1]), name, champion, challenger, tampered, marker
            )
    mlflow.set_tracking_uri("")


def _audit(engine: Engine, action: str, allowed: bool) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT detail FROM audit_log WHERE action = :a AND allowed = :ok ORDER BY audit_id"),
            {"a": action, "ok": allowed},
        ).scalars()
        return [str(r) for r in rows]


def _row_of(page: str, version: str) -> str:
    found = re.search(
        rf'<tr id="versie-{version}"[^>]*>(.*?)</tr>\s*(?=<tr id="versie-|</tbody>)', page, re.S
    )
    assert found, f"no row for version {version}"
    return found.group(1)


def test_the_list_shows_every_version_with_its_metrics_champion_and_challenger_marked(
    registry: Registry,
) -> None:
    page = page_get(registry.api, "datateam", "/web/datateam")
    assert page.status_code == 200, page.text
    champion_row = _row_of(page.text, registry.champion)
    assert "champion-tag" in champion_row and "challenger-tag" not in champion_row
    for value in ("0,761", "0,063", "0,102", "0,004", "0,018"):  # the run's metrics, three decimals
        assert value in champion_row, value
    assert "abcdef0123456789" in champion_row  # the data fingerprint
    challenger_row = _row_of(page.text, registry.challenger)
    assert (
        "challenger-tag" in challenger_row
        and "0,239" in challenger_row
        and "nooit champion" in challenger_row
    )
    assert "precisie in de top 5%" in page.text
    # the version to compare is chosen from the list: not the champion; the challenger preselected
    options = re.findall(r'<option value="(\d+)"( selected)?>', page.text)
    assert {v for v, _ in options} == {registry.challenger, registry.tampered}
    assert (registry.challenger, " selected") in options
    listed = registry.api.client.get("/api/v1/models", headers=registry.api.headers("auditor")).json()
    by_version = {v["version"]: v for v in listed}
    assert by_version[registry.champion]["is_champion"] and by_version[registry.challenger]["is_challenger"]
    assert by_version[registry.champion]["metrics"]["roc_auc"] == pytest.approx(0.7612)


def test_the_service_compares_a_version_with_the_champion_side_by_side(registry: Registry) -> None:
    before = len(_audit(registry.api.engine, "compare_models", True))
    page = page_post(registry.api, "datateam", "/web/datateam/vergelijk", {"version": registry.challenger})
    assert page.status_code == 200, page.text
    table = re.search(r'<table id="vergelijkingstabel".*?</table>', page.text, re.S)
    assert table, page.text[:2000]
    head = table.group(0)
    assert f"Versie {registry.challenger}</th>" in head and f"Champion (versie {registry.champion})" in head
    roc = re.search(
        r'ROC-AUC \(rangorde\)</strong></td><td class="num" data-label="[^"]*">([\d,]+)</td>'
        r'<td class="num" data-label="[^"]*">([\d,]+)</td>',
        head,
    )
    assert roc, head
    candidate, champion = (float(v.replace(",", ".")) for v in roc.groups())
    assert candidate < 0.5 < champion  # the turned-around ranking, computed now on the same rows
    assert "slechter" in head
    # the same numbers as the API's comparison (the function the page calls)
    api = registry.api.client.post(
        f"/api/v1/models/{registry.challenger}/compare", headers=registry.api.headers("datateam")
    ).json()
    rows = api["comparison"]
    assert rows[f"v{registry.champion} (champion)"]["roc_auc"] == pytest.approx(champion, abs=6e-5)
    assert rows[f"v{registry.challenger} (kandidaat)"]["roc_auc"] == pytest.approx(candidate, abs=6e-5)
    n = int(rows[f"v{registry.champion} (champion)"]["n"])
    assert f"{n:,}".replace(",", ".") in page.text  # the rows both were computed on
    assert f'name="version" value="{registry.challenger}"' in page.text  # the confirm step follows
    assert len(_audit(registry.api.engine, "compare_models", True)) == before + 2  # page and API, logged


def test_a_version_that_fails_the_check_is_refused_on_the_page_with_the_reason(registry: Registry) -> None:
    refused_before = len(_audit(registry.api.engine, "compare_models", False))
    page = page_post(registry.api, "datateam", "/web/datateam/vergelijk", {"version": registry.tampered})
    assert page.status_code == 409
    assert f"Versie {registry.tampered} wordt geen champion" in page.text and "risk_model.pkl" in page.text
    assert "Geregistreerde versies" in page.text  # the data-team page itself, not a bare error page
    assert 'action="/web/datateam/promoveer"' not in page.text  # nothing to confirm
    promoted = page_post(
        registry.api,
        "datateam",
        "/web/datateam/promoveer",
        {"version": registry.tampered, "reason": "probeer het toch"},
    )
    assert promoted.status_code == 409 and "risk_model.pkl" in promoted.text
    assert version_for(registry.name, CHAMPION) == registry.champion
    assert len(_audit(registry.api.engine, "compare_models", False)) == refused_before + 1
    assert any(
        f"versie {registry.tampered} geweigerd" in d
        for d in _audit(registry.api.engine, "promote_model", False)
    )
    assert not registry.marker.exists(), "the tampered pickle was loaded"


def test_only_the_data_team_compares_and_promotes(registry: Registry) -> None:
    api = registry.api
    assert page_get(api, "mentor", "/web/datateam").status_code == 403
    auditor = page_get(api, "auditor", "/web/datateam")
    assert auditor.status_code == 200 and "Geregistreerde versies" in auditor.text
    assert "Vergelijk met de champion</button>" not in auditor.text and "Champion maken" not in auditor.text
    for role in ("mentor", "auditor", "zorgteam"):
        compare = page_post(api, role, "/web/datateam/vergelijk", {"version": registry.challenger})
        assert compare.status_code == 403, role
        promote = page_post(
            api, role, "/web/datateam/promoveer", {"version": registry.challenger, "reason": "beter model"}
        )
        assert promote.status_code == 403, role
        assert (
            api.client.post(
                f"/api/v1/models/{registry.challenger}/compare", headers=api.headers(role)
            ).status_code
            == 403
        )
    assert api.client.get("/api/v1/models", headers=api.headers("mentor")).status_code == 403
    assert version_for(registry.name, CHAMPION) == registry.champion


def test_a_promotion_from_the_page_runs_the_check_and_stores_who_why_and_the_comparison(
    registry: Registry,
) -> None:
    api = registry.api
    store = api.client.app.state.models  # type: ignore[attr-defined]
    short = page_post(
        api, "datateam", "/web/datateam/promoveer", {"version": registry.challenger, "reason": "ok"}
    )
    assert short.status_code == 422 and "minstens 5 tekens" in short.text
    try:
        done = page_post(
            api,
            "datateam",
            "/web/datateam/promoveer",
            {"version": registry.challenger, "reason": "proef: omgekeerde kalibratie"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/web/datateam?melding=champion"
        assert version_for(registry.name, CHAMPION) == registry.challenger
        tags = load(registry.name, version=registry.challenger).tags
        assert (
            tags["promoted_by"] == "test-datateam"
            and tags["promotion_reason"] == "proef: omgekeerde kalibratie"
        )
        assert tags["previous_champion"] == registry.champion and tags["promoted_at"]
        comparison = json.loads(tags["promotion_comparison"])  # the check ran: both models on the same rows
        assert set(comparison) == {f"v{registry.challenger} (kandidaat)", f"v{registry.champion} (champion)"}
        assert (
            comparison[f"v{registry.challenger} (kandidaat)"]["n"]
            == comparison[f"v{registry.champion} (champion)"]["n"]
        )
        assert store.current.version == registry.challenger  # the service switched at once
        row = _row_of(page_get(api, "datateam", "/web/datateam?melding=champion").text, registry.challenger)
        assert "champion-tag" in row and "test-datateam" in row and "proef: omgekeerde kalibratie" in row
        assert f"was versie {registry.champion}" in row and "vergelijking bij promotie" in row
        assert any("proef: omgekeerde kalibratie" in d for d in _audit(api.engine, "promote_model", True))
    finally:
        set_alias(registry.name, CHAMPION, registry.champion)
        store.load_current()
