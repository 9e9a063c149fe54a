"""Fairness explained: a gap that comes from who is at which level disappears within level; a gap among
comparable students remains; every ratio outside 0.8-1.25 is listed; the card says it in Dutch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation import conditional_fairness, conditional_ratio, outside_range, subgroup_metrics
from training.pipeline import TrainingResult


def world(seed: int, direct_bias: float) -> pd.DataFrame:
    """Group b is mostly at level 1, where everyone is flagged more; ``direct_bias`` flags b more on top."""
    rng = np.random.default_rng(seed)
    n = 30000
    group = np.where(rng.random(n) < 0.3, "b", "a")
    level = np.where(group == "b", rng.choice([1, 2], n, p=[0.8, 0.2]), rng.choice([1, 2], n, p=[0.2, 0.8]))
    rate = np.where(level == 1, 0.20, 0.05) * np.where(group == "b", direct_bias, 1.0)
    return pd.DataFrame(
        {
            "g": group,
            "level": level,
            "route_bbl": rng.integers(0, 2, n),
            "high": rng.random(n) < rate,
            "vsv": rng.random(n) < 0.05,
            "p": rng.random(n),
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_a_gap_from_the_level_mix_disappears_within_level_and_a_direct_one_remains(seed: int) -> None:
    mix = world(seed, direct_bias=1.0)
    raw = mix[mix.g == "b"]["high"].mean() / mix[mix.g == "a"]["high"].mean()
    ratio, strata = conditional_ratio(mix, "g", "b", "a", "selection_rate", "high", ["level", "route_bbl"])
    assert raw > 1.8 and 0.85 < ratio < 1.15 and strata == 4
    direct = world(seed, direct_bias=2.0)
    ratio, _ = conditional_ratio(direct, "g", "b", "a", "selection_rate", "high", ["level", "route_bbl"])
    assert 1.7 < ratio < 2.3


def test_every_ratio_outside_the_range_is_listed_and_explained() -> None:
    frame = world(3, direct_bias=1.0)
    groups = subgroup_metrics(frame, "high", "p", ["g", "level"])
    flags = outside_range(groups)
    assert {("g", "b", "selection_rate"), ("g", "b", "false_positive_rate")} <= set(
        zip(flags["attribute"], flags["group"], flags["metric"], strict=True)
    )
    explained = conditional_fairness(frame, groups, "high")
    assert len(explained) == len(flags)
    by_key = explained.set_index(["attribute", "group", "metric"])
    assert not by_key.loc[("g", "b", "selection_rate"), "remains"]
    assert by_key.loc[("g", "b", "selection_rate"), "within"] == "level+route_bbl"
    level_rows = explained[explained["attribute"] == "level"]
    assert (level_rows["within"] == "route_bbl").all()  # level is never conditioned on itself


@pytest.mark.slow
def test_the_card_opens_with_a_dutch_summary_and_lists_every_flagged_ratio(trained: TrainingResult) -> None:
    card = (trained.out_dir / "model_card.md").read_text(encoding="utf-8")
    summary = card.split("## Samenvatting", 1)[1].split("## Intended use", 1)[0]
    for phrase in ("Rangschikken", "Betrouwbaarheid van de kansen", "Hoe vroeg", "Voor wie werkt het anders"):
        assert phrase in summary
    assert "prior_newcomer" in card.split("## Left out of the inputs", 1)[1]
    for row in trained.evaluation.conditional.itertuples(index=False):
        assert f"x{row.ratio:.2f}".replace(".", ",") in summary
