"""Export for training: the selected conversations in the formats training tools load, split into
train and eval, with a dataset card, a manifest and a zip. The page, the CLI and the tests use the
names below; each lives in the module that owns it:

    select     which conversations: the options, the filters, reading from a store or from files
    items      each selected row parsed once, with its labels in force
    quality    the minimum rating and "no hard-rule failure" options: what they leave out, and why
    targets    approved targets (the per-turn weights)
    split      the grouped, stratified, deterministic train/eval split
    formats    full, messages, sharegpt, metadata csv: one record function per format, and their files
    parquet    the Hugging Face layout's parquet configs (default, messages, sharegpt), a batch at a time
    preference the preference pairs (prompt / chosen / rejected) and the negative examples of full/
    stream     the two passes: collect batches into a spool, then write every file incrementally
    stats      the figures, gathered one conversation at a time
    trainers   the trainer configs (Axolotl, TRL), who reads the weights, LICENSE.md
    card       the dataset card (README.md)
    manifest   manifest.json
    writer     files as they come, the generation folder switched in with its zip, the zip
    pipeline   export() and run(): all of the above, in order
    readback   read_manifest, verify, preview of a finished export
    cli        `python -m lib export`
"""

from __future__ import annotations

from lib.export.errors import ExportError, NothingToExport
from lib.export.formats import FORMATS, PATHS, Format, messages_record, sharegpt_record
from lib.export.items import Item, prepare
from lib.export.manifest import EXPORT_VERSION
from lib.export.pipeline import ExportResult, export, run
from lib.export.preference import FILE_KINDS as PREFERENCE_FILE_KINDS
from lib.export.quality import EXCLUSION_REASONS, QualityOutcome, apply_quality, rating_preview, reason_counts
from lib.export.readback import preview, read_manifest, verify
from lib.export.select import (
    ALL_STATUSES,
    FILTER_DIMENSIONS,
    LICENSES,
    REVIEW_LABELS,
    REVIEW_STATUSES,
    SELECTIONS,
    ExportOptions,
    check_options,
    explain_empty,
    load_files,
    rows_from_conversations,
    select_from_files,
)
from lib.export.split import SPLIT_NAMES, SPLITS, assign_splits, split_groups
from lib.export.targets import approved_target, suited_strategies, target_flags
from lib.export.writer import default_dest, exports_root, zip_folder

__all__ = [
    "ALL_STATUSES",
    "EXCLUSION_REASONS",
    "EXPORT_VERSION",
    "FILTER_DIMENSIONS",
    "FORMATS",
    "LICENSES",
    "PATHS",
    "PREFERENCE_FILE_KINDS",
    "REVIEW_LABELS",
    "REVIEW_STATUSES",
    "SELECTIONS",
    "SPLITS",
    "SPLIT_NAMES",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "Format",
    "Item",
    "NothingToExport",
    "QualityOutcome",
    "apply_quality",
    "approved_target",
    "assign_splits",
    "check_options",
    "default_dest",
    "explain_empty",
    "export",
    "exports_root",
    "load_files",
    "messages_record",
    "prepare",
    "preview",
    "rating_preview",
    "read_manifest",
    "reason_counts",
    "rows_from_conversations",
    "run",
    "select_from_files",
    "sharegpt_record",
    "split_groups",
    "suited_strategies",
    "target_flags",
    "verify",
    "zip_folder",
]
