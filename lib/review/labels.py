"""What the Review page calls statuses, decisions, reasons, sources, label fields and groups, and the
statuses the queue starts on: lib/core/vocabulary.py's words, under the names lib/review and the page
read. The rating states (what the ratings in force say of a conversation) are the Review queue's own
words; v_review_queue.rating_state spells the same ids."""

from __future__ import annotations

from lib.core.vocabulary import (
    CONVERSATION_SOURCES,
    DECISIONS,
    DIMENSION_LABELS,
    FIELD_LABELS,
    REASONS,
    REVIEW_STATUSES,
    Term,
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

# What the ratings in force (the judge's, or a reviewer's where one rated) say of a conversation.
RATING_STATES: dict[str, Term] = {
    "hard_failed": Term("Hard rule failed", "red"),  # a hard criterion (safety) below its pass mark
    "flagged": Term("Flagged", "orange"),  # another criterion below its pass mark
    "passed": Term("Passed", "green"),
    "unrated": Term("Not rated yet", "gray"),
}
RATING_LABELS: dict[str, str] = labels(RATING_STATES)
# The queue's rating filter: choice -> the rating states it keeps (a flagged conversation may also
# have failed a hard rule)
RATING_FILTERS: dict[str, tuple[str, ...]] = {
    "flagged": ("hard_failed", "flagged"),
    "hard_failed": ("hard_failed",),
    "passed": ("passed",),
    "unrated": ("unrated",),
}
RATING_FILTER_LABELS: dict[str, str] = {
    "flagged": "Flagged (a rating below its pass mark)",
    "hard_failed": "Hard rule failed",
    "passed": "Passed every criterion",
    "unrated": "Not rated yet",
}

__all__ = [
    "DECISION_LABELS",
    "DEFAULT_STATUSES",
    "FIELD_LABELS",
    "GROUP_DIMENSIONS",
    "GROUP_LABELS",
    "RATING_FILTERS",
    "RATING_FILTER_LABELS",
    "RATING_LABELS",
    "RATING_STATES",
    "REASON_LABELS",
    "SOURCE_LABELS",
    "STATUS_LABELS",
]
