"""What the Review page shows of one conversation: its turns with the labels in force and their
corrections, the emotional arc against the arc's intended curve, the integrity report (each finding on
its turn), the judge's and reviewers' ratings, the decisions, the versions and the details (scenario,
generation, parameters, usage).

No Streamlit here: the page lays out what load_view returns; all text is plain (the page escapes it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from lib.core.checks.base import Finding
from lib.core.checks.labels import intensity_targets
from lib.core.models import AssistantTurn, Conversation, LabelRevision, UserTurn
from lib.core.rubric import Rubric, default_rubric
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS_BY_NAME, QualityReport, check_conversation, is_hard
from lib.core.vocabulary import REVISION_SOURCES
from lib.review.labels import DECISION_LABELS, FIELD_LABELS, SOURCE_LABELS
from lib.review.ratings import RatingsView, build_ratings
from lib.review.text import intensity_band, label_value_text, name, when
from lib.store.protocol import Store

DETAIL_SECTIONS: tuple[str, ...] = ("Scenario", "Generation", "Parameters", "Usage", "Other")


@dataclass
class RevisionView:
    field: str
    field_label: str
    old: str
    new: str
    author: str
    reason: str
    source: str
    at: datetime

    @property
    def summary(self) -> str:
        """One line: what changed, who (and from which source, when not a reviewer), when and why."""
        who = self.author if self.source == "human_review" else f"{self.author} ({REVISION_SOURCES[self.source]})"
        return f"{self.field_label}: {self.old} → {self.new} · {who} · {self.at.strftime('%Y-%m-%d %H:%M')}" + (
            f" · “{self.reason}”" if self.reason else ""
        )


@dataclass
class TurnView:
    idx: int
    role: str
    text: str
    # user turns: the emotion in force
    emotion: str | None = None
    emotion_name: str = ""
    sub_emotion: str | None = None
    intensity: float | None = None
    band: str = ""
    colour: str = "#888888"
    # assistant turns: the strategies in force
    strategy: str | None = None
    strategy_name: str = ""
    supporting: list[str] = field(default_factory=list)
    supporting_names: list[str] = field(default_factory=list)
    revisions: list[RevisionView] = field(default_factory=list)

    @property
    def emotion_detail(self) -> str:
        """A user turn's sub-emotion and intensity (with its band), the emotion's name left out."""
        parts = []
        if self.sub_emotion:
            parts.append(self.sub_emotion.replace("_", " "))
        if self.intensity is not None:
            parts.append(f"intensity {self.intensity:.2f}" + (f" ({self.band})" if self.band else ""))
        return " · ".join(parts)

    @property
    def label_line(self) -> str:
        """The labels in force as one line of plain text (escape it before markdown)."""
        if self.role == "user":
            detail = self.emotion_detail
            return f"{self.emotion_name} · {detail}" if detail else self.emotion_name
        line = self.strategy_name
        if self.supporting_names:
            line += " + " + ", ".join(self.supporting_names)
        return line


@dataclass
class ConversationView:
    conversation: Conversation
    row: dict[str, Any]  # its v_review_queue row
    turns: list[TurnView]
    arc: pd.DataFrame  # one row per user turn: turn (its index), emotion, emotion_name, sub_emotion, intensity, colour
    target_curve: list[float]  # the intensity each user turn targets (intensity_targets), [] if unknown
    quality: QualityReport
    quality_note: str
    details: list[tuple[str, str, str]]  # (section, field, value), all plain text
    decisions: list[dict[str, Any]]  # reviews rows, newest first
    versions: list[dict[str, Any]]  # v_review_queue rows of the scenario's versions, newest first
    ratings: RatingsView = field(default_factory=lambda: RatingsView(criteria=[]))
    # decisions kept out of `decisions` while the reviewer decides blind (lib/review/double.py); a
    # decision of theirs is checked against all of them
    hidden_decisions: int = 0
    # why the labels in force cannot be approved when the ones shown (blind) could: approval is of those in force
    hidden_block: str | None = None
    # others' ratings kept out of `ratings` while the reviewer decides blind: the queue row's rating state
    # counts them, so the page does not show it
    hidden_ratings: int = 0
    # the turns with label corrections by others kept out of the conversation while the reviewer decides
    # blind: suggestions are made on the labels in force, so one on such a turn could give the correction away
    hidden_turns: frozenset[int] = frozenset()

    @property
    def id(self) -> str:
        return self.conversation.id

    @property
    def seen_decisions(self) -> int:
        """How many decisions this reviewer decides on, shown or hidden: one made since makes theirs stale."""
        return len(self.decisions) + self.hidden_decisions

    @property
    def status(self) -> str:
        return str(self.row.get("review_status") or "unreviewed")

    @property
    def scenario_id(self) -> int:
        return int(self.row["scenario_id"])

    @property
    def is_current(self) -> bool:
        return bool(self.row.get("is_current", True))

    @property
    def is_seed_example(self) -> bool:
        return bool(self.row.get("use_as_seed_example"))

    @property
    def rating_state(self) -> str:
        """What the ratings in force say (lib/review/labels.RATING_STATES), as the queue row has it."""
        return str(self.row.get("rating_state") or "unrated")

    @property
    def flag_reasons(self) -> list[str]:
        return [str(r) for r in self.row.get("flag_reasons") or ()]

    @property
    def approval_block(self) -> str | None:
        """Why the conversation cannot be approved (a hard integrity check fails), or None."""
        if self.hidden_block:
            return self.hidden_block
        hard = self.quality.hard_failures
        if not hard:
            return None
        titles = ", ".join(check_title(c.name) for c in hard)
        return (
            f"It fails {len(hard)} hard check{'s' if len(hard) != 1 else ''} ({titles}). Correct the labels "
            "the findings point at, or mark it needs edit or reject it."
        )

    def findings_for(self, turn: int) -> list[Finding]:
        """The integrity findings on one turn, hard ones first."""
        return sorted(self.quality.findings_for(turn), key=lambda f: not is_hard(f.check))

    @property
    def general_findings(self) -> list[Finding]:
        """Findings about the conversation as a whole (no turn)."""
        return [f for f in self.quality.findings if f.turn is None]

    @property
    def decision_summary(self) -> str:
        """The latest decision, who made it and when, and how many there are."""
        if self.hidden_decisions:
            return "Second review: decide on what you see. The first decision shows once you have decided."
        if not self.decisions:
            return "No decision yet."
        last, n = self.decisions[0], len(self.decisions)
        return (
            f"Latest: {DECISION_LABELS.get(last['decision'], last['decision'])} by {last['reviewer']}, "
            f"{last['created_at'].strftime('%Y-%m-%d %H:%M')} ({n} decision{'s' if n != 1 else ''} in all)"
        )


def load_view(
    store: Store, conversation_id: str, tax: Taxonomy, rubric: Rubric | None = None
) -> ConversationView | None:
    """Everything the page shows of one conversation: 7 small reads, then build_view. rubric: the
    taxonomy's (taxonomy/rubric.yaml) unless given; RubricError when it cannot be read."""
    conv = store.get_conversation(conversation_id)
    if conv is None:
        return None
    rows = store.review_queue({"ids": [conversation_id]}, current_only=False)
    if not rows:
        return None
    row = rows[0]
    versions = store.review_queue({"scenario_id": [row["scenario_id"]]}, current_only=False)
    ratings = build_ratings(store.conversation_ratings(conversation_id), rubric or default_rubric(tax.path))
    return build_view(
        conv,
        row,
        reviews=store.reviews_for(conversation_id),
        versions=versions,
        metadata=store.conversation_metadata(conversation_id),
        tax=tax,
        ratings=ratings,
    )


def build_view(
    conv: Conversation,
    row: Mapping[str, Any],
    *,
    reviews: Sequence[Mapping[str, Any]],
    versions: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    tax: Taxonomy,
    ratings: RatingsView | None = None,
) -> ConversationView:
    turns = _turns(conv, tax)
    users = [t for t in turns if t.role == "user"]
    arc = pd.DataFrame(
        {
            "turn": [t.idx for t in users],  # the number the chat and the history show
            "emotion": [t.emotion for t in users],
            "emotion_name": [t.emotion_name for t in users],
            "sub_emotion": [t.sub_emotion or "" for t in users],
            "intensity": [t.intensity for t in users],
            "colour": [t.colour for t in users],
        }
    )
    target = intensity_targets(conv, tax, len(users))
    quality, note = _quality(conv, tax)
    # the order record_review applied them in, which their ids keep (their times may not)
    decisions = sorted((dict(r) for r in reviews), key=lambda r: r["id"], reverse=True)
    return ConversationView(
        conversation=conv,
        row=dict(row),
        turns=turns,
        arc=arc,
        target_curve=target,
        quality=quality,
        quality_note=note,
        details=_details(conv, row, versions, metadata, tax),
        decisions=decisions,
        versions=sorted((dict(v) for v in versions), key=lambda v: v["version"], reverse=True),
        ratings=ratings or RatingsView(criteria=[]),
    )


# ---- turns --------------------------------------------------------------------------------------
def _turns(conv: Conversation, tax: Taxonomy) -> list[TurnView]:
    emotions = tax.by_id("emotions")
    strategies = tax.by_id("strategies")
    history = sorted(conv.label_history, key=lambda r: r.at)
    turns: list[TurnView] = []
    for idx, turn in enumerate(conv.current_turns()):
        revs = [_revision_view(r, tax) for r in history if r.turn == idx]
        if isinstance(turn, UserTurn):
            e = turn.emotion
            family = emotions.get(e.primary)
            turns.append(
                TurnView(
                    idx=idx,
                    role="user",
                    text=turn.text,
                    emotion=e.primary,
                    emotion_name=family.name if family else e.primary,
                    sub_emotion=e.sub_emotion,
                    intensity=float(e.intensity),
                    band=intensity_band(family, e.intensity),
                    colour=family.color if family else "#888888",
                    revisions=revs,
                )
            )
        else:
            assert isinstance(turn, AssistantTurn)
            s = turn.strategies
            turns.append(
                TurnView(
                    idx=idx,
                    role="assistant",
                    text=turn.text,
                    strategy=s.primary,
                    strategy_name=name(strategies, s.primary),
                    supporting=list(s.supporting),
                    supporting_names=[name(strategies, x) for x in s.supporting],
                    revisions=revs,
                )
            )
    return turns


def _revision_view(rev: LabelRevision, tax: Taxonomy) -> RevisionView:
    return RevisionView(
        field=rev.field,
        field_label=FIELD_LABELS.get(rev.field, rev.field),
        old=label_value_text(rev.field, rev.old_value, tax),
        new=label_value_text(rev.field, rev.new_value, tax),
        author=rev.author,
        reason=rev.reason,
        source=rev.source,
        at=rev.at,
    )


# ---- quality ------------------------------------------------------------------------------------
def _quality(conv: Conversation, tax: Taxonomy) -> tuple[QualityReport, str]:
    """The checks run now on the labels in force: a stored report keeps each check's reason but not
    its findings (the turn and the quoted span), and a corrected label changes what they find."""
    quality = check_conversation(conv, tax)
    n = len(conv.label_history)
    note = (
        f"Checked on the labels in force ({n} correction{'s' if n != 1 else ''} applied)."
        if n
        else "Checked on the labels as generated."
    )
    stored = conv.quality.score
    if stored is not None and stored != quality.score:
        note += f" The score stored with the conversation was {stored}."
    return quality, note


def check_title(check_name: str) -> str:
    return CHECKS_BY_NAME[check_name].title if check_name in CHECKS_BY_NAME else check_name.replace("_", " ")


_WHERE = re.compile(r"^turn \d+ \((?:user|assistant)\):?\s*")


def finding_message(finding: Finding) -> str:
    """A finding's message without its leading "turn N (role)", for showing it under that turn."""
    text = _WHERE.sub("", finding.message, count=1)
    return text[:1].upper() + text[1:]


# ---- details ------------------------------------------------------------------------------------
def _details(
    conv: Conversation,
    row: Mapping[str, Any],
    versions: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    tax: Taxonomy,
) -> list[tuple[str, str, str]]:
    s = conv.scenario
    p = conv.provenance
    arcs = tax.by_id("arcs")
    arc = arcs.get(s.emotional_arc)
    emotions = tax.by_id("emotions")
    arc_text = name(arcs, s.emotional_arc)
    if arc is not None:
        arc_text += f" ({name(emotions, arc.start_emotion)} → {name(emotions, arc.end_emotion)})"
    out: list[tuple[str, str, str]] = [
        ("Scenario", "Scenario", f"#{row.get('scenario_id')}"),
        ("Scenario", "Tier", name(tax.by_id("tiers"), s.tier)),
        ("Scenario", "Persona", name(tax.by_id("personas"), s.persona)),
        ("Scenario", "Emotional arc", arc_text),
        ("Scenario", "Topic", name(tax.by_id("topics"), s.topic)),
        ("Scenario", "Intent", name(tax.by_id("intents"), s.intent)),
        ("Scenario", "Tone", name(tax.by_id("tones"), s.tone)),
        ("Scenario", "Outcome", name(tax.by_id("outcomes"), s.outcome_type)),
    ]
    if s.context_id:
        out.append(("Scenario", "Context", s.context_id))
    if s.context:
        out.append(("Scenario", "Situation", s.context))

    template = p.template_name or row.get("template_name") or ""
    version = p.template_version or row.get("template_version") or ""
    n_versions = len(versions) or 1
    gen: list[tuple[str, str]] = [
        ("Conversation", conv.id),
        ("Version", f"{row.get('version', 1)} of {n_versions}"),
        ("Source", SOURCE_LABELS.get(p.source, p.source)),
        ("Created", when(p.created_at)),
        ("Model", p.model or str(row.get("model") or "") or "(none: written by hand)"),
        ("Template", f"{template} v{version}".strip() if template else "(none)"),
    ]
    if p.template_sha256:
        gen.append(("Template sha256", p.template_sha256[:12]))
    if row.get("previous_version_id"):
        gen.append(("Replaces", str(row["previous_version_id"])))
    if row.get("next_version_id"):
        gen.append(("Replaced by", str(row["next_version_id"])))
    gen.append(("Dataset", f"{conv.dataset.name} {conv.dataset.version}"))
    out += [("Generation", k, v) for k, v in gen]
    for key, value in sorted((p.parameters or {}).items()):
        out.append(("Parameters", key, _plain(value)))

    u = p.usage
    out += [
        ("Usage", "Input tokens", f"{u.input_tokens:,}"),
        ("Usage", "Output tokens", f"{u.output_tokens:,}"),
        ("Usage", "Cache reads", f"{u.cache_read_input_tokens:,}"),
        ("Usage", "Cache writes", f"{u.cache_creation_input_tokens:,}"),
        ("Usage", "Cost", f"${p.cost_usd:,.4f}"),
    ]
    shown = {"provenance.template", "provenance.parameters", "provenance.usage"}
    for key, value in sorted(metadata.items()):
        if key not in shown:
            out.append(("Other", key, _plain(value)))
    return out


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def details_frame(view: ConversationView, section: str) -> pd.DataFrame:
    """One of DETAIL_SECTIONS as a two-column table (Field, Value)."""
    return pd.DataFrame([(f, v) for s, f, v in view.details if s == section], columns=["Field", "Value"])
