"""Export for training: the selected conversations in the formats training tools load, split into
train and eval, with a dataset card, a manifest and a zip.

    python -m lib export [--out DIR] [--selection approved|all|custom] [--filter persona=a,b ...]
                         [--review-status approved ...] [--formats all|full_jsonl,messages,...]
                         [--eval-ratio 0.1] [--seed 0] [--weights] [--license other] [--name NAME]
                         [--from PATH] [--no-zip] [--preview N]

Which conversations (the current version of each scenario):
- approved (the default): review status approved;
- all: every generated conversation that was not rejected (unreviewed, approved, needs_edit);
- custom: the dimension filters (persona, emotional state, arc, topic, ...) and the review
  statuses given (approved unless told otherwise; rejected only when asked for).

Files, under the export folder:
    full/conversations.jsonl   full dataset format, one conversation per line (schema/conversation.schema.json):
    full/conversations.json    labels as first written, label_history, quality, review, provenance; the split in training.split
    messages/<split>.jsonl     {"messages": [system, user, assistant, ...]}: OpenAI fine-tuning, TRL SFTTrainer
    sharegpt/<split>.jsonl     {"id", "conversations": [{"from": system|human|gpt, "value"}]}: Axolotl, Unsloth
    data/<split>-00000-of-00001.parquet   Hugging Face datasets layout: messages, current labels, dimensions
    metadata.csv               one row per conversation: dimensions, scores, review status, split
    README.md                  dataset card (YAML header: configs, splits, license, task categories)
    manifest.json              counts, format versions, sha256 of every file, taxonomy version, the selection
and <folder>.zip beside it. The training formats carry the labels IN FORCE (label revisions applied).

Approved targets (the --weights option): an assistant turn is an approved target when its primary
strategy (current label) is one of the taxonomy's `suited_strategies` of the preceding user turn's
primary or secondary emotion (current labels). With --weights, every assistant message gets
"weight": 1 when it is an approved target and 0 otherwise (OpenAI's multi-turn weight key): the
model still sees the turn as context, but is not trained to produce it.

Split: whole scenarios go to train or eval (every version of a scenario lands in one split), in
proportion `eval_ratio` of the scenarios, stratified by (arc, persona): each stratum gives
floor(ratio x its size) scenarios to eval, and the remainder goes to the strata (and arcs and
personas) furthest below their share. Within a stratum scenarios are taken in the order of
sha256(seed, scenario), so the same data and seed give the same split, whatever the input order.
A conversation whose training.split is set keeps it (the way to freeze an eval set across exports).

Writing: everything goes to a temporary folder beside the destination, which replaces the earlier
export only once complete; an export that fails leaves the earlier one as it was. The same data
and options give byte-identical files (the manifest's created_at aside).

Exit codes: 0 exported, 1 failed (one line says why), 2 bad usage, 3 nothing matched (why, and
which filters to change).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lib.core.filters import DIMENSIONS, Dimension
from lib.core.models import FORMAT_VERSION, REVISABLE_FIELDS, Conversation
from lib.store.protocol import ExportRow, Store
from lib.core.taxonomy import Taxonomy

EXPORT_VERSION = "1"  # the layout of the folder and of manifest.json
GENERATOR = "Bright Run Training Data Studio (lib.export.formats)"
SPLITS: tuple[str, str] = ("train", "eval")
REVIEW_STATUSES: tuple[str, ...] = ("unreviewed", "approved", "needs_edit", "rejected")
REVIEW_LABELS: dict[str, str] = {"unreviewed": "Unreviewed", "approved": "Approved", "needs_edit": "Needs edit",
                                 "rejected": "Rejected"}
# "all generated": everything a person has not thrown out
ALL_STATUSES: tuple[str, ...] = ("unreviewed", "approved", "needs_edit")

Selection = Literal["approved", "all", "custom"]
SELECTIONS: dict[str, str] = {
    "approved": "Approved",
    "all": "All generated (not rejected)",
    "custom": "Custom filter",
}

# The scenario table's dimensions (lib.core.filters) without its status, plus the arc itself.
FILTER_DIMENSIONS: tuple[Dimension, ...] = (
    *(d for d in DIMENSIONS if d.key not in ("status",)),
    Dimension("emotional_arc", "Emotional arc", "arcs"),
)
FILTER_BY_KEY: dict[str, Dimension] = {d.key: d for d in FILTER_DIMENSIONS}


@dataclass(frozen=True)
class Format:
    id: str
    label: str
    version: str  # of this file layout; bumped when the records change shape
    help: str


FORMATS: dict[str, Format] = {f.id: f for f in (
    Format("full_jsonl", "Full dataset format (JSONL)", FORMAT_VERSION,
           "Everything, one conversation per line: labels, label history, quality, review and provenance."),
    Format("full_json", "Full dataset format (JSON)", FORMAT_VERSION, "The same, as one JSON array."),
    Format("messages", "OpenAI / TRL messages (JSONL)", "1",
           "The system prompt, then the turns alternating; one file per split."),
    Format("sharegpt", "ShareGPT (JSONL)", "1", "conversations / from / value, for Axolotl and Unsloth."),
    Format("hf", "Hugging Face datasets (parquet)", "1",
           "A parquet file per split with messages, current labels and dimensions, and the dataset card."),
    Format("csv", "Metadata (CSV)", "1",
           "One row per conversation: every dimension, the scores, the review status and the split."),
)}
FormatId = Literal["full_jsonl", "full_json", "messages", "sharegpt", "hf", "csv"]

PATHS: dict[str, Callable[[str], str]] = {
    "full_jsonl": lambda split: "full/conversations.jsonl",
    "full_json": lambda split: "full/conversations.json",
    "messages": lambda split: f"messages/{split}.jsonl",
    "sharegpt": lambda split: f"sharegpt/{split}.jsonl",
    "hf": lambda split: f"data/{split}-00000-of-00001.parquet",
    "csv": lambda split: "metadata.csv",
}
LICENSES: tuple[str, ...] = ("other", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "apache-2.0",
                             "mit", "cdla-permissive-2.0", "unknown")
SECRET_ENV: tuple[str, ...] = ("ANTHROPIC_API_KEY", "SUPABASE_KEY", "SUPABASE_SERVICE_ROLE_KEY", "DATABASE_URL")
_CHUNK = 2000  # records per write

try:  # orjson serializes ~10x faster (requirements.txt); the standard library writes the same JSON
    import orjson

    _loads: Callable[[str | bytes], Any] = orjson.loads

    def _dumpb(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    _loads = json.loads

    def _dumpb(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ExportError(ValueError):
    """An export that cannot be made, phrased as one line: what is wrong, and what to do."""


class NothingToExport(ExportError):
    """The selection matched no conversation; the message says why and which filter to change."""


# ---- options --------------------------------------------------------------------------------
class ExportOptions(BaseModel):
    """What the page and the CLI ask for; the manifest records it."""
    model_config = ConfigDict(extra="forbid")

    selection: Selection = "approved"
    filters: dict[str, list[str]] = Field(default_factory=dict, description="custom only: dimension -> ids")
    review_statuses: list[Literal["unreviewed", "approved", "needs_edit", "rejected"]] = Field(
        default_factory=lambda: ["approved"], description="custom only")
    formats: list[FormatId] = Field(default_factory=lambda: list(FORMATS))  # type: ignore[arg-type]
    eval_ratio: float = Field(0.1, ge=0, le=0.5)
    seed: int = 0
    weights: bool = False
    license: str = Field("other", pattern=r"^[a-z0-9][a-z0-9.+-]*$")
    name: str | None = Field(None, max_length=100, description="dataset name in the card; None: from the data")

    @field_validator("formats")
    @classmethod
    def _some_formats(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("choose at least one format")
        return [f for f in FORMATS if f in value]  # canonical order, no duplicates

    @field_validator("filters")
    @classmethod
    def _known_dimensions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key in value:
            if key not in FILTER_BY_KEY:
                raise ValueError(f"unknown filter {key!r}; expected one of {', '.join(FILTER_BY_KEY)}")
        return {k: list(dict.fromkeys(v)) for k, v in value.items() if v}

    @model_validator(mode="after")
    def _custom_needs_statuses(self) -> ExportOptions:
        if self.selection == "custom" and not self.review_statuses:
            raise ValueError("a custom selection needs at least one review status")
        return self

    def statuses(self) -> list[str]:
        if self.selection == "approved":
            return ["approved"]
        if self.selection == "all":
            return list(ALL_STATUSES)
        return [s for s in REVIEW_STATUSES if s in self.review_statuses]

    def active_filters(self) -> dict[str, list[str]]:
        return dict(self.filters) if self.selection == "custom" else {}

    def describe(self, tax: Taxonomy) -> str:
        """'approved conversations' / 'persona: Anxious planner; tier: Template (approved, needs edit)'."""
        statuses = ", ".join(REVIEW_LABELS[s].lower() for s in self.statuses())
        chips = filter_chips(self.active_filters(), tax)
        if not chips:
            return f"{statuses} conversations" if self.selection != "all" else f"all generated conversations ({statuses})"
        return "; ".join(chips) + f" ({statuses})"


def filter_chips(filters: Mapping[str, Sequence[str]], tax: Taxonomy) -> list[str]:
    out = []
    for dim in FILTER_DIMENSIONS:
        values = filters.get(dim.key) or []
        if values:
            names = {k: v.name for k, v in tax.by_id(dim.taxonomy).items()} if dim.taxonomy else {}
            out.append(f"{dim.label}: {', '.join(names.get(v, v) for v in values)}")
    return out


def check_options(options: ExportOptions, tax: Taxonomy) -> None:
    """Every filter value is a known id of its dimension; raise ExportError naming the first that is not."""
    for key, values in options.active_filters().items():
        dim = FILTER_BY_KEY[key]
        known = tax.ids(dim.taxonomy) if dim.taxonomy else []
        for value in values:
            if value not in known:
                raise ExportError(f"filter {key}: unknown {dim.label.lower()} {value!r}; "
                                  f"expected one of {', '.join(known)}")


# ---- reading ------------------------------------------------------------------------------------
def rows_from_conversations(conversations: Iterable[Conversation],
                            scenario_ids: Sequence[int | None] | None = None) -> list[ExportRow]:
    """ExportRows for conversations that are not in a database (seeds, files, fixtures)."""
    out = []
    for n, conv in enumerate(conversations):
        sid = scenario_ids[n] if scenario_ids is not None else None
        out.append(ExportRow(sid, 1, conv.model_dump_json(exclude={"training"}), conv.training.model_dump(mode="json")))
    return out


def load_files(path: str | Path) -> list[ExportRow]:
    """Conversations in the full dataset format from a folder of *.json / *.jsonl files (seeds/, an
    earlier export's full/) or one file. Raises ExportError naming the file (and line) of a bad one."""
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.json"), *path.glob("*.jsonl")])
        if not files:
            raise ExportError(f"{path}: no .json or .jsonl files in this folder")
    elif path.exists():
        files = [path]
    else:
        raise ExportError(f"{path}: no such file or folder")
    convs: list[Conversation] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ExportError(f"{file}: cannot read it ({exc})") from None
        if file.suffix == ".jsonl":
            docs = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ExportError(f"{file}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
            docs = [(None, d) for d in (data if isinstance(data, list) else [data])]
        for line, doc in docs:
            where = f"{file}" + (f": line {line}" if line else "")
            try:
                conv = (Conversation.model_validate_json(doc) if isinstance(doc, str)
                        else Conversation.model_validate(doc))
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                raise ExportError(f"{where}: {loc}: {err['msg']} (expected the full dataset format)") from None
            convs.append(conv)
    return rows_from_conversations(convs)


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


def _group_key(scenario_id: int | None, doc: Mapping[str, Any]) -> str:
    if scenario_id is not None:
        return f"scenario:{scenario_id}"
    # not from the database: versions of one scenario share every dimension and the context
    s = doc.get("scenario") or {}
    return "dims:" + "|".join(str(s.get(k) or "") for k in (
        "tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id"))


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


def _when(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def current_turns(turns: Sequence[dict[str, Any]], history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Conversation.current_turns() on the parsed document: the latest revision of each (turn,
    field) in force, copying only what changes (a model copy of every turn costs ~2 ms a
    conversation). tests/test_export.py checks that both agree."""
    out = list(turns)
    copied: set[tuple[int, str]] = set()
    for _, rev in sorted(enumerate(history), key=lambda p: (_when(p[1].get("at")), p[0])):
        idx, path = int(rev["turn"]), str(rev["field"])
        if not 0 <= idx < len(out):
            raise ValueError(f"a revision of {path} points at turn {idx}, but there are {len(out)} turns")
        if REVISABLE_FIELDS.get(path) != out[idx].get("role"):
            raise ValueError(f"a revision of {path} points at turn {idx}, the {out[idx].get('role')}'s")
        parent, _, leaf = path.partition(".")
        if (idx, parent) not in copied:
            out[idx] = {**out[idx], parent: dict(out[idx].get(parent) or {})}
            copied.add((idx, parent))
        out[idx][parent][leaf] = rev.get("new_value")
    return out


def prepare(rows: Iterable[ExportRow]) -> tuple[list[Item], list[dict[str, str]]]:
    """Parse every row once and apply its label revisions. Returns (items, skipped), where skipped
    lists {id, reason} for a conversation no training format can hold (roles that do not alternate,
    an empty turn, a revision of a turn that is not there, a document that does not parse)."""
    items: list[Item] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in rows:
        try:
            doc = _loads(row.document)
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
                turns = current_turns(turns, history)
            except (KeyError, TypeError, ValueError) as exc:
                skipped.append({"id": conv_id, "reason": str(exc) if isinstance(exc, ValueError) else
                                f"a label revision is malformed ({type(exc).__name__}: {exc})"})
                continue
        problem = _turn_problem(turns)
        if problem:
            skipped.append({"id": conv_id, "reason": problem})
            continue
        seen.add(conv_id)
        items.append(Item(id=conv_id, group=_group_key(row.scenario_id, doc), scenario_id=row.scenario_id,
                          version=int(row.version or 1), raw=row.document, doc=doc, training=dict(row.training or {}),
                          turns=turns))
    return items, skipped


def _start_emotion(tax: Taxonomy) -> dict[str, str]:
    return {a.id: a.start_emotion for a in tax.arcs}


def dimension_values(doc: Mapping[str, Any], tax: Taxonomy) -> dict[str, str | None]:
    """The filter dimensions of a document (start emotion and cluster from the taxonomy, as the database does)."""
    s = doc.get("scenario") or {}
    arc = s.get("emotional_arc")
    return {"persona": s.get("persona"), "start_emotion": _start_emotion(tax).get(arc), "emotional_arc": arc,
            "topic_cluster": tax.cluster_of.get(s.get("topic") or ""), "intent": s.get("intent"), "tone": s.get("tone"),
            "topic": s.get("topic"), "outcome_type": s.get("outcome_type"), "tier": s.get("tier")}


def count_in_memory(items: Iterable[Item], filters: Mapping[str, Sequence[str]], tax: Taxonomy) -> dict[str, int]:
    """Items per review status among those that pass the filters (what Store.export_counts says)."""
    out: Counter[str] = Counter()
    for item in items:
        dims = dimension_values(item.doc, tax)
        if all(not v or dims.get(k) in v for k, v in filters.items()):
            out[(item.doc.get("review") or {}).get("status", "unreviewed")] += 1
    return dict(out)


def select_in_memory(items: Iterable[Item], options: ExportOptions, tax: Taxonomy) -> list[Item]:
    statuses = set(options.statuses())
    filters = options.active_filters()
    out = []
    for item in items:
        if (item.doc.get("review") or {}).get("status", "unreviewed") not in statuses:
            continue
        dims = dimension_values(item.doc, tax)
        if all(dims.get(k) in v for k, v in filters.items()):
            out.append(item)
    return out


def explain_empty(options: ExportOptions, tax: Taxonomy, matching: Mapping[str, int], total: int,
                  *, cli: bool = False) -> str:
    """Why nothing matched, and what to change. matching: review status -> conversations that pass
    the dimension filters; total: every current conversation."""
    statuses = options.statuses()
    wanted = " or ".join(REVIEW_LABELS[s].lower() for s in statuses)
    if total == 0:
        return ("There are no conversations yet. Generate some first (Generate page, or `python -m lib worker`); "
                "the seed conversations are imported when the database starts.")
    n_match = sum(matching.values())
    have = ", ".join(f"{n} {REVIEW_LABELS.get(s, s).lower()}" for s, n in sorted(matching.items()) if n)
    if options.active_filters() and n_match == 0:
        where = "the --filter options" if cli else "the custom filter above"
        return (f"No conversation matches the filters ({'; '.join(filter_chips(options.active_filters(), tax))}), "
                f"out of {total} conversations in all. Remove a filter value in {where}.")
    hints = {  # selection -> (page, CLI)
        "approved": ("review them on the Review page, or choose 'All generated'",
                     "review them first, or use --selection all"),
        "all": ("to export rejected ones anyway, choose 'Custom filter' with the Rejected status",
                "to export rejected ones anyway, use --selection custom --review-status rejected"),
        "custom": ("add their review status in the custom filter above",
                   "add their status with --review-status"),
    }
    hint = hints[options.selection][1 if cli else 0]
    scope = "The filters match" if options.active_filters() else "There are"
    return (f"{scope} {n_match} conversation{'s' if n_match != 1 else ''} ({have}), but none is {wanted}: "
            f"{hint}.")


# ---- approved targets -------------------------------------------------------------------------
def suited_strategies(tax: Taxonomy) -> dict[str, frozenset[str]]:
    return {e.id: frozenset(e.suited_strategies) for e in tax.emotions}


def approved_target(user_turn: Mapping[str, Any] | None, assistant_turn: Mapping[str, Any],
                    suited: Mapping[str, frozenset[str]]) -> bool:
    """The assistant turn's primary strategy is suited (taxonomy) to the preceding user turn's
    primary or secondary emotion, all labels as now in force."""
    if user_turn is None or user_turn.get("role") != "user":
        return False
    emotion = user_turn.get("emotion") or {}
    allowed = suited.get(emotion.get("primary") or "", frozenset()) | suited.get(emotion.get("secondary") or "", frozenset())
    return (assistant_turn.get("strategies") or {}).get("primary") in allowed


def target_flags(turns: Sequence[Mapping[str, Any]], suited: Mapping[str, frozenset[str]]) -> list[bool | None]:
    """Per turn: approved target (assistant turns) or None (user turns)."""
    out: list[bool | None] = []
    previous: Mapping[str, Any] | None = None
    for t in turns:
        out.append(approved_target(previous, t, suited) if t.get("role") == "assistant" else None)
        previous = t
    return out


# ---- split ------------------------------------------------------------------------------------
def _h(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[:8], "big")


def split_groups(strata: Mapping[str, tuple[str, str]], eval_ratio: float, seed: int,
                 pinned: Mapping[str, str] | None = None) -> dict[str, str]:
    """group -> 'train' | 'eval'. strata: group -> (arc, persona). round(ratio x groups) groups go
    to eval (at least one and not all, when the ratio is above 0 and there are two groups or more).
    pinned: groups whose split is decided already (a conversation's training.split)."""
    if not 0 <= eval_ratio < 1:
        raise ValueError(f"eval_ratio {eval_ratio} is outside [0, 1)")
    pinned = {g: s for g, s in (pinned or {}).items() if g in strata and s in SPLITS}
    n = len(strata)
    target = round(eval_ratio * n)
    if eval_ratio > 0 and n >= 2:
        target = min(max(target, 1), n - 1)
    out: dict[str, str] = dict(pinned)
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for g in sorted(strata):
        members[strata[g]].append(g)
    n_arc = Counter(a for a, _ in strata.values())
    n_persona = Counter(p for _, p in strata.values())
    e_arc: Counter[str] = Counter()
    e_persona: Counter[str] = Counter()
    e_stratum: Counter[tuple[str, str]] = Counter()
    for g, s in pinned.items():
        if s == "eval":
            a, p = strata[g]
            e_arc[a] += 1
            e_persona[p] += 1
            e_stratum[(a, p)] += 1
    total = sum(e_stratum.values())
    free = {s: sorted((g for g in gs if g not in pinned), key=lambda g: (_h(seed, g), g), reverse=True)
            for s, gs in members.items()}  # reversed: pop() takes the next one

    def take(s: tuple[str, str]) -> None:
        nonlocal total
        out[free[s].pop()] = "eval"
        e_stratum[s] += 1
        e_arc[s[0]] += 1
        e_persona[s[1]] += 1
        total += 1

    for s in sorted(members):  # each stratum's whole share
        want = math.floor(eval_ratio * len(members[s]) + 1e-9) - e_stratum[s]
        while want > 0 and free[s] and total < target:
            take(s)
            want -= 1
    tiebreak = {s: _h(seed, "stratum\x00" + "\x00".join(s)) for s in members}

    def need(s: tuple[str, str]) -> tuple[float, int]:
        a, p = s
        joint = eval_ratio * len(members[s]) - e_stratum[s]
        margins = (eval_ratio * n_arc[a] - e_arc[a]) + (eval_ratio * n_persona[p] - e_persona[p])
        return round(joint + 0.5 * margins, 9), tiebreak[s]

    while total < target:  # the remainder, to whoever is furthest below their share
        open_strata = [s for s in members if free[s]]
        if not open_strata:
            break
        take(max(open_strata, key=need))
    for gs in free.values():
        for g in gs:
            out[g] = "train"
    return out


def assign_splits(items: Sequence[Item], eval_ratio: float, seed: int) -> Counter[str]:
    """Set item.split for every item (grouped by scenario); returns groups per split."""
    strata: dict[str, tuple[str, str]] = {}
    pinned: dict[str, str] = {}
    for item in items:
        s = item.doc.get("scenario") or {}
        strata.setdefault(item.group, (str(s.get("emotional_arc")), str(s.get("persona"))))
        pin = item.training.get("split")
        if pin in SPLITS and (pinned.get(item.group) != "eval"):  # a group pinned both ways goes to eval
            pinned[item.group] = pin
    groups = split_groups(strata, eval_ratio, seed, pinned)
    for item in items:
        item.split = groups[item.group]
    return Counter(groups.values())


# ---- records ------------------------------------------------------------------------------------
def full_line(item: Item) -> str:
    """The stored document with training.split set: its text is copied, not re-serialized."""
    training = {**item.training, "split": item.split}
    raw = item.raw.rstrip()
    sep = ", " if raw != "{}" else ""
    return raw[:-1] + sep + '"training": ' + _dumpb(training).decode("utf-8") + "}"


def _flags(item: Item, suited: Mapping[str, frozenset[str]]) -> list[bool | None]:
    if len(item.flags) != len(item.turns):
        item.flags = target_flags(item.turns, suited)
    return item.flags


def messages_record(item: Item, weights: bool = False,
                    suited: Mapping[str, frozenset[str]] | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": item.doc.get("system_prompt") or ""}]
    if weights:
        for turn, flag in zip(item.turns, _flags(item, suited or {})):
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


def _scenario(item: Item) -> dict[str, Any]:
    return item.doc.get("scenario") or {}


HF_TEXT_COLUMNS: tuple[str, ...] = ("tier", "persona", "emotional_arc", "start_emotion", "end_emotion", "topic",
                                    "topic_cluster", "intent", "tone", "outcome_type", "context_id", "context")


def hf_schema(weights: bool) -> Any:
    """The parquet columns: `messages` as TRL and the chat templates read it, the labels in force
    per turn, and the scenario's dimensions."""
    import pyarrow as pa

    message = [pa.field("role", pa.string()), pa.field("content", pa.string())]
    if weights:
        message.append(pa.field("weight", pa.int8()))
    label = pa.struct([
        pa.field("turn", pa.int32()), pa.field("role", pa.string()), pa.field("emotion", pa.string()),
        pa.field("secondary_emotion", pa.string()), pa.field("sub_emotion", pa.string()),
        pa.field("intensity", pa.float64()), pa.field("valence", pa.float64()), pa.field("arousal", pa.float64()),
        pa.field("strategy", pa.string()), pa.field("supporting_strategies", pa.list_(pa.string())),
        pa.field("approved_target", pa.bool_())])
    return pa.schema([
        pa.field("id", pa.string()), pa.field("scenario_id", pa.int64()), pa.field("version", pa.int32()),
        pa.field("messages", pa.list_(pa.struct(message))), pa.field("labels", pa.list_(label)),
        *(pa.field(k, pa.string()) for k in HF_TEXT_COLUMNS),
        pa.field("quality_score", pa.int32()), pa.field("review_status", pa.string()), pa.field("source", pa.string()),
        pa.field("model", pa.string()),
    ])


def hf_table(items: Sequence[Item], tax: Taxonomy, weights: bool, suited: Mapping[str, frozenset[str]]) -> Any:
    """A pyarrow Table of hf_schema, built column by column from flat lists (a row-wise
    from_pylist of nested rows is ~5x slower)."""
    import pyarrow as pa

    schema = hf_schema(weights)
    turns = [t for item in items for t in item.turns]
    flags = [f for item in items for f in _flags(item, suited)]
    is_user = [t["role"] == "user" for t in turns]
    emotions = [(t.get("emotion") or {}) if u else {} for t, u in zip(turns, is_user)]
    strategies = [{} if u else (t.get("strategies") or {}) for t, u in zip(turns, is_user)]
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
        "supporting_strategies": [None if u else list(s.get("supporting") or []) for s, u in zip(strategies, is_user)],
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
    scen = [_scenario(i) for i in items]
    arcs = [i.doc.get("arc") or {} for i in items]
    provs = [i.doc.get("provenance") or {} for i in items]
    cols: dict[str, list[Any]] = {
        "id": [i.id for i in items], "scenario_id": [i.scenario_id for i in items],
        "version": [i.version for i in items],
        **{k: [s.get(k) for s in scen] for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone",
                                                  "outcome_type", "context_id", "context")},
        "start_emotion": [(a.get("start") or {}).get("emotion") for a in arcs],
        "end_emotion": [(a.get("end") or {}).get("emotion") for a in arcs],
        "topic_cluster": [tax.cluster_of.get(s.get("topic") or "") for s in scen],
        "quality_score": [(i.doc.get("quality") or {}).get("score") for i in items],
        "review_status": [(i.doc.get("review") or {}).get("status") for i in items],
        "source": [p.get("source") for p in provs], "model": [p.get("model") for p in provs],
    }
    msg_type = schema.field("messages").type.value_type
    msg_children = [pa.array(m_role, pa.string()), pa.array(m_text, pa.string())]
    if weights:
        msg_children.append(pa.array(m_weight, pa.int8()))
    messages = pa.ListArray.from_arrays(pa.array(m_off, pa.int32()),
                                        pa.StructArray.from_arrays(msg_children, fields=list(msg_type)))
    label_type = schema.field("labels").type.value_type
    labels = pa.ListArray.from_arrays(
        pa.array(l_off, pa.int32()),
        pa.StructArray.from_arrays([pa.array(label_cols[f.name], f.type) for f in label_type], fields=list(label_type)))
    arrays = [messages if f.name == "messages" else labels if f.name == "labels" else pa.array(cols[f.name], f.type)
              for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


CSV_COLUMNS: tuple[str, ...] = (
    "id", "split", "scenario_id", "version", "source", "tier", "persona", "emotional_arc", "start_emotion",
    "end_emotion", "topic", "topic_cluster", "intent", "tone", "outcome_type", "context_id", "turns", "user_turns",
    "emotions", "strategies", "approved_target_turns", "start_intensity", "end_intensity", "quality_score", "empathy",
    "appropriateness", "brand_voice", "checks_failed", "review_status", "reviewed_at", "label_revisions", "model",
    "template_name", "template_version", "created_at")
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
    s = _scenario(item)
    arc = item.doc.get("arc") or {}
    start, end = arc.get("start") or {}, arc.get("end") or {}
    quality = item.doc.get("quality") or {}
    review = item.doc.get("review") or {}
    prov = item.doc.get("provenance") or {}
    emotions = [str((t.get("emotion") or {}).get("primary")) for t in item.turns if t["role"] == "user"]
    strategies = [str((t.get("strategies") or {}).get("primary")) for t in item.turns if t["role"] == "assistant"]
    row = [
        item.id, item.split, item.scenario_id, item.version, prov.get("source"), s.get("tier"), s.get("persona"),
        s.get("emotional_arc"), start.get("emotion"), end.get("emotion"), s.get("topic"),
        tax.cluster_of.get(s.get("topic") or ""), s.get("intent"), s.get("tone"), s.get("outcome_type"),
        s.get("context_id"), len(item.turns), len(emotions), ";".join(emotions), ";".join(strategies),
        sum(1 for f in _flags(item, suited) if f), start.get("intensity"), end.get("intensity"), quality.get("score"),
        quality.get("empathy"), quality.get("appropriateness"), quality.get("brand_voice"),
        ";".join(str(c.get("name", "")) for c in quality.get("checks") or [] if not c.get("passed")),
        review.get("status"), review.get("reviewed_at"), len(item.doc.get("label_history") or []), prov.get("model"),
        prov.get("template_name"), prov.get("template_version"), prov.get("created_at"),
    ]
    return [_cell(v) for v in row]


# ---- writing ------------------------------------------------------------------------------------
@dataclass
class FileEntry:
    path: str
    format: str
    split: str | None
    records: int
    bytes: int = 0
    sha256: str = ""


class _Folder:
    """Writes files under a root and hashes them. Hashing and writing a chunk run on a helper
    thread (both release the GIL) while the next chunk is serialized."""

    def __init__(self, root: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.root = root
        self.files: list[FileEntry] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-write")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def write(self, rel: str, chunks: Iterable[bytes], *, fmt: str, split: str | None, records: int) -> FileEntry:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0

        def put(data: bytes) -> None:
            digest.update(data)
            f.write(data)

        with open(path, "wb") as f:
            pending = None
            for chunk in chunks:
                if pending is not None:
                    pending.result()
                size += len(chunk)
                pending = self._pool.submit(put, chunk)
            if pending is not None:
                pending.result()
        entry = FileEntry(rel, fmt, split, records, size, digest.hexdigest())
        self.files.append(entry)
        return entry

    def binary(self, rel: str, write: Callable[[Path], None], *, fmt: str, split: str | None, records: int) -> FileEntry:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        data = path.read_bytes()
        entry = FileEntry(rel, fmt, split, records, len(data), hashlib.sha256(data).hexdigest())
        self.files.append(entry)
        return entry


def _lines(encoded: Sequence[bytes], sep: bytes = b"\n", head: bytes = b"", tail: bytes = b"\n") -> Iterator[bytes]:
    """Chunks of sep-joined records: JSONL (sep \\n) or the body of a JSON array (sep ,\\n)."""
    yield head
    for start in range(0, len(encoded), _CHUNK):
        last = start + _CHUNK >= len(encoded)
        yield sep.join(encoded[start:start + _CHUNK]) + (tail if last else sep)


def _jsonl(records: Iterable[Any]) -> Iterator[bytes]:
    buf: list[bytes] = []
    for record in records:
        buf.append(_dumpb(record))
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


@dataclass
class ExportResult:
    path: Path
    zip_path: Path | None
    manifest: dict[str, Any]
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, Any]:
        return self.manifest["counts"]


def export(rows: Sequence[ExportRow] | Sequence[Item], options: ExportOptions, tax: Taxonomy, dest: str | Path, *,
           make_zip: bool = True, source: str = "database", now: datetime | None = None) -> ExportResult:
    """Write the export of `rows` (already selected) to the folder `dest`, replacing an earlier
    export there only once every file is written. Raises NothingToExport when no row can be
    exported, ExportError for anything else a person can fix."""
    started = time.perf_counter()
    dest = Path(dest).resolve()
    check_options(options, tax)
    _check_destination(dest)
    if rows and isinstance(rows[0], Item):
        items, skipped = list(rows), []  # type: ignore[arg-type]
    else:
        items, skipped = prepare(rows)  # type: ignore[arg-type]
    if not items:
        reasons = "; ".join(f"{s['id']}: {s['reason']}" for s in skipped[:3])
        raise NothingToExport("None of the selected conversations can be exported" +
                              (f" ({reasons})" if reasons else "") + ".")
    _check_secrets(items)
    groups = assign_splits(items, options.eval_ratio, options.seed)
    suited = suited_strategies(tax)
    for item in items:
        _flags(item, suited)
    by_split = {s: [i for i in items if i.split == s] for s in SPLITS}
    splits = [s for s in SPLITS if by_split[s]]
    ordered = [i for s in splits for i in by_split[s]]  # metadata.csv and full/: the split files' order

    dest.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    zip_tmp: Path | None = None
    folder = _Folder(tmp)
    try:
        formats = options.formats
        if "full_jsonl" in formats or "full_json" in formats:
            encoded = [full_line(i).encode("utf-8") for i in ordered]
            if "full_jsonl" in formats:
                folder.write(PATHS["full_jsonl"](""), _lines(encoded), fmt="full_jsonl", split=None,
                             records=len(encoded))
            if "full_json" in formats:
                folder.write(PATHS["full_json"](""), _lines(encoded, b",\n", b"[\n", b"\n]\n"), fmt="full_json",
                             split=None, records=len(encoded))
            del encoded
        for split in splits:
            part = by_split[split]
            if "messages" in formats:
                folder.write(PATHS["messages"](split), _jsonl(messages_record(i, options.weights, suited) for i in part),
                             fmt="messages", split=split, records=len(part))
            if "sharegpt" in formats:
                folder.write(PATHS["sharegpt"](split), _jsonl(sharegpt_record(i) for i in part),
                             fmt="sharegpt", split=split, records=len(part))
            if "hf" in formats:
                folder.binary(PATHS["hf"](split), _parquet_writer(part, tax, options.weights, suited),
                              fmt="hf", split=split, records=len(part))
        if "csv" in formats:
            folder.write(PATHS["csv"](""), _csv(ordered, tax, suited), fmt="csv", split=None, records=len(ordered))
        stats = dataset_stats(items, tax, suited)
        card = dataset_card(items, options, tax, folder.files, stats, splits, source=source)
        _check_secrets_text(card, "README.md")
        folder.write("README.md", [card.encode("utf-8")], fmt="card", split=None, records=0)
        manifest = build_manifest(items, skipped, options, tax, folder.files, groups, source=source, now=now)
        manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        _check_secrets_text(manifest_text, "manifest.json")
        (tmp / "manifest.json").write_text(manifest_text, encoding="utf-8")  # last: a folder with it is complete
        folder.close()
        if make_zip:
            zip_tmp = dest.parent / f".{dest.name}.zip.tmp-{os.getpid()}-{time.monotonic_ns()}"
            _zip(tmp, zip_tmp, dest.name)
        _swap_into_place(tmp, dest)
        zip_path = None
        if zip_tmp is not None:
            zip_path = dest.parent / f"{dest.name}.zip"
            os.replace(zip_tmp, zip_path)
        elif (dest.parent / f"{dest.name}.zip").exists():
            (dest.parent / f"{dest.name}.zip").unlink()  # an earlier zip would not match the new folder
    except BaseException:
        folder.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if zip_tmp is not None:
            zip_tmp.unlink(missing_ok=True)
        raise
    return ExportResult(dest, zip_path, manifest, skipped, round(time.perf_counter() - started, 3))


def _parquet_writer(items: Sequence[Item], tax: Taxonomy, weights: bool,
                    suited: Mapping[str, frozenset[str]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import pyarrow.parquet as pq

        pq.write_table(hf_table(items, tax, weights, suited), path, compression="snappy")

    return write


def _zip(folder: Path, target: Path, top: str) -> None:
    """Every file under `folder` as <top>/<path>: deflate level 1 (JSON shrinks ~4x at a fraction of
    level 6's time), parquet stored as it is (already compressed)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            zf.write(path, f"{top}/{rel}",
                     compress_type=zipfile.ZIP_STORED if path.suffix == ".parquet" else zipfile.ZIP_DEFLATED)


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file; choose a folder name for the export")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "manifest.json").is_file():
        raise ExportError(f"{dest} already holds files that are not an earlier export (no manifest.json); "
                          "choose another folder, the export replaces what is there")


def _clean_leftovers(dest: Path, older_than: float = 3600) -> None:
    """Temporary folders of exports that crashed more than an hour ago (a running one is younger)."""
    cutoff = time.time() - older_than
    for pattern in (f".{dest.name}.tmp-*", f".{dest.name}.old-*", f".{dest.name}.zip.tmp-*"):
        for path in dest.parent.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            except OSError:
                pass


def _swap_into_place(tmp: Path, dest: Path) -> None:
    """tmp becomes dest; an earlier dest is moved aside first and deleted after, or put back."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except OSError as exc:
        if old is not None:
            os.rename(old, dest)
        raise ExportError(f"cannot move the finished export into {dest} ({exc.strerror}); "
                          "the earlier export is unchanged, try again") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---- secrets -----------------------------------------------------------------------------------
def secret_values() -> dict[str, str]:
    """Secret settings now in force (environment and .streamlit/secrets.toml), by name: values an
    export must never contain. Values under 12 characters are left out (they would match by chance)."""
    found: dict[str, str] = {}
    for name in SECRET_ENV:
        value = os.environ.get(name, "")
        if value:
            found[name] = value
    try:
        from lib.config import Settings

        settings = Settings.load()
        for name, secret in (("ANTHROPIC_API_KEY", settings.anthropic_api_key), ("SUPABASE_KEY", settings.supabase_key),
                             ("DATABASE_URL", settings.database_url)):
            if secret is not None and secret.get_secret_value():
                found.setdefault(name, secret.get_secret_value())
    except Exception:  # a broken setting is not the export's business; the environment was read above
        pass
    dsn = found.get("DATABASE_URL")
    if dsn and "://" in dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            password = None
        if password:
            found["DATABASE_URL password"] = password
        del found["DATABASE_URL"]  # the DSN without its password (host, user) is not a secret
    # a short or dictionary-word value ("postgres") would match ordinary text; real keys are long
    return {k: v for k, v in found.items() if len(v) >= 12}


def _check_secrets(items: Sequence[Item]) -> None:
    secrets = secret_values()
    if not secrets:
        return
    for item in items:
        training = json.dumps(item.training)
        for name, value in secrets.items():
            if value in item.raw or value in training:
                raise ExportError(f"conversation {item.id} contains the value of {name}; nothing was exported. "
                                  "Remove the secret from that conversation (or leave it out of the selection)")


def _check_secrets_text(text: str, where: str) -> None:
    for name, value in secret_values().items():
        if value in text:
            raise ExportError(f"{where} would contain the value of {name} (an export option holds it); "
                              "nothing was exported. Change that option")


# ---- statistics, dataset card and manifest ------------------------------------------------------
def dataset_stats(items: Sequence[Item], tax: Taxonomy, suited: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    personas: Counter[str] = Counter()
    arcs: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    emotions: Counter[str] = Counter()
    start_emotions: Counter[str] = Counter()
    strategies: Counter[str] = Counter()
    review: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    models: Counter[str] = Counter()
    templates: Counter[str] = Counter()
    revised_fields: Counter[str] = Counter()
    revision_sources: Counter[str] = Counter()
    reviewers: set[str] = set()
    scores: list[int] = []
    per_split: Counter[str] = Counter()
    turns_per_split: Counter[str] = Counter()
    corrected = 0
    assistant_turns = 0
    targets = 0
    for item in items:
        s = _scenario(item)
        personas[str(s.get("persona"))] += 1
        arcs[str(s.get("emotional_arc"))] += 1
        tiers[str(s.get("tier"))] += 1
        topics[tax.cluster_of.get(s.get("topic") or "", str(s.get("topic")))] += 1
        start_emotions[str(((item.doc.get("arc") or {}).get("start") or {}).get("emotion"))] += 1
        per_split[item.split] += 1
        turns_per_split[item.split] += len(item.turns)
        for flag, t in zip(_flags(item, suited), item.turns):
            if t["role"] == "user":
                emotions[str((t.get("emotion") or {}).get("primary"))] += 1
            else:
                strategies[str((t.get("strategies") or {}).get("primary"))] += 1
                assistant_turns += 1
                targets += bool(flag)
        r = item.doc.get("review") or {}
        review[r.get("status", "unreviewed")] += 1
        if r.get("reviewer"):
            reviewers.add(str(r["reviewer"]))
        prov = item.doc.get("provenance") or {}
        sources[str(prov.get("source"))] += 1
        if prov.get("model"):
            models[str(prov["model"])] += 1
        if prov.get("template_name"):
            templates[f"{prov['template_name']} {prov.get('template_version') or ''}".strip()] += 1
        history = item.doc.get("label_history") or []
        if history:
            corrected += 1
        for rev in history:
            revised_fields[str(rev.get("field"))] += 1
            revision_sources[str(rev.get("source"))] += 1
        score = (item.doc.get("quality") or {}).get("score")
        if isinstance(score, int):
            scores.append(score)
    return {
        "conversations": len(items), "turns": sum(len(i.turns) for i in items),
        "scenarios": len({i.group for i in items}), "per_split": dict(per_split), "turns_per_split": dict(turns_per_split),
        "personas": personas, "arcs": arcs, "tiers": tiers, "topic_clusters": topics, "emotions": emotions,
        "start_emotions": start_emotions, "strategies": strategies, "review": review, "reviewers": len(reviewers),
        "sources": sources, "models": models, "templates": templates, "corrected": corrected,
        "revised_fields": revised_fields, "revision_sources": revision_sources, "scores": scores,
        "assistant_turns": assistant_turns, "approved_targets": targets,
    }


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def _md(text: Any) -> str:
    """A table cell: no pipes or line breaks, markdown characters escaped."""
    value = " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"([*_`\[\]<>#])", r"\\\1", value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _counts_table(title: str, counts: Counter[str], names: Mapping[str, str], total: int, order: Sequence[str],
                  unit: str = "Conversations") -> str:
    rank = {k: n for n, k in enumerate(order)}
    keys = sorted(counts, key=lambda k: (-counts[k], rank.get(k, len(rank)), k))
    return _table([title, "Id", unit, "Share"], ([names.get(k, k), k, counts[k], _share(counts[k], total)] for k in keys))


def _configs(files: Sequence[FileEntry], splits: Sequence[str]) -> list[dict[str, Any]]:
    """The Hub's configs: parquet as `default`, and the JSONL chat formats; the first is the default."""
    configs: list[dict[str, Any]] = []
    for fmt, name in (("hf", "default"), ("messages", "messages"), ("sharegpt", "sharegpt")):
        paths = {f.split: f.path for f in files if f.format == fmt}
        if paths:
            configs.append({"config_name": name,
                            "data_files": [{"split": s, "path": paths[s]} for s in splits if s in paths]})
    if configs:
        configs[0]["default"] = True
    return configs


def dataset_card(items: Sequence[Item], options: ExportOptions, tax: Taxonomy, files: Sequence[FileEntry],
                 stats: Mapping[str, Any], splits: Sequence[str], *, source: str = "database") -> str:
    """README.md: a YAML header for the Hugging Face Hub, then a description made from the data."""
    import yaml

    name = dataset_name(items, options)
    version = dataset_version(items)
    n = stats["conversations"]
    pretty = f"{tax.vertical.name}: emotionally-aware conversations ({name})"
    header: dict[str, Any] = {
        "pretty_name": pretty,
        "license": options.license,
        "language": ["en"],
        "task_categories": ["text-generation"],
        "task_ids": ["dialogue-modeling"],
        "tags": ["synthetic", "conversational", "multi-turn", "emotional-intelligence", "sft",
                 tax.vertical.id.replace("_", "-")],
        "size_categories": [_size_category(n)],
    }
    if options.license == "other":
        header["license_name"] = "proprietary"
    configs = _configs(files, splits)
    if configs:
        header["configs"] = configs
        header["dataset_info"] = {"config_name": configs[0]["config_name"], "splits": [
            {"name": s, "num_examples": stats["per_split"].get(s, 0)} for s in splits]}
    head = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000)

    names = {d: {k: v.name for k, v in tax.by_id(d).items()} for d in
             ("personas", "arcs", "emotions", "strategies", "tiers", "topic_clusters")}
    order = {d: tax.ids(d) for d in names}
    voice = tax.vertical.brand_voice
    review = stats["review"]
    scores = stats["scores"]
    total_turns = stats["turns"]
    user_turns = sum(stats["emotions"].values())
    parts: list[str] = [f"---\n{head}---\n", f"# {_md(pretty)}\n"]
    parts.append(
        f"{n} multi-turn conversations ({total_turns} turns) between a person with a financial question and "
        f"{_md(voice.name)}, {_md(voice.title)}, an emotionally aware assistant. Every user turn is labelled with its "
        f"emotion (family, intensity, valence, arousal), every assistant turn with the response strategy behind it, "
        f"and each conversation follows a planned emotional arc. Selection: {_md(options.describe(tax))}. "
        f"Dataset {_md(name)} {_md(version)}, taxonomy {_md(tax.vertical.id)} v{_md(tax.vertical.version)} "
        f"(sha256 `{tax.sha256[:12]}`).\n")

    parts.append("## Files\n")
    file_rows = []
    for f in files:
        fmt = FORMATS.get(f.format)
        file_rows.append([f.path, fmt.label if fmt else f.format, f.split or "all", f.records])
    parts.append(_table(["File", "Format", "Split", "Records"], file_rows) + "\n")
    parts.append(
        "`manifest.json` lists every file with its sha256. The training formats (messages, ShareGPT, parquet) carry "
        "the labels in force: a reviewer's correction replaces the first label. The full dataset format keeps the "
        "first labels and every correction in `label_history` (apply them with `Conversation.current_turns()`). "
        "`metadata.csv` lists the conversations in the order of the split files.\n")
    loads = []
    if any(f.format == "hf" for f in files):
        loads.append('from datasets import load_dataset\nds = load_dataset("parquet", data_files={'
                     + ", ".join(f'"{s}": "{PATHS["hf"](s)}"' for s in splits) + "})")
    if any(f.format == "messages" for f in files):
        loads.append('# TRL: SFTTrainer(..., train_dataset=load_dataset("json", data_files="messages/train.jsonl")'
                     '["train"])')
    if loads:
        parts.append("```python\n" + "\n".join(loads) + "\n```\n")

    parts.append("## Splits\n")
    parts.append(_table(["Split", "Conversations", "Turns", "Share"],
                        ([s, stats["per_split"].get(s, 0), stats["turns_per_split"].get(s, 0),
                          _share(stats["per_split"].get(s, 0), n)] for s in splits)) + "\n")
    parts.append(
        f"Eval ratio {options.eval_ratio:g} of the scenarios, seed {options.seed}. The split is grouped by scenario "
        "(every version of a scenario lands in the same split), stratified by emotional arc and persona, and "
        "deterministic: the same data and seed give the same split.\n")

    parts.append("## Composition\n")
    parts.append("### Personas\n" + _counts_table("Persona", stats["personas"], names["personas"], n,
                                                  order["personas"]) + "\n")
    parts.append("### Emotional arcs\n" + _counts_table("Arc", stats["arcs"], names["arcs"], n, order["arcs"]) + "\n")
    parts.append("### Emotions\nPrimary emotion of the user turns (labels in force).\n\n"
                 + _counts_table("Emotion", stats["emotions"], names["emotions"], user_turns, order["emotions"],
                                 unit="User turns") + "\n")
    parts.append("### Response strategies\n" + _counts_table(
        "Strategy", stats["strategies"], names["strategies"], stats["assistant_turns"], order["strategies"],
        unit="Assistant turns") + "\n")
    parts.append("### Tiers and topics\n" + _counts_table("Tier", stats["tiers"], names["tiers"], n, order["tiers"])
                 + "\n\n" + _counts_table("Topic cluster", stats["topic_clusters"], names["topic_clusters"], n,
                                          order["topic_clusters"]) + "\n")

    parts.append("## How it was generated\n")
    sources = stats["sources"]
    how = ["Scenarios were planned from the taxonomy (persona x emotional arc x topic x intent x tone x outcome x "
           "tier) for balanced coverage."]
    if sources.get("generated"):
        how.append(f"{sources['generated']} conversation{'s were' if sources['generated'] != 1 else ' was'} "
                   "generated by Claude from per-tier prompt templates (the hand-written seeds as examples) and "
                   "checked automatically (turn count, alternation, lengths, known labels, arc realized, persona and "
                   "topic consistency); a conversation that failed a check was repaired by the model or left out.")
    if sources.get("seed"):
        how.append(f"{sources['seed']} {'are' if sources['seed'] != 1 else 'is a'} hand-written seed "
                   f"conversation{'s' if sources['seed'] != 1 else ''}.")
    how.append(f"The assistant speaks in {_md(voice.name)}'s voice: {_md(voice.summary)}")
    parts.append(" ".join(how) + "\n")
    if stats["models"]:
        parts.append(_table(["Model", "Conversations"], stats["models"].most_common()) + "\n")
    if stats["templates"]:
        parts.append(_table(["Prompt template", "Conversations"], stats["templates"].most_common()) + "\n")

    parts.append("## Review\n")
    reviewed = n - review.get("unreviewed", 0)
    parts.append(_table(["Review status", "Conversations", "Share"],
                        ([REVIEW_LABELS.get(s, s), review[s], _share(review[s], n)] for s in REVIEW_STATUSES
                         if review.get(s))) + "\n")
    quality = (f"quality score mean {sum(scores) / len(scores):.1f} (min {min(scores)}, max {max(scores)}, "
               f"{len(scores)} scored)" if scores else "no quality scores")
    parts.append(
        f"{reviewed} of {n} conversations ({_share(reviewed, n)}) were reviewed by {stats['reviewers']} "
        f"domain reviewer{'s' if stats['reviewers'] != 1 else ''}; {quality}. {stats['corrected']} conversations have "
        f"label corrections ({sum(stats['revised_fields'].values())} in all"
        + (": " + ", ".join(f"{k} {v}" for k, v in stats["revised_fields"].most_common()) if stats["revised_fields"] else "")
        + f"). {stats['approved_targets']} of {stats['assistant_turns']} assistant turns "
        f"({_share(stats['approved_targets'], stats['assistant_turns'])}) are approved targets.\n")

    parts.append("## Labels and evaluation\n")
    parts.append(
        "An assistant turn is an **approved target** when its primary strategy is one of the strategies the "
        "taxonomy suits to the preceding user turn's primary or secondary emotion (labels in force)"
        + (". The messages files give each assistant message `weight` 1 (approved target) or 0, and the parquet "
           "messages carry the same weight" if options.weights else "; the parquet `labels` column flags it per turn")
        + ". The same mapping is a rubric for the eval split: a response fits when its strategy suits the emotion "
        "it answers.\n")
    rubric = [[names["emotions"].get(e.id, e.id), ", ".join(names["strategies"].get(s, s) for s in e.suited_strategies)]
              for e in tax.emotions]
    parts.append(_table(["User emotion", "Suited strategies"], rubric) + "\n")

    parts.append("## License and limitations\n")
    lic = ("proprietary: agree terms with the dataset's owner before use or redistribution"
           if options.license == "other" else options.license)
    parts.append(
        f"License: {_md(lic)}. The conversations are synthetic: the people, figures and situations are invented, "
        "and nothing here is financial advice. They model how an assistant responds to emotion in a "
        "financial-planning conversation, including when it refers a person to another professional or, in a "
        "crisis, to the 988 Suicide & Crisis Lifeline.\n")
    parts.append(f"Made by {GENERATOR}, export format {EXPORT_VERSION}, from the {_md(source)}.\n")
    return "\n".join(parts)


def dataset_name(items: Sequence[Item], options: ExportOptions) -> str:
    if options.name:
        return options.name
    names = Counter(str((i.doc.get("dataset") or {}).get("name") or "") for i in items)
    names.pop("", None)
    return names.most_common(1)[0][0] if names else "brightrun-dataset"


def dataset_version(items: Sequence[Item]) -> str:
    versions = Counter(str((i.doc.get("dataset") or {}).get("version") or "") for i in items)
    versions.pop("", None)
    return versions.most_common(1)[0][0] if versions else ""


def build_manifest(items: Sequence[Item], skipped: Sequence[Mapping[str, str]], options: ExportOptions, tax: Taxonomy,
                   files: Sequence[FileEntry], groups: Mapping[str, int], *, source: str = "database",
                   now: datetime | None = None) -> dict[str, Any]:
    per_split = Counter(i.split for i in items)
    turns = Counter()  # type: Counter[str]
    for i in items:
        turns[i.split] += len(i.turns)
    formats = {}
    for fid in options.formats:
        fmt = FORMATS[fid]
        formats[fid] = {"label": fmt.label, "version": fmt.version,
                        "files": [f.path for f in files if f.format == fid]}
    return {
        "manifest_version": EXPORT_VERSION,
        "generator": GENERATOR,
        "created_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "source": source,
        "dataset": {"name": dataset_name(items, options), "version": dataset_version(items),
                    "vertical": tax.vertical.id, "conversation_format_version": FORMAT_VERSION},
        "selection": {"mode": options.selection, "review_statuses": options.statuses(),
                      "filters": options.active_filters(), "description": options.describe(tax)},
        "split": {"eval_ratio": options.eval_ratio, "seed": options.seed, "grouped_by": "scenario",
                  "stratified_by": ["emotional_arc", "persona"],
                  "scenarios": {s: int(groups.get(s, 0)) for s in SPLITS}},
        "options": {"formats": list(options.formats), "weights": options.weights, "license": options.license},
        "counts": {"conversations": len(items), "scenarios": len({i.group for i in items}),
                   "turns": sum(turns.values()), "train": per_split.get("train", 0), "eval": per_split.get("eval", 0),
                   "turns_train": turns.get("train", 0), "turns_eval": turns.get("eval", 0), "skipped": len(skipped)},
        "skipped": list(skipped),
        "formats": formats,
        "taxonomy": {"vertical": tax.vertical.id, "version": tax.vertical.version, "sha256": tax.sha256},
        "files": [{"path": f.path, "format": f.format, "split": f.split, "records": f.records, "bytes": f.bytes,
                   "sha256": f.sha256} for f in files],
    }


# ---- after writing --------------------------------------------------------------------------------
def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verify(folder: str | Path) -> list[str]:
    """Files whose size or sha256 differs from the manifest (empty: the export is intact)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return ["manifest.json is missing or unreadable"]
    problems = []
    for f in manifest["files"]:
        path = folder / f["path"]
        if not path.is_file():
            problems.append(f"{f['path']}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != f["sha256"]:
            problems.append(f"{f['path']}: sha256 differs from the manifest")
    return problems


def preview(folder: str | Path, n: int = 3) -> dict[str, Any]:
    """The first n records of each file of an export, as its consumers would read them:
    path -> list of records (JSON files and parquet), a DataFrame head (CSV) or text (the card)."""
    folder = Path(folder)
    manifest = read_manifest(folder) or {"files": []}
    out: dict[str, Any] = {}
    for f in manifest["files"]:
        path = folder / f["path"]
        if not path.is_file():
            continue
        if path.suffix == ".jsonl":
            records = []
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if len(records) >= n:
                        break
                    if line.strip():
                        records.append(json.loads(line))
            out[f["path"]] = records
        elif path.suffix == ".json":
            records = []
            with open(path, encoding="utf-8") as fh:  # one element per line, as export() writes it
                for line in fh:
                    line = line.strip().rstrip(",")
                    if len(records) >= n:
                        break
                    if line not in ("[", "]", "[]", ""):
                        records.append(json.loads(line))
            out[f["path"]] = records
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=max(n, 1)), None)
            out[f["path"]] = batch.to_pylist()[:n] if batch is not None else []
        elif path.suffix == ".csv":
            import pandas as pd

            out[f["path"]] = pd.read_csv(path, nrows=n, keep_default_na=False)
        elif path.suffix == ".md":
            out[f["path"]] = path.read_text(encoding="utf-8")
    return out


def default_dest(root: Path, name: str) -> Path:
    """root/<name as a safe folder name>."""
    return root / slug(name)


def slug(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")
    return value[:80] or "export"


def exports_root() -> Path:
    """<BRIGHTRUN_DATA_DIR>/exports: where the page and the CLI put exports by default."""
    from lib.config import Settings

    return Settings.load().data_dir / "exports"


# ---- from the store ------------------------------------------------------------------------------
def run(store: Store, options: ExportOptions, tax: Taxonomy, dest: str | Path, *, make_zip: bool = True,
        cli: bool = False) -> ExportResult:
    """Select from the store, then export(). NothingToExport says why nothing matched."""
    check_options(options, tax)
    rows = store.export_conversations(options.active_filters(), options.statuses())
    if not rows:
        matching = store.export_counts(options.active_filters())
        total = sum(store.export_counts(None).values()) if options.active_filters() else sum(matching.values())
        raise NothingToExport(explain_empty(options, tax, matching, total, cli=cli))
    return export(rows, options, tax, dest, make_zip=make_zip, source=f"{getattr(store, 'kind', 'database')} database")


# ---- CLI ----------------------------------------------------------------------------------------
def _parse_filters(values: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, ids = value.partition("=")
        if not sep or not ids:
            raise ExportError(f"--filter {value!r}: expected KEY=ID[,ID...], e.g. persona=anxious_planner")
        if key not in FILTER_BY_KEY:
            raise ExportError(f"--filter {value!r}: unknown dimension {key!r}; expected one of {', '.join(FILTER_BY_KEY)}")
        out.setdefault(key, []).extend(v for v in ids.split(",") if v)
    return out


def _parse_formats(value: str) -> list[str]:
    if value.strip() == "all":
        return list(FORMATS)
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    for w in wanted:
        if w not in FORMATS:
            raise ExportError(f"--formats: unknown format {w!r}; expected all or some of {', '.join(FORMATS)}")
    return wanted


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib export") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Export conversations for training (the Export page's options).")
    parser.add_argument("--out", default=None, help="export folder (default: <data dir>/exports/brightrun-<selection>)")
    parser.add_argument("--selection", choices=list(SELECTIONS), default="approved",
                        help="approved (default), all (every generated conversation not rejected), custom")
    parser.add_argument("--filter", action="append", default=[], metavar="KEY=ID[,ID]",
                        help=f"custom: keep these ids of a dimension ({', '.join(FILTER_BY_KEY)}); repeatable")
    parser.add_argument("--review-status", action="append", default=[], choices=list(REVIEW_STATUSES),
                        help="custom: review statuses to include (default approved); repeatable")
    parser.add_argument("--formats", default="all", help=f"all, or a comma list of {', '.join(FORMATS)}")
    parser.add_argument("--eval-ratio", type=float, default=0.1, help="share of scenarios in eval, 0-0.5 (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="split seed; the same seed gives the same split")
    parser.add_argument("--weights", action="store_true",
                        help="weight assistant messages 1 (approved target) or 0 in the messages format")
    parser.add_argument("--license", default="other", help="license id for the dataset card (default other)")
    parser.add_argument("--name", default=None, help="dataset name in the card (default: from the conversations)")
    parser.add_argument("--from", dest="source", default=None, metavar="PATH",
                        help="read full-format .json/.jsonl files (e.g. seeds/) instead of the database")
    parser.add_argument("--no-zip", action="store_true", help="do not write <out>.zip")
    parser.add_argument("--preview", type=int, default=0, metavar="N", help="print the first N records of each file")
    args = parser.parse_args(argv)
    from lib.config import ConfigError
    from lib.core.taxonomy import TaxonomyError, load_taxonomy

    try:
        if (args.filter or args.review_status) and args.selection != "custom":
            raise ExportError("--filter and --review-status need --selection custom")
        options = ExportOptions(selection=args.selection, filters=_parse_filters(args.filter),
                                review_statuses=args.review_status or ["approved"],
                                formats=_parse_formats(args.formats), eval_ratio=args.eval_ratio, seed=args.seed,
                                weights=args.weights, license=args.license, name=args.name)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        print(f"error: {loc.replace('_', '-')}: {err['msg']}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        tax = load_taxonomy()
        dest = Path(args.out) if args.out else default_dest(exports_root(), f"brightrun-{options.selection}")
        if args.source:
            items, skipped = prepare(load_files(args.source))
            check_options(options, tax)
            chosen = select_in_memory(items, options, tax)
            if not chosen:
                matching = count_in_memory(items, options.active_filters(), tax)
                raise NothingToExport(explain_empty(options, tax, matching, len(items), cli=True))
            result = export(chosen, options, tax, dest, make_zip=not args.no_zip, source=f"files in {args.source}")
            result.skipped = skipped + result.skipped
        else:
            from lib.store import StoreError, open_store

            try:
                store = open_store()
            except StoreError as exc:
                raise ExportError(str(exc)) from None
            try:
                result = run(store, options, tax, dest, make_zip=not args.no_zip, cli=True)
            except StoreError as exc:
                raise ExportError(str(exc)) from None
            finally:
                store.close()
    except NothingToExport as exc:
        print(f"nothing to export: {exc}", file=sys.stderr)
        return 3
    except (ExportError, TaxonomyError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write the export: {exc}", file=sys.stderr)
        return 1
    c = result.counts
    print(f"exported {c['conversations']} conversations ({c['turns']} turns, {c['scenarios']} scenarios): "
          f"train {c['train']}, eval {c['eval']}, in {result.seconds:.2f} s")
    print(f"folder   {result.path}")
    if result.zip_path:
        print(f"zip      {result.zip_path} ({result.zip_path.stat().st_size:,} bytes)")
    for f in result.manifest["files"]:
        print(f"  {f['path']:<42} {f['records']:>7} records {f['bytes']:>12,} bytes  sha256 {f['sha256'][:12]}")
    for s in result.skipped:
        print(f"skipped  {s['id']}: {s['reason']}", file=sys.stderr)
    if args.preview > 0:
        for path, records in preview(result.path, args.preview).items():
            print(f"\n== {path}")
            if isinstance(records, str):
                print(records[:3000])
            elif isinstance(records, list):
                for r in records:
                    print(json.dumps(r, ensure_ascii=False, default=str)[:2000])
            else:
                print(records.to_string(max_colwidth=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
