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

from lib.core.vocabulary import LABEL_FIELDS


def _when(at: Any) -> datetime:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest(history: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], Any]:
    """(turn, field) -> the value in force, for every label a revision touched."""
    ordered = sorted(
        history, key=lambda r: (r.get("at") is not None, _when(r["at"]) if r.get("at") is not None else datetime.min)
    )
    return {(int(r["turn"]), str(r["field"])): r.get("new_value") for r in ordered}


def in_force(turns: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The turns (JSON objects, as in a document) with the labels in force. Only the parts a revision
    changes are copied (an export reads thousands of documents; a deep copy of each costs milliseconds).
    A revision of a turn that is not there, or of a field another role holds, is a ValueError."""
    out: list[dict[str, Any]] = [dict(t) for t in turns]
    copied: set[tuple[int, str]] = set()
    for (turn, field), value in latest(history).items():
        if not 0 <= turn < len(out):
            raise ValueError(f"a revision of {field} points at turn {turn}, but there are {len(out)} turns")
        spec = LABEL_FIELDS.get(field)
        if spec is None or spec.role != out[turn].get("role"):
            raise ValueError(f"a revision of {field} points at turn {turn}, the {out[turn].get('role')}'s")
        parent, _, leaf = field.partition(".")
        if (turn, parent) not in copied:
            out[turn][parent] = dict(out[turn].get(parent) or {})
            copied.add((turn, parent))
        out[turn][parent][leaf] = copy.deepcopy(value)
    return out
