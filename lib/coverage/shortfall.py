"""The gaps: every target a Coverage does not meet, and scenarios planned to fill them (the gaps as
planner weights, a plan sized until it closes them, and what it changes)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.core.planner import Plan, _demand, plan
from lib.core.taxonomy import Taxonomy
from lib.coverage.counts import Coverage, with_added
from lib.coverage.estimate import arc_user_emotions, generator_exchanges, strategy_shares
from lib.coverage.rules import blocking_rule, reach, sensitive_only
from lib.generation.prompting import length_weights

# gap kind -> (label, unit counted, planner weight dimension or None when planning cannot fill it)
KINDS: dict[str, tuple[str, str, str | None]] = {
    "emotion": ("Emotion", "user turns", "emotions"),
    "strategy": ("Strategy", "replies", "strategies"),
    "length": ("Length", "conversations", None),
    "persona": ("Persona", "conversations", "personas"),
    "topic": ("Topic", "conversations", "topics"),
}
MAX_PLAN_ROWS = 1000
GAP_COLUMNS: list[str] = [
    "kind",
    "kind_name",
    "id",
    "name",
    "unit",
    "target",
    "count",
    "short_by",
    "progress",
    "plannable",
    "how",
]


def kind_frames(cov: Coverage) -> dict[str, pd.DataFrame]:
    """Gap kind -> the table of cov that holds its ids with their count and target."""
    return {
        "emotion": cov.emotions,
        "strategy": cov.strategies,
        "length": cov.lengths,
        "persona": cov.personas,
        "topic": cov.topics,
    }


def gaps(cov: Coverage, tax: Taxonomy) -> pd.DataFrame:
    """Every target not met, with how much is missing, biggest shortfall first within each kind."""
    rules = tax.targets.quality
    lo, hi = min(generator_exchanges(tax)), max(generator_exchanges(tax))
    carried = {e.id for e in tax.emotions if any(e.id in (a.start_emotion, a.end_emotion) for a in tax.arcs)}
    rows: list[dict[str, Any]] = []
    frames = kind_frames(cov)
    reach_ = reach(tax)
    yields = label_yields(tax)

    def add(kind: str, how: Any) -> None:
        label, unit, _ = KINDS[kind]
        for r in frames[kind].itertuples(index=False):
            target = r.target
            if not isinstance(target, float) or math.isnan(target) or target <= 0 or r.count >= target - 1e-9:
                continue
            note, ok = how(r)
            rows.append(
                {
                    "kind": kind,
                    "kind_name": label,
                    "id": r.id,
                    "name": r.name,
                    "unit": unit,
                    "target": target,
                    "count": float(r.count),
                    "short_by": target - float(r.count),
                    "progress": min(float(r.count) / target, 1.0),
                    "plannable": ok,
                    "how": note,
                }
            )

    def emotion_how(r: Any) -> tuple[str, bool]:
        if r.id not in carried:
            return f"No arc starts or ends in {r.name}: add one to taxonomy/arcs.yaml", False
        blocked = blocking_rule(tax, "emotion", r.id, reach_)
        if blocked:
            return blocked, False
        capped = sensitive_only(tax, r.id, reach_)
        per_row = yields.get(("emotion", r.id), 0.0)
        if capped and per_row > 0:
            # Not impossible, but not for a gap plan either: the cap lets these rows in only as the table grows.
            share = tax.plausibility.sensitive.max_share
            table = math.ceil(r.target / per_row / max(share, 1e-9) - 1e-9)
            return (
                f"Needs a bigger table: only {', '.join(capped)} carries it, and rule plausibility.sensitive holds "
                f"those to {share:.0%} of all scenarios; at about {per_row:.1f} per conversation, "
                f"{r.target:.0f} take about {table} scenarios in all",
                False,
            )
        return f"More arcs that start or end in {r.name}", True

    def plannable_by(kind: str, note: str) -> Any:
        def how(r: Any) -> tuple[str, bool]:
            blocked = blocking_rule(tax, kind, r.id, reach_)
            return (blocked, False) if blocked else (note, True)

        return how

    add("emotion", emotion_how)
    add("strategy", lambda r: (f"More of the emotions {r.name} suits", True))
    add("persona", plannable_by("persona", "More conversations with this persona"))
    add("topic", plannable_by("topic", "More conversations on this topic"))

    def length_how(r: Any) -> tuple[str, bool]:
        if r.max_exchanges < lo or r.min_exchanges > hi:
            rule = "min_turns" if r.max_exchanges < lo else "max_turns"
            return (
                f"Impossible under rule targets.quality.{rule}: the quality rules allow {rules.min_turns}–"
                f"{rules.max_turns} turns ({lo}–{hi} exchanges); change the bucket or that rule in targets.yaml",
                False,
            )
        share = bucket_share(tax, r.id)
        if share <= 0:
            return f"The generator writes no conversation of this length: {r.id} has no target weight", False
        return f"More scenarios of any kind: the generator writes {share:.0%} of them at this length", True

    add("length", length_how)
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    order = {k: n for n, k in enumerate(KINDS)}
    if not frame.empty:
        frame = frame.sort_values(
            ["kind", "short_by"], key=lambda s: s.map(order) if s.name == "kind" else -s, kind="stable"
        ).reset_index(drop=True)
    return frame


def target_summary(cov: Coverage, tax: Taxonomy) -> dict[str, tuple[int, int]]:
    """kind -> (targets met, targets) for the headline."""
    out: dict[str, tuple[int, int]] = {}
    for kind, frame in kind_frames(cov).items():
        with_target = frame[frame["target"].notna() & (frame["target"] > 0)] if not frame.empty else frame
        met = int((with_target["count"] >= with_target["target"] - 1e-9).sum()) if not with_target.empty else 0
        out[kind] = (met, len(with_target))
    return out


# ---- gaps -> planner weights ---------------------------------------------------------------
def label_yields(tax: Taxonomy) -> dict[tuple[str, str], float]:
    """(kind, id) -> how many of that label one more planned conversation adds on average, where the
    planner puts a weight on it (lib.core.planner spreads an emotion's or a strategy's weight over the arcs
    that carry it) and over the lengths the generator picks. Personas and topics: 1."""
    arcs = tax.by_id("arcs")
    lengths = generator_exchanges(tax)
    shares = strategy_shares(tax)
    profile = {(a, k): arc_user_emotions(arc, k) for a, arc in arcs.items() for k in lengths}
    out: dict[tuple[str, str], float] = {}
    for kind, dim in (("emotion", "emotions"), ("strategy", "strategies")):
        for value in tax.ids(dim):
            spread = _demand(tax, {dim: {value: 1.0}})["emotional_arc"]  # the planner's own spread
            total = 0.0
            for a, share in spread.items():
                per_length = [
                    sum(1.0 for e in profile[(a, k)] if e == value)
                    if kind == "emotion"
                    else sum(shares.get(e, {}).get(value, 0.0) for e in profile[(a, k)])
                    for k in lengths
                ]
                total += share * sum(per_length) / len(per_length)
            out[(kind, value)] = total
    for kind, dim in (("persona", "personas"), ("topic", "topics")):
        out.update({(kind, v): 1.0 for v in tax.ids(dim)})
    return out


def gap_weights(gap_frame: pd.DataFrame, tax: Taxonomy) -> dict[str, dict[str, float]]:
    """The plannable gaps as planner weights: each shortfall in conversations (shortfall / yield)."""
    yields = label_yields(tax)
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    for r in gap_frame.itertuples(index=False):
        dim = KINDS[r.kind][2]
        y = yields.get((r.kind, r.id), 0.0)
        if not r.plannable or dim is None or y <= 0:
            continue
        weights[dim][r.id] = round(r.short_by / y, 3)
    return dict(weights)


def bucket_share(tax: Taxonomy, bucket: str) -> float:
    """The share of conversations the generator writes at a length bucket's lengths."""
    weights = length_weights(tax)
    b = next((b for b in tax.targets.length_buckets if b.id == bucket), None)
    if b is None or not sum(weights.values()):
        return 0.0
    inside = sum(w for t, w in weights.items() if b.min_exchanges <= t // 2 <= b.max_exchanges)
    return inside / sum(weights.values())


def length_rows(gap_frame: pd.DataFrame, tax: Taxonomy) -> int:
    """The scenarios a plan needs for its length gaps: each shortfall over its bucket's share."""
    shares = [
        (r.short_by, bucket_share(tax, r.id))
        for r in gap_frame.itertuples(index=False)
        if r.kind == "length" and r.plannable
    ]
    need = [short / share for short, share in shares if share > 0]
    return min(MAX_PLAN_ROWS, math.ceil(max(need, default=0.0) - 1e-9))


def suggested_rows(weights: Mapping[str, Mapping[str, float]]) -> int:
    """How many scenarios to plan: the largest total shortfall of one kind, in conversations."""
    if not weights:
        return 0
    need = max(sum(values.values()) for values in weights.values())
    return max(1, min(MAX_PLAN_ROWS, math.ceil(need - 1e-9)))


def _counts(cov: Coverage) -> dict[tuple[str, str], float]:
    return {
        (k, r.id): float(r.count) for k, f in kind_frames(cov).items() if not f.empty for r in f.itertuples(index=False)
    }


def gap_change(before_cov: Coverage, after_cov: Coverage, tax: Taxonomy) -> pd.DataFrame:
    """Every gap before or after a plan: the count and the shortfall before and after, met or not."""
    before, after = gaps(before_cov, tax), gaps(after_cov, tax)
    had, has = _counts(before_cov), _counts(after_cov)
    short_after = {(r.kind, r.id): r.short_by for r in after.itertuples(index=False)}
    rows = []
    seen: set[tuple[str, str]] = set()
    for r in list(before.itertuples(index=False)) + list(after.itertuples(index=False)):
        key = (r.kind, r.id)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "kind_name": r.kind_name,
                "name": r.name,
                "unit": r.unit,
                "target": r.target,
                "before": had.get(key, 0.0),
                "after": has.get(key, 0.0),
                "short_before": max(r.target - had.get(key, 0.0), 0.0),
                "short_after": short_after.get(key, 0.0),
                "met": key not in short_after,
            }
        )
    return pd.DataFrame(
        rows, columns=["kind_name", "name", "unit", "target", "before", "after", "short_before", "short_after", "met"]
    )


@dataclass(frozen=True)
class GapPlan:
    """A plan sized to the gaps: its rows, the planned coverage once they are added, and what changes."""

    plan: Plan
    after: Coverage
    change: pd.DataFrame  # gap_change(before, after)
    n: int
    closes_all: bool  # every gap planning can fill is met once the rows are generated


def fill_plan(
    tax: Taxonomy, planned: Coverage, existing: Sequence[Mapping[str, Any]], n: int | None = None, *, seed: int = 0
) -> GapPlan:
    """Plan scenarios for the plannable gaps of the planned coverage. n=None sizes the plan: the planner
    balances every dimension, so the first estimate (suggested_rows) can fall short; the size grows until
    every plannable gap is met (or a cap: 4x the estimate + 20), then shrinks back to the smallest size that
    meets as much. Returns the best plan found."""
    before = gaps(planned, tax)
    weights = gap_weights(before, tax)
    plannable = {(r.kind, r.id) for r in before.itertuples(index=False) if r.plannable}

    def attempt(size: int) -> tuple[float, GapPlan]:
        p = plan(tax, size, existing=existing, weights=weights, seed=seed)
        after = with_added(planned, [s.as_dict() for s in p.scenarios], tax)
        change = gap_change(planned, after, tax)
        left = gaps(after, tax)
        missing = float(sum(r.short_by for r in left.itertuples(index=False) if (r.kind, r.id) in plannable))
        return missing, GapPlan(p, after, change, size, missing <= 1e-9)

    if n is not None:
        return attempt(max(0, min(int(n), MAX_PLAN_ROWS)))[1]
    start = max(suggested_rows(weights), length_rows(before, tax))
    if start == 0:
        return attempt(0)[1]
    cap = min(MAX_PLAN_ROWS, 4 * start + 20)
    tried: dict[int, tuple[float, GapPlan]] = {}
    size = start
    while True:
        tried[size] = attempt(size)
        if tried[size][0] <= 1e-9 or size >= cap:
            break
        size = min(cap, math.ceil(size * 1.3))
    best_missing = min(m for m, _ in tried.values())
    hi = min(s for s, (m, _) in tried.items() if m <= best_missing + 1e-9)
    lo = max([s for s in tried if s < hi], default=0)
    while hi - lo > 1:  # the smallest size that still does as well
        mid = (lo + hi) // 2
        tried[mid] = attempt(mid)
        if tried[mid][0] <= best_missing + 1e-9:
            hi = mid
        else:
            lo = mid
    return tried[hi][1]
