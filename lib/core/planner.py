"""Taxonomy -> a coverage-balanced plan of scenarios to generate.

A scenario is one row: tier, persona, emotional_arc, topic, intent, tone, outcome_type (+ the context of a
tier-2/3 row). The plan is built in two passes:

Only plausible rows are planned (taxonomy/plausibility.yaml, lib/core/plausibility.py): a tier uses only
its arcs, a persona and an arc only the topics they fit, an arc only the intents, tones and outcomes that
suit it, and sensitive arcs stay under their share of all rows. Pairs the rules forbid are never counted as
possible, so "covered" means covered within the rules.

1. persona, arc and topic (the main dimensions) by a greedy pairwise covering. Each row takes the
   candidate that covers the most pairs (persona x arc, arc x topic, persona x topic) not yet covered;
   ties go to the better balance, then to a seeded RNG. Balance is also a hard filter: a row may only
   use the most under-served values of each dimension, so counts stay within about one of their
   target whatever the pair search would like. Tier-2/3 rows come first, because their contexts
   limit their choices, and the free template rows then fill whatever they left uneven. Where N allows
   a pair kind to be covered completely, a last step swaps values between rows (no count changes) to
   cover the few pairs the greedy's forced last rows missed.
2. intent, tone and outcome_type, balanced, within the arc's arc_fit.

`existing` rows (already in the table) count towards balance and pairs, so a top-up fills gaps instead of
repeating them. `weights` add demand (in conversations) to values, and the targets follow it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.core.pairwise import EPS, Balance, Pairs, make_fit, possible_pairs, repair, search
from lib.core.taxonomy import Context, Taxonomy
from lib.core.vocabulary import round_mix

PAIRS: tuple[tuple[str, str], ...] = (("persona", "emotional_arc"), ("emotional_arc", "topic"), ("persona", "topic"))
COVERAGE_DIMENSIONS: tuple[str, ...] = (
    "tier",
    "persona",
    "emotional_arc",
    "topic",
    "topic_cluster",
    "intent",
    "tone",
    "outcome_type",
    "start_emotion",
)
# weights keys (taxonomy dimension names)
WEIGHT_DIMENSIONS: tuple[str, ...] = (
    "emotions",
    "strategies",
    "personas",
    "arcs",
    "topics",
    "topic_clusters",
    "intents",
    "tones",
    "outcomes",
)
# row field -> the taxonomy dimension that holds its ids
ROW_DIMENSIONS: dict[str, str] = {
    "persona": "personas",
    "emotional_arc": "arcs",
    "topic": "topics",
    "intent": "intents",
    "tone": "tones",
    "outcome_type": "outcomes",
}


@dataclass(frozen=True)
class PlannedScenario:
    tier: str
    persona: str
    emotional_arc: str
    topic: str
    intent: str
    tone: str
    outcome_type: str
    context_id: str | None = None
    context: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class PlanCoverage:
    per_dimension: dict[str, dict[str, int]]  # dimension -> value -> count (existing + new)
    pairs: dict[str, tuple[int, int]]  # "persona x emotional_arc" -> (covered, possible)

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {"dimension": d, "value": v, "count": c}
            for d, counts in self.per_dimension.items()
            for v, c in counts.items()
        ]


@dataclass
class Plan:
    scenarios: list[PlannedScenario]
    coverage: PlanCoverage


# ---- input checks --------------------------------------------------------------------------
def tier_counts(tax: Taxonomy, n: int, tier_mix: Mapping[str, int] | None = None) -> dict[str, int]:
    """How many rows of each tier: tier_mix as given (it must sum to n), else the taxonomy's default
    counts scaled to n."""
    tiers = [t.id for t in tax.tiers]
    if tier_mix is not None:
        unknown = sorted(set(tier_mix) - set(tiers))
        if unknown:
            raise ValueError(f"tier_mix: unknown tier id {unknown[0]!r} (known: {', '.join(tiers)})")
        if any(not isinstance(c, int) or c < 0 for c in tier_mix.values()):
            raise ValueError(f"tier_mix: counts must be whole numbers >= 0, got {dict(tier_mix)}")
        if sum(tier_mix.values()) != n:
            raise ValueError(f"tier_mix sums to {sum(tier_mix.values())}, but n is {n}")
        return {t: tier_mix.get(t, 0) for t in tiers}
    return round_mix(n, {t.id: t.default_count for t in tax.tiers})


def _demand(tax: Taxonomy, weights: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    """weights -> extra demand per row field value. A weight on an emotion, strategy or cluster is shared
    by the arcs (start or end emotion; an emotion whose suited_strategies include it) or topics that carry it."""
    demand: dict[str, dict[str, float]] = {f: {} for f in ROW_DIMENSIONS}
    for dim, values in (weights or {}).items():
        if dim not in WEIGHT_DIMENSIONS:
            raise ValueError(f"weights: unknown dimension {dim!r} (known: {', '.join(WEIGHT_DIMENSIONS)})")
        if not isinstance(values, Mapping):
            raise ValueError(f"weights.{dim}: expected a mapping of id -> weight, got {values!r}")
        known = tax.by_id(dim)
        for value, w in values.items():
            if value not in known:
                raise ValueError(f"weights.{dim}: unknown id {value!r}")
            if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ValueError(f"weights.{dim}.{value}: expected a number >= 0, got {w!r}")
            if dim in ("emotions", "strategies"):
                emotions = (
                    {value} if dim == "emotions" else {e.id for e in tax.emotions if value in e.suited_strategies}
                )
                field = "emotional_arc"
                targets = [a.id for a in tax.arcs if a.start_emotion in emotions or a.end_emotion in emotions]
            elif dim == "topic_clusters":
                field, targets = "topic", [t.id for t in known[value].topics]
            else:
                field, targets = next(f for f, d in ROW_DIMENSIONS.items() if d == dim), [value]
            for t in targets:
                demand[field][t] = demand[field].get(t, 0.0) + w / len(targets)
    return demand


def plan(
    tax: Taxonomy,
    n: int = 90,
    tier_mix: dict[str, int] | None = None,
    *,
    seed: int = 0,
    existing: Sequence[Mapping[str, Any] | PlannedScenario] = (),
    weights: Mapping[str, Mapping[str, float]] | None = None,
) -> Plan:
    """Plan n new scenarios that top up `existing` (rows already in the table, as dicts or PlannedScenario)
    towards balanced, pairwise-covering coverage. See the module docstring for how."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    tiers = tier_counts(tax, n, tier_mix)
    demand = _demand(tax, weights)
    contexts: dict[str, list[Context]] = {"scenario": list(tax.scenario_contexts), "edge_case": list(tax.edge_cases)}
    for tier, count in tiers.items():
        if count and tier in contexts and not contexts[tier]:
            raise ValueError(f"tier {tier!r} needs contexts, but the taxonomy has none")
    for field, dim in ROW_DIMENSIONS.items():
        if n and not tax.ids(dim):
            raise ValueError(f"the taxonomy has no {dim}, so no {field} can be planned")

    rng = random.Random(seed)
    rules = tax.plausibility
    old = [dict(r.as_dict() if isinstance(r, PlannedScenario) else r) for r in existing]
    bal = {f: Balance(tax.ids(d), len(old) + n, demand[f]) for f, d in ROW_DIMENSIONS.items()}
    bp, ba, bt = bal["persona"], bal["emotional_arc"], bal["topic"]
    fit = make_fit(tax, bp.ids, ba.ids, bt.ids)
    pa_fit, at_fit, pt_fit = possible_pairs(tax, fit, bp.index, ba.index, bt.index)
    pa, at, pt = (
        Pairs(len(bp.ids), len(ba.ids), pa_fit),
        Pairs(len(ba.ids), len(bt.ids), at_fit),
        Pairs(len(bp.ids), len(bt.ids), pt_fit),
    )
    # arc x intent/tone/outcome counts: only to vary those values across the rows of an arc
    arc_with = {f: [[0] * len(bal[f].ids) for _ in ba.ids] for f in ("intent", "tone", "outcome_type")}
    used = {c.id: 0 for cs in contexts.values() for c in cs}  # context id -> rows using it
    sensitive = {ba.index[a] for a in rules.sensitive_arcs if a in ba.index}
    sensitive_left = rules.sensitive.cap(len(old) + n)
    for row in old:  # ids the taxonomy does not have (any more) are skipped
        idx = {f: b.index.get(row.get(f) or "") for f, b in bal.items()}
        for f, i in idx.items():
            if i is not None:
                bal[f].add(i)
        old_p, old_a, old_t = idx["persona"], idx["emotional_arc"], idx["topic"]
        for pairs, x, y in ((pa, old_p, old_a), (at, old_a, old_t), (pt, old_p, old_t)):
            if x is not None and y is not None:
                pairs.add(x, y)
        for f, table in arc_with.items():
            value = idx[f]
            if old_a is not None and value is not None:
                table[old_a][value] += 1
        if row.get("context_id") in used:
            used[row["context_id"]] += 1
        sensitive_left -= old_a in sensitive

    def tier_arcs(tier: str, arcs: Iterable[int]) -> list[int]:
        """The arcs a row of this tier may still take: its tier's, and no sensitive one once the cap is reached."""
        allowed = set(rules.arcs_of_tier(tier, ba.ids))
        return [a for a in arcs if ba.ids[a] in allowed and (sensitive_left > 0 or a not in sensitive)]

    # Pass 1: persona, arc, topic (and context). Constrained tiers first, the most constrained first.
    new: list[dict[str, Any]] = []
    picks: list[list[int]] = []  # [persona, arc, topic] of each new row
    fits: list[tuple[list[int], list[int], list[int]] | None] = []  # the values each row's tier or context allows
    all_p, all_a, all_t = list(range(len(bp.ids))), range(len(ba.ids)), list(range(len(bt.ids)))
    # tier -> (context, its persona, arc and topic indexes), and the contexts still waiting in this round
    choices = {
        tier: [
            (c, ([bp.index[v] for v in c.personas], [ba.index[v] for v in c.arcs], [bt.index[v] for v in c.topics]))
            for c in cs
        ]
        for tier, cs in contexts.items()
    }
    waiting: dict[str, list[tuple[Context, tuple[list[int], list[int], list[int]]]]] = {t: [] for t in contexts}
    pairs3 = (pa, at, pt)
    for tier in sorted(tiers, key=lambda t: (t not in contexts, len(contexts.get(t, [])))):
        for _ in range(tiers[tier]):
            ctx = None
            if tier not in contexts:
                A = tier_arcs(tier, all_a)
                if not A:
                    raise ValueError(f"plausibility.tier_arcs.{tier} leaves tier {tier!r} no arc to plan")
                key, (p, a, t) = search((all_p, A, all_t), pairs3, (bp, ba, bt), fit, rng)
                if key[0] < 0:
                    raise ValueError(f"the plausibility rules leave tier {tier!r} no persona, arc and topic that fit")
                row_fit: tuple[list[int], list[int], list[int]] = (all_p, A, all_t)
            else:
                best: tuple[int, float] = (-1, 0.0)
                for refill in (False, True):
                    # Spread contexts evenly: rounds in which only the least used contexts compete. When none
                    # of them has a plausible row left (the sensitive cap), every context competes.
                    if not waiting[tier] or refill:
                        pool = [ch for ch in choices[tier] if tier_arcs(tier, ch[1][1])]
                        low = min((used[c.id] for c, _ in pool), default=0)
                        waiting[tier] = [ch for ch in pool if refill or used[ch[0].id] == low]
                        rng.shuffle(waiting[tier])
                        if refill:
                            waiting[tier].sort(key=lambda ch: used[ch[0].id])
                    for k, (_, (P, A, T)) in enumerate(waiting[tier]):
                        key, triple = search((P, tier_arcs(tier, A), T), pairs3, (bp, ba, bt), fit, rng)
                        if key[0] > best[0] or (key[0] == best[0] and key[1] > best[1] + EPS):
                            best, chosen, (p, a, t) = key, k, triple
                    if best[0] >= 0:
                        break
                else:
                    raise ValueError(
                        f"no {tier} context has a plausible persona, arc and topic left "
                        "(plausibility.yaml; the sensitive cap included)"
                    )
                ctx, (P, A, T) = waiting[tier].pop(chosen)
                row_fit = (P, tier_arcs(tier, A), T)
                used[ctx.id] += 1
            if a in sensitive:
                sensitive_left -= 1
            for b, i in ((bp, p), (ba, a), (bt, t)):
                b.add(i)
            for pairs, x, y in ((pa, p, a), (at, a, t), (pt, p, t)):
                pairs.add(x, y)
            new.append({"tier": tier, "context_id": ctx.id if ctx else None, "context": ctx.context if ctx else None})
            picks.append([p, a, t])
            fits.append(row_fit)
    repair(picks, fits, pairs3, len(old) + n, fit)
    for row, (p, a, t) in zip(new, picks, strict=True):
        row.update(persona=bp.ids[p], emotional_arc=ba.ids[a], topic=bt.ids[t])

    # Pass 2: intent, tone, outcome. Rows the arc_fit limits most choose first, so the free rows can even out
    # what they had to take. A fit whose ids the taxonomy does not have leaves the dimension free.
    for f, table in arc_with.items():
        b = bal[f]
        allowed: list[list[int]] = []
        for r in new:
            fits_f = [b.index[v] for v in rules.fit_values(r["emotional_arc"], f) if v in b.index]
            allowed.append(fits_f or list(range(len(b.ids))))
        for i in sorted(range(len(new)), key=lambda i: len(allowed[i])):
            a = ba.index[new[i]["emotional_arc"]]
            # the value this arc has had least (so values vary across rows of one arc), then the neediest
            v = min(b.candidates(allowed[i], rng), key=table[a].__getitem__)
            b.add(v)
            table[a][v] += 1
            new[i][f] = b.ids[v]

    rank = {t.id: i for i, t in enumerate(tax.tiers)}
    new.sort(key=lambda r: rank[r["tier"]])  # stable: the plan lists tier 1, then 2, then 3
    scenarios = [PlannedScenario(**r) for r in new]
    return Plan(scenarios, _coverage(tax, old + new, (pa, at, pt)))


def _coverage(tax: Taxonomy, rows: list[dict[str, Any]], pairs: tuple[Pairs, Pairs, Pairs]) -> PlanCoverage:
    arcs = tax.by_id("arcs")
    known = {
        "tier": [t.id for t in tax.tiers],
        "topic_cluster": [c.id for c in tax.topic_clusters],
        "start_emotion": list(dict.fromkeys(a.start_emotion for a in tax.arcs)),
        **{f: tax.ids(d) for f, d in ROW_DIMENSIONS.items()},
    }
    per: dict[str, dict[str, int]] = {d: dict.fromkeys(known[d], 0) for d in COVERAGE_DIMENSIONS}
    for row in rows:
        arc = arcs.get(row.get("emotional_arc") or "")
        values = {
            **row,
            "topic_cluster": tax.cluster_of.get(row.get("topic") or ""),
            "start_emotion": arc.start_emotion if arc else None,
        }
        for d in COVERAGE_DIMENSIONS:
            if values.get(d) is not None:  # ids the taxonomy no longer has are still counted
                per[d][values[d]] = per[d].get(values[d], 0) + 1
    return PlanCoverage(
        per, {f"{x} x {y}": (p.covered(), p.possible()) for (x, y), p in zip(PAIRS, pairs, strict=True)}
    )


def compare_coverage(before: PlanCoverage, after: PlanCoverage) -> list[dict[str, Any]]:
    """What a plan changes, one row per dimension and per pair kind, for a preview table."""
    rows: list[dict[str, Any]] = []
    for dim, counts in after.per_dimension.items():
        old = before.per_dimension.get(dim, {})
        rows.append(
            {
                "Coverage of": dim.replace("_", " "),
                "Values used": f"{sum(1 for v in old.values() if v)} → "
                f"{sum(1 for v in counts.values() if v)} of {len(counts)}",
                "Fewest per value": f"{min(old.values(), default=0)} → {min(counts.values(), default=0)}",
                "Most per value": f"{max(old.values(), default=0)} → {max(counts.values(), default=0)}",
            }
        )
    for kind, (covered, possible) in after.pairs.items():
        rows.append(
            {
                "Coverage of": f"pairs {kind}",
                "Values used": f"{before.pairs[kind][0]} → {covered} of {possible}",
                "Fewest per value": "",
                "Most per value": "",
            }
        )
    return rows
