"""List stability: does the weekly risk list jump around? Overlap (Jaccard) of the top k with last week,
and how many students changed band."""

from __future__ import annotations

from typing import Any

import pandas as pd

from models.metrics import top_k_mask
from monitoring.config import StabilityConfig


def top_k_ids(scored: pd.DataFrame, share: float) -> set[str]:
    """Student ids in the top ``share`` by probability."""
    mask = top_k_mask(scored["probability"].to_numpy(), share)
    return set(scored.loc[mask, "student_id"].astype(str))


def jaccard(a: set[str], b: set[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def list_stability(
    previous: pd.DataFrame, current: pd.DataFrame, share: float, config: StabilityConfig
) -> dict[str, Any]:
    """Compare two consecutive scored weeks (columns student_id, probability, band)."""
    before, now = top_k_ids(previous, share), top_k_ids(current, share)
    both = previous[["student_id", "band"]].merge(
        current[["student_id", "band"]], on="student_id", suffixes=("_before", "_now")
    )
    changed = both["band_before"] != both["band_now"]
    transitions = both[changed].groupby(["band_before", "band_now"]).size()
    overlap = jaccard(before, now)
    change_share = float(changed.mean()) if len(both) else 0.0
    reasons = []
    if overlap < config.min_jaccard:
        reasons.append(f"overlap van de top met vorige week {overlap:.2f}")
    if change_share > config.max_band_change_share:
        reasons.append(f"{change_share:.0%} van de studenten wisselde van band")
    return {
        "jaccard_top_k": overlap,
        "top_k": len(now),
        "entered_top_k": len(now - before),
        "left_top_k": len(before - now),
        "students_in_both_weeks": len(both),
        "band_changes": int(changed.sum()),
        "band_change_share": change_share,
        "transitions": [
            {"from": str(k[0]), "to": str(k[1]), "students": int(v)}  # type: ignore[index]
            for k, v in transitions.items()
        ],
        "alert": bool(reasons),
        "reasons": reasons,
    }
