"""A college's declared extensions at training (issue 17): imported from the school-style export, they
become model inputs once their proxy check on the training rows passes, the model card lists each with its
measurement, and without audit attributes to check them they are left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from data.calendar import load_school_calendar
from data.csv_io import import_directory
from data.extensions import EXTENSIONS_ENV, clear_extension_cache
from data.mapping import load_mapping
from data.questionnaire import load_questionnaire
from data.store import load_raw_tables, read_table
from data.synthetic.generator import GeneratorConfig
from data.synthetic.school_export import write_school_export
from tests.conftest import TEST_KEY, TEST_TRAINING, new_store
from training.config import load_config
from training.pipeline import TrainingResult, train

pytestmark = pytest.mark.slow
EXTENSIONS = ["previous_attempts", "prior_grade"]


@pytest.fixture(scope="module")
def school_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("school") / "export"
    write_school_export(GeneratorConfig(seed=21, n_students=500, n_years=3, february_intake_share=0.2), out)
    return out


@pytest.fixture
def declared(school_export: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(EXTENSIONS_ENV, str(school_export / "extensions.yaml"))
    clear_extension_cache()
    yield
    clear_extension_cache()


def _train(school_export: Path, tmp_path: Path, blank_audit: bool) -> TrainingResult:
    for engine in new_store("sqlite", tmp_path / "store"):
        import_directory(
            engine,
            school_export,
            TEST_KEY,
            load_questionnaire(),
            mapping=load_mapping(school_export / "mapping.yaml"),
            calendar=load_school_calendar(),
        )
        audit = read_table(engine, "audit_attributes")
        if blank_audit:  # a school that records neither attribute
            audit = audit.assign(gender="onbekend", migration_background="onbekend")
        return train(
            load_raw_tables(engine),
            load_config(overrides=TEST_TRAINING),
            tmp_path / "run",
            audit=audit,
            registered_model=None,
        )
    raise AssertionError("no store")


def test_extensions_that_pass_the_proxy_check_are_inputs_and_the_card_says_so(
    school_export: Path, declared: None, tmp_path: Path
) -> None:
    result = _train(school_export, tmp_path, blank_audit=False)
    checks = {c["name"]: c for c in result.model.metadata["extension_checks"]}
    assert set(checks) == set(EXTENSIONS)
    for name in EXTENSIONS:
        auc = checks[name]["auc"]
        assert isinstance(auc, dict) and set(auc) == {"gender", "migration_background"}
        assert checks[name]["used"] == (max(auc.values()) < 0.65), name
        assert (name in result.model.features) == checks[name]["used"]
    assert any(c["used"] for c in checks.values()), "the generated signals say nothing about gender"
    card = (tmp_path / "run" / "model_card.md").read_text(encoding="utf-8")
    assert "## School-specific signals (extension register)" in card
    assert "| previous_attempts |" in card and "| prior_grade |" in card


def test_without_audit_attributes_to_check_them_extensions_are_left_out(
    school_export: Path, declared: None, tmp_path: Path
) -> None:
    result = _train(school_export, tmp_path, blank_audit=True)
    checks = result.model.metadata["extension_checks"]
    assert [c["used"] for c in checks] == [False, False]
    assert all("not checked" in str(c["why"]) for c in checks)
    assert not set(EXTENSIONS) & set(result.model.features)
