"""Which conversations to export (the current version of each scenario):
- approved (the default): review status approved;
- all: every generated conversation that was not rejected (unreviewed, approved, needs_edit);
- custom: the dimension filters (persona, emotional state, arc, topic, ...) and the review
  statuses given (approved unless told otherwise; rejected only when asked for).
Any of them can also ask for a minimum rating and for no hard-rule failure (lib/export/quality.py),
and to leave out near-duplicates: of each cluster of conversations that repeat each other
(lib/core/similarity.py), only the earliest is kept.

The options the page and the CLI ask for, checking them, reading the selection from a store or from
full-format files, and saying why nothing matched."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lib.core import similarity
from lib.core import vocabulary as vocab
from lib.core.filters import DIMENSIONS, Dimension
from lib.core.models import Conversation
from lib.core.rubric import RubricError, default_rubric
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import DEMO_MODEL, is_demo
from lib.export.errors import ExportError, NothingToExport
from lib.export.formats import FORMATS, FormatId
from lib.export.items import Item, prepare
from lib.export.preference import is_negative
from lib.store.protocol import ExportRow, Store

REVIEW_STATUSES: tuple[str, ...] = tuple(vocab.REVIEW_STATUSES)
REVIEW_LABELS: dict[str, str] = vocab.labels(vocab.REVIEW_STATUSES)
# "all generated": everything a person has not thrown out
ALL_STATUSES: tuple[str, ...] = ("unreviewed", "approved", "needs_edit")

Selection = Literal["approved", "all", "custom"]
SELECTIONS: dict[str, str] = {"approved": "Approved", "all": "All generated (not rejected)", "custom": "Custom filter"}

# The scenario table's dimensions (lib.core.filters) without its status, plus the arc itself.
FILTER_DIMENSIONS: tuple[Dimension, ...] = (
    *(d for d in DIMENSIONS if d.key not in ("status",)),
    Dimension("emotional_arc", "Emotional arc", "arcs"),
)
FILTER_BY_KEY: dict[str, Dimension] = {d.key: d for d in FILTER_DIMENSIONS}
# Hugging Face Hub license ids the page and the CLI offer (the Hub refuses any other id)
LICENSES: tuple[str, ...] = (
    "other",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "apache-2.0",
    "mit",
    "cdla-permissive-2.0",
    "unknown",
)
BATCH = 250  # conversations an export reads and holds at a time: ~5 MB of documents


def _approved_only() -> list[vocab.ReviewStatus]:
    return ["approved"]


class ExportOptions(BaseModel):
    """What the page and the CLI ask for; the manifest records it."""

    model_config = ConfigDict(extra="forbid")

    selection: Selection = "approved"
    filters: dict[str, list[str]] = Field(default_factory=dict, description="custom only: dimension -> ids")
    review_statuses: list[vocab.ReviewStatus] = Field(default_factory=_approved_only, description="custom only")
    formats: list[FormatId] = Field(default_factory=lambda: list(FORMATS))  # type: ignore[arg-type]
    eval_ratio: float = Field(0.1, ge=0, le=0.5)
    seed: int = 0
    weights: bool = False
    license: str = Field("other", description="a Hugging Face Hub license id (LICENSES)")
    name: str | None = Field(None, max_length=100, description="dataset name in the card; None: from the data")
    min_rating: int | None = Field(None, ge=1, le=5, description="every rating in force at least this")
    min_ratings: dict[str, int] = Field(default_factory=dict, description="criterion -> its rating in force at least")
    no_hard_failures: bool = Field(False, description="leave out a hard integrity check or hard criterion failed")
    no_near_duplicates: bool = Field(
        False, description="leave out every member of a near-duplicate cluster but its earliest"
    )
    include_demo: bool = Field(
        False, description="keep the conversations and contrastive pairs a demo replay wrote (not for training)"
    )

    @field_validator("formats")
    @classmethod
    def _some_formats(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("choose at least one format")
        return [f for f in FORMATS if f in value]  # canonical order, no duplicates

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        if value not in LICENSES:
            raise ValueError(
                f"{value!r} is not a Hub license id the export offers; expected one of {', '.join(LICENSES)}"
            )
        return value

    @field_validator("filters")
    @classmethod
    def _known_dimensions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key in value:
            if key not in FILTER_BY_KEY:
                raise ValueError(f"unknown filter {key!r}; expected one of {', '.join(FILTER_BY_KEY)}")
        return {k: list(dict.fromkeys(v)) for k, v in value.items() if v}

    @field_validator("min_ratings")
    @classmethod
    def _scores(cls, value: dict[str, int]) -> dict[str, int]:
        for criterion, score in value.items():
            if not 1 <= int(score) <= 5:
                raise ValueError(f"the minimum rating of {criterion} must be 1 to 5, not {score}")
        return {k: int(v) for k, v in sorted(value.items())}

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

    def quality_active(self) -> bool:
        return self.min_rating is not None or bool(self.min_ratings) or self.no_hard_failures or self.no_near_duplicates

    def quality_text(self) -> str:
        """'rated at least 3 (safety at least 4), no hard-rule failure', or ''."""
        parts = []
        if self.min_rating is not None or self.min_ratings:
            each = ", ".join(f"{c} at least {n}" for c, n in self.min_ratings.items())
            if self.min_rating is not None:
                parts.append(f"rated at least {self.min_rating}" + (f" ({each})" if each else ""))
            else:
                parts.append(f"rated {each}")
        if self.no_hard_failures:
            parts.append("no hard-rule failure")
        if self.no_near_duplicates:
            parts.append("no near-duplicates")
        return ", ".join(parts)

    def describe(self, tax: Taxonomy) -> str:
        """'approved conversations' / 'persona: Anxious planner; tier: Template (approved, needs edit)'."""
        statuses = ", ".join(REVIEW_LABELS[s].lower() for s in self.statuses())
        chips = filter_chips(self.active_filters(), tax)
        quality = f"; {self.quality_text()}" if self.quality_active() else ""
        if not chips:
            return (
                f"{statuses} conversations" if self.selection != "all" else f"all generated conversations ({statuses})"
            ) + quality
        return "; ".join(chips) + f" ({statuses})" + quality


def filter_chips(filters: Mapping[str, Sequence[str]], tax: Taxonomy) -> list[str]:
    out = []
    for dim in FILTER_DIMENSIONS:
        values = filters.get(dim.key) or []
        if values:
            names = tax.names(dim.taxonomy) if dim.taxonomy else {}
            out.append(f"{dim.label}: {', '.join(names.get(v, v) for v in values)}")
    return out


def check_options(options: ExportOptions, tax: Taxonomy) -> None:
    """Every filter value is a known id of its dimension, every minimum rating a criterion of the rubric;
    raise ExportError naming the first that is not."""
    if options.min_ratings:
        try:
            rubric = default_rubric(tax.path)
        except RubricError as exc:
            raise ExportError(str(exc)) from None
        for criterion in options.min_ratings:
            if criterion not in rubric.ids:
                raise ExportError(
                    f"minimum rating of {criterion!r}: the rubric has no such criterion; expected one "
                    f"of {', '.join(rubric.ids)}"
                )
    for key, values in options.active_filters().items():
        dim = FILTER_BY_KEY[key]
        known = tax.ids(dim.taxonomy) if dim.taxonomy else []
        for value in values:
            if value not in known:
                raise ExportError(
                    f"filter {key}: unknown {dim.label.lower()} {value!r}; expected one of {', '.join(known)}"
                )


def rows_from_conversations(
    conversations: Iterable[Conversation], scenario_ids: Sequence[int | None] | None = None
) -> list[ExportRow]:
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
        docs: list[tuple[int | None, Any]]
        if file.suffix == ".jsonl":
            docs = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ExportError(f"{file}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
            docs = [(None, d) for d in (data if isinstance(data, list) else [data])]
        for line, doc in docs:
            if is_negative(doc):  # an earlier export's failed responses: the rejected side of its pairs
                continue
            where = f"{file}" + (f": line {line}" if line else "")
            try:
                conv = (
                    Conversation.model_validate_json(doc) if isinstance(doc, str) else Conversation.model_validate(doc)
                )
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                raise ExportError(f"{where}: {loc}: {err['msg']} (expected the full dataset format)") from None
            convs.append(conv)
    return rows_from_conversations(convs)


def _start_emotion(tax: Taxonomy) -> dict[str, str]:
    return {a.id: a.start_emotion for a in tax.arcs}


def dimension_values(doc: Mapping[str, Any], tax: Taxonomy) -> dict[str, str | None]:
    """The filter dimensions of a document (start emotion and cluster from the taxonomy, as the database does)."""
    s = doc.get("scenario") or {}
    arc = s.get("emotional_arc")
    return {
        "persona": s.get("persona"),
        "start_emotion": _start_emotion(tax).get(arc or ""),
        "emotional_arc": arc,
        "topic_cluster": tax.cluster_of.get(s.get("topic") or ""),
        "intent": s.get("intent"),
        "tone": s.get("tone"),
        "topic": s.get("topic"),
        "outcome_type": s.get("outcome_type"),
        "tier": s.get("tier"),
    }


def count_in_memory(items: Iterable[Item], filters: Mapping[str, Sequence[str]], tax: Taxonomy) -> dict[str, int]:
    """Items per review status among those that pass the filters (what Store.export_counts says)."""
    out: Counter[str] = Counter()
    for item in items:
        dims = dimension_values(item.doc, tax)
        if all(not v or dims.get(k) in v for k, v in filters.items()):
            out[(item.doc.get("review") or {}).get("status", "unreviewed")] += 1
    return dict(out)


def replayed(doc: Mapping[str, Any] | str) -> bool:
    """Did a demo replay store this conversation (its document, or the document's JSON text)?"""
    if isinstance(doc, str):  # most are not: read the JSON only when the model's name is in it
        return DEMO_MODEL in doc and replayed(json.loads(doc))
    return is_demo((doc.get("provenance") or {}).get("model"))


def select_in_memory(items: Iterable[Item], options: ExportOptions, tax: Taxonomy) -> list[Item]:
    statuses = set(options.statuses())
    filters = options.active_filters()
    out = []
    for item in items:
        if (item.doc.get("review") or {}).get("status", "unreviewed") not in statuses:
            continue
        if not options.include_demo and replayed(item.doc):
            continue
        dims = dimension_values(item.doc, tax)
        if all(dims.get(k) in v for k, v in filters.items()):
            out.append(item)
    return out


def near_duplicate_repeats(docs: Sequence[similarity.Doc], tax: Taxonomy) -> dict[str, str]:
    """The later members of each near-duplicate cluster among `docs` (the whole selection: a cluster
    can span any two batches of a streamed export) -> the id of the earliest member, the one kept."""
    found = similarity.clusters(docs, similarity.Rule.of(tax.targets.quality))
    return {member: c.kept for c in found for member in c.repeats}


def item_docs(items: Sequence[Item]) -> list[similarity.Doc]:
    """Conversations read from files, as the near-duplicate search sees them."""
    return [
        similarity.Doc(
            item.id,
            str((item.doc.get("provenance") or {}).get("created_at") or ""),
            tuple(str(t.get("text") or "") for t in item.turns),
        )
        for item in items
    ]


def store_docs(store: Store, options: ExportOptions) -> list[similarity.Doc]:
    """The texts of the store's current conversations with a review status the export selects."""
    statuses = set(options.statuses())
    return [
        similarity.Doc(str(r["id"]), str(r["created_at"]), tuple(r.get("texts") or ()))
        for r in store.conversation_texts()
        if r.get("review_status") in statuses
    ]


def explain_empty(
    options: ExportOptions, tax: Taxonomy, matching: Mapping[str, int], total: int, *, cli: bool = False
) -> str:
    """Why nothing matched, and what to change. matching: review status -> conversations that pass
    the dimension filters; total: every current conversation."""
    statuses = options.statuses()
    wanted = " or ".join(REVIEW_LABELS[s].lower() for s in statuses)
    if total == 0:
        return (
            "There are no conversations yet. Generate some first (Generate page, or `python -m lib worker`); "
            "the seed conversations are imported when the database starts."
        )
    n_match = sum(matching.values())
    have = ", ".join(f"{n} {REVIEW_LABELS.get(s, s).lower()}" for s, n in sorted(matching.items()) if n)
    if options.active_filters() and n_match == 0:
        where = "the --filter options" if cli else "the custom filter above"
        return (
            f"No conversation matches the filters ({'; '.join(filter_chips(options.active_filters(), tax))}), "
            f"out of {total} conversations in all. Remove a filter value in {where}."
        )
    hints = {  # selection -> (page, CLI)
        "approved": (
            "review them on the Review page, or choose 'All generated'",
            "review them first, or use --selection all",
        ),
        "all": (
            "to export rejected ones anyway, choose 'Custom filter' with the Rejected status",
            "to export rejected ones anyway, use --selection custom --review-status rejected",
        ),
        "custom": ("add their review status in the custom filter above", "add their status with --review-status"),
    }
    hint = hints[options.selection][1 if cli else 0]
    scope = "The filters match" if options.active_filters() else ("There are" if n_match != 1 else "There is")
    return f"{scope} {n_match} conversation{'s' if n_match != 1 else ''} ({have}), but none is {wanted}: {hint}."


def _nothing_in(store: Store, options: ExportOptions, tax: Taxonomy, cli: bool) -> NothingToExport:
    matching = store.export_counts(options.active_filters())
    total = sum(store.export_counts(None).values()) if options.active_filters() else sum(matching.values())
    return NothingToExport(explain_empty(options, tax, matching, total, cli=cli))


def stream_from_store(
    store: Store, options: ExportOptions, tax: Taxonomy, *, cli: bool = False, batch: int | None = None
) -> Iterator[list[ExportRow]]:
    """The selected rows of the store in batches of `batch` (default BATCH; keyset pages by scenario
    id), so an export holds one batch at a time. The first page is read now: NothingToExport says why
    nothing matched."""
    check_options(options, tax)
    batch = batch or BATCH
    filters, statuses = options.active_filters(), options.statuses()
    first = store.export_conversations(filters, statuses, limit=batch)
    if not first:
        raise _nothing_in(store, options, tax, cli)

    def pages() -> Iterator[list[ExportRow]]:
        rows = first
        while rows:
            yield rows if options.include_demo else [r for r in rows if not replayed(r.document)]
            if len(rows) < batch or rows[-1].scenario_id is None:
                return
            rows = store.export_conversations(filters, statuses, limit=batch, after_scenario_id=rows[-1].scenario_id)

    return pages()


def select_from_files(
    path: str | Path, options: ExportOptions, tax: Taxonomy, *, cli: bool = False
) -> tuple[list[Item], list[dict[str, str]]]:
    """The selected conversations of the full-format files at `path` (see load_files), parsed, and
    those that no training format can hold, with the reason. NothingToExport says why nothing matched."""
    items, skipped = prepare(load_files(path))
    check_options(options, tax)
    chosen = select_in_memory(items, options, tax)
    if not chosen:
        matching = count_in_memory(items, options.active_filters(), tax)
        raise NothingToExport(explain_empty(options, tax, matching, len(items), cli=cli))
    return chosen, skipped
