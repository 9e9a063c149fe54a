"""`vsv train` and `vsv promote` end to end on a small store, as `make run` uses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from settings import get_settings
from vroegsignaal.cli import app

TRAINING_CONFIG = Path(__file__).resolve().parents[2] / "training" / "config.yaml"
SMALL_LGBM = (
    "lgbm: {n_estimators: 60, learning_rate: 0.1, num_leaves: 15, min_child_samples: 50, n_jobs: 2}\n"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VSV_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("VSV_DATABASE_URL", raising=False)
    monkeypatch.delenv("VSV_MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    import mlflow

    mlflow.set_tracking_uri("")


@pytest.mark.slow
def test_train_then_promote_twice(env: Path) -> None:
    runner = CliRunner()
    config = env / "train.yaml"
    config.write_text(
        (Path("training/config.yaml").read_text(encoding="utf-8")).split("lgbm:")[0] + SMALL_LGBM,
        encoding="utf-8",
    )
    data = env / "exports"
    for args in (
        ["db", "upgrade"],
        ["generate", "--out", str(data), "--students", "500", "--seed", "21"],
        ["import", str(data)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output

    refused = runner.invoke(app, ["promote", "--by", "tester", "--reason", "no model yet", "--yes"])
    assert refused.exit_code == 2 and "vsv train" in refused.output

    first = runner.invoke(app, ["train", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "registered vsv-risk version 1 as challenger" in first.output
    no_reason = runner.invoke(app, ["promote", "--by", "tester", "--reason", "", "--yes"])
    assert no_reason.exit_code == 2 and "reason" in no_reason.output
    promoted = runner.invoke(app, ["promote", "--by", "tester", "--reason", "first model", "--yes"])
    assert promoted.exit_code == 0, promoted.output
    assert "version 1 is now champion (was none)" in promoted.output

    # the second run also asks for the present-knowledge oracle from the world's recorded configuration
    second = runner.invoke(app, ["train", "--config", str(config), "--generator-config", str(data)])
    assert second.exit_code == 0, second.output
    assert "oracle_present" in second.output and "ROC-AUC gap to oracle_present" in second.output
    assert "oracle_present" not in first.output
    compared = runner.invoke(app, ["promote", "--by", "tester", "--reason", "retrained", "--yes"])
    assert compared.exit_code == 0, compared.output
    assert "v2 (kandidaat)" in compared.output and "v1 (champion)" in compared.output
    assert "Recent matured weeks" in compared.output
    assert "version 2 is now champion (was 1)" in compared.output

    from models.registry import configure, load

    settings = get_settings()
    configure(settings.resolved_mlflow_uri(), settings.resolved_artifact_root())
    tags = load(settings.registered_model, alias="champion").tags
    assert tags["promoted_by"] == "tester" and tags["promotion_reason"] == "retrained"
    assert tags["previous_champion"] == "1"
