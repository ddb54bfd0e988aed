"""One export from start to finish: parse the selected rows, apply the quality options, split them,
write every chosen format, the dataset card and the manifest (last: a folder with it is complete), zip
it, and put it in place. The same data and options give byte-identical files (the manifest's created_at
aside)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from lib.core.taxonomy import Taxonomy
from lib.export import secret_check
from lib.export.card import dataset_card, dataset_stats
from lib.export.errors import ExportError, NothingToExport
from lib.export.formats import write_formats
from lib.export.items import Item, prepare
from lib.export.manifest import build_manifest
from lib.export.quality import apply_quality, nothing_left
from lib.export.select import ExportOptions, check_options, select_from_store
from lib.export.split import SPLITS, assign_splits
from lib.export.targets import item_flags, suited_strategies
from lib.export.writer import Folder, check_destination, clean_leftovers, swap_into_place, zip_folder
from lib.store.protocol import ExportRow, Store


@dataclass
class ExportResult:
    path: Path
    zip_path: Path | None
    manifest: dict[str, Any]
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    excluded: list[dict[str, Any]] = field(default_factory=list)  # left out by the quality options

    @property
    def counts(self) -> dict[str, Any]:
        return self.manifest["counts"]


def export(
    rows: Sequence[ExportRow] | Sequence[Item],
    options: ExportOptions,
    tax: Taxonomy,
    dest: str | Path,
    *,
    make_zip: bool = True,
    source: str = "database",
    now: datetime | None = None,
    ratings: Mapping[str, Mapping[str, Any]] | None = None,
) -> ExportResult:
    """Write the export of `rows` (already selected) to the folder `dest`, replacing an earlier
    export there only once every file is written. ratings: conversation id -> its ratings in force
    (v_conversation_quality), for the quality options; None when there are none to read (files).
    Raises NothingToExport when no row can be exported, ExportError for anything else a person can fix."""
    started = time.perf_counter()
    dest = Path(dest).resolve()
    check_options(options, tax)
    check_destination(dest)
    items: list[Item]
    skipped: list[dict[str, str]]
    if rows and isinstance(rows[0], Item):
        items, skipped = list(cast("Sequence[Item]", rows)), []
    else:
        items, skipped = prepare(cast("Sequence[ExportRow]", rows))
    if not items:
        reasons = "; ".join(f"{s['id']}: {s['reason']}" for s in skipped[:3])
        raise NothingToExport(
            "None of the selected conversations can be exported" + (f" ({reasons})" if reasons else "") + "."
        )
    if ratings is None and (options.min_rating is not None or options.min_ratings):
        raise ExportError(
            "a minimum rating reads the ratings in the database; export from the database, or "
            "leave the minimum rating out"
        )
    outcome = apply_quality(items, options, tax, ratings)
    if not outcome.kept:
        raise NothingToExport(nothing_left(outcome))
    items = outcome.kept
    for item in items:
        row = (ratings or {}).get(item.id) or {}
        item.ratings = {str(c): int(s) for c, s in (row.get("scores") or {}).items()}
    secret_check.check_items(items)
    groups = assign_splits(items, options.eval_ratio, options.seed)
    suited = suited_strategies(tax)
    for item in items:
        item_flags(item, suited)
    by_split = {s: [i for i in items if i.split == s] for s in SPLITS}
    by_split = {s: part for s, part in by_split.items() if part}
    splits = list(by_split)

    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    zip_tmp: Path | None = None
    folder = Folder(tmp)
    try:
        write_formats(folder, options.formats, by_split, tax, options.weights, suited)
        stats = dataset_stats(items, tax, suited)
        card = dataset_card(
            items,
            options,
            tax,
            folder.files,
            stats,
            splits,
            source=source,
            excluded=outcome.excluded,
            ratings_checked=ratings is not None,
        )
        secret_check.check_text(card, "README.md")
        folder.write("README.md", [card.encode("utf-8")], fmt="card", split=None, records=0)
        manifest = build_manifest(
            items,
            skipped,
            options,
            tax,
            folder.files,
            groups,
            source=source,
            now=now,
            excluded=outcome.excluded,
            ratings_checked=ratings is not None,
        )
        manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        secret_check.check_text(manifest_text, "manifest.json")
        (tmp / "manifest.json").write_text(manifest_text, encoding="utf-8")  # last: a folder with it is complete
        folder.close()
        if make_zip:
            zip_tmp = dest.parent / f".{dest.name}.zip.tmp-{os.getpid()}-{time.monotonic_ns()}"
            zip_folder(tmp, zip_tmp, dest.name)
        swap_into_place(tmp, dest)
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
    return ExportResult(dest, zip_path, manifest, skipped, round(time.perf_counter() - started, 3), outcome.excluded)


def run(
    store: Store, options: ExportOptions, tax: Taxonomy, dest: str | Path, *, make_zip: bool = True, cli: bool = False
) -> ExportResult:
    """Select from the store with the ratings in force (for the quality options and metadata.csv), then
    export(). NothingToExport says why nothing matched."""
    rows = select_from_store(store, options, tax, cli=cli)
    ratings = {r["conversation_id"]: r for r in store.conversation_quality(current_only=True)}
    return export(
        rows,
        options,
        tax,
        dest,
        make_zip=make_zip,
        source=f"{getattr(store, 'kind', 'database')} database",
        ratings=ratings,
    )
