"""Variation sets against their target: per approved source conversation, how many variations it has
(planned, generated or approved, as the Coverage page counts) against the taxonomy's per_source_target
(taxonomy/variation.yaml, sets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

# the Coverage page's scope -> the public.variation_counts column it counts
SCOPE_COLUMNS: dict[str, str] = {"approved": "approved", "generated": "generated", "planned": "planned"}
COLUMNS: tuple[str, ...] = ("source", "planned", "generated", "approved", "count", "target", "short_by", "progress")


def variation_frame(rows: Sequence[Mapping[str, Any]], target: int, scope: str) -> pd.DataFrame:
    """One row per source conversation: its variations planned, generated and approved, the count the
    scope takes, the target, how far short it is and the progress (1.0 at or above the target)."""
    column = SCOPE_COLUMNS.get(scope)
    if column is None:
        raise ValueError(f"unknown coverage scope {scope!r}; expected one of {', '.join(SCOPE_COLUMNS)}")
    out = []
    for r in rows:
        have = int(r.get(column) or 0)
        out.append(
            {
                "source": str(r["source_conversation_id"]),
                "planned": int(r.get("planned") or 0),
                "generated": int(r.get("generated") or 0),
                "approved": int(r.get("approved") or 0),
                "count": have,
                "target": target,
                "short_by": max(0, target - have),
                "progress": min(1.0, have / target) if target else 1.0,
            }
        )
    return pd.DataFrame(out, columns=list(COLUMNS)).sort_values(["progress", "source"], kind="stable")
