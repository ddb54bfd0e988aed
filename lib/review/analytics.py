"""Label analytics: how often which label was corrected from what to what (by reviewers, operators or
accepted automated suggestions, or one of them), overall or by topic, persona, tier or arc (counted in SQL
by label_correction_stats), with names for display."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import REVISION_SOURCES
from lib.review.errors import ReviewError
from lib.review.labels import FIELD_LABELS, GROUP_DIMENSIONS, GROUP_LABELS
from lib.review.text import label_text_names, name, when
from lib.store.protocol import LABEL_STATS_GROUPS, Store


def check_source(source: str | None) -> None:
    """A revision source to filter by is one of REVISION_SOURCES (None: every source)."""
    if source is not None and source not in REVISION_SOURCES:
        raise ReviewError(f"Filter by one of the sources {', '.join(REVISION_SOURCES)}, not {source!r}.")


def label_analytics(store: Store, tax: Taxonomy, by: str | None = None, *, source: str | None = None) -> pd.DataFrame:
    """The most frequent corrections (SQL: label_correction_stats), with names for display:
    Field, From, To, [Group], Times, Conversations, Authors, Last. source: only that revision source."""
    if by is not None and by not in LABEL_STATS_GROUPS:
        raise ReviewError(f"Group by one of {', '.join(LABEL_STATS_GROUPS)}, not {by!r}.")
    check_source(source)
    rows = store.label_correction_stats(by, source=source)
    groups = tax.by_id(GROUP_DIMENSIONS[by]) if by else {}
    out = pd.DataFrame(
        {
            "Field": [FIELD_LABELS.get(r["field"], r["field"]) for r in rows],
            "From": [label_text_names(r["field"], r["from_value"], tax) for r in rows],
            "To": [label_text_names(r["field"], r["to_value"], tax) for r in rows],
            "Group": [name(groups, r["group_id"]) if r["group_id"] else "" for r in rows],
            "Times": [int(r["corrections"]) for r in rows],
            "Conversations": [int(r["conversations"]) for r in rows],
            "Authors": [int(r["authors"]) for r in rows],
            "Last": [when(r["last_at"]) for r in rows],
        }
    )
    return out.drop(columns=["Group"]) if by is None else out.rename(columns={"Group": GROUP_LABELS[by]})


@dataclass(frozen=True)
class CorrectionTotals:
    corrections: int  # every correction counted
    distinct: int  # different (field, from, to) corrections
    most_corrected: str  # the label field corrected most often


def totals(stats: pd.DataFrame) -> CorrectionTotals:
    """The headline figures of a label_analytics table (zeros and no field when it is empty)."""
    by_field = stats.groupby("Field")["Times"].sum().sort_values(ascending=False)
    return CorrectionTotals(
        corrections=int(stats["Times"].sum()),
        distinct=len(stats.drop_duplicates(["Field", "From", "To"])),
        most_corrected=str(by_field.index[0]) if len(by_field) else "",
    )
