"""The training formats, one record function each, and the files they go to:

    full/conversations.jsonl   full dataset format, one conversation per line (schema/conversation.schema.json):
    full/conversations.json    labels as first written, label_history, quality, review, provenance;
                               the split in training.split
    messages/<split>.jsonl     {"id", "version", "messages": [system, user, assistant, ...]}: OpenAI
                               fine-tuning, TRL SFTTrainer, Axolotl (chat_template)
    sharegpt/<split>.jsonl     {"id", "version", "conversations": [{"from": system|human|gpt, "value"}]}:
                               Axolotl, Unsloth
    data/...parquet            Hugging Face datasets layout (lib/export/parquet.py), three configs
    metadata.csv               one row per conversation: dimensions, scores, review status, split

<split> is the split's file name (SPLIT_NAMES: train, test). A system prompt that is empty gives no
system message. With weights, every assistant message (gpt turn) carries "weight" 1 or 0.

The training formats carry the labels IN FORCE (label revisions applied)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lib.core.models import FORMAT_VERSION
from lib.core.taxonomy import Taxonomy
from lib.export.codec import dumpb
from lib.export.items import Item
from lib.export.parquet import DIMENSION_COLUMNS, SHAREGPT_FROM, system_prompt
from lib.export.split import SPLIT_NAMES
from lib.export.targets import item_flags


@dataclass(frozen=True)
class Format:
    id: str
    label: str
    version: str  # of this file layout; bumped when the records change shape
    help: str


FORMATS: dict[str, Format] = {
    f.id: f
    for f in (
        Format(
            "full_jsonl",
            "Full dataset format (JSONL)",
            FORMAT_VERSION,
            "Everything, one conversation per line: labels, label history, quality, review and provenance.",
        ),
        Format("full_json", "Full dataset format (JSON)", FORMAT_VERSION, "The same, as one JSON array."),
        Format(
            "messages",
            "Chat messages (JSONL): OpenAI, TRL, Axolotl",
            "2",
            "The system prompt, then the turns alternating, with the conversation's id and version; one file "
            "per split. OpenAI and Axolotl honour the weights, TRL does not.",
        ),
        Format(
            "sharegpt",
            "ShareGPT (JSONL)",
            "2",
            "conversations / from / value (human, gpt), with id and version, for Axolotl and Unsloth.",
        ),
        Format(
            "hf",
            "Hugging Face datasets (parquet)",
            "2",
            "The Hub layout: parquet configs default (messages, labels per turn, dimensions), messages and "
            "sharegpt, per split, that datasets.load_dataset(folder, config) and `trl sft` load.",
        ),
        Format(
            "csv",
            "Metadata (CSV)",
            "1",
            "One row per conversation: every dimension, the scores, the review status and the split.",
        ),
    )
}
FormatId = Literal["full_jsonl", "full_json", "messages", "sharegpt", "hf", "csv"]

PATHS: dict[str, Callable[[str], str]] = {  # format -> split (train, eval) -> its file
    "full_jsonl": lambda split: "full/conversations.jsonl",
    "full_json": lambda split: "full/conversations.json",
    "messages": lambda split: f"messages/{SPLIT_NAMES[split]}.jsonl",
    "sharegpt": lambda split: f"sharegpt/{SPLIT_NAMES[split]}.jsonl",
    "hf": lambda split: hf_path("default", split),
    "csv": lambda split: "metadata.csv",
}


def hf_path(config: str, split: str) -> str:
    """The parquet file of a config of the Hugging Face layout."""
    folder = "data" if config == "default" else f"data/{config}"
    return f"{folder}/{SPLIT_NAMES[split]}-00000-of-00001.parquet"


def full_head(raw: str) -> bytes:
    """The stored document's text up to its training block (full_line adds it): copied, not re-serialized."""
    raw = raw.rstrip()
    sep = ", " if raw != "{}" else ""
    return (raw[:-1] + sep + '"training": ').encode("utf-8")


def full_line(head: bytes, training: Mapping[str, Any], split: str) -> bytes:
    """A line of the full format: the document with training.split set."""
    return head + dumpb({**training, "split": split}) + b"}"


def messages_record(
    item: Item, weights: bool = False, suited: Mapping[str, frozenset[str]] | None = None
) -> dict[str, Any]:
    system = system_prompt(item)
    messages: list[dict[str, Any]] = [] if system is None else [{"role": "system", "content": system}]
    if weights:
        for turn, flag in zip(item.turns, item_flags(item, suited or {}), strict=True):
            if turn["role"] == "assistant":
                messages.append({"role": "assistant", "content": turn["text"], "weight": 1 if flag else 0})
            else:
                messages.append({"role": turn["role"], "content": turn["text"]})
    else:
        messages += [{"role": t["role"], "content": t["text"]} for t in item.turns]
    return {"id": item.id, "version": item.version, "messages": messages}


def sharegpt_record(
    item: Item, weights: bool = False, suited: Mapping[str, frozenset[str]] | None = None
) -> dict[str, Any]:
    system = system_prompt(item)
    conv: list[dict[str, Any]] = [] if system is None else [{"from": "system", "value": system}]
    flags = item_flags(item, suited or {}) if weights else [None] * len(item.turns)
    for turn, flag in zip(item.turns, flags, strict=True):
        record: dict[str, Any] = {"from": SHAREGPT_FROM[turn["role"]], "value": turn["text"]}
        if weights and turn["role"] == "assistant":
            record["weight"] = 1 if flag else 0
        conv.append(record)
    return {"id": item.id, "version": item.version, "conversations": conv}


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "split",
    "scenario_id",
    "version",
    "source",
    *DIMENSION_COLUMNS,
    "turns",
    "user_turns",
    "emotions",
    "strategies",
    "approved_target_turns",
    "start_intensity",
    "end_intensity",
    "quality_score",
    "ratings",
    "min_rating",
    "checks_failed",
    "review_status",
    "reviewed_at",
    "label_revisions",
    "model",
    "template_name",
    "template_version",
    "created_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts with = + - @ as a formula (CSV injection): quote it.
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(item: Item, tax: Taxonomy, suited: Mapping[str, frozenset[str]]) -> list[Any]:
    """One metadata.csv row, in CSV_COLUMNS order."""
    s = item.scenario
    arc = item.doc.get("arc") or {}
    start, end = arc.get("start") or {}, arc.get("end") or {}
    quality = item.doc.get("quality") or {}
    review = item.doc.get("review") or {}
    prov = item.doc.get("provenance") or {}
    emotions = [str((t.get("emotion") or {}).get("primary")) for t in item.turns if t["role"] == "user"]
    strategies = [str((t.get("strategies") or {}).get("primary")) for t in item.turns if t["role"] == "assistant"]
    row = [
        item.id,
        item.split,
        item.scenario_id,
        item.version,
        prov.get("source"),
        s.get("tier"),
        s.get("persona"),
        s.get("emotional_arc"),
        start.get("emotion"),
        end.get("emotion"),
        s.get("topic"),
        tax.cluster_of.get(s.get("topic") or ""),
        s.get("intent"),
        s.get("tone"),
        s.get("outcome_type"),
        s.get("context_id"),
        len(item.turns),
        len(emotions),
        ";".join(emotions),
        ";".join(strategies),
        sum(1 for f in item_flags(item, suited) if f),
        start.get("intensity"),
        end.get("intensity"),
        quality.get("score"),
        ";".join(f"{c}={s}" for c, s in sorted(item.ratings.items())),
        min(item.ratings.values(), default=None),
        ";".join(str(c.get("name", "")) for c in quality.get("checks") or [] if not c.get("passed")),
        review.get("status"),
        review.get("reviewed_at"),
        len(item.doc.get("label_history") or []),
        prov.get("model"),
        prov.get("template_name"),
        prov.get("template_version"),
        prov.get("created_at"),
    ]
    return [_cell(v) for v in row]


def csv_lines(rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV rows (csv_row, or the CSV_COLUMNS header) as the bytes of metadata.csv."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")
