"""Approved targets: an assistant turn is an approved target when its primary strategy (current
label) is one of the taxonomy's `suited_strategies` of the preceding user turn's primary or
secondary emotion (current labels). With the weights option, the messages format gives every
assistant message "weight": 1 when it is an approved target and 0 otherwise (OpenAI's multi-turn
weight key): the model still sees the turn as context, but is not trained to produce it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lib.core.taxonomy import Taxonomy
from lib.export.items import Item


def suited_strategies(tax: Taxonomy) -> dict[str, frozenset[str]]:
    return {e.id: frozenset(e.suited_strategies) for e in tax.emotions}


def approved_target(
    user_turn: Mapping[str, Any] | None, assistant_turn: Mapping[str, Any], suited: Mapping[str, frozenset[str]]
) -> bool:
    """The assistant turn's primary strategy is suited (taxonomy) to the preceding user turn's
    primary or secondary emotion, all labels as now in force."""
    if user_turn is None or user_turn.get("role") != "user":
        return False
    emotion = user_turn.get("emotion") or {}
    allowed = suited.get(emotion.get("primary") or "", frozenset()) | suited.get(
        emotion.get("secondary") or "", frozenset()
    )
    return (assistant_turn.get("strategies") or {}).get("primary") in allowed


def target_flags(turns: Sequence[Mapping[str, Any]], suited: Mapping[str, frozenset[str]]) -> list[bool | None]:
    """Per turn: approved target (assistant turns) or None (user turns)."""
    out: list[bool | None] = []
    previous: Mapping[str, Any] | None = None
    for t in turns:
        out.append(approved_target(previous, t, suited) if t.get("role") == "assistant" else None)
        previous = t
    return out


def item_flags(item: Item, suited: Mapping[str, frozenset[str]]) -> list[bool | None]:
    """target_flags of the item's turns, worked out once and kept on the item."""
    if len(item.flags) != len(item.turns):
        item.flags = target_flags(item.turns, suited)
    return item.flags
