"""The export's quality options, applied to the selected conversations:
- a minimum rating, overall (every criterion) and/or per criterion, of the ratings in force (a reviewer's
  where one rated, else the judge's latest: v_conversation_quality). A conversation not rated yet (or
  without a rating of a criterion given a minimum) is left out as "not rated yet";
- no hard-rule failure: the hard integrity checks run again on the labels in force, and the rubric's hard
  criteria in force (a safety rating below its pass mark);
- no near-duplicates: of the conversations left, each cluster that repeats itself keeps its earliest.
What they leave out is returned with its reasons, for the manifest and the dataset card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS
from lib.export.items import Item
from lib.export.select import ExportOptions

# why a conversation was left out, in the order the card lists them
EXCLUSION_REASONS: dict[str, str] = {
    "hard_failure": "A hard rule fails",
    "unrated": "Not rated yet",
    "below_min_rating": "Rated below the minimum",
    "near_duplicate": "A near-duplicate of an earlier conversation",
}
RATE_HINT = "rate them first (the Generate page's Rate conversations, or `python -m lib judge`)"
HARD_CHECKS = [c for c in CHECKS if c.hard]


@dataclass
class QualityOutcome:
    kept: list[Item]
    excluded: list[dict[str, Any]] = field(default_factory=list)  # {id, reasons: [code], detail}

    @property
    def by_reason(self) -> dict[str, int]:
        return reason_counts(self.excluded)


def reason_counts(excluded: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Conversations left out, each counted under its first reason (a hard failure, then not rated, then
    rated too low), so the counts add up to the number left out."""
    counts = Counter(str(e["reasons"][0]) for e in excluded)
    return {code: counts[code] for code in EXCLUSION_REASONS if counts[code]}


def integrity_hard_failures(doc: Mapping[str, Any], training: Mapping[str, Any], tax: Taxonomy) -> list[str]:
    """The titles of the hard integrity checks the conversation fails on its labels in force."""
    conv = Conversation.model_validate({**doc, "training": dict(training)})
    turns = conv.current_turns()
    return [c.title for c in HARD_CHECKS if c.run(conv, turns, tax).fraction < 1]


def rating_problems(row: Mapping[str, Any] | None, options: ExportOptions) -> tuple[list[str], list[str]]:
    """The reasons (EXCLUSION_REASONS codes) the minimum-rating options leave a conversation out for, and
    what they concern ("empathy 2 < 3"). row: its v_conversation_quality row, None when not rated."""
    if options.min_rating is None and not options.min_ratings:
        return [], []
    if row is None:
        return ["unrated"], ["no rating"]
    scores = {str(k): int(v) for k, v in (row.get("scores") or {}).items()}
    reasons: list[str] = []
    details: list[str] = []
    missing = [c for c in options.min_ratings if c not in scores]
    if missing:
        reasons.append("unrated")
        details.append("no rating of " + ", ".join(missing))
    low = [
        f"{c} {s} < {options.min_rating}"
        for c, s in sorted(scores.items())
        if options.min_rating is not None and s < options.min_rating
    ]
    low += [
        f"{c} {scores[c]} < {n}"
        for c, n in options.min_ratings.items()
        if c in scores and scores[c] < n and not (options.min_rating is not None and scores[c] < options.min_rating)
    ]
    if low:
        reasons.append("below_min_rating")
        details += low
    return reasons, details


def apply_quality(
    items: Sequence[Item],
    options: ExportOptions,
    tax: Taxonomy,
    ratings: Mapping[str, Mapping[str, Any]] | None,
    repeats: Mapping[str, str] | None = None,
) -> QualityOutcome:
    """Keep the items the quality options let through. ratings: conversation id -> its v_conversation_quality
    row (a conversation without one is not rated); None: no ratings are available (files), so only the
    integrity checks apply. repeats: near-duplicates found over the whole selection (select.near_duplicate_repeats),
    id -> the earliest conversation it repeats."""
    if not options.quality_active():
        return QualityOutcome(list(items))
    kept: list[Item] = []
    excluded: list[dict[str, Any]] = []
    for item in items:
        row = ratings.get(item.id) if ratings is not None else None
        reasons, details = rating_problems(row, options) if ratings is not None else ([], [])
        if options.no_hard_failures:
            hard = integrity_hard_failures(item.doc, item.training, tax)
            # the view decides (hard_failed); its reasons only say which criterion, for the detail
            rubric_failed = bool((row or {}).get("hard_failed"))
            rubric_hard = [r for r in (row or {}).get("flag_reasons") or () if str(r).endswith("(hard rule)")]
            if hard or rubric_failed:
                reasons.insert(0, "hard_failure")
                details = [*hard, *map(str, rubric_hard), *details]
        if options.no_near_duplicates and repeats and item.id in repeats:
            reasons.append("near_duplicate")
            details.append(f"repeats {repeats[item.id]}")
        if reasons:
            excluded.append({"id": item.id, "reasons": list(dict.fromkeys(reasons)), "detail": "; ".join(details)})
        else:
            kept.append(item)
    return QualityOutcome(kept, excluded)


def nothing_left(outcome: QualityOutcome) -> str:
    """Why the quality options left nothing to export, and what to do."""
    n = len(outcome.excluded)
    parts = [f"{count} {EXCLUSION_REASONS[code].lower()}" for code, count in outcome.by_reason.items()]
    hints = []
    if outcome.by_reason.get("unrated"):
        hints.append(RATE_HINT)
    if outcome.by_reason.get("below_min_rating"):
        hints.append("lower the minimum rating")
    if outcome.by_reason.get("hard_failure"):
        hints.append("fix the hard failures on the Review page, or drop the “no hard-rule failure” option")
    return (
        f"The quality options left out all {n} selected conversation{'s' if n != 1 else ''} ("
        + ", ".join(parts)
        + "): "
        + "; ".join(hints)
        + "."
    )


def rating_preview(
    rows: Sequence[Mapping[str, Any]], statuses: Sequence[str], matching: int, options: ExportOptions
) -> dict[str, int]:
    """Before the export, what the options would leave out of the `matching` current conversations in
    `statuses`, each under its first reason (the hard integrity checks run only while exporting, so a
    hard failure here is the rubric's). rows: conversation_quality(current_only=True)."""
    if not options.quality_active():
        return {}
    chosen = [r for r in rows if r.get("review_status") in statuses]
    counts: Counter[str] = Counter()
    if options.min_rating is not None or options.min_ratings:
        counts["unrated"] = max(0, matching - len(chosen))
    for row in chosen:
        reasons, _ = rating_problems(row, options)
        if options.no_hard_failures and row.get("hard_failed"):
            reasons = ["hard_failure", *reasons]
        counts.update(reasons[:1])
    return {code: counts[code] for code in EXCLUSION_REASONS if counts[code]}
