"""The Hugging Face layout's parquet files, built a batch of conversations at a time (columns from flat
lists: a row-wise from_pylist of nested rows is ~5x slower) and written through one pyarrow writer per
file, so memory holds a batch, not the dataset. Three configs share one loader (`datasets` picks the
loader of the first config for all of them):

    default    id, version, messages, turn_labels (the labels in force per turn), the dimensions
    messages   id, version, messages: the chat rows as TRL and the chat templates read them
    sharegpt   id, version, conversations (from / value): for Axolotl and Unsloth

No column takes a name trainers reserve for tokens (`labels`, `input_ids`...); RESERVED lists them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lib.core.models import SCENARIO_FIELDS
from lib.core.taxonomy import Taxonomy
from lib.export.items import Item
from lib.export.targets import item_flags

# column names a trainer reads as token data or as another dataset type (TRL, transformers' Trainer)
RESERVED: frozenset[str] = frozenset(
    {
        "labels",
        "label",
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "position_ids",
        "completion_mask",
        "assistant_masks",
        "text",
        "prompt",
        "completion",
        "chosen",
        "rejected",
    }
)
CONFIGS: tuple[str, ...] = ("default", "messages", "sharegpt")
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}

# the scenario's dimensions as columns, in the order of the parquet and metadata.csv
DIMENSION_COLUMNS: tuple[str, ...] = (
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
)
HF_TEXT_COLUMNS: tuple[str, ...] = (*DIMENSION_COLUMNS, "context")


def system_text(text: Any) -> str | None:
    """A system prompt as a system message's text; None when it is blank (OpenAI rejects an empty message)."""
    text = text or ""
    return text if text.strip() else None


def system_prompt(item: Item) -> str | None:
    """The system message's text of a conversation; None when there is none."""
    return system_text(item.doc.get("system_prompt"))


def _turn_type(weights: bool, role_key: str = "role", text_key: str = "content") -> Any:
    import pyarrow as pa

    fields = [pa.field(role_key, pa.string()), pa.field(text_key, pa.string())]
    if weights:
        fields.append(pa.field("weight", pa.int8()))
    return pa.struct(fields)


def _label_type() -> Any:
    import pyarrow as pa

    return pa.struct(
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


def schemas(weights: bool) -> dict[str, Any]:
    """config -> its pyarrow schema."""
    import pyarrow as pa

    head = [pa.field("id", pa.string()), pa.field("version", pa.int32())]
    messages = pa.field("messages", pa.list_(_turn_type(weights)))
    return {
        "default": pa.schema(
            [
                head[0],
                pa.field("scenario_id", pa.int64()),
                head[1],
                messages,
                pa.field("turn_labels", pa.list_(_label_type())),
                *(pa.field(k, pa.string()) for k in HF_TEXT_COLUMNS),
                pa.field("quality_score", pa.int32()),
                pa.field("review_status", pa.string()),
                pa.field("source", pa.string()),
                pa.field("model", pa.string()),
            ]
        ),
        "messages": pa.schema([*head, messages]),
        "sharegpt": pa.schema([*head, pa.field("conversations", pa.list_(_turn_type(weights, "from", "value")))]),
    }


def tables(items: Sequence[Item], tax: Taxonomy, weights: bool, suited: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    """config -> a pyarrow Table of `items`, in schemas() order."""
    import pyarrow as pa

    schema = schemas(weights)
    turns = [t for item in items for t in item.turns]
    flags = [f for item in items for f in item_flags(item, suited)]
    is_user = [t["role"] == "user" for t in turns]
    emotions = [(t.get("emotion") or {}) if u else {} for t, u in zip(turns, is_user, strict=True)]
    strategies = [{} if u else (t.get("strategies") or {}) for t, u in zip(turns, is_user, strict=True)]
    l_off = [0]
    m_off = [0]
    m_role: list[str] = []
    m_text: list[str] = []
    m_weight: list[int | None] = []
    for item in items:
        system = system_prompt(item)
        if system is not None:
            m_role.append("system")
            m_text.append(system)
            m_weight.append(None)
        m_role += [t["role"] for t in item.turns]
        m_text += [t["text"] for t in item.turns]
        m_weight += [None if f is None else int(f) for f in item.flags]
        l_off.append(l_off[-1] + len(item.turns))
        m_off.append(len(m_role))
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
    offsets = pa.array(m_off, pa.int32())
    text = pa.array(m_text, pa.string())
    weight = [pa.array(m_weight, pa.int8())] if weights else []

    def chat(type_: Any, roles: list[str]) -> Any:
        children = [pa.array(roles, pa.string()), text, *weight]
        return pa.ListArray.from_arrays(offsets, pa.StructArray.from_arrays(children, fields=list(type_)))

    messages = chat(schema["messages"].field("messages").type.value_type, m_role)
    sharegpt = chat(schema["sharegpt"].field("conversations").type.value_type, [SHAREGPT_FROM[r] for r in m_role])
    label_type = schema["default"].field("turn_labels").type.value_type
    labels = pa.ListArray.from_arrays(
        pa.array(l_off, pa.int32()),
        pa.StructArray.from_arrays([pa.array(label_cols[f.name], f.type) for f in label_type], fields=list(label_type)),
    )
    built = {"messages": messages, "turn_labels": labels}
    default = pa.Table.from_arrays(
        [built[f.name] if f.name in built else pa.array(cols[f.name], f.type) for f in schema["default"]],
        schema=schema["default"],
    )
    head = [default.column("id"), default.column("version")]
    return {
        "default": default,
        "messages": pa.Table.from_arrays([*head, messages], schema=schema["messages"]),
        "sharegpt": pa.Table.from_arrays([*head, sharegpt], schema=schema["sharegpt"]),
    }


class ParquetFile:
    """One parquet file written a batch at a time (each batch a row group)."""

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema, compression="snappy")

    def write(self, table: Any) -> None:
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
