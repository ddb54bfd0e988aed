"""The training formats, one record function each, and the files they go to:

    full/conversations.jsonl   full dataset format, one conversation per line (schema/conversation.schema.json):
    full/conversations.json    labels as first written, label_history, quality, review, provenance;
                               the split in training.split
    messages/<split>.jsonl     {"messages": [system, user, assistant, ...]}: OpenAI fine-tuning, TRL SFTTrainer
    sharegpt/<split>.jsonl     {"id", "conversations": [{"from": system|human|gpt, "value"}]}: Axolotl, Unsloth
    data/<split>-00000-of-00001.parquet   Hugging Face datasets layout: messages, current labels, dimensions
    metadata.csv               one row per conversation: dimensions, scores, review status, split

The training formats carry the labels IN FORCE (label revisions applied)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lib.core.models import FORMAT_VERSION, SCENARIO_FIELDS
from lib.core.taxonomy import Taxonomy
from lib.export.codec import dumpb
from lib.export.items import Item
from lib.export.targets import item_flags
from lib.export.writer import Folder

_CHUNK = 2000  # records per write


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
            "OpenAI / TRL messages (JSONL)",
            "1",
            "The system prompt, then the turns alternating; one file per split.",
        ),
        Format("sharegpt", "ShareGPT (JSONL)", "1", "conversations / from / value, for Axolotl and Unsloth."),
        Format(
            "hf",
            "Hugging Face datasets (parquet)",
            "1",
            "A parquet file per split with messages, current labels and dimensions, and the dataset card.",
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

PATHS: dict[str, Callable[[str], str]] = {
    "full_jsonl": lambda split: "full/conversations.jsonl",
    "full_json": lambda split: "full/conversations.json",
    "messages": lambda split: f"messages/{split}.jsonl",
    "sharegpt": lambda split: f"sharegpt/{split}.jsonl",
    "hf": lambda split: f"data/{split}-00000-of-00001.parquet",
    "csv": lambda split: "metadata.csv",
}


def full_line(item: Item) -> str:
    """The stored document with training.split set: its text is copied, not re-serialized."""
    training = {**item.training, "split": item.split}
    raw = item.raw.rstrip()
    sep = ", " if raw != "{}" else ""
    return raw[:-1] + sep + '"training": ' + dumpb(training).decode("utf-8") + "}"


def messages_record(
    item: Item, weights: bool = False, suited: Mapping[str, frozenset[str]] | None = None
) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": item.doc.get("system_prompt") or ""}]
    if weights:
        for turn, flag in zip(item.turns, item_flags(item, suited or {}), strict=True):
            if turn["role"] == "assistant":
                messages.append({"role": "assistant", "content": turn["text"], "weight": 1 if flag else 0})
            else:
                messages.append({"role": turn["role"], "content": turn["text"]})
    else:
        messages += [{"role": t["role"], "content": t["text"]} for t in item.turns]
    return {"messages": messages}


SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_record(item: Item) -> dict[str, Any]:
    conv = [{"from": "system", "value": item.doc.get("system_prompt") or ""}]
    conv += [{"from": SHAREGPT_FROM[t["role"]], "value": t["text"]} for t in item.turns]
    return {"id": item.id, "conversations": conv}


HF_TEXT_COLUMNS: tuple[str, ...] = (
    "tier",
    "persona",
    "emotional_arc",
    "start_emotion",
    "end_emotion",
    "topic",
    "topic_cluster",
    "intent",
    "tone",
    "outcome_type",
    "context_id",
    "context",
)


def hf_schema(weights: bool) -> Any:
    """The parquet columns: `messages` as TRL and the chat templates read it, the labels in force
    per turn, and the scenario's dimensions."""
    import pyarrow as pa

    message = [pa.field("role", pa.string()), pa.field("content", pa.string())]
    if weights:
        message.append(pa.field("weight", pa.int8()))
    label = pa.struct(
        [
            pa.field("turn", pa.int32()),
            pa.field("role", pa.string()),
            pa.field("emotion", pa.string()),
            pa.field("secondary_emotion", pa.string()),
            pa.field("sub_emotion", pa.string()),
            pa.field("intensity", pa.float64()),
            pa.field("valence", pa.float64()),
            pa.field("arousal", pa.float64()),
            pa.field("strategy", pa.string()),
            pa.field("supporting_strategies", pa.list_(pa.string())),
            pa.field("approved_target", pa.bool_()),
        ]
    )
    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("scenario_id", pa.int64()),
            pa.field("version", pa.int32()),
            pa.field("messages", pa.list_(pa.struct(message))),
            pa.field("labels", pa.list_(label)),
            *(pa.field(k, pa.string()) for k in HF_TEXT_COLUMNS),
            pa.field("quality_score", pa.int32()),
            pa.field("review_status", pa.string()),
            pa.field("source", pa.string()),
            pa.field("model", pa.string()),
        ]
    )


def hf_table(items: Sequence[Item], tax: Taxonomy, weights: bool, suited: Mapping[str, frozenset[str]]) -> Any:
    """A pyarrow Table of hf_schema, built column by column from flat lists (a row-wise
    from_pylist of nested rows is ~5x slower)."""
    import pyarrow as pa

    schema = hf_schema(weights)
    turns = [t for item in items for t in item.turns]
    flags = [f for item in items for f in item_flags(item, suited)]
    is_user = [t["role"] == "user" for t in turns]
    emotions = [(t.get("emotion") or {}) if u else {} for t, u in zip(turns, is_user, strict=True)]
    strategies = [{} if u else (t.get("strategies") or {}) for t, u in zip(turns, is_user, strict=True)]
    l_off = [0]
    m_off = [0]
    for item in items:
        l_off.append(l_off[-1] + len(item.turns))
        m_off.append(m_off[-1] + len(item.turns) + 1)  # + the system message
    label_cols: dict[str, list[Any]] = {
        "turn": [i for item in items for i in range(len(item.turns))],
        "role": [t["role"] for t in turns],
        "emotion": [e.get("primary") for e in emotions],
        "secondary_emotion": [e.get("secondary") for e in emotions],
        "sub_emotion": [e.get("sub_emotion") for e in emotions],
        "intensity": [e.get("intensity") for e in emotions],
        "valence": [e.get("valence") for e in emotions],
        "arousal": [e.get("arousal") for e in emotions],
        "strategy": [s.get("primary") for s in strategies],
        "supporting_strategies": [
            None if u else list(s.get("supporting") or []) for s, u in zip(strategies, is_user, strict=True)
        ],
        "approved_target": flags,
    }
    m_role: list[str] = []
    m_text: list[str] = []
    m_weight: list[int | None] = []
    for item in items:
        m_role.append("system")
        m_role += [t["role"] for t in item.turns]
        m_text.append(item.doc.get("system_prompt") or "")
        m_text += [t["text"] for t in item.turns]
        if weights:
            m_weight.append(None)
            m_weight += [None if f is None else int(f) for f in item.flags]
    scen = [i.scenario for i in items]
    arcs = [i.doc.get("arc") or {} for i in items]
    provs = [i.doc.get("provenance") or {} for i in items]
    cols: dict[str, list[Any]] = {
        "id": [i.id for i in items],
        "scenario_id": [i.scenario_id for i in items],
        "version": [i.version for i in items],
        **{k: [s.get(k) for s in scen] for k in SCENARIO_FIELDS},
        "start_emotion": [(a.get("start") or {}).get("emotion") for a in arcs],
        "end_emotion": [(a.get("end") or {}).get("emotion") for a in arcs],
        "topic_cluster": [tax.cluster_of.get(s.get("topic") or "") for s in scen],
        "quality_score": [(i.doc.get("quality") or {}).get("score") for i in items],
        "review_status": [(i.doc.get("review") or {}).get("status") for i in items],
        "source": [p.get("source") for p in provs],
        "model": [p.get("model") for p in provs],
    }
    msg_type = schema.field("messages").type.value_type
    msg_children = [pa.array(m_role, pa.string()), pa.array(m_text, pa.string())]
    if weights:
        msg_children.append(pa.array(m_weight, pa.int8()))
    messages = pa.ListArray.from_arrays(
        pa.array(m_off, pa.int32()), pa.StructArray.from_arrays(msg_children, fields=list(msg_type))
    )
    label_type = schema.field("labels").type.value_type
    labels = pa.ListArray.from_arrays(
        pa.array(l_off, pa.int32()),
        pa.StructArray.from_arrays([pa.array(label_cols[f.name], f.type) for f in label_type], fields=list(label_type)),
    )
    arrays = [
        messages if f.name == "messages" else labels if f.name == "labels" else pa.array(cols[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "split",
    "scenario_id",
    "version",
    "source",
    "tier",
    "persona",
    "emotional_arc",
    "start_emotion",
    "end_emotion",
    "topic",
    "topic_cluster",
    "intent",
    "tone",
    "outcome_type",
    "context_id",
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


def _lines(encoded: Sequence[bytes], sep: bytes = b"\n", head: bytes = b"", tail: bytes = b"\n") -> Iterator[bytes]:
    """Chunks of sep-joined records: JSONL (sep \\n) or the body of a JSON array (sep ,\\n)."""
    yield head
    for start in range(0, len(encoded), _CHUNK):
        last = start + _CHUNK >= len(encoded)
        yield sep.join(encoded[start : start + _CHUNK]) + (tail if last else sep)


def _jsonl(records: Iterable[Any]) -> Iterator[bytes]:
    buf: list[bytes] = []
    for record in records:
        buf.append(dumpb(record))
        if len(buf) >= _CHUNK:
            yield b"\n".join(buf) + b"\n"
            buf = []
    if buf:
        yield b"\n".join(buf) + b"\n"


def _csv(items: Sequence[Item], tax: Taxonomy, suited: Mapping[str, frozenset[str]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n, item in enumerate(items, 1):
        writer.writerow(csv_row(item, tax, suited))
        if n % _CHUNK == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _parquet(
    items: Sequence[Item], tax: Taxonomy, weights: bool, suited: Mapping[str, frozenset[str]]
) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(hf_table(items, tax, weights, suited), path, compression="snappy")

    return write


def write_formats(
    folder: Folder,
    formats: Sequence[str],
    by_split: Mapping[str, Sequence[Item]],
    tax: Taxonomy,
    weights: bool,
    suited: Mapping[str, frozenset[str]],
) -> None:
    """Every chosen format's files, from the items of each (non-empty) split in order; metadata.csv
    and full/ list the conversations in the order of the split files."""
    ordered = [i for part in by_split.values() for i in part]
    if "full_jsonl" in formats or "full_json" in formats:
        encoded = [full_line(i).encode("utf-8") for i in ordered]
        if "full_jsonl" in formats:
            folder.write(PATHS["full_jsonl"](""), _lines(encoded), fmt="full_jsonl", split=None, records=len(encoded))
        if "full_json" in formats:
            folder.write(
                PATHS["full_json"](""),
                _lines(encoded, b",\n", b"[\n", b"\n]\n"),
                fmt="full_json",
                split=None,
                records=len(encoded),
            )
        del encoded
    for split, part in by_split.items():
        if "messages" in formats:
            folder.write(
                PATHS["messages"](split),
                _jsonl(messages_record(i, weights, suited) for i in part),
                fmt="messages",
                split=split,
                records=len(part),
            )
        if "sharegpt" in formats:
            folder.write(
                PATHS["sharegpt"](split),
                _jsonl(sharegpt_record(i) for i in part),
                fmt="sharegpt",
                split=split,
                records=len(part),
            )
        if "hf" in formats:
            folder.binary(
                PATHS["hf"](split), _parquet(part, tax, weights, suited), fmt="hf", split=split, records=len(part)
            )
    if "csv" in formats:
        folder.write(PATHS["csv"](""), _csv(ordered, tax, suited), fmt="csv", split=None, records=len(ordered))
