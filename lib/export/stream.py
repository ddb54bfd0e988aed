"""An export streamed in two passes, so memory holds a batch of conversations, not the dataset:

1. collect: each batch of rows (from the database a page at a time) is parsed, filtered by the quality
   options, checked for secrets and counted (Stats); its records for every chosen format are encoded
   once and appended to a spool file, with the conversation's scenario group. What is kept in memory
   per conversation is its group, stratum and turn count: what the split needs.
2. write: once the split is decided, the spool is read back once and each record goes to its files
   (parquet through a pyarrow writer per file), so every file is written incrementally."""

from __future__ import annotations

import gc
import pickle
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lib.core.taxonomy import Taxonomy
from lib.export import parquet, preference, secret_check
from lib.export.codec import dumpb
from lib.export.formats import (
    CSV_COLUMNS,
    PATHS,
    csv_lines,
    csv_row,
    full_head,
    full_line,
    hf_path,
    messages_record,
    sharegpt_record,
)
from lib.export.items import Item, prepare
from lib.export.quality import apply_quality
from lib.export.select import BATCH, ExportOptions
from lib.export.stats import Stats
from lib.export.targets import item_flags
from lib.export.writer import Folder, Sink
from lib.store.protocol import ExportRow

CHAT_FORMATS = ("messages", "sharegpt")


@dataclass
class Collected:
    """What the first pass keeps: the figures, and per conversation (in order) its group, stratum
    (arc, persona), pinned split and number of turns."""

    spool: Path
    stats: Stats = field(default_factory=Stats)
    keys: list[tuple[str, tuple[str, str], str | None, int]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)


def batches(rows: Sequence[ExportRow] | Sequence[Item] | Iterable[Sequence[ExportRow]]) -> Iterator[Sequence[Any]]:
    """A list of rows (or items) in batches; an iterator of batches as it is."""
    if isinstance(rows, Sequence):
        for start in range(0, len(rows), BATCH):
            yield rows[start : start + BATCH]
    else:
        yield from rows


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Parsing makes millions of short-lived objects without cycles, and the collector's full passes
    over them cost a fifth of an export's time: the collector waits while the batches are parsed
    (process-wide, for seconds; objects with cycles are collected as soon as it is back on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def collect(
    source: Iterable[Sequence[Any]],
    options: ExportOptions,
    tax: Taxonomy,
    ratings: Mapping[str, Mapping[str, Any]] | None,
    suited: Mapping[str, frozenset[str]],
    spool: Path,
    repeats: Mapping[str, str] | None = None,
    pairs: preference.PairReader | None = None,
) -> Collected:
    """pairs: reads the accepted contrastive pairs of a batch's conversations (None: there are none, as
    for files); each conversation's pairs are spooled with it and written in its split."""
    out = Collected(spool)
    seen: set[str] = set()
    secrets = secret_check.secret_values()
    formats = set(options.formats)
    with fewer_collections(), open(spool, "wb") as f:
        for batch in source:
            if batch and isinstance(batch[0], Item):
                items = list(cast("Sequence[Item]", batch))
            else:
                items, skipped = prepare(cast("Sequence[ExportRow]", batch), seen)
                out.skipped += skipped
            outcome = apply_quality(items, options, tax, ratings, repeats)
            out.excluded += outcome.excluded
            items = outcome.kept
            if not items:
                continue
            secret_check.check_items(items, secrets)
            read = preference.selected(pairs([i.id for i in items]), options.include_demo) if pairs else []
            paired = preference.by_conversation(read, secrets)
            records = []
            for item in items:
                row = (ratings or {}).get(item.id) or {}
                item.ratings = {str(c): int(s) for c, s in (row.get("scores") or {}).items()}
                item_flags(item, suited)
                out.stats.add(item, tax, suited)
                item_pairs = paired.get(item.id, [])
                out.stats.pair_kinds.update(str(p["failure_kind"]) for p in item_pairs)
                s = item.scenario
                pin = item.training.get("split")
                stratum = (sys.intern(str(s.get("emotional_arc"))), sys.intern(str(s.get("persona"))))
                out.keys.append((item.group, stratum, pin, len(item.turns)))  # interned: one string per arc
                records.append(
                    (
                        item.group,
                        full_head(item.raw) if formats & {"full_jsonl", "full_json"} else b"",
                        item.training,
                        dumpb(messages_record(item, options.weights, suited)) if "messages" in formats else None,
                        dumpb(sharegpt_record(item, options.weights, suited)) if "sharegpt" in formats else None,
                        csv_row(item, tax, suited) if "csv" in formats else None,
                        item_pairs,
                    )
                )
            tables = parquet.tables(items, tax, options.weights, suited) if "hf" in formats else None
            pickle.dump((records, tables), f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _spooled(path: Path) -> Iterator[tuple[list[tuple[Any, ...]], dict[str, Any] | None]]:
    with open(path, "rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return


def write_files(
    folder: Folder, collected: Collected, split_of: Mapping[str, str], splits: Sequence[str], options: ExportOptions
) -> None:
    """Every chosen format's files from one read of the spool: a file per split for the chat formats
    and parquet; full/ and metadata.csv in the order the conversations were read (each row says its
    split), so a split's rows keep the order of its files."""
    import pyarrow as pa

    formats = set(options.formats)
    jsonl = folder.open(PATHS["full_jsonl"](""), fmt="full_jsonl", split=None) if "full_jsonl" in formats else None
    json_ = folder.open(PATHS["full_json"](""), fmt="full_json", split=None) if "full_json" in formats else None
    csv = folder.open(PATHS["csv"](""), fmt="csv", split=None) if "csv" in formats else None
    if json_ is not None:
        json_.write(b"[\n")
    if csv is not None:
        csv.write(csv_lines([CSV_COLUMNS]))
    chat: dict[tuple[str, str], Sink] = {
        (fmt, split): folder.open(PATHS[fmt](split), fmt=fmt, split=split)
        for split in splits
        for fmt in CHAT_FORMATS
        if fmt in formats
    }
    schemas = parquet.schemas(options.weights)
    tables: dict[tuple[str, str], parquet.ParquetFile] = {}
    if "hf" in formats:
        tables = {
            (c, split): parquet.ParquetFile(folder.root / hf_path(c, split), schemas[c])
            for split in splits
            for c in parquet.CONFIGS
        }
    pairs = preference.PreferenceFiles(folder, formats)
    first = True
    for records, batch_tables in _spooled(collected.spool):
        of = [split_of[r[0]] for r in records]
        pairs.add([(r[6], split) for r, split in zip(records, of, strict=True) if r[6]])
        lines = []
        if jsonl is not None or json_ is not None:
            lines = [full_line(h, training, split) for (_, h, training, *_), split in zip(records, of, strict=True)]
        if jsonl is not None:
            jsonl.write(b"\n".join(lines) + b"\n", len(lines))
        if json_ is not None:
            json_.write((b"" if first else b",\n") + b",\n".join(lines), len(lines))
            first = False
        if csv is not None:
            rows = [r[5] for r in records]
            for row, split in zip(rows, of, strict=True):
                row[1] = split
            csv.write(csv_lines(rows), len(rows))
        for split in splits:
            mask = [s == split for s in of]
            if not any(mask):
                continue
            for n, fmt in ((3, "messages"), (4, "sharegpt")):
                if (fmt, split) in chat:
                    picked = [r[n] for r, keep in zip(records, mask, strict=True) if keep]
                    chat[fmt, split].write(b"\n".join(picked) + b"\n", len(picked))
            if batch_tables is not None:
                keep_mask = pa.array(mask)
                for config in parquet.CONFIGS:
                    tables[config, split].write(batch_tables[config].filter(keep_mask))
    collected.stats.pairs_per_split = pairs.close()
    for sink in chat.values():
        sink.close()
    for (config, split), writer in tables.items():
        writer.close()
        folder.add(hf_path(config, split), fmt="hf", split=split, records=writer.rows, config=config)
    if json_ is not None:
        json_.write(b"\n]\n")
    for whole in (jsonl, json_, csv):
        if whole is not None:
            whole.close()
