"""The preference set of an export: every accepted contrastive response of an exported conversation as a
pair, in the conversational preference format TRL's DPO and ORPO trainers and `datasets` read:

    prompt    the system message (when there is one), then the turns before the assistant turn
    chosen    [the conversation's assistant turn]        (one assistant message)
    rejected  [the accepted failed response in its place] (one assistant message)
    failure_kind, why, id (the conversation), version, turn_idx, pair_id

Files, a pair in the split of its conversation (so no conversation's text is on both sides):

    preference/<split>.jsonl                       with the JSONL chat formats (messages, sharegpt)
    data/preference/<split>-00000-of-00001.parquet with the Hugging Face layout (config `preference`)
    full/negative_examples.jsonl                   with the full format: each failed response with its
                                                   review and provenance, marked as a negative example

A failed response is never in a supervised file (messages, sharegpt, the other parquet configs, the
conversations of full/): only these files carry it. The pairs come from the store
(Store.export_preference_pairs) one batch of exported conversations at a time."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from lib.core.vocabulary import is_demo
from lib.export.codec import dumpb
from lib.export.errors import ExportError
from lib.export.formats import hf_path
from lib.export.parquet import ParquetFile, system_text
from lib.export.split import SPLIT_NAMES
from lib.export.writer import Folder, Sink

CONFIG = "preference"
NEGATIVES = "full/negative_examples.jsonl"
# the manifest's file kinds of this module, as the card and the Export page name them
FILE_KINDS: dict[str, str] = {
    "preference": "Preference pairs (JSONL): prompt / chosen / rejected",
    "negatives": "Negative examples (full format): never a training target",
}
COLUMNS: tuple[str, ...] = (
    "prompt",
    "chosen",
    "rejected",
    "failure_kind",
    "why",
    "id",
    "version",
    "turn_idx",
    "pair_id",
)

PairReader = Callable[[Sequence[str]], list[dict[str, Any]]]


def jsonl_path(split: str) -> str:
    return f"preference/{SPLIT_NAMES[split]}.jsonl"


def prompt_messages(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The system message (as the chat formats give it) and the turns before the pair's turn."""
    system = system_text(row.get("system_prompt"))
    head = [] if system is None else [{"role": "system", "content": system}]
    return head + [{"role": str(t["role"]), "content": str(t["text"])} for t in row.get("before") or []]


def pair_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One preference row, in COLUMNS order."""
    return {
        "prompt": prompt_messages(row),
        "chosen": [{"role": "assistant", "content": str(row["chosen"])}],
        "rejected": [{"role": "assistant", "content": str(row["rejected"])}],
        "failure_kind": str(row["failure_kind"]),
        "why": str(row["why"]),
        "id": str(row["conversation_id"]),
        "version": int(row["version"]),
        "turn_idx": int(row["turn_idx"]),
        "pair_id": int(row["id"]),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (None if value is None else str(value))


def negative_record(row: Mapping[str, Any], split: str) -> dict[str, Any]:
    """A failed response in the full format: what it replaces, why it fails, who accepted it, marked so
    that nothing reading full/ takes it for a conversation or a training target."""
    return {
        "negative_example": True,
        "use": "rejected side of a preference pair only; never a supervised training target",
        "id": int(row["id"]),
        "conversation_id": str(row["conversation_id"]),
        "version": int(row["version"]),
        "turn_idx": int(row["turn_idx"]),
        "failure_kind": str(row["failure_kind"]),
        "why": str(row["why"]),
        "text": str(row["rejected"]),
        "review": {
            "status": "accepted",
            "reviewed_by": row.get("reviewed_by"),
            "reviewed_at": _iso(row.get("reviewed_at")),
            "note": row.get("review_note") or "",
        },
        "provenance": {"model": row.get("model"), "created_at": _iso(row.get("created_at"))},
        "split": split,
    }


def is_negative(doc: Any) -> bool:
    """Is this record (or a JSONL line) of full/ a negative example, not a conversation?"""
    if isinstance(doc, str):  # most lines are conversations: parse only a line that can be one
        try:
            return '"negative_example"' in doc and is_negative(json.loads(doc))
        except ValueError:
            return False  # not JSON: the conversation reader says where
    return isinstance(doc, Mapping) and doc.get("negative_example") is True


def schema() -> Any:
    import pyarrow as pa

    chat = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))
    return pa.schema(
        [
            pa.field("prompt", chat),
            pa.field("chosen", chat),
            pa.field("rejected", chat),
            pa.field("failure_kind", pa.string()),
            pa.field("why", pa.string()),
            pa.field("id", pa.string()),
            pa.field("version", pa.int32()),
            pa.field("turn_idx", pa.int32()),
            pa.field("pair_id", pa.int64()),
        ]
    )


def selected(rows: Sequence[Mapping[str, Any]], include_demo: bool) -> list[Mapping[str, Any]]:
    """The pairs an export takes: one a demo replay wrote only when the export includes demo data, as for
    a conversation (lib.export.select.replayed)."""
    return list(rows) if include_demo else [r for r in rows if not is_demo(r.get("model"))]


def by_conversation(
    rows: Sequence[Mapping[str, Any]], secrets: Mapping[str, str]
) -> dict[str, list[Mapping[str, Any]]]:
    """The pairs of a batch per conversation id; ExportError when a failed response or its reason holds
    the value of a secret (nothing is exported then, as for a conversation)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        for name, value in secrets.items():
            if value in str(row["rejected"]) or value in str(row["why"]):
                raise ExportError(
                    f"contrastive response #{row['id']} of conversation {row['conversation_id']} contains the "
                    f"value of {name}; nothing was exported. Reject that contrastive response on the Review page"
                )
        out.setdefault(str(row["conversation_id"]), []).append(row)
    return out


class PreferenceFiles:
    """The preference files of one export, opened as the first pair of a split comes."""

    def __init__(self, folder: Folder, formats: Collection[str]) -> None:
        self.folder = folder
        self.jsonl = bool({"messages", "sharegpt"} & set(formats))
        self.parquet = "hf" in formats
        self.full = bool({"full_jsonl", "full_json"} & set(formats))
        self.counts: Counter[str] = Counter()
        self._sinks: dict[str, Sink] = {}
        self._tables: dict[str, ParquetFile] = {}
        self._negatives: Sink | None = None

    def add(self, batch: Sequence[tuple[Sequence[Mapping[str, Any]], str]]) -> None:
        """The pairs of a batch of conversations, each with its conversation's split: one write per
        file (a parquet row group per batch, not per conversation)."""
        per_split: dict[str, list[Mapping[str, Any]]] = {}
        for rows, split in batch:
            per_split.setdefault(split, []).extend(rows)
        for split, rows in per_split.items():
            if rows:
                self._write(rows, split)

    def _write(self, rows: Sequence[Mapping[str, Any]], split: str) -> None:
        self.counts[split] += len(rows)
        records = [pair_record(r) for r in rows]
        if self.jsonl:
            if split not in self._sinks:
                self._sinks[split] = self.folder.open(jsonl_path(split), fmt="preference", split=split)
            self._sinks[split].write(b"\n".join(dumpb(r) for r in records) + b"\n", len(records))
        if self.parquet:
            import pyarrow as pa

            if split not in self._tables:
                self._tables[split] = ParquetFile(self.folder.root / hf_path(CONFIG, split), schema())
            self._tables[split].write(pa.Table.from_pylist(records, schema=schema()))
        if self.full:
            if self._negatives is None:
                self._negatives = self.folder.open(NEGATIVES, fmt="negatives", split=None)
            self._negatives.write(b"\n".join(dumpb(negative_record(r, split)) for r in rows) + b"\n", len(rows))

    def close(self) -> Counter[str]:
        """Close every file and list it in the folder; the pairs per split."""
        for sink in self._sinks.values():
            sink.close()
        for split, table in self._tables.items():
            table.close()
            self.folder.add(hf_path(CONFIG, split), fmt="hf", split=split, records=table.rows, config=CONFIG)
        if self._negatives is not None:
            self._negatives.close()
        return self.counts
