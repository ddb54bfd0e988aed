"""Coverage: what the dataset covers, counted in SQL and built into the tables the charts draw.

The counting happens in SQL (public.coverage_counts, in supabase/migrations/): one call returns the
long rows (scope, section, a, b, c, n, m) of all three scopes, and `build` turns a scope's rows into the
tables the charts draw. The page keeps the rows of one `coverage_version()` of the data, so switching
views does not count again. Three scopes:

- approved:  the current version of every approved conversation (the seeds come approved);
- generated: the current version of every conversation, whatever its review;
- planned:   every scenario row: conversations that exist as they are, the others estimated from what
             the generator will be asked to write (lib.coverage.estimate). SQL only lists those scenarios
             (section 'pending'); `build` turns them into their estimate.

The targets each table carries come from lib.coverage.targets.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import FIELD_LABELS, FUNNEL_STAGES, REVIEW_STATUSES, SCENARIO_STATUSES, labels
from lib.coverage.estimate import estimate_rows, pending_rows
from lib.coverage.targets import emotion_target, even_share, strategy_target
from lib.store.protocol import Store

SCOPES: dict[str, str] = {"approved": "Approved only", "generated": "All generated", "planned": "Planned"}
SCOPE_NOTES: dict[str, str] = {
    "approved": "The current version of every approved conversation, the seed conversations included.",
    "generated": "The current version of every generated conversation, whatever its review (unreviewed, "
    "approved, needs edit or rejected).",
    "planned": "Every scenario in the table: the dataset once all of them are generated.",
}
# the sections public.coverage_counts returns (see the migration for what a, b, c, n and m hold); 'pending'
# rows become estimate rows of the other sections in `build`
SECTIONS: tuple[str, ...] = (
    "total",
    "emotion",
    "strategy",
    "emotion_strategy",
    "persona_topic",
    "arc_tier",
    "exchanges",
    "quality",
    "correction",
    "pending",
    "funnel",
    "status",
)
UNKNOWN_COLOUR = "#9e9e9e"


@dataclass(frozen=True)
class Coverage:
    """The coverage of one scope as small DataFrames with names, colours and targets, ready to chart."""

    scope: str
    rows: list[dict[str, Any]]  # what coverage_counts returned, pending rows as such (kept to add a plan)
    totals: dict[str, float]
    emotions: pd.DataFrame  # id, name, colour, count, conversations, target
    strategies: pd.DataFrame  # id, name, count, supporting, target
    emotion_strategy: pd.DataFrame  # emotion, strategy, emotion_name, strategy_name, colour, count (full grid)
    personas: pd.DataFrame  # id, name, count, target
    topics: pd.DataFrame  # id, name, cluster, count, target
    persona_topic: pd.DataFrame  # persona, topic, persona_name, topic_name, count (full grid)
    arc_tier: pd.DataFrame  # arc, tier, arc_name, tier_name, start, end, count (full grid)
    lengths: pd.DataFrame  # id, name, min_exchanges, max_exchanges, count, target, detail
    funnel: pd.DataFrame  # stage, name, count, detail
    quality: pd.DataFrame  # score, review_status, review_name, count
    corrections: pd.DataFrame  # field, field_name, old, new, old_name, new_name, count
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def conversations(self) -> float:
        return self.totals.get("conversations", 0.0)

    @property
    def estimated(self) -> float:
        return self.totals.get("estimated", 0.0)


class _Sums:
    """coverage_counts rows added up per (section, a, b, c), in plain Python: a few hundred rows, where
    pandas' per-call overhead would cost more than the counting."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.by: dict[str, dict[tuple[Any, Any, Any], list[float]]] = defaultdict(dict)
        for r in rows:
            cur = self.by[r["section"]].setdefault((r["a"], r["b"], r.get("c")), [0.0, 0.0])
            cur[0] += float(r["n"] or 0.0)
            cur[1] += float(r["m"] or 0.0)

    def get(self, section: str, width: int = 1, value: int = 0) -> dict[Any, float]:
        """key (a, or (a, b), or (a, b, c)) -> the sum of n (value 0) or m (value 1)."""
        out: dict[Any, float] = {}
        for key, v in self.by.get(section, {}).items():
            k = key[0] if width == 1 else key[:width]
            out[k] = out.get(k, 0.0) + v[value]
        return out


def _ordered(known: dict[str, str], found: Iterable[Any]) -> dict[str, str]:
    """Taxonomy ids in taxonomy order, then ids the data has that the taxonomy no longer has."""
    out = dict(known)
    for k in found:
        if isinstance(k, str) and k not in out:
            out[k] = f"{k} (not in the taxonomy)"
    return out


def exchanges_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


def build(rows: Sequence[Mapping[str, Any]], tax: Taxonomy, scope: str) -> Coverage:
    """coverage_counts rows (plus any pending_rows) -> Coverage: the pending rows become their estimate,
    and rows of the same key are added up."""
    if scope not in SCOPES:
        raise ValueError(f"unknown coverage scope {scope!r}; expected one of {', '.join(SCOPES)}")
    pending = [r for r in rows if r["section"] == "pending"]
    counted: list[Mapping[str, Any]] = [r for r in rows if r["section"] != "pending"]
    counted.extend(estimate_rows(pending, tax))
    sums = _Sums(counted)
    names = {d: tax.names(d) for d in ("emotions", "strategies", "personas", "topics", "arcs", "tiers")}
    colours = {e.id: e.color for e in tax.emotions}

    totals = {k: v for k, v in sums.get("total").items()}

    # emotions and strategies against their targets
    turns, convs = sums.get("emotion"), sums.get("emotion", 1, 1)
    emotion_names = _ordered(names["emotions"], turns)
    emotions = pd.DataFrame(
        [
            {
                "id": e,
                "name": nm,
                "colour": colours.get(e, UNKNOWN_COLOUR),
                "count": turns.get(e, 0.0),
                "conversations": convs.get(e, 0.0),
                "target": float(emotion_target(tax, e)) if e in names["emotions"] else math.nan,
            }
            for e, nm in emotion_names.items()
        ]
    )
    used, supporting = sums.get("strategy"), sums.get("strategy", 1, 1)
    strategy_names = _ordered(names["strategies"], list(used) + list(supporting))
    strategies = pd.DataFrame(
        [
            {
                "id": s,
                "name": nm,
                "count": used.get(s, 0.0),
                "supporting": supporting.get(s, 0.0),
                "target": float(strategy_target(tax, s)) if s in names["strategies"] else math.nan,
            }
            for s, nm in strategy_names.items()
        ]
    )
    pair = sums.get("emotion_strategy", 2)
    emotion_strategy = pd.DataFrame(
        [
            {
                "emotion": e,
                "strategy": s,
                "emotion_name": en,
                "strategy_name": sn,
                "colour": colours.get(e, UNKNOWN_COLOUR),
                "count": pair.get((e, s), 0.0),
            }
            for e, en in _ordered(emotion_names, [k[0] for k in pair]).items()
            for s, sn in _ordered(strategy_names, [k[1] for k in pair]).items()
        ]
    )

    # personas and topics
    pt = sums.get("persona_topic", 2)
    persona_names = _ordered(names["personas"], [k[0] for k in pt])
    topic_names = _ordered(names["topics"], [k[1] for k in pt])
    per_persona: defaultdict[str, float] = defaultdict(float)
    per_topic: defaultdict[str, float] = defaultdict(float)
    for (p, t), c in pt.items():
        per_persona[p] += c
        per_topic[t] += c
    persona_target, topic_target = float(even_share(tax, "personas")), float(even_share(tax, "topics"))
    personas = pd.DataFrame(
        [
            {
                "id": p,
                "name": nm,
                "count": float(per_persona[p]),
                "target": persona_target if p in names["personas"] else math.nan,
            }
            for p, nm in persona_names.items()
        ]
    )
    clusters = tax.names("topic_clusters")
    topics = pd.DataFrame(
        [
            {
                "id": t,
                "name": nm,
                "cluster": clusters.get(tax.cluster_of.get(t, ""), ""),
                "count": float(per_topic[t]),
                "target": topic_target if t in names["topics"] else math.nan,
            }
            for t, nm in topic_names.items()
        ]
    )
    persona_topic = pd.DataFrame(
        [
            {"persona": p, "topic": t, "persona_name": pn, "topic_name": tn, "count": pt.get((p, t), 0.0)}
            for p, pn in persona_names.items()
            for t, tn in topic_names.items()
        ]
    )

    # arcs x tiers
    at = sums.get("arc_tier", 2)
    arcs = tax.by_id("arcs")
    arc_tier = pd.DataFrame(
        [
            {
                "arc": a,
                "tier": t,
                "arc_name": an,
                "tier_name": tn,
                "count": at.get((a, t), 0.0),
                "start": names["emotions"].get(arcs[a].start_emotion, "") if a in arcs else "",
                "end": names["emotions"].get(arcs[a].end_emotion, "") if a in arcs else "",
            }
            for a, an in _ordered(names["arcs"], [k[0] for k in at]).items()
            for t, tn in _ordered(names["tiers"], [k[1] for k in at]).items()
        ]
    )

    # lengths: exchanges -> the length buckets
    per_exchange = {int(k): v for k, v in sums.get("exchanges").items() if k is not None}
    length_rows: list[dict[str, Any]] = []
    placed: set[int] = set()
    for b in tax.targets.length_buckets:
        inside = {k: v for k, v in per_exchange.items() if b.min_exchanges <= k <= b.max_exchanges}
        placed |= set(inside)
        length_rows.append(
            {
                "id": b.id,
                "name": f"{b.id.capitalize()} ({exchanges_text(b.min_exchanges, b.max_exchanges)} exchanges)",
                "min_exchanges": b.min_exchanges,
                "max_exchanges": b.max_exchanges,
                "count": float(sum(inside.values())),
                "target": float(b.min_conversations),
                "detail": _exchange_detail(inside),
            }
        )
    outside = {k: v for k, v in per_exchange.items() if k not in placed}
    if outside:
        length_rows.append(
            {
                "id": "other",
                "name": "Other lengths",
                "min_exchanges": min(outside),
                "max_exchanges": max(outside),
                "count": float(sum(outside.values())),
                "target": math.nan,
                "detail": _exchange_detail(outside),
            }
        )
    lengths = pd.DataFrame(length_rows)

    # pipeline: funnel, quality, corrections
    stages = sums.get("funnel")
    detail = {
        "planned": "; ".join(
            f"{SCENARIO_STATUSES[s].label if s in SCENARIO_STATUSES else s}: {int(v)}"
            for s, v in sorted(sums.get("status").items(), key=lambda kv: -kv[1])
        ),
        "generated": ", ".join(f"{t.label}: {int(stages.get(s, 0))}" for s, t in REVIEW_STATUSES.items()),
        "approved": "",
    }
    funnel = pd.DataFrame(
        [
            {"stage": s, "name": t.label, "count": stages.get(s, 0.0), "detail": detail[s]}
            for s, t in FUNNEL_STAGES.items()
        ]
    )
    quality = pd.DataFrame(
        [
            {
                "score": float(score) if score is not None else math.nan,
                "review_status": status or "unreviewed",
                "review_name": labels(REVIEW_STATUSES).get(status or "unreviewed", status),
                "count": n,
            }
            for (score, status), n in sums.get("quality", 2).items()
        ],
        columns=["score", "review_status", "review_name", "count"],
    )
    label_names = {**names["emotions"], **names["strategies"]}
    corrections = pd.DataFrame(
        [
            {
                "field": f,
                "field_name": FIELD_LABELS.get(f, f),
                "old": old,
                "new": new,
                "old_name": label_names.get(old, old) if isinstance(old, str) else "(none)",
                "new_name": label_names.get(new, new) if isinstance(new, str) else "(none)",
                "count": n,
            }
            for (f, old, new), n in sums.get("correction", 3).items()
        ],
        columns=["field", "field_name", "old", "new", "old_name", "new_name", "count"],
    )
    statuses = {str(k): int(v) for k, v in sums.get("status").items()}
    return Coverage(
        scope=scope,
        rows=[{k: r.get(k) for k in ("section", "a", "b", "c", "n", "m")} for r in rows],
        totals=totals,
        emotions=emotions,
        strategies=strategies,
        emotion_strategy=emotion_strategy,
        personas=personas,
        topics=topics,
        persona_topic=persona_topic,
        arc_tier=arc_tier,
        lengths=lengths,
        funnel=funnel,
        quality=quality,
        corrections=corrections,
        statuses=statuses,
    )


def _exchange_detail(counts: Mapping[int, float]) -> str:
    return ", ".join(f"{k} exchanges: {_fmt(v)}" for k, v in sorted(counts.items())) or "none"


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def count_rows(store: Store, tax: Taxonomy, scopes: Sequence[str] = tuple(SCOPES)) -> list[dict[str, Any]]:
    """The SQL counts of the scopes (one call, one pass over the turns): coverage_counts' rows."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown coverage scope {unknown[0] if unknown else None!r}; expected {', '.join(SCOPES)}")
    return store.coverage_counts(list(scopes))


def from_rows(rows: Iterable[Mapping[str, Any]], tax: Taxonomy, scopes: Sequence[str]) -> dict[str, Coverage]:
    """count_rows' rows -> a Coverage per scope asked for."""
    by_scope: dict[str, list[Mapping[str, Any]]] = {s: [] for s in scopes}
    for r in rows:
        if r["scope"] in by_scope:
            by_scope[r["scope"]].append(r)
    return {s: build(by_scope[s], tax, s) for s in scopes}


def load_all(store: Store, tax: Taxonomy, scopes: Sequence[str] = tuple(SCOPES)) -> dict[str, Coverage]:
    """Count the scopes in SQL through the store, then build each."""
    return from_rows(count_rows(store, tax, scopes), tax, scopes)


def load(store: Store, tax: Taxonomy, scope: str) -> Coverage:
    return load_all(store, tax, (scope,))[scope]


def with_added(cov: Coverage, new_rows: Iterable[Mapping[str, Any]], tax: Taxonomy) -> Coverage:
    """The planned coverage once new scenario rows (not generated yet) are added to the table."""
    return build(cov.rows + pending_rows(new_rows), tax, "planned")
