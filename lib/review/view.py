"""Review and approval: the queue, what the Review page shows of one conversation, and the
reviewer's actions (decisions, label corrections, seed examples, regeneration with feedback).

No Streamlit here: the page lays out what these functions return, and every write goes through
the Store's SQL functions (record_review, revise_label, set_seed_example, create_job), so each
action is a row with who and when, and nothing is overwritten.

The queue is a list of conversation ids taken once per filter change (a snapshot), so the
position ("12 of 40") stays put while the reviewer decides; a decided conversation keeps its
place and shows its new status until the queue is refreshed.
"""
from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.core.models import AssistantTurn, Conversation, LabelRevision, UserTurn
from lib.core.vocabulary import (CONVERSATION_SOURCES, DECISIONS, DIMENSION_LABELS, FIELD_LABELS, REASONS,
                                 REVIEW_STATUSES, Decision)
from lib.core.vocabulary import labels as term_labels
from lib.store.protocol import LABEL_STATS_GROUPS, Store
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS_BY_NAME, QualityReport, check_conversation

# Session-state keys of the Review page (IDs and small dicts only).
FILTERS_KEY = "br_review_filters"  # QueueFilters.as_dict()
QUEUE_KEY = "br_review_queue"  # {"filters": QueueFilters.as_dict(), "ids": [conversation ids], "at": iso time}
CURRENT_KEY = "br_review_current"  # the conversation id on screen
FLASH_KEY = "br_review_flash"  # (kind, message) to show once on the next run
ADVANCE_KEY = "br_review_advance"  # move on after a decision (default on)
QUERY_PARAM = "conversation"  # ?conversation=<id> opens that conversation

# The words come from lib/core/vocabulary.py; these views of them are what pages/review.py reads.
STATUS_LABELS: dict[str, str] = term_labels(REVIEW_STATUSES)
DECISION_LABELS: dict[str, str] = term_labels(DECISIONS)
REASON_LABELS: dict[str, str] = REASONS
SOURCE_LABELS: dict[str, str] = CONVERSATION_SOURCES
GROUP_LABELS: dict[str, str] = {g: DIMENSION_LABELS[g] for g in LABEL_STATS_GROUPS}
DEFAULT_STATUSES: tuple[str, ...] = ("unreviewed",)
GROUP_DIMENSIONS: dict[str, str] = {"topic": "topics", "persona": "personas", "tier": "tiers", "emotional_arc": "arcs"}


class ReviewError(ValueError):
    """An action the reviewer asked for that cannot be done as asked; the message says what to do."""


# ---- the queue ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilters:
    """What the queue holds. Empty tuples filter nothing; the default is "not reviewed yet"."""
    status: tuple[str, ...] = DEFAULT_STATUSES
    tier: tuple[str, ...] = ()
    persona: tuple[str, ...] = ()
    emotional_arc: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    reviewer: tuple[str, ...] = ()
    quality: tuple[int, int] = (1, 10)

    LISTS = ("status", "tier", "persona", "emotional_arc", "topic", "source", "reviewer")

    def store_filters(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in self.LISTS if getattr(self, k)}

    def is_default(self) -> bool:
        return self == QueueFilters()

    def as_dict(self) -> dict[str, Any]:
        return {**{k: list(getattr(self, k)) for k in self.LISTS}, "quality": list(self.quality)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> QueueFilters:
        if not data:
            return cls()
        lists = {k: tuple(str(v) for v in data.get(k, ()) or ()) for k in cls.LISTS}
        low, high = (list(data.get("quality") or (1, 10)) + [10])[:2]
        low, high = max(1, min(10, int(low))), max(1, min(10, int(high)))
        return cls(**lists, quality=(min(low, high), max(low, high)))

    def replace(self, **changes: Any) -> QueueFilters:
        return QueueFilters.from_dict({**self.as_dict(), **{k: list(v) for k, v in changes.items()}})


def load_queue(store: Store, filters: QueueFilters) -> list[str]:
    """The conversation ids in the queue, oldest first (current versions only)."""
    quality = None if filters.quality == (1, 10) else (float(filters.quality[0]), float(filters.quality[1]))
    return store.review_queue_ids(filters.store_filters(), quality=quality)


def position(queue: Sequence[str], current: str | None) -> int:
    """1-based place of `current` in the queue; 0 when it is not in it."""
    try:
        return queue.index(current) + 1 if current is not None else 0
    except ValueError:
        return 0


def step(queue: Sequence[str], current: str | None, delta: int) -> str | None:
    """The id `delta` places away (clamped to the ends); the first one when `current` is elsewhere."""
    if not queue:
        return None
    pos = position(queue, current)
    if pos == 0:
        return queue[0]
    return queue[max(0, min(len(queue) - 1, pos - 1 + delta))]


def next_after(queue: Sequence[str], current: str) -> str | None:
    """The next id after a decision, or None at the end of the queue."""
    pos = position(queue, current)
    if pos == 0 or pos >= len(queue):
        return None
    return queue[pos]


# ---- one conversation, as the page shows it -------------------------------------------------
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
    def label_line(self) -> str:
        """The labels in force as one line of plain text (escape it before markdown)."""
        if self.role == "user":
            parts = [self.emotion_name]
            if self.sub_emotion:
                parts.append(self.sub_emotion.replace("_", " "))
            if self.intensity is not None:
                parts.append(f"intensity {self.intensity:.2f}" + (f" ({self.band})" if self.band else ""))
            return " · ".join(parts)
        line = self.strategy_name
        if self.supporting_names:
            line += " + " + ", ".join(self.supporting_names)
        return line


@dataclass
class ConversationView:
    conversation: Conversation
    row: dict[str, Any]  # its v_review_queue row
    turns: list[TurnView]
    arc: pd.DataFrame  # one row per user turn: turn, idx, emotion, emotion_name, sub_emotion, intensity, colour
    target_curve: list[float]  # the arc's intended intensity per user turn (interpolated), [] if unknown
    quality: QualityReport
    quality_note: str
    details: list[tuple[str, str, str]]  # (section, field, value), all plain text
    decisions: list[dict[str, Any]]  # reviews rows, newest first
    versions: list[dict[str, Any]]  # v_review_queue rows of the scenario's versions, newest first

    @property
    def id(self) -> str:
        return self.conversation.id

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


def load_view(store: Store, conversation_id: str, tax: Taxonomy) -> ConversationView | None:
    """Everything the page shows of one conversation: 5 small reads, then build_view."""
    conv = store.get_conversation(conversation_id)
    if conv is None:
        return None
    rows = store.review_queue({"ids": [conversation_id]}, current_only=False)
    if not rows:
        return None
    row = rows[0]
    versions = store.review_queue({"scenario_id": [row["scenario_id"]]}, current_only=False)
    return build_view(conv, row, reviews=store.reviews_for(conversation_id), versions=versions,
                      metadata=store.conversation_metadata(conversation_id), tax=tax)


def build_view(conv: Conversation, row: Mapping[str, Any], *, reviews: Sequence[Mapping[str, Any]],
               versions: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any], tax: Taxonomy) -> ConversationView:
    emotions = tax.by_id("emotions")
    strategies = tax.by_id("strategies")
    history = sorted(conv.label_history, key=lambda r: r.at)
    turns: list[TurnView] = []
    for idx, turn in enumerate(conv.current_turns()):
        revs = [_revision_view(r, tax) for r in history if r.turn == idx]
        if isinstance(turn, UserTurn):
            e = turn.emotion
            family = emotions.get(e.primary)
            turns.append(TurnView(
                idx=idx, role="user", text=turn.text, emotion=e.primary,
                emotion_name=family.name if family else e.primary, sub_emotion=e.sub_emotion,
                intensity=float(e.intensity), band=_band(family, e.intensity),
                colour=family.color if family else "#888888", revisions=revs))
        else:
            assert isinstance(turn, AssistantTurn)
            s = turn.strategies
            turns.append(TurnView(
                idx=idx, role="assistant", text=turn.text, strategy=s.primary,
                strategy_name=_name(strategies, s.primary), supporting=list(s.supporting),
                supporting_names=[_name(strategies, x) for x in s.supporting], revisions=revs))

    users = [t for t in turns if t.role == "user"]
    arc = pd.DataFrame({
        "turn": list(range(1, len(users) + 1)),
        "idx": [t.idx for t in users],
        "emotion": [t.emotion for t in users],
        "emotion_name": [t.emotion_name for t in users],
        "sub_emotion": [t.sub_emotion or "" for t in users],
        "intensity": [t.intensity for t in users],
        "colour": [t.colour for t in users],
    })
    arc_def = tax.by_id("arcs").get(conv.scenario.emotional_arc)
    target = _resample(arc_def.intensity_curve, len(users)) if arc_def is not None and users else []

    stored = conv.quality
    if stored.checks and not conv.label_history:
        quality = QualityReport(score=stored.score or 1, checks=list(stored.checks))
        note = "The report stored with the conversation."
    else:
        quality = check_conversation(conv, tax)
        if conv.label_history:
            n = len(conv.label_history)
            note = (f"Checked now on the labels in force ({n} correction{'s' if n != 1 else ''} applied)."
                    + (f" The stored score was {stored.score}." if stored.score is not None else ""))
        else:
            note = "Checked now: the conversation was stored without a report."

    decisions = sorted((dict(r) for r in reviews), key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return ConversationView(
        conversation=conv, row=dict(row), turns=turns, arc=arc, target_curve=target, quality=quality,
        quality_note=note, details=_details(conv, row, versions, metadata, tax), decisions=decisions,
        versions=sorted((dict(v) for v in versions), key=lambda v: v["version"], reverse=True))


def _name(items: Mapping[str, Any], key: str | None) -> str:
    if key is None:
        return ""
    item = items.get(key)
    return item.name if item is not None else key


def _band(family: Any, intensity: float) -> str:
    if family is None:
        return ""
    for b in family.intensity_bands:
        if b.min <= intensity <= b.max:
            return b.label
    return ""


def _resample(curve: Sequence[float], n: int) -> list[float]:
    """The arc's intensity curve at n evenly spaced points (linear interpolation)."""
    if n <= 0 or not curve:
        return []
    if n == 1:
        return [float(curve[0])]
    out = []
    for i in range(n):
        x = i * (len(curve) - 1) / (n - 1)
        lo = int(x)
        hi = min(lo + 1, len(curve) - 1)
        out.append(round(curve[lo] + (curve[hi] - curve[lo]) * (x - lo), 3))
    return out


def label_value_text(field: str, value: Any, tax: Taxonomy) -> str:
    """A label value as a person reads it: names for ids, 2 decimals for numbers."""
    if value is None or value == [] or value == "":
        return "(none)"
    if field in ("emotion.primary", "emotion.secondary"):
        return _name(tax.by_id("emotions"), str(value))
    if field == "strategies.primary":
        return _name(tax.by_id("strategies"), str(value))
    if field == "strategies.supporting":
        return ", ".join(_name(tax.by_id("strategies"), str(v)) for v in value)
    if field == "emotion.sub_emotion":
        return str(value).replace("_", " ")
    if isinstance(value, (int, float)):
        return f"{float(value):.2f}"
    return str(value)


def _revision_view(rev: LabelRevision, tax: Taxonomy) -> RevisionView:
    return RevisionView(field=rev.field, field_label=FIELD_LABELS.get(rev.field, rev.field),
                        old=label_value_text(rev.field, rev.old_value, tax),
                        new=label_value_text(rev.field, rev.new_value, tax),
                        author=rev.author, reason=rev.reason, source=rev.source, at=rev.at)


def _details(conv: Conversation, row: Mapping[str, Any], versions: Sequence[Mapping[str, Any]],
             metadata: Mapping[str, Any], tax: Taxonomy) -> list[tuple[str, str, str]]:
    s = conv.scenario
    p = conv.provenance
    arcs = tax.by_id("arcs")
    arc = arcs.get(s.emotional_arc)
    emotions = tax.by_id("emotions")
    arc_text = _name(arcs, s.emotional_arc)
    if arc is not None:
        arc_text += f" ({_name(emotions, arc.start_emotion)} → {_name(emotions, arc.end_emotion)})"
    out: list[tuple[str, str, str]] = [
        ("Scenario", "Scenario", f"#{row.get('scenario_id')}"),
        ("Scenario", "Tier", _name(tax.by_id("tiers"), s.tier)),
        ("Scenario", "Persona", _name(tax.by_id("personas"), s.persona)),
        ("Scenario", "Emotional arc", arc_text),
        ("Scenario", "Topic", _name(tax.by_id("topics"), s.topic)),
        ("Scenario", "Intent", _name(tax.by_id("intents"), s.intent)),
        ("Scenario", "Tone", _name(tax.by_id("tones"), s.tone)),
        ("Scenario", "Outcome", _name(tax.by_id("outcomes"), s.outcome_type)),
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
        ("Source", CONVERSATION_SOURCES.get(p.source, p.source)),
        ("Created", _when(p.created_at)),
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


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def details_frame(view: ConversationView, section: str) -> pd.DataFrame:
    return pd.DataFrame([(f, v) for s, f, v in view.details if s == section], columns=["Field", "Value"])


def check_title(name: str) -> str:
    return CHECKS_BY_NAME[name].title if name in CHECKS_BY_NAME else name.replace("_", " ")


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A Figure from plain dicts without plotly's per-property validation: it costs ~50 ms for a
    small chart, most of the time it takes to open a conversation, and these dicts are fixed
    shapes built here (the output is the same). Falls back to validating if plotly drops the flag."""
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:
        return go.Figure(data=data, layout=layout)


def arc_figure(view: ConversationView, colours: Mapping[str, str]) -> go.Figure:
    """Intensity per user turn, each point in its emotion's colour, with the arc's intended curve."""
    df = view.arc
    turns = [int(x) for x in df["turn"]]
    data: list[dict[str, Any]] = []
    if view.target_curve:
        data.append(dict(type="scatter", x=turns, y=list(view.target_curve), mode="lines", name="Arc target",
                         line=dict(color="#b0b0b0", dash="dot", width=2),
                         hovertemplate="target %{y:.2f}<extra></extra>"))
    data.append(dict(type="scatter", x=turns, y=[float(v) for v in df["intensity"]], mode="lines",
                     line=dict(color="#7f7f7f", width=2), showlegend=False, hoverinfo="skip"))
    for emotion in dict.fromkeys(df["emotion"]):  # one trace per emotion: the legend names the colours
        part = df[df["emotion"] == emotion]
        data.append(dict(
            type="scatter", x=[int(x) for x in part["turn"]], y=[float(v) for v in part["intensity"]],
            mode="markers", name=str(part["emotion_name"].iloc[0]),
            marker=dict(color=colours.get(str(emotion), "#888888"), size=13, line=dict(color="white", width=1.5)),
            customdata=[[n, s, int(i)] for n, s, i in zip(part["emotion_name"], part["sub_emotion"], part["idx"])],
            hovertemplate="User turn %{x} (turn %{customdata[2]})<br>%{customdata[0]} %{customdata[1]}"
                          "<br>intensity %{y:.2f}<extra></extra>"))
    layout = dict(
        height=230, margin=dict(l=10, r=10, t=30, b=10), title=dict(text="Emotional arc", font=dict(size=14)),
        xaxis=dict(title=dict(text="User turn"), dtick=1), yaxis=dict(title=dict(text="Intensity"), range=[0, 1.05]),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1, font=dict(size=11)))
    return _figure(data, layout)


def corrections_chart(df: pd.DataFrame, by: str | None, top: int = 12) -> go.Figure:
    """Overall: the top corrections as bars ("Emotion: Anxiety → Fear"). By a group: the
    corrections per group, stacked by label field."""
    if by is None:
        part = df.head(top).iloc[::-1]
        labels = [f"{f}: {a} → {b}" for f, a, b in zip(part["Field"], part["From"], part["To"])]
        data = [dict(type="bar", x=[int(v) for v in part["Times"]], y=labels, orientation="h",
                     marker=dict(color="#4c78a8"), hovertemplate="%{y}: %{x} times<extra></extra>")]
        height = 120 + 28 * len(part)
        layout: dict[str, Any] = dict(title=dict(text="Most frequent corrections", font=dict(size=14)))
        most = int(part["Times"].max()) if len(part) else 0
    else:
        col = GROUP_LABELS[by]
        pivot = df.pivot_table(index=col, columns="Field", values="Times", aggfunc="sum", fill_value=0)
        pivot = pivot.loc[pivot.sum(axis=1).sort_values().index]
        data = [dict(type="bar", x=[int(v) for v in pivot[f]], y=list(pivot.index), orientation="h", name=f,
                     hovertemplate=f"%{{y}} · {f}: %{{x}}<extra></extra>") for f in pivot.columns]
        height = 160 + 26 * len(pivot)
        layout = dict(barmode="stack", title=dict(text=f"Corrections by {col.lower()}", font=dict(size=14)),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
        most = int(pivot.sum(axis=1).max()) if len(pivot) else 0
    layout.update(height=min(max(height, 220), 700), margin=dict(l=10, r=10, t=40, b=10),
                  xaxis=dict(title=dict(text="Times"), **({"dtick": 1} if most <= 10 else {})))  # counts: no half ticks
    return _figure(data, layout)


# ---- actions --------------------------------------------------------------------------------
@dataclass
class ActionResult:
    message: str
    ids: list[int] = field(default_factory=list)


def _need_name(who: str, what: str) -> str:
    who = (who or "").strip()
    if not who:
        raise ReviewError(f"Enter your name before you {what}: it is recorded with every decision and correction.")
    return who


def decide(store: Store, view: ConversationView, decision: Decision, *, reviewer: str,
           reason_code: str | None = None, notes: str = "") -> ActionResult:
    """Record one decision (a reviews row). A rejection needs a reason from REASONS and notes.
    A seed example that is not approved any more stops being one."""
    who = _need_name(reviewer, "record a decision")
    if decision not in DECISIONS:
        raise ReviewError(f"Unknown decision {decision!r}; expected one of {', '.join(DECISIONS)}.")
    notes = (notes or "").strip()
    if decision == "rejected":
        if reason_code not in REASONS:
            raise ReviewError("A rejection needs a reason: choose one from the list, then say what is wrong in the notes.")
        if not notes:
            raise ReviewError("A rejection needs notes too: say what is wrong, so the regeneration can fix it.")
    else:
        reason_code = None
    review_id = store.record_review(view.id, decision, reviewer=who, reason_code=reason_code, notes=notes)
    message = f"{DECISIONS[decision].label}: scenario #{view.scenario_id} ({view.id}), recorded for {who}."
    if view.is_seed_example and decision != "approved":
        store.set_seed_example(view.id, False, by=who)
        message += " It is no longer a seed example."
    return ActionResult(message, [review_id])


def set_seed_example(store: Store, view: ConversationView, value: bool, *, by: str) -> ActionResult:
    who = _need_name(by, "mark a seed example")
    if value and view.status != "approved":
        raise ReviewError("Only an approved conversation can be a seed example: approve it first.")
    store.set_seed_example(view.id, value, by=who)
    if value:
        return ActionResult(f"{view.id} is now a seed example: generation prompts may show it to the model.")
    return ActionResult(f"{view.id} is no longer a seed example.")


def correct_user_turn(store: Store, view: ConversationView, turn: int, *, primary: str, sub_emotion: str | None,
                      intensity: float, author: str, reason: str, tax: Taxonomy) -> ActionResult:
    """Revise the emotion of a user turn: primary, sub-emotion and intensity, each changed field a
    label_revisions row (primary first: the sub-emotion must belong to the family in force)."""
    who = _need_name(author, "correct a label")
    t = _turn(view, turn, "user")
    emotions = tax.by_id("emotions")
    if primary not in emotions:
        raise ReviewError(f"Unknown emotion {primary!r}; choose one from the list.")
    sub = sub_emotion or None
    if sub is not None and sub not in emotions[primary].sub_emotions:
        raise ReviewError(f"{sub.replace('_', ' ')} is not a kind of {emotions[primary].name.lower()}; "
                          f"choose one of: {', '.join(x.replace('_', ' ') for x in emotions[primary].sub_emotions)}.")
    value = round(float(intensity), 2)
    if not 0 <= value <= 1:
        raise ReviewError(f"Intensity must be between 0 and 1, not {value}.")
    changes: list[tuple[str, Any]] = []
    if primary != t.emotion:
        changes.append(("emotion.primary", primary))
    if sub != (t.sub_emotion or None):
        changes.append(("emotion.sub_emotion", sub))
    if t.intensity is None or abs(value - t.intensity) > 1e-9:
        changes.append(("emotion.intensity", value))
    return _revise(store, view, turn, changes, who, reason)


def correct_assistant_turn(store: Store, view: ConversationView, turn: int, *, primary: str,
                           supporting: Sequence[str], author: str, reason: str, tax: Taxonomy) -> ActionResult:
    """Revise the strategies of an assistant turn: primary and supporting."""
    who = _need_name(author, "correct a label")
    t = _turn(view, turn, "assistant")
    known = tax.by_id("strategies")
    unknown = [s for s in [primary, *supporting] if s not in known]
    if unknown:
        raise ReviewError(f"Unknown strategy {unknown[0]!r}; choose from the list.")
    support = [s for s in dict.fromkeys(supporting) if s != primary]
    changes: list[tuple[str, Any]] = []
    if primary != t.strategy:
        changes.append(("strategies.primary", primary))
    if support != t.supporting:
        changes.append(("strategies.supporting", support))
    return _revise(store, view, turn, changes, who, reason)


def _turn(view: ConversationView, turn: int, role: str) -> TurnView:
    if not 0 <= turn < len(view.turns):
        raise ReviewError(f"There is no turn {turn}; the conversation has {len(view.turns)} turns.")
    t = view.turns[turn]
    if t.role != role:
        raise ReviewError(f"Turn {turn} is a{'n' if t.role == 'assistant' else ''} {t.role} turn.")
    return t


def _revise(store: Store, view: ConversationView, turn: int, changes: list[tuple[str, Any]], who: str,
            reason: str) -> ActionResult:
    if not changes:
        raise ReviewError("Nothing to save: these are the labels the turn already has.")
    ids = []
    for field_name, value in changes:
        rid = store.revise_label(view.id, turn, field_name, value, author=who, reason=(reason or "").strip(),
                                 source="human_review")
        if rid is not None:
            ids.append(rid)
    labels = [FIELD_LABELS[f].lower() for f, _ in changes]
    fields = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return ActionResult(f"Turn {turn}: corrected the {fields}. The first-pass label is kept in the history.", ids)


def queue_regeneration(store: Store, view: ConversationView, *, notes: str, reviewer: str,
                       model: str | None = None, has_api_key: bool = False) -> ActionResult:
    """A generation job for this scenario with the notes as feedback. The new conversation becomes
    the scenario's current version; the store links it to this one (previous_version_id)."""
    who = _need_name(reviewer, "ask for a regeneration")
    feedback = (notes or "").strip()
    if not feedback:
        raise ReviewError("Write what should change in the notes first: they are sent to the model as feedback.")
    if not view.is_current:
        raise ReviewError("This is an earlier version; open the current one to regenerate the scenario.")
    job_id = store.create_job([view.scenario_id], model=model, created_by=who, feedback=feedback,
                              settings={"requested_from": "review", "previous_conversation_id": view.id})
    message = (f"Regeneration of scenario #{view.scenario_id} queued as job #{job_id}, with your notes as feedback. "
               "It runs when a generation worker picks it up (the Generate page, or python -m lib worker); "
               "the new version then appears in this queue, linked to this one.")
    if not has_api_key:
        message += (" No Anthropic API key is configured, so it will wait in the queue until one is set "
                    "(ANTHROPIC_API_KEY, see Settings).")
    return ActionResult(message, [job_id])


# ---- label analytics ------------------------------------------------------------------------
def label_analytics(store: Store, tax: Taxonomy, by: str | None = None) -> pd.DataFrame:
    """The most frequent corrections (SQL: label_correction_stats), with names for display:
    Field, From, To, [Group], Times, Conversations, Reviewers, Last."""
    if by is not None and by not in LABEL_STATS_GROUPS:
        raise ReviewError(f"Group by one of {', '.join(LABEL_STATS_GROUPS)}, not {by!r}.")
    rows = store.label_correction_stats(by)
    groups = tax.by_id(GROUP_DIMENSIONS[by]) if by else {}
    out = pd.DataFrame({
        "Field": [FIELD_LABELS.get(r["field"], r["field"]) for r in rows],
        "From": [_value_name(r["field"], r["from_value"], tax) for r in rows],
        "To": [_value_name(r["field"], r["to_value"], tax) for r in rows],
        "Group": [_name(groups, r["group_id"]) if r["group_id"] else "" for r in rows],
        "Times": [int(r["corrections"]) for r in rows],
        "Conversations": [int(r["conversations"]) for r in rows],
        "Reviewers": [int(r["authors"]) for r in rows],
        "Last": [_when(r["last_at"]) for r in rows],
    })
    if by is None:
        out = out.drop(columns=["Group"])
    else:
        out = out.rename(columns={"Group": GROUP_LABELS[by]})
    return out


def _value_name(field: str, text: str | None, tax: Taxonomy) -> str:
    """label_text() output (ids, numbers, 'a, b' lists, '(none)') with names for the ids."""
    if text is None or text == "(none)":
        return "(none)"
    if field == "strategies.supporting":
        return ", ".join(_name(tax.by_id("strategies"), x.strip()) for x in text.split(","))
    if field in ("emotion.primary", "emotion.secondary"):
        return _name(tax.by_id("emotions"), text)
    if field == "strategies.primary":
        return _name(tax.by_id("strategies"), text)
    if field == "emotion.sub_emotion":
        return text.replace("_", " ")
    return text


# ---- small display helpers ------------------------------------------------------------------
_NAMED = {"red": 0, "orange": 30, "yellow": 52, "green": 120, "blue": 210, "violet": 275}


def badge_colour(hex_colour: str) -> str:
    """The nearest of Streamlit's named badge colours to an emotion's hex colour."""
    try:
        r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    except (ValueError, IndexError):
        return "gray"
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    if s < 0.2:
        return "gray"
    hue = h * 360
    if hue >= 330:
        return "red" if hue >= 345 else "violet"
    return min(_NAMED, key=lambda k: min(abs(_NAMED[k] - hue), 360 - abs(_NAMED[k] - hue)))
