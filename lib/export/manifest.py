"""manifest.json of an export: counts, format versions, sha256 of every file, taxonomy version, the
selection, the split, and what the quality options left out; and the dataset's name and version,
which the card shows too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lib.core.models import FORMAT_VERSION
from lib.core.taxonomy import Taxonomy
from lib.export.formats import FORMATS
from lib.export.quality import reason_counts
from lib.export.select import ExportOptions
from lib.export.split import SPLIT_NAMES, SPLITS
from lib.export.stats import Stats
from lib.export.writer import FileEntry

EXPORT_VERSION = "2"  # the layout of the folder and of manifest.json
GENERATOR = "Bright Run Training Data Studio (lib.export)"


def dataset_name(stats: Stats, options: ExportOptions) -> str:
    if options.name:
        return options.name
    return stats.dataset_names.most_common(1)[0][0] if stats.dataset_names else "brightrun-dataset"


def dataset_version(stats: Stats) -> str:
    return stats.dataset_versions.most_common(1)[0][0] if stats.dataset_versions else ""


def build_manifest(
    stats: Stats,
    skipped: Sequence[Mapping[str, str]],
    options: ExportOptions,
    tax: Taxonomy,
    files: Sequence[FileEntry],
    groups: Mapping[str, int],
    *,
    source: str = "database",
    now: datetime | None = None,
    excluded: Sequence[Mapping[str, Any]] = (),
    ratings_checked: bool = True,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    per_split, turns = stats.per_split, stats.turns_per_split
    formats = {}
    for fid in options.formats:
        fmt = FORMATS[fid]
        formats[fid] = {"label": fmt.label, "version": fmt.version, "files": [f.path for f in files if f.format == fid]}
    return {
        "manifest_version": EXPORT_VERSION,
        "generator": GENERATOR,
        "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "source": source,
        "dataset": {
            "name": dataset_name(stats, options),
            "version": dataset_version(stats),
            "vertical": tax.vertical.id,
            "conversation_format_version": FORMAT_VERSION,
        },
        "selection": {
            "mode": options.selection,
            "review_statuses": options.statuses(),
            "filters": options.active_filters(),
            "description": options.describe(tax),
            "quality": {
                "min_rating": options.min_rating,
                "min_ratings": dict(options.min_ratings),
                "no_hard_failures": options.no_hard_failures,
                "ratings": "in force",
                "ratings_checked": ratings_checked and options.quality_active(),
            },
        },
        "split": {
            "eval_ratio": options.eval_ratio,
            "seed": options.seed,
            "grouped_by": "scenario",
            "stratified_by": ["emotional_arc", "persona"],
            "file_names": dict(SPLIT_NAMES),
            "scenarios": {s: int(groups.get(s, 0)) for s in SPLITS},
        },
        "options": {"formats": list(options.formats), "weights": options.weights, "license": options.license},
        "counts": {
            "conversations": stats.conversations,
            "scenarios": stats.scenarios,
            "turns": sum(turns.values()),
            "train": per_split.get("train", 0),
            "eval": per_split.get("eval", 0),
            "turns_train": turns.get("train", 0),
            "turns_eval": turns.get("eval", 0),
            "skipped": len(skipped),
            "excluded": len(excluded),
            "excluded_by_reason": reason_counts(excluded),
            "preference_pairs": sum(stats.pairs_per_split.values()),
            "preference_train": stats.pairs_per_split.get("train", 0),
            "preference_eval": stats.pairs_per_split.get("eval", 0),
            "preference_by_failure_kind": dict(sorted(stats.pair_kinds.items())),
        },
        "warnings": list(warnings),
        "skipped": list(skipped),
        "excluded": [dict(e) for e in excluded],
        "formats": formats,
        "taxonomy": {"vertical": tax.vertical.id, "version": tax.vertical.version, "sha256": tax.sha256},
        "files": [
            {
                "path": f.path,
                "format": f.format,
                "split": f.split,
                "records": f.records,
                "bytes": f.bytes,
                "sha256": f.sha256,
                **({"config": f.config} if f.config else {}),
            }
            for f in files
        ],
    }
