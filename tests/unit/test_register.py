"""The feature register: complete, justified, proxy-checked, and the one declaration of the model inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.questionnaire import cached_questionnaire
from features import MODEL_FEATURES, PROTECTED_ATTRIBUTES, load_register, model_features, proxy_check
from features.register import (
    DEFAULT_REGISTER_PATH,
    PROXY_MARKER,
    read_register_file,
    update_register_proxy_results,
)

DUTCH_HINTS = (
    " de ",
    " het ",
    " van ",
    "laatste",
    "weken",
    "vooropleiding",
    "studie",
    "aanwezig",
    "verzuim",
    "jaar",
    "niveau",
    "leerweg",
    "vragenlijst",
    "welzijn",
    "praten",
    "resultaten",
    "onderdelen",
)


def test_register_covers_exactly_the_model_features_in_order() -> None:
    names = [f.name for f in load_register()]
    assert tuple(names) == MODEL_FEATURES == model_features(cached_questionnaire())
    assert len(set(names)) == len(names)
    for item in cached_questionnaire().items:
        assert f"q_{item.code}_latest" in names
    assert cached_questionnaire().help_item.code not in " ".join(names)  # only the wants-to-talk flag


def test_every_feature_has_family_dutch_description_and_justification() -> None:
    for feature in load_register():
        assert feature.family in ("leading", "lagging", "context")
        assert feature.description_nl.strip() and feature.description_nl != feature.name
        assert "_" not in feature.description_nl, feature.name  # plain words, not a column name
        assert len(feature.justification.split()) >= 5, feature.name
    text = " ".join(f" {f.description_nl.lower()} " for f in load_register())
    assert sum(hint in text for hint in DUTCH_HINTS) >= 10


def test_every_feature_has_a_recorded_proxy_check_and_none_is_a_proxy() -> None:
    register = read_register_file()
    assert register.proxy_check is not None and register.proxy_check.measured_on
    for feature in load_register():
        assert feature.proxy_auc is not None, f"{feature.name}: no proxy check recorded"
        assert set(feature.proxy_auc) == set(PROTECTED_ATTRIBUTES)
        assert all(0.5 <= auc <= 1.0 for auc in feature.proxy_auc.values())
        assert feature.is_proxy is False, f"{feature.name} is a proxy: decide before using it"


@pytest.fixture()
def audit() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2000
    return pd.DataFrame(
        {
            "student_id": [f"s{i}" for i in range(n)],
            "gender": rng.choice(["man", "vrouw", "x"], size=n, p=[0.5, 0.48, 0.02]),
            "migration_background": rng.choice(
                ["geen", "westers", "niet_westers"], size=n, p=[0.7, 0.1, 0.2]
            ),
        }
    )


def test_proxy_check_flags_a_stand_in_and_passes_noise(audit: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    is_man = (audit["gender"] == "man").to_numpy()
    frame = pd.DataFrame(
        {
            "student_id": audit["student_id"],
            "copy_of_gender": is_man.astype(float),
            "inverted_gender": 1.0 - is_man,
            "noisy_migration": (audit["migration_background"] == "niet_westers")
            + rng.normal(0, 0.3, len(audit)),
            "noise": rng.normal(size=len(audit)),
            "constant": 1.0,
        }
    )
    result = proxy_check(frame, audit, columns=list(frame.columns[1:]), threshold=0.65)
    assert list(result.columns) == [*PROTECTED_ATTRIBUTES, "max_auc", "proxy"]
    assert result.loc["copy_of_gender", "gender"] == pytest.approx(1.0)
    assert result.loc["inverted_gender", "gender"] == pytest.approx(1.0)  # folded: direction does not hide it
    assert result["migration_background"]["noisy_migration"] > 0.9
    assert result.loc["constant", "max_auc"] == pytest.approx(0.5)
    assert result["max_auc"]["noise"] < 0.56
    assert result["proxy"].to_dict() == {
        "copy_of_gender": True,
        "inverted_gender": True,
        "noisy_migration": True,
        "noise": False,
        "constant": False,
    }


def test_proxy_check_handles_repeated_students(audit: pd.DataFrame) -> None:
    frame = pd.DataFrame({"student_id": audit["student_id"], "x": (audit["gender"] == "man").astype(float)})
    stacked = pd.concat([frame, frame], ignore_index=True)
    once = proxy_check(frame, audit, columns=["x"], threshold=0.65)
    twice = proxy_check(stacked, audit, columns=["x"], threshold=0.65)
    assert twice.loc["x", "gender"] == pytest.approx(once.loc["x", "gender"])


def test_update_writes_results_and_keeps_the_hand_written_register(tmp_path: Path) -> None:
    target = tmp_path / "register.yaml"
    shutil.copy(DEFAULT_REGISTER_PATH, target)
    head_before = target.read_text(encoding="utf-8").split(PROXY_MARKER, 1)[0]
    results = pd.DataFrame(
        {"gender": 0.51, "migration_background": 0.7, "max_auc": 0.7, "proxy": True},
        index=pd.Index(list(MODEL_FEATURES), name="feature"),
    )
    update_register_proxy_results(results, measured_on="test", path=target)
    update_register_proxy_results(results, measured_on="test again", path=target)  # idempotent section
    text = target.read_text(encoding="utf-8")
    assert text.split(PROXY_MARKER, 1)[0] == head_before
    assert text.count(PROXY_MARKER) == 1
    features = load_register(path=target)
    assert all(f.is_proxy for f in features)
    assert features[0].proxy_auc == {"gender": 0.51, "migration_background": 0.7}
    read_register_file.cache_clear()


def test_a_broken_register_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "broken.yaml"
    target.write_text("proxy_threshold: 0.65\nfeatures: [{name: x}]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.yaml"):
        load_register(path=target)
