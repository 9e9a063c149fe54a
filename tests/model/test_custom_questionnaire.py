"""A college's own questionnaire reaches every stage: training, the weekly job and monitoring.

`VSV_QUESTIONNAIRE_CONFIG` used to be ignored by `vsv train`, `vsv promote` and monitoring, so a college
that added an item got a model trained without it. Here a copy of the shipped questionnaire with one extra
item is configured, and the whole chain runs through the command line as `make run` runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from data.questionnaire import DEFAULT_QUESTIONNAIRE_PATH
from monitoring.status import STATUS_NL
from settings import get_settings
from tests.model.test_cli_training import SMALL_LGBM
from vroegsignaal.cli import app

EXTRA = {
    "code": "reistijd",
    "text": "Hoe lastig is de reis naar school deze week?",
    "description": "moeite met de reis naar school",
    "higher_is_better": False,
    "loadings": {"problems": 0.8, "wellbeing": -0.3},
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    questionnaire = yaml.safe_load(DEFAULT_QUESTIONNAIRE_PATH.read_text(encoding="utf-8"))
    questionnaire["items"].append(EXTRA)
    custom = tmp_path / "vragenlijst.yaml"
    custom.write_text(yaml.safe_dump(questionnaire, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VSV_QUESTIONNAIRE_CONFIG", str(custom))
    monkeypatch.delenv("VSV_DATABASE_URL", raising=False)
    monkeypatch.delenv("VSV_MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    import mlflow

    mlflow.set_tracking_uri("")


@pytest.mark.slow
def test_an_extra_item_reaches_training_scoring_and_monitoring(env: Path) -> None:
    runner = CliRunner()
    config = env / "train.yaml"
    config.write_text(
        Path("training/config.yaml").read_text(encoding="utf-8").split("lgbm:")[0] + SMALL_LGBM,
        encoding="utf-8",
    )
    data = env / "exports"
    for args in (
        ["db", "upgrade"],
        ["generate", "--out", str(data), "--students", "500", "--seed", "21"],
        ["import", str(data)],
        ["train", "--config", str(config)],
        ["promote", "--by", "tester", "--reason", "eigen vragenlijst", "--yes", "--config", str(config)],
        ["score"],
        ["monitor"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    # the last command's status line says the status in the report's Dutch word, with the code beside it
    assert any(f": {STATUS_NL[s]} ({s})" in result.output for s in STATUS_NL), result.output

    from data.context import registry_location
    from models.registry import load, open_registry

    settings = get_settings()
    open_registry(registry_location(settings))
    model = load(settings.registered_model, alias="champion").model
    extra_features = [f for f in model.features if "reistijd" in f]
    assert extra_features, model.features  # training used the college's questionnaire

    from data.store import make_engine

    engine = make_engine(settings.resolved_database_url())
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT feature_values FROM scores LIMIT 1")).scalar_one()
    values = stored if isinstance(stored, dict) else json.loads(stored)
    assert set(extra_features) <= set(values)  # the weekly job scored with it

    # Monitoring scored the week with the same questionnaire (with the shipped one the model's input
    # check refuses the snapshot) and compared the extra item's columns in Evidently's drift report.
    drift_pages = list((settings.var_dir / "reports").glob("*/drift.html"))
    assert drift_pages
    assert "reistijd" in drift_pages[0].read_text(encoding="utf-8")
