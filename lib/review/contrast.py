"""Contrastive turns as a reviewer reads them, without Streamlit: each failed response beside the approved turn
it replaces, with the failure kind's name and why it fails; the turns a contrast can be asked for with the
kinds that suit them; queuing a contrastive job; and a reviewer's accept / reject."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.core.models import AssistantTurn, Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import CONTRAST_STATUSES, is_demo
from lib.generation.contrast_prompt import emotion_before, user_before
from lib.generation.jobs import active_jobs
from lib.store.protocol import Store


@dataclass(frozen=True)
class Pair:
    """A preference pair as the reviewer sees it: the approved turn (chosen) and a failed one (rejected)."""

    id: int
    turn: int
    chosen: str
    rejected: str
    kind: str
    kind_name: str
    why: str
    status: str
    reviewed_by: str | None
    note: str
    demo: bool = False  # a demo replay wrote it: left out of exports unless asked

    @property
    def status_label(self) -> str:
        return CONTRAST_STATUSES[self.status].label

    @property
    def status_colour(self) -> str:
        return CONTRAST_STATUSES[self.status].colour


def pairs(conv: Conversation, rows: Sequence[Mapping[str, Any]], tax: Taxonomy) -> list[Pair]:
    """The conversation's contrastive responses as pairs, by turn then as written."""
    turns = conv.current_turns()
    kinds = tax.failures.by_id
    out = []
    for r in rows:
        idx = int(r["turn_idx"])
        kind = str(r["failure_kind"])
        out.append(
            Pair(
                id=int(r["id"]),
                turn=idx,
                chosen=turns[idx].text if idx < len(turns) else "",
                rejected=str(r["text"]),
                kind=kind,
                kind_name=kinds[kind].name if kind in kinds else kind,
                why=str(r["why"]),
                status=str(r["status"]),
                reviewed_by=r.get("reviewed_by"),
                note=str(r.get("review_note") or ""),
                demo=is_demo(r.get("model")),
            )
        )
    return sorted(out, key=lambda p: (p.turn, p.id))


def turn_choices(conv: Conversation, tax: Taxonomy) -> dict[int, str]:
    """The assistant turns that answer the person, each with a label naming the emotion it answers."""
    turns = conv.current_turns()
    emotions = {e.id: e.name for e in tax.emotions}
    return {
        i: f"Turn {i}, answering turn {user_before(turns, i)} ({emotions.get(e, e)})"
        for i, t in enumerate(turns)
        if isinstance(t, AssistantTurn) and (e := emotion_before(turns, i))
    }


def suited_kinds(conv: Conversation, tax: Taxonomy, turn: int | None) -> list[str]:
    """The failure kinds that suit a turn (None: those that suit any of the conversation's turns)."""
    turns = conv.current_turns()
    wanted = [turn] if turn is not None else list(turn_choices(conv, tax))
    suited = {f.id for i in wanted for f in tax.failures.suited_to(emotion_before(turns, i) or "")}
    return [f.id for f in tax.failures.kinds if f.id in suited]


def contrast_in_progress(store: Store, conversation_id: str) -> int | None:
    """The id of an active contrastive job with this conversation still to write, or None."""
    for job in active_jobs(store):
        if job.get("task") != "contrast":
            continue
        items = store.job_items(int(job["id"]))
        if any(i["conversation_id"] == conversation_id and i["status"] in ("pending", "claimed") for i in items):
            return int(job["id"])
    return None


def summary(found: Sequence[Pair]) -> str:
    """`6 contrastive responses: 2 accepted, 1 rejected, 3 proposed`."""
    if not found:
        return "No contrastive responses yet."
    counts = {s: sum(1 for p in found if p.status == s) for s in CONTRAST_STATUSES}
    parts = [f"{n} {CONTRAST_STATUSES[s].label.lower()}" for s, n in counts.items() if n]
    return f"{len(found)} contrastive response{'s' if len(found) != 1 else ''}: " + ", ".join(parts)
