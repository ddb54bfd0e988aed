"""The studio's words, once: statuses with their labels and colours, review decisions and reasons, label
fields, sources, dimensions, and how a mix is rounded to whole counts.

Every page, chart, export and store module takes its ids and words from here. The database spells the
same ids in its check constraints (supabase/migrations), since SQL cannot import Python; the database
tests read those constraints back and compare them with these. Where a type checker needs ids as a
Literal, the Literal sits next to its words and the module refuses to load when the two differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

# Streamlit's badge colours (st.badge, :colour-badge[]) as hex, so a status has the same hue in a badge,
# a table cell and a chart.
PALETTE: dict[str, str] = {
    "gray": "#8a96a0",
    "violet": "#8e6bbf",
    "blue": "#3b82c4",
    "orange": "#d98a1c",
    "yellow": "#c9a013",
    "green": "#2e9d5b",
    "red": "#d64545",
}


@dataclass(frozen=True)
class Term:
    """How a state is shown: its label and its colour (a PALETTE name)."""

    label: str
    colour: str = "gray"

    @property
    def hex(self) -> str:
        return PALETTE[self.colour]


def labels(terms: Mapping[str, Term]) -> dict[str, str]:
    """id -> label, in the vocabulary's order."""
    return {k: t.label for k, t in terms.items()}


def hexes(terms: Mapping[str, Term]) -> dict[str, str]:
    """id -> hex colour, in the vocabulary's order."""
    return {k: t.hex for k, t in terms.items()}


def _same(kind: Any, words: Mapping[str, Any]) -> None:
    if list(get_args(kind)) != list(words):
        raise ImportError(
            f"lib/core/vocabulary.py: the Literal {list(get_args(kind))} and its words {list(words)} "
            "name different ids (or in another order); make them the same"
        )


# ---- review ------------------------------------------------------------------------------------
# A reviewer's decision; a conversation's review status is its latest decision, or unreviewed.
Decision = Literal["approved", "needs_edit", "rejected"]
ReviewStatus = Literal["unreviewed", "approved", "needs_edit", "rejected"]
DECISIONS: dict[str, Term] = {
    "approved": Term("Approved", "green"),
    "needs_edit": Term("Needs edit", "orange"),
    "rejected": Term("Rejected", "red"),
}
REVIEW_STATUSES: dict[str, Term] = {"unreviewed": Term("Not reviewed", "gray"), **DECISIONS}
_same(Decision, DECISIONS)
_same(ReviewStatus, REVIEW_STATUSES)

# Why a conversation was rejected (a rejection needs one).
REASONS: dict[str, str] = {
    "inaccurate_financial_content": "Inaccurate financial content",
    "emotion_not_realistic": "Emotion not realistic",
    "off_voice": "Off-voice",
    "arc_not_realized": "Arc not realized",
    "unsafe_advice": "Unsafe advice",
    "other": "Other",
}

# ---- scenarios and generation -------------------------------------------------------------------
# not_generated -> queued -> generating -> generated -> approved | needs_edit | rejected, or failed.
SCENARIO_STATUSES: dict[str, Term] = {
    "not_generated": Term("Not generated", "gray"),
    "queued": Term("Queued", "violet"),
    "generating": Term("Generating", "blue"),
    "generated": Term("Generated", "orange"),
    **DECISIONS,
    "failed": Term("Failed", "red"),
}
JOB_STATUSES: dict[str, Term] = {
    "queued": Term("Queued", "violet"),
    "running": Term("Running", "blue"),
    "stopped": Term("Stopped", "gray"),
    "completed": Term("Completed", "green"),
    "failed": Term("Failed", "red"),
}
# How a job reads to a person (v_generation_jobs.outcome decides which): its status, told apart by what its
# items did. "stopping": stopped or failed, with items in flight that still finish.
JOB_OUTCOMES: dict[str, Term] = {
    "queued": Term("Queued", "violet"),
    "running": Term("Running", "blue"),
    "stopping": Term("Stopping", "orange"),
    "stopped": Term("Stopped", "gray"),
    "completed": Term("Completed", "green"),
    "completed_with_failures": Term("Completed with failures", "orange"),
    "failed": Term("Failed", "red"),
}
ITEM_STATUSES: dict[str, Term] = {
    "pending": Term("Pending", "gray"),
    "claimed": Term("In flight", "blue"),
    "succeeded": Term("Succeeded", "green"),
    "failed": Term("Failed", "red"),
    "cancelled": Term("Cancelled", "gray"),
}
# What a job does with each of its items: write the scenario's conversation, rate it with the judge, or
# write failed answers to its assistant turns (contrastive responses).
JobTask = Literal["generate", "judge", "contrast"]
JOB_TASKS: dict[str, Term] = {
    "generate": Term("Generate", "blue"),
    "judge": Term("Rate", "violet"),
    "contrast": Term("Contrast", "orange"),
}
_same(JobTask, JOB_TASKS)
# A contrastive response waits for a reviewer, who accepts the contrast (exported as a preference pair)
# or rejects it.
ContrastStatus = Literal["proposed", "accepted", "rejected"]
CONTRAST_STATUSES: dict[str, Term] = {
    "proposed": Term("Proposed", "violet"),
    "accepted": Term("Accepted", "green"),
    "rejected": Term("Rejected", "red"),
}
_same(ContrastStatus, CONTRAST_STATUSES)
# The coverage funnel: every scenario planned, those with a conversation, those approved.
FUNNEL_STAGES: dict[str, Term] = {
    "planned": Term("Planned", "gray"),
    "generated": SCENARIO_STATUSES["generated"],
    "approved": SCENARIO_STATUSES["approved"],
}

# ---- conversations and labels --------------------------------------------------------------------
ConversationSource = Literal["seed", "generated"]
CONVERSATION_SOURCES: dict[str, str] = {"seed": "Seed", "generated": "Generated"}
_same(ConversationSource, CONVERSATION_SOURCES)
# A demo replay (lib.generation.replay) stores generated conversations under this model name: the pages
# badge them, exports leave them out unless asked.
DEMO_MODEL = "demo-replay"
DEMO_LABEL = "Demo replay"


def is_demo(model: str | None) -> bool:
    """Was a conversation (its provenance.model, or conversations.model) replayed, not generated?"""
    return model == DEMO_MODEL


# Who made a label revision.
RevisionSource = Literal["human_review", "operator_realtime", "automated"]
REVISION_SOURCES: dict[str, str] = {
    "human_review": "Reviewer",
    "operator_realtime": "Operator",
    "automated": "Automated",
}
_same(RevisionSource, REVISION_SOURCES)

# Suggested label revisions (the judge's findings and the integrity checks): a reviewer accepts one (a
# revision with source 'automated') or dismisses it. Where a suggestion comes from:
SuggestionStatus = Literal["open", "accepted", "dismissed"]
SUGGESTION_STATUSES: dict[str, Term] = {
    "open": Term("Open", "violet"),
    "accepted": Term("Accepted", "green"),
    "dismissed": Term("Dismissed", "gray"),
}
_same(SuggestionStatus, SUGGESTION_STATUSES)
SuggestionOrigin = Literal["judge", "check"]
SUGGESTION_ORIGINS: dict[str, str] = {"judge": "The judge", "check": "An integrity check"}
_same(SuggestionOrigin, SUGGESTION_ORIGINS)


@dataclass(frozen=True)
class LabelField:
    role: Literal["user", "assistant"]  # the turn it belongs to
    label: str


# The labels of a turn that a revision may change (label_history, label_revisions.field).
LABEL_FIELDS: dict[str, LabelField] = {
    "emotion.primary": LabelField("user", "Emotion"),
    "emotion.secondary": LabelField("user", "Secondary emotion"),
    "emotion.sub_emotion": LabelField("user", "Sub-emotion"),
    "emotion.intensity": LabelField("user", "Intensity"),
    "emotion.valence": LabelField("user", "Valence"),
    "emotion.arousal": LabelField("user", "Arousal"),
    "strategies.primary": LabelField("assistant", "Strategy"),
    "strategies.supporting": LabelField("assistant", "Supporting strategies"),
}
FIELD_LABELS: dict[str, str] = {k: f.label for k, f in LABEL_FIELDS.items()}

# A scenario's dimensions as people read them (filters, groupings, column headers).
DIMENSION_LABELS: dict[str, str] = {
    "tier": "Tier",
    "persona": "Persona",
    "emotional_arc": "Arc",
    "topic": "Topic",
    "intent": "Intent",
    "tone": "Tone",
    "outcome_type": "Outcome",
    "context_id": "Context",
    "topic_cluster": "Content category",
    "start_emotion": "Emotional state",
    "status": "Status",
}


# ---- rounding a mix to counts -----------------------------------------------------------------------
def round_mix(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    """n split in proportion to mix (counts, percentages or weights), adding up to n exactly: each key
    gets the whole part of its share, and the keys with the largest remainders one more each (ties in the
    mix's order). All-zero weights split evenly. How a tier mix becomes the planner's tier counts."""
    if n < 0:
        raise ValueError(f"cannot split {n}: expected a whole number >= 0")
    if any(not math.isfinite(w) or w < 0 for w in mix.values()):
        raise ValueError(f"the mix must be numbers >= 0, got {dict(mix)}")
    weights = dict(mix) if sum(mix.values()) > 0 else dict.fromkeys(mix, 1.0)
    if not weights:
        return {}
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()}
    counts = {k: math.floor(x) for k, x in exact.items()}
    for k in sorted(weights, key=lambda k: counts[k] - exact[k])[: n - sum(counts.values())]:
        counts[k] += 1
    return counts
