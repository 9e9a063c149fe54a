"""The comparison behind every promotion (``vsv promote``, the API, the data-team page) builds the test fold
alone, from a window of the store: it must be the very test fold the training's ``prepare`` builds from
everything, or the comparison would not be the one ``vsv promote`` always ran."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.context import build_context
from data.store import load_raw_tables
from tests.api.conftest import api_settings, load_school
from tests.conftest import School, new_store
from training.config import load_config
from training.pipeline import prepare
from training.promote import TestRowCache, comparison_rows, load_test_tables


@pytest.mark.slow
def test_the_test_rows_are_the_test_fold_of_prepare(school: School, tmp_path: Path) -> None:
    config = load_config()
    for engine in new_store("sqlite", tmp_path):
        load_school(engine, school, 0, 10_000)
        ctx = build_context(api_settings(tmp_path), engine=engine)
        everything = load_raw_tables(engine)
        expected = prepare(everything, config, ctx.questionnaire).test
        window = load_test_tables(ctx, config)
        assert len(window.attendance_weeks) < len(everything.attendance_weeks)  # really a window
        built = comparison_rows(window, config, ctx.questionnaire)
        pd.testing.assert_frame_equal(built, expected)
        cache = TestRowCache()
        assert cache.rows(window, config, ctx.questionnaire) is cache.rows(window, config, ctx.questionnaire)
        pd.testing.assert_frame_equal(cache.rows(window, config, ctx.questionnaire), expected)
        shorter = load_config(overrides={"horizon": 8})  # another configuration: built again, not reused
        assert len(cache.rows(window, shorter, ctx.questionnaire)) != len(expected)
