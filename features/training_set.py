"""Training sets: student-week rows of features and labels over several ``as_of`` weeks."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from tqdm import tqdm

from data.calendar import DEFAULT_HORIZON
from data.questionnaire import Questionnaire
from data.tables import RawTables
from features.labels import DEFAULT_LABEL, LabelKind, labels
from features.snapshot import snapshot


def build_training_set(
    tables: RawTables,
    as_of_weeks: Sequence[int],
    horizon: int = DEFAULT_HORIZON,
    questionnaire: Questionnaire | None = None,
    progress: bool = False,
    max_week: int | None = None,
    label: LabelKind = DEFAULT_LABEL,
) -> pd.DataFrame:
    """One row per (student enrolled at ``as_of``, ``as_of``): ``as_of``, the snapshot, then the labels.

    Features come from :func:`features.snapshot` (data up to ``as_of`` only) and labels from
    :func:`features.labels` (the window ``label`` chooses: the ``horizon`` weeks after it, or up to the
    student's expected end): both see the same enrolled students.
    """
    parts = []
    for as_of in tqdm(list(as_of_weeks), desc="training set", unit="week", disable=not progress):
        features = snapshot(tables, as_of, questionnaire)
        outcome = labels(tables, as_of, horizon, max_week=max_week, label=label)
        if not features["student_id"].equals(outcome["student_id"]):
            raise RuntimeError(f"week {as_of}: features and labels cover different students")
        rows = features.merge(outcome, on="student_id", how="inner", validate="one_to_one")
        rows.insert(0, "as_of", as_of)
        parts.append(rows)
    if not parts:
        raise ValueError("as_of_weeks is empty")
    return pd.concat(parts, ignore_index=True)
