"""What the Review page calls statuses, decisions, reasons, sources, label fields and groups, and the
statuses the queue starts on: lib/core/vocabulary.py's words, under the names lib/review and the page
read."""
from __future__ import annotations

from lib.core.vocabulary import (
    CONVERSATION_SOURCES,
    DECISIONS,
    DIMENSION_LABELS,
    FIELD_LABELS,
    REASONS,
    REVIEW_STATUSES,
    labels,
)
from lib.store.protocol import LABEL_STATS_GROUPS

STATUS_LABELS: dict[str, str] = labels(REVIEW_STATUSES)
DEFAULT_STATUSES: tuple[str, ...] = ("unreviewed",)
SOURCE_LABELS: dict[str, str] = CONVERSATION_SOURCES
DECISION_LABELS: dict[str, str] = labels(DECISIONS)
REASON_LABELS: dict[str, str] = REASONS
GROUP_LABELS: dict[str, str] = {g: DIMENSION_LABELS[g] for g in LABEL_STATS_GROUPS}
GROUP_DIMENSIONS: dict[str, str] = {"topic": "topics", "persona": "personas", "tier": "tiers", "emotional_arc": "arcs"}

__all__ = ["DECISION_LABELS", "DEFAULT_STATUSES", "FIELD_LABELS", "GROUP_DIMENSIONS", "GROUP_LABELS", "REASON_LABELS",
           "SOURCE_LABELS", "STATUS_LABELS"]
