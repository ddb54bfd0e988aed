"""The calls of label revisions from every source: operators' corrections imported from a file, the
suggestions of the judge and the integrity checks a reviewer accepts or dismisses, and the drift of
labels (the corrections counted by time, source, model and prompt version)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from lib.store.calls.kinds import Arg, Call, Fn, ints


def records(rows: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return None if rows is None else [dict(r) for r in rows]


def by_day(rows: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Rows with their `day` as a date: psycopg reads one, PostgREST sends ISO text."""
    return [
        {**r, "day": date.fromisoformat(r["day"][:10]) if isinstance(r["day"], str) else r["day"]} for r in rows or []
    ]


LABEL_CALLS: dict[str, Call] = {
    "import_label_revisions": Fn(
        "import_label_revisions",
        {"p_rows": Arg("rows", "jsonb", records)},
        "value",
        "import the operators' label corrections",
        shape=lambda counts: {k: int(v) for k, v in (counts or {}).items()},
    ),
    "propose_label_suggestions": Fn(
        "propose_label_suggestions",
        {"p_conversation_id": Arg("conversation_id", "text"), "p_suggestions": Arg("suggestions", "jsonb", records)},
        "value",
        "propose label suggestions for {conversation_id}",
        shape=lambda n: int(n or 0),
    ),
    "label_suggestions": Fn(
        "label_suggestions_of",
        {"p_conversation_id": Arg("conversation_id", "text")},
        "rows",
        "read the label suggestions on {conversation_id}",
    ),
    "decide_label_suggestions": Fn(
        "decide_label_suggestions",
        {"p_ids": Arg("ids", "bigint[]", ints), "p_decision": Arg("decision", "text"), "p_by": Arg("by", "text")},
        "value",
        "record the decision on label suggestions {ids}",
        shape=lambda ids: [int(i) for i in ids or []],
    ),
    "label_drift": Fn(
        "label_drift",
        {"p_source": Arg("source", "text")},
        "rows",
        "read the label drift",
        order=("day", "field", "from_value", "to_value", "source", "model", "template"),
        shape=by_day,
    ),
}
