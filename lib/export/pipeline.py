"""One export from start to finish: stream the selected rows in batches (parse, quality options,
figures, spooled records: lib/export/stream), split them, write every chosen format, the trainer
configs, the dataset card and the manifest (last: a folder with it is complete), zip it, and put the
folder and the zip in place together. The same data and options give byte-identical files (the
manifest's created_at aside)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from lib.core.taxonomy import Taxonomy
from lib.export import secret_check, trainers
from lib.export.card import dataset_card
from lib.export.errors import ExportError, NothingToExport
from lib.export.formats import FORMATS
from lib.export.items import Item, prepare
from lib.export.manifest import build_manifest, dataset_name
from lib.export.preference import PairReader
from lib.export.quality import QualityOutcome, nothing_left
from lib.export.select import (
    ExportOptions,
    check_options,
    item_docs,
    near_duplicate_repeats,
    store_docs,
    stream_from_store,
)
from lib.export.split import SPLITS, split_groups
from lib.export.stats import Stats
from lib.export.stream import batches, collect, write_files
from lib.export.targets import suited_strategies
from lib.export.writer import Folder, Generation, check_destination, clean_leftovers, locked, zip_folder
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
    rows: Sequence[ExportRow] | Sequence[Item] | Iterable[Sequence[ExportRow]],
    options: ExportOptions,
    tax: Taxonomy,
    dest: str | Path,
    *,
    make_zip: bool = True,
    source: str = "database",
    now: datetime | None = None,
    ratings: Mapping[str, Mapping[str, Any]] | None = None,
    repeats: Mapping[str, str] | None = None,
    pairs: PairReader | None = None,
) -> ExportResult:
    """Write the export of `rows` (already selected: a list, or an iterator of batches read from the
    database) to the folder `dest`, putting it and its zip in place of an earlier export together, once
    every file is written. ratings: conversation id -> its ratings in force (v_conversation_quality),
    for the quality options; None when there are none to read (files). repeats: the near-duplicates of the
    whole selection (select.near_duplicate_repeats), found here when `rows` is a list. pairs: reads the
    accepted contrastive pairs of a batch of conversations (Store.export_preference_pairs) for the
    preference set; None: no preference set. Raises NothingToExport when no
    row can be exported, ExportError for anything else a person can fix."""
    started = time.perf_counter()
    dest = Path(dest)
    check_options(options, tax)
    if ratings is None and (options.min_rating is not None or options.min_ratings):
        raise ExportError(
            "a minimum rating reads the ratings in the database; export from the database, or "
            "leave the minimum rating out"
        )
    if options.no_near_duplicates and repeats is None:
        if not isinstance(rows, Sequence):
            raise ExportError("dropping near-duplicates needs the whole selection: read it with run(), or pass a list")
        items = list(rows) if rows and isinstance(rows[0], Item) else prepare(cast("Sequence[ExportRow]", rows))[0]
        repeats = near_duplicate_repeats(item_docs(cast("Sequence[Item]", items)), tax)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest = dest.parent.resolve() / dest.name  # not dest.resolve(): dest is a link to the export in place
    check_destination(dest)
    suited = suited_strategies(tax)
    with locked(dest.parent):
        clean_leftovers(dest)
        gen = Generation(dest)
        folder = Folder(gen.folder)
        try:
            got = collect(batches(rows), options, tax, ratings, suited, gen.root / "spool", repeats, pairs)
            if not got.keys:
                if got.excluded:
                    raise NothingToExport(nothing_left(QualityOutcome([], got.excluded)))
                reasons = "; ".join(f"{s['id']}: {s['reason']}" for s in got.skipped[:3])
                raise NothingToExport(
                    "None of the selected conversations can be exported" + (f" ({reasons})" if reasons else "") + "."
                )
            strata = {g: st for g, st, _, _ in got.keys}
            pinned: dict[str, str] = {}
            for g, _, pin, _ in got.keys:
                if pin in SPLITS and pinned.get(g) != "eval":  # a group pinned both ways goes to eval
                    pinned[g] = pin
            split_of = split_groups(strata, options.eval_ratio, options.seed, pinned)
            for g, st, _, turns in got.keys:
                got.stats.add_split(split_of[g], turns, st)
            got.stats.scenarios = len(strata)
            groups = Counter(split_of.values())
            splits = [s for s in SPLITS if got.stats.per_split.get(s)]
            write_files(folder, got, split_of, splits, options)
            (gen.root / "spool").unlink()
            extra_files(folder, options, splits, got.stats)
            order = {f: n for n, f in enumerate(FORMATS)}
            folder.files.sort(key=lambda f: (order.get(f.format, len(order)), SPLITS.index(f.split) if f.split else 0))
            notes = warnings(got.stats, options, splits)
            card = dataset_card(
                got.stats,
                options,
                tax,
                folder.files,
                splits,
                source=source,
                excluded=got.excluded,
                ratings_checked=ratings is not None,
            )
            secret_check.check_text(card, "README.md")
            folder.write("README.md", card.encode("utf-8"), fmt="card")
            manifest = build_manifest(
                got.stats,
                got.skipped,
                options,
                tax,
                folder.files,
                groups,
                source=source,
                now=now,
                excluded=got.excluded,
                ratings_checked=ratings is not None,
                warnings=notes,
            )
            manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
            secret_check.check_text(manifest_text, "manifest.json")
            (gen.folder / "manifest.json").write_text(manifest_text, encoding="utf-8")  # last: the folder is complete
            folder.close()
            if make_zip:
                zip_folder(gen.folder, gen.zip_path, dest.name)
            gen.publish()
        except BaseException:
            folder.close()
            gen.discard()
            raise
    zip_path = dest.parent / f"{dest.name}.zip" if make_zip else None
    return ExportResult(dest, zip_path, manifest, got.skipped, round(time.perf_counter() - started, 3), got.excluded)


def extra_files(folder: Folder, options: ExportOptions, splits: Sequence[str], stats: Stats) -> None:
    """The trainer configs, and the LICENSE.md the card links to under the license `other`."""
    axolotl = trainers.axolotl_config(options.formats, splits, options.weights)
    if axolotl is not None:
        folder.write(trainers.AXOLOTL, axolotl.encode("utf-8"), fmt="trainer")
    trl = trainers.trl_config(options.formats, splits)
    if trl is not None:
        folder.write(trainers.TRL, trl.encode("utf-8"), fmt="trainer")
    dpo = trainers.trl_dpo_config(options.formats, [s for s in splits if stats.pairs_per_split.get(s)])
    if dpo is not None:
        folder.write(trainers.TRL_DPO, dpo.encode("utf-8"), fmt="trainer")
    if options.license == "other":
        text = trainers.license_text(dataset_name(stats, options))
        folder.write(trainers.LICENSE_FILE, text.encode("utf-8"), fmt="license")


EVAL_MIN = 20  # an eval split under this many conversations gives figures that are mostly noise


def warnings(stats: Stats, options: ExportOptions, splits: Sequence[str]) -> list[str]:
    """What a trainer would trip on, for the summary: too few lines for OpenAI, a thin eval split."""
    out = []
    train = stats.per_split.get("train", 0)
    if "messages" in options.formats and train < trainers.OPENAI_MIN_EXAMPLES:
        out.append(
            f"messages/train.jsonl has {train} conversation{'s' if train != 1 else ''}; OpenAI fine-tuning needs at "
            f"least {trainers.OPENAI_MIN_EXAMPLES}. Select more conversations, or lower the eval share."
        )
    n_eval = stats.per_split.get("eval", 0)
    if "eval" in splits and n_eval < EVAL_MIN:
        out.append(
            f"The eval split has {n_eval} conversation{'s' if n_eval != 1 else ''}; under {EVAL_MIN} its "
            "figures are mostly noise. Raise the eval share, or export more conversations."
        )
    if "eval" in splits:
        seen = stats.strata.get("eval", Counter())
        for index, what in ((0, "emotional arc"), (1, "persona")):
            missing = sorted({k[index] for k in stats.strata.get("train", Counter())} - {k[index] for k in seen})
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                out.append(
                    f"The eval split has no conversation of the {what}{'s' if len(missing) != 1 else ''} {shown}: "
                    "it cannot tell how the model does there. Raise the eval share."
                )
    return out


def run(
    store: Store, options: ExportOptions, tax: Taxonomy, dest: str | Path, *, make_zip: bool = True, cli: bool = False
) -> ExportResult:
    """Select from the store with the ratings in force (for the quality options and metadata.csv), then
    export(). NothingToExport says why nothing matched."""
    rows = stream_from_store(store, options, tax, cli=cli)
    # a cluster can span any two batches of the stream: found over the whole selection first
    repeats = near_duplicate_repeats(store_docs(store, options), tax) if options.no_near_duplicates else None
    # only what the quality options and metadata.csv read, so 100,000 rated conversations stay small
    ratings = {
        r["conversation_id"]: {k: r.get(k) for k in ("scores", "hard_failed", "flag_reasons")}
        for r in store.conversation_quality(current_only=True)
    }
    return export(
        rows,
        options,
        tax,
        dest,
        make_zip=make_zip,
        source=f"{getattr(store, 'kind', 'database')} database",
        ratings=ratings,
        repeats=repeats,
        pairs=store.export_preference_pairs,
    )
