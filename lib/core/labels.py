"""The labels in force on a conversation's turns: the first-pass labels with label_history applied.

One rule for every reader of a document (Conversation.current_turns and current_value, exports, the
quality checks, the Review page): revisions apply in order of time (`at`; one without a time first),
revisions with the same time in the order they are written, so the last of a (turn, field) is in force.

The database does not derive labels on read: its conversation_turns columns hold the labels in force,
written as each revision is recorded (revise_label, whose time is taken under the conversation's lock,
so time order is the order they applied in) and, for a document stored with a history, by replaying it
in this same order (insert_conversation). SQL counts read those columns; documents are read here.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def _when(at: Any) -> datetime:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest(history: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], Any]:
    """(turn, field) -> the value in force, for every label a revision touched."""
    ordered = sorted(history, key=lambda r: (r.get("at") is not None,
                                             _when(r["at"]) if r.get("at") is not None else datetime.min))
    return {(int(r["turn"]), str(r["field"])): r.get("new_value") for r in ordered}


def in_force(turns: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the turns (JSON objects, as in a document) with the labels in force."""
    out = [copy.deepcopy(dict(t)) for t in turns]
    for (turn, field), value in latest(history).items():
        *parents, last = field.split(".")
        node = out[turn]
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return out
