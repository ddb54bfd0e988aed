"""What the Review page calls statuses, decisions, reasons, sources, label fields and groups, and
the statuses the queue starts on. Kept together so that every module of lib/review, and the page,
read one spelling of each."""
from __future__ import annotations

from lib.store.protocol import REASON_CODES

STATUS_LABELS: dict[str, str] = {
    "unreviewed": "Not reviewed",
    "approved": "Approved",
    "needs_edit": "Needs edit",
    "rejected": "Rejected",
}
DEFAULT_STATUSES: tuple[str, ...] = ("unreviewed",)
SOURCE_LABELS: dict[str, str] = {"generated": "Generated", "seed": "Seed"}
DECISION_LABELS: dict[str, str] = {"approved": "Approved", "needs_edit": "Needs edit", "rejected": "Rejected"}
REASON_LABELS: dict[str, str] = {
    "inaccurate_financial_content": "Inaccurate financial content",
    "emotion_not_realistic": "Emotion not realistic",
    "off_voice": "Off-voice",
    "arc_not_realized": "Arc not realized",
    "unsafe_advice": "Unsafe advice",
    "other": "Other",
}
assert tuple(REASON_LABELS) == REASON_CODES, "REASON_LABELS must name every store REASON_CODE"
FIELD_LABELS: dict[str, str] = {
    "emotion.primary": "Emotion",
    "emotion.secondary": "Secondary emotion",
    "emotion.sub_emotion": "Sub-emotion",
    "emotion.intensity": "Intensity",
    "emotion.valence": "Valence",
    "emotion.arousal": "Arousal",
    "strategies.primary": "Strategy",
    "strategies.supporting": "Supporting strategies",
}
GROUP_LABELS: dict[str, str] = {"topic": "Topic", "persona": "Persona", "tier": "Tier", "emotional_arc": "Arc"}
GROUP_DIMENSIONS: dict[str, str] = {"topic": "topics", "persona": "personas", "tier": "tiers", "emotional_arc": "arcs"}
