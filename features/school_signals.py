"""A college's own declared signals (the extension register, :mod:`data.extensions`) as features.

Per enrolled student and declared extension: the latest value known by the end of ``as_of`` (the tables
are cut with :meth:`data.tables.RawTables.until` first, so nothing later is seen), else the extension's
declared neutral ``fill``: features are never NaN. An extension the college has marked ``proxy: true``
is never computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from data.extensions import Extension


def model_extensions(extensions: Sequence[Extension]) -> tuple[Extension, ...]:
    """The declared extensions that may be model inputs (not marked as a proxy by the college)."""
    return tuple(e for e in extensions if not e.proxy)


def extension_features(
    signals: pd.DataFrame, enrolled: pd.DataFrame, extensions: Sequence[Extension]
) -> pd.DataFrame:
    """One float64 column per extension of :func:`model_extensions`, indexed by ``enrolled``'s
    ``student_id`` (in its order)."""
    ids = pd.Index(enrolled["student_id"])
    used = model_extensions(extensions)
    if not used:
        return pd.DataFrame(index=ids)
    names = [e.name for e in used]
    rows = signals.loc[signals["feature"].isin(names) & signals["student_id"].isin(ids)]
    latest = rows.sort_values("week", kind="stable").drop_duplicates(["student_id", "feature"], keep="last")
    wide = latest.pivot(index="student_id", columns="feature", values="value").reindex(index=ids)
    columns = {
        e.name: (
            wide[e.name].fillna(e.fill).to_numpy(dtype=np.float64)
            if e.name in wide.columns
            else np.full(len(ids), e.fill, dtype=np.float64)
        )
        for e in used
    }
    return pd.DataFrame(columns, index=ids)
