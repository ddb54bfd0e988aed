"""The conversations being exported: each stored row parsed once, with its label revisions applied
(the labels in force), or set aside with the reason no training format can hold it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core.labels import in_force
from lib.export.codec import loads
from lib.store.protocol import ExportRow


@dataclass
class Item:
    """One conversation being exported: parsed once, every format reads it."""

    id: str
    group: str
    scenario_id: int | None
    version: int
    raw: str  # the document's JSON text without `training`
    doc: dict[str, Any]
    training: dict[str, Any]
    turns: list[dict[str, Any]]  # labels in force
    split: str = "train"
    flags: list[bool | None] = field(default_factory=list)  # approved target per turn (None: user turn)
    ratings: dict[str, int] = field(default_factory=dict)  # criterion -> score in force (judge or reviewer)

    @property
    def scenario(self) -> dict[str, Any]:
        return self.doc.get("scenario") or {}


def _group_key(scenario_id: int | None, doc: Mapping[str, Any]) -> str:
    if scenario_id is not None:
        return f"scenario:{scenario_id}"
    # not from the database: versions of one scenario share every dimension and the context
    s = doc.get("scenario") or {}
    return "dims:" + "|".join(
        str(s.get(k) or "")
        for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id")
    )


def _turn_problem(turns: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the turns cannot become a chat example (None when they can)."""
    if not turns:
        return "it has no turns"
    if turns[0].get("role") != "user":
        return "its first turn is the assistant's; a chat example starts with the user"
    for i in range(1, len(turns)):
        if turns[i].get("role") == turns[i - 1].get("role"):
            return f"turns {i - 1} and {i} are both {turns[i].get('role')} turns; roles must alternate"
    if turns[-1].get("role") != "assistant":
        return "its last turn is the user's; a chat example ends with the assistant"
    for i, t in enumerate(turns):
        if not str(t.get("text") or "").strip():
            return f"turn {i} is empty"
    return None


def prepare(rows: Iterable[ExportRow], seen: set[str] | None = None) -> tuple[list[Item], list[dict[str, str]]]:
    """Parse every row once and apply its label revisions. Returns (items, skipped), where skipped
    lists {id, reason} for a conversation no training format can hold (roles that do not alternate,
    an empty turn, a revision of a turn that is not there, a document that does not parse). seen: the
    ids of the batches before (a conversation selected twice is exported once)."""
    items: list[Item] = []
    skipped: list[dict[str, str]] = []
    seen = set() if seen is None else seen
    for row in rows:
        try:
            doc = loads(row.document)
        except ValueError as exc:
            skipped.append({"id": f"scenario #{row.scenario_id}", "reason": f"its document is not valid JSON ({exc})"})
            continue
        if not isinstance(doc, dict):
            skipped.append({"id": f"scenario #{row.scenario_id}", "reason": "its document is not a JSON object"})
            continue
        conv_id = str(doc.get("id") or f"scenario-{row.scenario_id}")
        if conv_id in seen:
            skipped.append({"id": conv_id, "reason": "it was selected twice; the first copy is exported"})
            continue
        turns = doc.get("turns") or []
        history = doc.get("label_history") or []
        if history:
            try:
                turns = in_force(turns, history)
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append(
                    {
                        "id": conv_id,
                        "reason": str(exc)
                        if isinstance(exc, ValueError)
                        else f"a label revision is malformed ({type(exc).__name__}: {exc})",
                    }
                )
                continue
        problem = _turn_problem(turns)
        if problem:
            skipped.append({"id": conv_id, "reason": problem})
            continue
        seen.add(conv_id)
        items.append(
            Item(
                id=conv_id,
                group=_group_key(row.scenario_id, doc),
                scenario_id=row.scenario_id,
                version=int(row.version or 1),
                raw=row.document,
                doc=doc,
                training=dict(row.training or {}),
                turns=turns,
            )
        )
    return items, skipped
