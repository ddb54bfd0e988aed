"""The scenario table as a link names it: its filters (which dimensions, their options), the page,
the sort, the columns shown and the open scenario, how they travel in a URL, and the rows as shown.

Pure functions, so the page only lays them out; the filtering, sorting and paging themselves run in
the database (Store.scenario_page), a page at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

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
# "Variations of": the approved conversation a variation scenario varies. Its values are conversation ids,
# not taxonomy ids, so it is no planning dimension (the export's filters leave it out).
SOURCE = Dimension("source", "Variations of", None)
FILTERS: tuple[Dimension, ...] = (*DIMENSIONS, SOURCE)  # every filter of the table
BY_KEY = {d.key: d for d in FILTERS}
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")

Filters = dict[str, list[str]]


def options(tax: Taxonomy, dim: Dimension) -> dict[str, str]:
    """id -> display name, in taxonomy order (none for SOURCE: the page offers the sources it finds)."""
    if dim is SOURCE:
        return {}
    if dim.taxonomy is None:
        return labels(SCENARIO_STATUSES)
    return tax.names(dim.taxonomy)


def clean(filters: Mapping[str, list[str]], tax: Taxonomy) -> Filters:
    """Keep only known dimensions and values (a shared link may be stale or hand-edited)."""
    out: Filters = {}
    for key, values in filters.items():
        dim = BY_KEY.get(key)
        if dim is None:
            continue
        known = options(tax, dim)
        kept = [v for v in values if (_CONVERSATION_ID.match(v) if dim is SOURCE else v in known)]
        if kept:
            out[key] = kept
    return out


def from_query(params: Mapping[str, str], tax: Taxonomy) -> Filters:
    """?persona=a,b&tier=template -> {"persona": ["a", "b"], "tier": ["template"]}"""
    return clean({k: [v for v in str(params[k]).split(",") if v] for k in params}, tax)


def to_query(filters: Filters) -> dict[str, str]:
    return {k: ",".join(v) for k, v in filters.items() if v}


def chips(filters: Filters, tax: Taxonomy) -> list[tuple[str, str, str]]:
    """(key, value, "Label: Name") for every active filter value, in dimension order."""
    out = []
    for dim in FILTERS:
        names = options(tax, dim)
        for value in filters.get(dim.key, []):
            out.append((dim.key, value, f"{dim.label}: {names.get(value, value)}"))
    return out


def remove(filters: Filters, key: str, value: str) -> Filters:
    out = {k: list(v) for k, v in filters.items()}
    out[key] = [v for v in out.get(key, []) if v != value]
    return {k: v for k, v in out.items() if v}


def with_status(filters: Filters, status: str) -> Filters | None:
    """The filters narrowed to one status, or None when their status filter leaves it out."""
    if filters.get("status") and status not in filters["status"]:
        return None
    return {**filters, "status": [status]}


# -- the table's columns, and the link that names what the table shows ---------------------------------
@dataclass(frozen=True)
class Column:
    key: str  # in the link: ?sort=-updated&columns=arc,tier
    sort: str  # the v_scenarios column Store.scenario_page sorts by
    default: bool  # shown until the reader picks columns: the default set fits a 1440 px screen


COLUMNS: dict[str, Column] = {  # header -> column, in display order
    "ID": Column("id", "id", True),
    "Status": Column("status", "status", True),
    "Persona": Column("persona", "persona", True),
    "Emotion": Column("emotion", "start_emotion", True),
    "Topic": Column("topic", "topic", True),
    "Arc": Column("arc", "emotional_arc", False),
    "Tier": Column("tier", "tier", False),
    "Intent": Column("intent", "intent", False),
    "Tone": Column("tone", "tone", False),
    "Outcome": Column("outcome", "outcome_type", False),
    "Quality": Column("quality", "quality_score", True),
    "Updated": Column("updated", "updated_at", False),
    "Variation of": Column("source", "source_conversation_id", True),
}
DEFAULT_COLUMNS: tuple[str, ...] = tuple(h for h, c in COLUMNS.items() if c.default)
BY_COLUMN_KEY: dict[str, str] = {c.key: h for h, c in COLUMNS.items()}
PAGE_SIZE = 100
LINK_PARAMS = ("scenario", "page", "sort", "columns")  # besides the filters' dimensions


@dataclass(frozen=True)
class Link:
    """What the Scenarios page shows, as its URL names it."""

    filters: Filters = field(default_factory=dict)
    page: int = 1  # 1-based
    sort: str = "ID"  # a header of COLUMNS
    descending: bool = False
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    focus: int | None = None  # the scenario whose detail is open
    ignored: tuple[str, ...] = ()  # the parameters and values of the link that meant nothing here


def read_link(params: Mapping[str, str], tax: Taxonomy) -> Link:
    """?persona=a,b&page=3&sort=-updated&columns=arc,tier&scenario=11 -> a Link. What is unknown or
    malformed is left out and listed in `ignored`, so the page can say so instead of dropping it."""
    ignored: list[str] = []
    raw = {k: [v for v in str(params[k]).split(",") if v] for k in params if k in BY_KEY}
    filters = clean(raw, tax)
    for key, values in raw.items():
        ignored += [f"{key}={v}" for v in values if v not in filters.get(key, [])]
    ignored += [f"{k}={params[k]}" for k in params if k not in BY_KEY and k not in LINK_PARAMS]

    def number(name: str) -> int | None:
        value = str(params.get(name, ""))
        if name in params and not (value.isdigit() and int(value) > 0):
            ignored.append(f"{name}={value}")
        return int(value) if value.isdigit() and int(value) > 0 else None

    page, focus = number("page") or 1, number("scenario")
    sort, descending = "ID", False
    if "sort" in params:
        key = str(params["sort"])
        if key.removeprefix("-") in BY_COLUMN_KEY:
            sort, descending = BY_COLUMN_KEY[key.removeprefix("-")], key.startswith("-")
        else:
            ignored.append(f"sort={key}")
    columns = DEFAULT_COLUMNS
    if "columns" in params:
        keys = [k for k in str(params["columns"]).split(",") if k]
        ignored += [f"columns={k}" for k in keys if k not in BY_COLUMN_KEY]
        picked = {BY_COLUMN_KEY[k] for k in keys if k in BY_COLUMN_KEY}
        columns = tuple(h for h in COLUMNS if h in picked) or DEFAULT_COLUMNS
    return Link(filters, page, sort, descending, columns, focus, tuple(ignored))


def to_link(link: Link) -> dict[str, str]:
    """The URL's parameters of a Link; what is at its default stays out of the address."""
    out = to_query(link.filters)
    if link.page > 1:
        out["page"] = str(link.page)
    if (link.sort, link.descending) != ("ID", False):
        out["sort"] = ("-" if link.descending else "") + COLUMNS[link.sort].key
    if tuple(link.columns) != DEFAULT_COLUMNS:
        out["columns"] = ",".join(COLUMNS[h].key for h in link.columns)
    if link.focus:
        out["scenario"] = str(link.focus)
    return out


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


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
            "tone",
            "outcome_type",
            "status",
            "quality_score",
            "updated_at",
            "source_conversation_id",
            "variation",
        ],
    )
    emo = tax.names("emotions")
    out = pd.DataFrame(
        {
            "ID": df["id"].astype("int64"),
            "Status": df["status"].map(lambda v: [v]),  # a one-item list renders as a coloured badge
            "Persona": df["persona"].map(tax.names("personas")),
            "Emotion": df["start_emotion"].map(emo).fillna("?") + " → " + df["end_emotion"].map(emo).fillna("?"),
            "Topic": df["topic"].map(tax.names("topics")),
            "Arc": df["emotional_arc"].map(tax.names("arcs")),
            "Tier": df["tier"].map(tax.names("tiers")),
            "Intent": df["intent"].map(tax.names("intents")),
            "Tone": df["tone"].map(tax.names("tones")),
            "Outcome": df["outcome_type"].map(tax.names("outcomes")),
            "Quality": pd.to_numeric(df["quality_score"], errors="coerce"),
            "Updated": pd.to_datetime(df["updated_at"], utc=True),
            "Variation of": [
                _variation_of(s, v) for s, v in zip(df["source_conversation_id"], df["variation"], strict=True)
            ],
        }
    )
    return out[list(COLUMNS)]


def _variation_of(source: str | None, record: Mapping[str, object] | None) -> str:
    """ "seed-01 (topic)": the conversation a variation varies and what it changes; '' for a row that is no
    variation (a blank cell, where a null would read "None")."""
    if not isinstance(source, str) or not source:
        return ""
    vary = (record or {}).get("vary") if isinstance(record, Mapping) else None
    return source + (" (" + ", ".join(map(str, vary)) + ")" if isinstance(vary, list) and vary else "")
