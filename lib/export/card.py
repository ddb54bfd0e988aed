"""The dataset card of an export (README.md): a YAML header for the Hugging Face Hub, then a
description made from the data, with the figures of lib/export/stats. manifest.json is lib/export/manifest.

The card's configs all use one loader (`datasets` infers the loader from the first config and uses it
for every one): the Hugging Face layout's parquet configs when the export has them, else the JSONL
chat files. It declares no dataset_info (without features and sizes `datasets` warns that it is
malformed). The license is a Hub id (LICENSES); `other` links to the LICENSE.md the export writes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lib.core.rubric import RubricError, default_rubric
from lib.core.taxonomy import Taxonomy
from lib.export import preference
from lib.export.formats import FORMATS
from lib.export.manifest import EXPORT_VERSION, GENERATOR, dataset_name, dataset_version
from lib.export.quality import EXCLUSION_REASONS, reason_counts
from lib.export.select import REVIEW_LABELS, REVIEW_STATUSES, ExportOptions
from lib.export.split import SPLIT_NAMES
from lib.export.stats import Stats
from lib.export.trainers import LICENSE_FILE, TRL_DPO, card_section
from lib.export.writer import FileEntry


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


def _counts_table(
    title: str,
    counts: Counter[str],
    names: Mapping[str, str],
    total: int,
    order: Sequence[str],
    unit: str = "Conversations",
) -> str:
    rank = {k: n for n, k in enumerate(order)}
    keys = sorted(counts, key=lambda k: (-counts[k], rank.get(k, len(rank)), k))
    return _table(
        [title, "Id", unit, "Share"], ([names.get(k, k), k, counts[k], _share(counts[k], total)] for k in keys)
    )


def _configs(files: Sequence[FileEntry], splits: Sequence[str]) -> list[dict[str, Any]]:
    """The Hub's configs, one loader for all: the parquet configs (default, messages, sharegpt and the
    preference pairs), or without them the JSONL files (messages, sharegpt, preference); the first is
    the default."""
    parquet = any(f.format == "hf" for f in files)
    wanted = (
        [("hf", c) for c in ("default", "messages", "sharegpt", preference.CONFIG)]
        if parquet
        else [("messages", None), ("sharegpt", None), ("preference", None)]
    )
    configs: list[dict[str, Any]] = []
    for fmt, config in wanted:
        paths = {f.split: f.path for f in files if f.format == fmt and f.config == config}
        if paths:
            configs.append(
                {
                    "config_name": config or fmt,
                    "data_files": [{"split": SPLIT_NAMES[s], "path": paths[s]} for s in splits if s in paths],
                }
            )
    if configs:
        configs[0]["default"] = True
    return configs


def dataset_card(
    figures: Stats,
    options: ExportOptions,
    tax: Taxonomy,
    files: Sequence[FileEntry],
    splits: Sequence[str],
    *,
    source: str = "database",
    excluded: Sequence[Mapping[str, Any]] = (),
    ratings_checked: bool = True,
) -> str:
    """README.md: a YAML header for the Hugging Face Hub, then a description made from the data."""
    import yaml

    name = dataset_name(figures, options)
    version = dataset_version(figures)
    stats = figures.as_dict()
    n = stats["conversations"]
    pretty = f"{tax.vertical.name}: emotionally-aware conversations ({name})"
    header: dict[str, Any] = {
        "pretty_name": pretty,
        "license": options.license,
        "language": ["en"],
        "task_categories": ["text-generation"],
        "task_ids": ["dialogue-modeling"],
        "tags": [
            "synthetic",
            "conversational",
            "multi-turn",
            "emotional-intelligence",
            "sft",
            tax.vertical.id.replace("_", "-"),
        ],
        "size_categories": [_size_category(n)],
    }
    if stats["pair_kinds"]:
        header["tags"] += ["dpo", "preference"]
    if options.license == "other":
        header["license_name"] = "proprietary"
        header["license_link"] = LICENSE_FILE
    configs = _configs(files, splits)
    if configs:
        header["configs"] = configs
    head = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000)

    names = {d: tax.names(d) for d in ("personas", "arcs", "emotions", "strategies", "tiers", "topic_clusters")}
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
        f"(sha256 `{tax.sha256[:12]}`).\n"
    )

    parts.append("## Files\n")
    file_rows = []
    for f in files:
        fmt = FORMATS.get(f.format)
        label = fmt.label if fmt else preference.FILE_KINDS.get(f.format, f.format)
        file_rows.append([f.path, label, f.split or "all", f.records])
    parts.append(_table(["File", "Format", "Split", "Records"], file_rows) + "\n")
    parts.append(
        "`manifest.json` lists every file with its sha256. The training formats (messages, ShareGPT, parquet) carry "
        "the labels in force: a reviewer's correction replaces the first label. The full dataset format keeps the "
        "first labels and every correction in `label_history` (apply them with `Conversation.current_turns()`). "
        "`metadata.csv` lists the conversations in the order of the split files.\n"
    )
    if configs:
        parts.append(
            "```python\nfrom datasets import load_dataset\n"
            + "\n".join(f'ds = load_dataset("<this folder>", "{c["config_name"]}")' for c in configs)
            + "\n```\n"
        )
    parts.append(card_section(options.formats, options.weights, [f.path for f in files]))
    if stats["pair_kinds"]:
        parts.append(_preference_section(stats, tax, files))

    parts.append("## Splits\n")
    parts.append(
        _table(
            ["Split", "Conversations", "Turns", "Share"],
            (
                [
                    SPLIT_NAMES[s],
                    stats["per_split"].get(s, 0),
                    stats["turns_per_split"].get(s, 0),
                    _share(stats["per_split"].get(s, 0), n),
                ]
                for s in splits
            ),
        )
        + "\n"
    )
    parts.append(
        f"Eval ratio {options.eval_ratio:g} of the scenarios, seed {options.seed}; the eval split's files are named "
        f"`{SPLIT_NAMES['eval']}`, as `datasets` and TRL expect. The split is grouped by scenario "
        "(every version of a scenario lands in the same split), stratified by emotional arc and persona, and "
        "deterministic: the same data and seed give the same split.\n"
    )

    parts.append("## Composition\n")
    parts.append(
        "### Personas\n" + _counts_table("Persona", stats["personas"], names["personas"], n, order["personas"]) + "\n"
    )
    parts.append("### Emotional arcs\n" + _counts_table("Arc", stats["arcs"], names["arcs"], n, order["arcs"]) + "\n")
    parts.append(
        "### Emotions\nPrimary emotion of the user turns (labels in force).\n\n"
        + _counts_table(
            "Emotion", stats["emotions"], names["emotions"], user_turns, order["emotions"], unit="User turns"
        )
        + "\n"
    )
    parts.append(
        "### Response strategies\n"
        + _counts_table(
            "Strategy",
            stats["strategies"],
            names["strategies"],
            stats["assistant_turns"],
            order["strategies"],
            unit="Assistant turns",
        )
        + "\n"
    )
    parts.append(
        "### Tiers and topics\n"
        + _counts_table("Tier", stats["tiers"], names["tiers"], n, order["tiers"])
        + "\n\n"
        + _counts_table("Topic cluster", stats["topic_clusters"], names["topic_clusters"], n, order["topic_clusters"])
        + "\n"
    )

    parts.append("## How it was generated\n")
    sources = stats["sources"]
    how = [
        (
            "Scenarios were planned from the taxonomy (persona x emotional arc x topic x intent x tone x outcome x "
            "tier) for balanced coverage."
        )
    ]
    if sources.get("generated"):
        how.append(
            f"{sources['generated']} conversation{'s were' if sources['generated'] != 1 else ' was'} "
            "generated by Claude from per-tier prompt templates (the hand-written seeds as examples) and "
            "checked automatically (turn count, alternation, lengths, known labels, arc realized, persona and "
            "topic consistency); a conversation that failed a check was repaired by the model or left out."
        )
    if sources.get("seed"):
        how.append(
            f"{sources['seed']} {'are' if sources['seed'] != 1 else 'is a'} hand-written seed "
            f"conversation{'s' if sources['seed'] != 1 else ''}."
        )
    how.append(f"The assistant speaks in {_md(voice.name)}'s voice: {_md(voice.summary)}")
    parts.append(" ".join(how) + "\n")
    if stats["models"]:
        parts.append(_table(["Model", "Conversations"], stats["models"].most_common()) + "\n")
    if stats["templates"]:
        parts.append(_table(["Prompt template", "Conversations"], stats["templates"].most_common()) + "\n")

    parts.append("## Review\n")
    reviewed = n - review.get("unreviewed", 0)
    parts.append(
        _table(
            ["Review status", "Conversations", "Share"],
            ([REVIEW_LABELS.get(s, s), review[s], _share(review[s], n)] for s in REVIEW_STATUSES if review.get(s)),
        )
        + "\n"
    )
    quality = (
        f"quality score mean {sum(scores) / len(scores):.1f} (min {min(scores)}, max {max(scores)}, "
        f"{len(scores)} scored)"
        if scores
        else "no quality scores"
    )
    parts.append(
        f"{reviewed} of {n} conversations ({_share(reviewed, n)}) were reviewed by {stats['reviewers']} "
        f"domain reviewer{'s' if stats['reviewers'] != 1 else ''}; {quality}. {stats['corrected']} conversations have "
        f"label corrections ({sum(stats['revised_fields'].values())} in all"
        + (
            ": " + ", ".join(f"{k} {v}" for k, v in stats["revised_fields"].most_common())
            if stats["revised_fields"]
            else ""
        )
        + f"). {stats['approved_targets']} of {stats['assistant_turns']} assistant turns "
        f"({_share(stats['approved_targets'], stats['assistant_turns'])}) are approved targets.\n"
    )

    if options.quality_active():
        parts.append(_quality_section(options, tax, excluded, ratings_checked))

    parts.append("## Labels and evaluation\n")
    parts.append(
        "An assistant turn is an **approved target** when its primary strategy is one of the strategies the "
        "taxonomy suits to the preceding user turn's primary or secondary emotion (labels in force)"
        + (
            ". The chat files give each assistant message `weight` 1 (approved target) or 0, and the parquet "
            "messages carry the same weight (see Training with it for the trainers that read it)"
            if options.weights
            else "; the parquet `turn_labels` column flags it per turn"
        )
        + ". The same mapping is a rubric for the eval split: a response fits when its strategy suits the emotion "
        "it answers.\n"
    )
    rubric = [
        [names["emotions"].get(e.id, e.id), ", ".join(names["strategies"].get(s, s) for s in e.suited_strategies)]
        for e in tax.emotions
    ]
    parts.append(_table(["User emotion", "Suited strategies"], rubric) + "\n")

    parts.append("## License and limitations\n")
    lic = (
        f"proprietary (see {LICENSE_FILE}): agree terms with the dataset's owner before use or redistribution"
        if options.license == "other"
        else options.license
    )
    parts.append(
        f"License: {_md(lic)}. The conversations are synthetic: the people, figures and situations are invented, "
        "and nothing here is financial advice. They model how an assistant responds to emotion in a "
        "financial-planning conversation, including when it refers a person to another professional or, in a "
        "crisis, to the 988 Suicide & Crisis Lifeline.\n"
    )
    parts.append(f"Made by {GENERATOR}, export format {EXPORT_VERSION}, from the {_md(source)}.\n")
    return "\n".join(parts)


def _preference_section(stats: Mapping[str, Any], tax: Taxonomy, files: Sequence[FileEntry]) -> str:
    """What the preference pairs are, where they are, how to train on them."""
    kinds: Counter[str] = stats["pair_kinds"]
    per_split = stats["pairs_per_split"]
    total = sum(kinds.values())
    names = {k.id: k.name for k in tax.failures.kinds}
    where = sorted(
        {f.path.rsplit("/", 1)[0] for f in files if f.config == preference.CONFIG or f.format == "preference"}
    )
    lines = [
        "## Preference pairs\n",
        f"{total} preference pair{'s' if total != 1 else ''} ("
        + ", ".join(f"{SPLIT_NAMES[s]} {per_split.get(s, 0)}" for s in SPLIT_NAMES)
        + "): for an assistant turn of an exported conversation, `chosen` is the conversation's turn and "
        "`rejected` a failed response of a named kind (premature advice, minimising, false reassurance...) that a "
        "reviewer accepted as a realistic failure; `why` says why it fails. `prompt` is the system message and the "
        "turns before it. Each is a list of `role` / `content` messages: the conversational preference format "
        "TRL's DPO and ORPO trainers read. A pair is in the split of its conversation"
        + (f" (files under {', '.join(f'`{w}/`' for w in where)})" if where else "")
        + ". A failed response is in no supervised file; `full/negative_examples.jsonl` keeps each one with its "
        "review, marked `negative_example`.\n",
        _table(
            ["Failure kind", "Id", "Pairs", "Share"],
            (
                [names.get(k, k), k, n, _share(n, total)]
                for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
        )
        + "\n",
        "```python\nfrom datasets import load_dataset\n"
        "from trl import DPOConfig, DPOTrainer  # or ORPOConfig, ORPOTrainer\n\n"
        'pairs = load_dataset("<this folder>", "preference")\n'
        'trainer = DPOTrainer(model=model, args=DPOConfig(output_dir="out"), train_dataset=pairs["train"],\n'
        "                     processing_class=tokenizer)\n```\n",
    ]
    if any(f.path == TRL_DPO for f in files):
        lines.append(
            f"Or, in this folder: `trl dpo --config {TRL_DPO} --model_name_or_path <model> --output_dir <dir>`.\n"
        )
    return "\n".join(lines)


CARD_EXCLUDED_LIST = 30  # ids listed in the card; manifest.json lists every one


def _rubric_text(tax: Taxonomy) -> str:
    try:
        rubric = default_rubric(tax.path)
    except RubricError:
        return "the rubric"
    return f"rubric {rubric.id} v{rubric.version}"


def _quality_section(
    options: ExportOptions, tax: Taxonomy, excluded: Sequence[Mapping[str, Any]], ratings_checked: bool
) -> str:
    lines = [
        "## Quality filter\n",
        f"Options: {_md(options.quality_text())}. Ratings are the ones in force: a reviewer's where one rated a "
        f"criterion, else the judge's ({_md(_rubric_text(tax))}, 1-5). A conversation not rated yet is left out "
        "under a minimum rating. A hard rule fails when a hard integrity check fails on the labels in force, or "
        "a hard criterion of the rubric is rated below its pass mark."
        + (
            ""
            if ratings_checked
            else " No ratings were read (the conversations came from files): only the integrity checks applied."
        )
        + "\n",
    ]
    if not excluded:
        lines.append("None of the selected conversations was left out.\n")
        return "\n".join(lines)
    counts = reason_counts(excluded)
    lines.append(
        f"{len(excluded)} selected conversation{'s were' if len(excluded) != 1 else ' was'} left out "
        "(each counted under its first reason):\n"
    )
    lines.append(_table(["Reason", "Conversations"], ([EXCLUSION_REASONS[c], n] for c, n in counts.items())) + "\n")
    shown = [
        f"- `{str(e['id']).replace('`', '')}`: "
        + ", ".join(EXCLUSION_REASONS.get(r, r).lower() for r in e["reasons"])
        + (f" ({_md(e['detail'])})" if e.get("detail") else "")
        for e in excluded[:CARD_EXCLUDED_LIST]
    ]
    more = len(excluded) - CARD_EXCLUDED_LIST
    if more > 0:
        shown.append(f"- … and {more} more (manifest.json lists every one)")
    lines.append("\n".join(shown) + "\n")
    return "\n".join(lines)
