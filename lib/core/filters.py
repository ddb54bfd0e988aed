"""The scenario table's filters: which dimensions, their options, and how they travel in a URL.

Pure functions over a pandas DataFrame of scenario rows, so the page only lays them out and a
filter change costs a vectorised mask, not a database round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import DIMENSION_LABELS, SCENARIO_STATUSES, labels


@dataclass(frozen=True)
class Dimension:
    key: str  # row column, filter key and URL parameter
    label: str
    taxonomy: str | None  # taxonomy dimension with the names, None for status


# The 8 planning dimensions, then status: row column -> the taxonomy dimension with its names.
DIMENSIONS: tuple[Dimension, ...] = tuple(
    Dimension(key, DIMENSION_LABELS[key], taxonomy)
    for key, taxonomy in (
        ("persona", "personas"),
        ("start_emotion", "emotions"),
        ("topic_cluster", "topic_clusters"),
        ("intent", "intents"),
        ("tone", "tones"),
        ("topic", "topics"),
        ("outcome_type", "outcomes"),
        ("tier", "tiers"),
        ("status", None),
    )
)
BY_KEY = {d.key: d for d in DIMENSIONS}

Filters = dict[str, list[str]]


def options(tax: Taxonomy, dim: Dimension) -> dict[str, str]:
    """id -> display name, in taxonomy order."""
    if dim.taxonomy is None:
        return labels(SCENARIO_STATUSES)
    return {k: v.name for k, v in tax.by_id(dim.taxonomy).items()}


def clean(filters: Mapping[str, list[str]], tax: Taxonomy) -> Filters:
    """Keep only known dimensions and values (a shared link may be stale or hand-edited)."""
    out: Filters = {}
    for key, values in filters.items():
        dim = BY_KEY.get(key)
        if dim is None:
            continue
        known = options(tax, dim)
        kept = [v for v in values if v in known]
        if kept:
            out[key] = kept
    return out


def from_query(params: Mapping[str, str], tax: Taxonomy) -> Filters:
    """?persona=a,b&tier=template -> {"persona": ["a", "b"], "tier": ["template"]}"""
    return clean({k: [v for v in str(params[k]).split(",") if v] for k in params}, tax)


def to_query(filters: Filters) -> dict[str, str]:
    return {k: ",".join(v) for k, v in filters.items() if v}


def apply(df: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for key, values in filters.items():
        if values and key in df.columns:
            mask &= df[key].isin(values)
    return df[mask]


def chips(filters: Filters, tax: Taxonomy) -> list[tuple[str, str, str]]:
    """(key, value, "Label: Name") for every active filter value, in dimension order."""
    out = []
    for dim in DIMENSIONS:
        names = options(tax, dim)
        for value in filters.get(dim.key, []):
            out.append((dim.key, value, f"{dim.label}: {names.get(value, value)}"))
    return out


def remove(filters: Filters, key: str, value: str) -> Filters:
    out = {k: list(v) for k, v in filters.items()}
    out[key] = [v for v in out.get(key, []) if v != value]
    return {k: v for k, v in out.items() if v}


TABLE_COLUMNS = ["ID", "Status", "Persona", "Emotion", "Topic", "Arc", "Tier", "Intent", "Quality", "Updated"]


def table_frame(rows: list[dict], tax: Taxonomy) -> pd.DataFrame:
    """v_scenarios rows -> the scenario table as shown: names instead of ids, status with its icon."""
    df = pd.DataFrame(
        rows,
        columns=[
            "id",
            "persona",
            "start_emotion",
            "end_emotion",
            "topic",
            "emotional_arc",
            "tier",
            "intent",
            "status",
            "quality_score",
            "updated_at",
        ],
    )
    emo = {k: v.name for k, v in tax.by_id("emotions").items()}
    out = pd.DataFrame(
        {
            "ID": df["id"].astype("int64"),
            "Status": df["status"].map(lambda v: [v]),  # a one-item list renders as a coloured badge
            "Persona": df["persona"].map({k: v.name for k, v in tax.by_id("personas").items()}),
            "Emotion": df["start_emotion"].map(emo).fillna("?") + " → " + df["end_emotion"].map(emo).fillna("?"),
            "Topic": df["topic"].map({k: v.name for k, v in tax.by_id("topics").items()}),
            "Arc": df["emotional_arc"].map({k: v.name for k, v in tax.by_id("arcs").items()}),
            "Tier": df["tier"].map({t.id: t.name for t in tax.tiers}),
            "Intent": df["intent"].map({k: v.name for k, v in tax.by_id("intents").items()}),
            "Quality": pd.to_numeric(df["quality_score"], errors="coerce"),
            "Updated": pd.to_datetime(df["updated_at"], utc=True),
        }
    )
    return out
