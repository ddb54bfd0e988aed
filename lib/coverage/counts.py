"""Coverage: what the dataset covers against taxonomy/targets.yaml, the gaps, and gaps -> planner weights.

The counting happens in SQL (public.coverage_counts, in supabase/migrations/): one call returns the
long rows (scope, section, a, b, c, n, m) of all three scopes, and `build` turns a scope's rows into the
tables the charts draw. The page keeps the rows of one `coverage_version()` of the data, so switching
views does not count again. Three scopes:

- approved:  the current version of every approved conversation (the seeds come approved);
- generated: the current version of every conversation, whatever its review;
- planned:   every scenario row: conversations that exist as they are, the others estimated from what
             the generator will be asked to write (see PLANNED_NOTE). SQL only lists those scenarios
             (section 'pending'); the estimate is made here, once, with the generator's own choice of
             length (lib.generation.prompting.target_turns), for the stored rows and for the rows of a
             plan being previewed alike.

Targets: per emotion (user turns whose primary emotion it is) and per strategy (replies whose primary
strategy it is) from targets.yaml, with their overrides; length buckets in conversations (exchanges =
turns / 2). Personas and topics have no minimum in targets.yaml, so each is expected to hold an even
share (rounded down) of the conversations the length targets add up to (90 by default).
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lib.core.planner import Plan, _demand, plan
from lib.core.taxonomy import EmotionalArc, Taxonomy
from lib.core.vocabulary import FIELD_LABELS, FUNNEL_STAGES, REVIEW_STATUSES, SCENARIO_STATUSES, labels
from lib.generation.prompting import LENGTH_KEY, target_turns, turn_choices  # the generator's own lengths

SCOPES: dict[str, str] = {"approved": "Approved only", "generated": "All generated", "planned": "Planned"}
SCOPE_NOTES: dict[str, str] = {
    "approved": "The current version of every approved conversation, the seed conversations included.",
    "generated": "The current version of every generated conversation, whatever its review (unreviewed, "
                 "approved, needs edit or rejected).",
    "planned": "Every scenario in the table: the dataset once all of them are generated.",
}
PLANNED_NOTE = (
    "**How planned counts are estimated.** Scenarios that have a conversation are counted as they are. "
    "For the others: the length is the turn count the generator will ask for (picked per scenario within the "
    "quality rules, {min_turns}–{max_turns} turns); the first user turn has the arc's start emotion, the last its "
    "end emotion, and each turn between takes the arc's milestone it has reached; each reply counts an equal "
    "share towards every strategy suited to the emotion it answers (so estimates can be fractional). "
    "Supporting strategies, quality scores and corrections are not estimated."
)
# the sections public.coverage_counts returns (see the migration for what a, b, c, n and m hold); 'pending'
# rows become estimate rows of the other sections in `build`
SECTIONS: tuple[str, ...] = ("total", "emotion", "strategy", "emotion_strategy", "persona_topic", "arc_tier",
                             "exchanges", "quality", "correction", "pending", "funnel", "status")
# gap kind -> (label, unit counted, planner weight dimension or None when planning cannot fill it)
KINDS: dict[str, tuple[str, str, str | None]] = {
    "emotion": ("Emotion", "user turns", "emotions"),
    "strategy": ("Strategy", "replies", "strategies"),
    "length": ("Length", "conversations", None),
    "persona": ("Persona", "conversations", "personas"),
    "topic": ("Topic", "conversations", "topics"),
}
MAX_PLAN_ROWS = 1000
UNKNOWN_COLOUR = "#9e9e9e"


# ---- targets -------------------------------------------------------------------------------
def emotion_target(tax: Taxonomy, emotion: str) -> int:
    return tax.targets.emotion_overrides.get(emotion, tax.targets.per_emotion_min)


def strategy_target(tax: Taxonomy, strategy: str) -> int:
    return tax.targets.strategy_overrides.get(strategy, tax.targets.per_strategy_min)


def dataset_size_target(tax: Taxonomy) -> int:
    """The conversations the length targets add up to (50 + 30 + 10 = 90 by default)."""
    return sum(b.min_conversations for b in tax.targets.length_buckets)


def even_share(tax: Taxonomy, dimension: str) -> int:
    """The target of one persona or topic: an even share of dataset_size_target, rounded down."""
    return dataset_size_target(tax) // max(len(tax.ids(dimension)), 1)


def generator_exchanges(tax: Taxonomy) -> list[int]:
    """The exchange counts the generator picks from."""
    return [t // 2 for t in turn_choices(tax)]


# ---- the estimate of a scenario not generated yet -------------------------------------------
def arc_user_emotions(arc: EmotionalArc, exchanges: int) -> list[str]:
    """The estimated primary emotion of each user turn: first = start, last = end, each one between
    the last milestone its position j / (k - 1) has reached (ties: the later milestone)."""
    out: list[str] = []
    for j in range(exchanges):
        if j == 0:
            out.append(arc.start_emotion)
        elif j == exchanges - 1:
            out.append(arc.end_emotion)
        else:
            position = j / (exchanges - 1)
            reached = [m for m in arc.milestones if m.position <= position]
            best = max(reversed(reached), key=lambda m: m.position, default=None)  # the later one on ties
            out.append(best.emotion if best else arc.start_emotion)
    return out


def strategy_shares(tax: Taxonomy) -> dict[str, dict[str, float]]:
    """emotion -> {strategy: share} of a reply to a user turn of that emotion."""
    return {e.id: {s: 1 / len(e.suited_strategies) for s in e.suited_strategies} for e in tax.emotions}


def scenario_exchanges(row: Mapping[str, Any], tax: Taxonomy) -> int:
    """The exchanges the generator will ask for this scenario."""
    return target_turns(row, tax) // 2


def pending_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scenario rows not generated yet (a plan being previewed) as what coverage_counts lists for the
    stored ones: a 'pending' row per distinct set of dimensions, and the funnel's planned count."""
    keys = Counter(json.dumps({k: row.get(k) for k in LENGTH_KEY}, sort_keys=True) for row in rows)
    out = [{"section": "pending", "a": key, "b": None, "c": None, "n": float(n), "m": None} for key, n in keys.items()]
    if keys:
        out.append({"section": "funnel", "a": "planned", "b": None, "c": None, "n": float(sum(keys.values())),
                    "m": None})
    return out


def estimate_rows(pending: Iterable[Mapping[str, Any]], tax: Taxonomy) -> list[dict[str, Any]]:
    """What the 'pending' rows (scenarios without a conversation) will add once generated, in
    coverage_counts' row format: the sections total, emotion, strategy, emotion_strategy, persona_topic,
    arc_tier and exchanges."""
    arcs = tax.by_id("arcs")
    shares = strategy_shares(tax)
    profiles: dict[tuple[str, int], list[str]] = {}
    emotions: defaultdict[str, float] = defaultdict(float)
    emotion_convs: defaultdict[str, float] = defaultdict(float)
    strategies: defaultdict[str, float] = defaultdict(float)
    pairs: defaultdict[tuple[str, str], float] = defaultdict(float)
    persona_topic: defaultdict[tuple[str, str], float] = defaultdict(float)
    arc_tier: defaultdict[tuple[str, str], float] = defaultdict(float)
    exchanges: defaultdict[int, float] = defaultdict(float)
    users = n = 0.0
    for r in pending:
        dims, times = json.loads(r["a"]), float(r["n"] or 0.0)
        n += times
        k = scenario_exchanges(dims, tax)
        exchanges[k] += times
        persona_topic[(dims["persona"], dims["topic"])] += times
        arc_tier[(dims["emotional_arc"], dims["tier"])] += times
        arc = arcs.get(dims["emotional_arc"])
        if arc is None:
            continue
        said = profiles.setdefault((arc.id, k), arc_user_emotions(arc, k))
        users += times * len(said)
        for e in said:
            emotions[e] += times
            for s, share in shares.get(e, {}).items():
                strategies[s] += times * share
                pairs[(e, s)] += times * share
        for e in set(said):
            emotion_convs[e] += times

    def row_(section: str, a: Any, b: Any = None, n_: float = 0.0, m: float | None = None) -> dict[str, Any]:
        return {"section": section, "a": None if a is None else str(a), "b": b, "c": None, "n": float(n_),
                "m": None if m is None else float(m)}

    out = [row_("total", "conversations", n_=n), row_("total", "estimated", n_=n),
           row_("total", "user_turns", n_=users), row_("total", "assistant_turns", n_=users)]
    out += [row_("emotion", e, n_=c, m=emotion_convs[e]) for e, c in emotions.items()]
    out += [row_("strategy", s, n_=c, m=0) for s, c in strategies.items()]
    out += [row_("emotion_strategy", e, s, n_=c) for (e, s), c in pairs.items()]
    out += [row_("persona_topic", p, t, n_=c) for (p, t), c in persona_topic.items()]
    out += [row_("arc_tier", a, t, n_=c) for (a, t), c in arc_tier.items()]
    out += [row_("exchanges", k, n_=c) for k, c in exchanges.items()]
    return out


# ---- the counts as tables ------------------------------------------------------------------
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


def build(rows: Sequence[Mapping[str, Any]], tax: Taxonomy, scope: str) -> Coverage:
    """coverage_counts rows (plus any pending_rows) -> Coverage: the pending rows become their estimate,
    and rows of the same key are added up."""
    if scope not in SCOPES:
        raise ValueError(f"unknown coverage scope {scope!r}; expected one of {', '.join(SCOPES)}")
    pending = [r for r in rows if r["section"] == "pending"]
    counted: list[Mapping[str, Any]] = [r for r in rows if r["section"] != "pending"]
    counted.extend(estimate_rows(pending, tax))
    sums = _Sums(counted)
    names = {d: {k: v.name for k, v in tax.by_id(d).items()} for d in
             ("emotions", "strategies", "personas", "topics", "arcs", "tiers")}
    colours = {e.id: e.color for e in tax.emotions}

    totals = {k: v for k, v in sums.get("total").items()}

    # emotions and strategies against their targets
    turns, convs = sums.get("emotion"), sums.get("emotion", 1, 1)
    emotion_names = _ordered(names["emotions"], turns)
    emotions = pd.DataFrame([{
        "id": e, "name": nm, "colour": colours.get(e, UNKNOWN_COLOUR), "count": turns.get(e, 0.0),
        "conversations": convs.get(e, 0.0),
        "target": float(emotion_target(tax, e)) if e in names["emotions"] else math.nan,
    } for e, nm in emotion_names.items()])
    used, supporting = sums.get("strategy"), sums.get("strategy", 1, 1)
    strategy_names = _ordered(names["strategies"], list(used) + list(supporting))
    strategies = pd.DataFrame([{
        "id": s, "name": nm, "count": used.get(s, 0.0), "supporting": supporting.get(s, 0.0),
        "target": float(strategy_target(tax, s)) if s in names["strategies"] else math.nan,
    } for s, nm in strategy_names.items()])
    pair = sums.get("emotion_strategy", 2)
    emotion_strategy = pd.DataFrame([{
        "emotion": e, "strategy": s, "emotion_name": en, "strategy_name": sn,
        "colour": colours.get(e, UNKNOWN_COLOUR), "count": pair.get((e, s), 0.0),
    } for e, en in _ordered(emotion_names, [k[0] for k in pair]).items()
        for s, sn in _ordered(strategy_names, [k[1] for k in pair]).items()])

    # personas and topics
    pt = sums.get("persona_topic", 2)
    persona_names = _ordered(names["personas"], [k[0] for k in pt])
    topic_names = _ordered(names["topics"], [k[1] for k in pt])
    per_persona: Counter[str] = Counter()
    per_topic: Counter[str] = Counter()
    for (p, t), c in pt.items():
        per_persona[p] += c
        per_topic[t] += c
    persona_target, topic_target = float(even_share(tax, "personas")), float(even_share(tax, "topics"))
    personas = pd.DataFrame([{"id": p, "name": nm, "count": float(per_persona[p]),
                              "target": persona_target if p in names["personas"] else math.nan}
                             for p, nm in persona_names.items()])
    clusters = {c.id: c.name for c in tax.topic_clusters}
    topics = pd.DataFrame([{"id": t, "name": nm, "cluster": clusters.get(tax.cluster_of.get(t, ""), ""),
                            "count": float(per_topic[t]),
                            "target": topic_target if t in names["topics"] else math.nan}
                           for t, nm in topic_names.items()])
    persona_topic = pd.DataFrame([{"persona": p, "topic": t, "persona_name": pn, "topic_name": tn,
                                   "count": pt.get((p, t), 0.0)}
                                  for p, pn in persona_names.items() for t, tn in topic_names.items()])

    # arcs x tiers
    at = sums.get("arc_tier", 2)
    arcs = tax.by_id("arcs")
    arc_tier = pd.DataFrame([{
        "arc": a, "tier": t, "arc_name": an, "tier_name": tn, "count": at.get((a, t), 0.0),
        "start": names["emotions"].get(arcs[a].start_emotion, "") if a in arcs else "",
        "end": names["emotions"].get(arcs[a].end_emotion, "") if a in arcs else "",
    } for a, an in _ordered(names["arcs"], [k[0] for k in at]).items()
        for t, tn in _ordered(names["tiers"], [k[1] for k in at]).items()])

    # lengths: exchanges -> the length buckets
    per_exchange = {int(k): v for k, v in sums.get("exchanges").items() if k is not None}
    length_rows: list[dict[str, Any]] = []
    placed: set[int] = set()
    for b in tax.targets.length_buckets:
        inside = {k: v for k, v in per_exchange.items() if b.min_exchanges <= k <= b.max_exchanges}
        placed |= set(inside)
        length_rows.append({"id": b.id, "name": f"{b.id.capitalize()} ({b.min_exchanges}–{b.max_exchanges} exchanges)",
                            "min_exchanges": b.min_exchanges, "max_exchanges": b.max_exchanges,
                            "count": float(sum(inside.values())), "target": float(b.min_conversations),
                            "detail": _exchange_detail(inside)})
    outside = {k: v for k, v in per_exchange.items() if k not in placed}
    if outside:
        length_rows.append({"id": "other", "name": "Other lengths", "min_exchanges": min(outside),
                            "max_exchanges": max(outside), "count": float(sum(outside.values())),
                            "target": math.nan, "detail": _exchange_detail(outside)})
    lengths = pd.DataFrame(length_rows)

    # pipeline: funnel, quality, corrections
    stages = sums.get("funnel")
    detail = {
        "planned": "; ".join(f"{SCENARIO_STATUSES[s].label if s in SCENARIO_STATUSES else s}: {int(v)}"
                             for s, v in sorted(sums.get("status").items(), key=lambda kv: -kv[1])),
        "generated": ", ".join(f"{t.label}: {int(stages.get(s, 0))}" for s, t in REVIEW_STATUSES.items()),
        "approved": "",
    }
    funnel = pd.DataFrame([{"stage": s, "name": t.label, "count": stages.get(s, 0.0), "detail": detail[s]}
                           for s, t in FUNNEL_STAGES.items()])
    quality = pd.DataFrame([
        {"score": float(score) if score is not None else math.nan, "review_status": status or "unreviewed",
         "review_name": labels(REVIEW_STATUSES).get(status or "unreviewed", status), "count": n}
        for (score, status), n in sums.get("quality", 2).items()],
        columns=["score", "review_status", "review_name", "count"])
    label_names = {**names["emotions"], **names["strategies"]}
    corrections = pd.DataFrame([
        {"field": f, "field_name": FIELD_LABELS.get(f, f), "old": old, "new": new,
         "old_name": label_names.get(old, old) if isinstance(old, str) else "(none)",
         "new_name": label_names.get(new, new) if isinstance(new, str) else "(none)", "count": n}
        for (f, old, new), n in sums.get("correction", 3).items()],
        columns=["field", "field_name", "old", "new", "old_name", "new_name", "count"])
    statuses = {str(k): int(v) for k, v in sums.get("status").items()}
    return Coverage(scope=scope, rows=[{k: r.get(k) for k in ("section", "a", "b", "c", "n", "m")} for r in rows],
                    totals=totals, emotions=emotions,
                    strategies=strategies, emotion_strategy=emotion_strategy, personas=personas, topics=topics,
                    persona_topic=persona_topic, arc_tier=arc_tier, lengths=lengths, funnel=funnel,
                    quality=quality, corrections=corrections, statuses=statuses)


def _exchange_detail(counts: Mapping[int, float]) -> str:
    return ", ".join(f"{k} exchanges: {_fmt(v)}" for k, v in sorted(counts.items())) or "none"


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def count_rows(store: Any, tax: Taxonomy, scopes: Sequence[str] = tuple(SCOPES)) -> list[dict[str, Any]]:
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


def load_all(store: Any, tax: Taxonomy, scopes: Sequence[str] = tuple(SCOPES)) -> dict[str, Coverage]:
    """Count the scopes in SQL through the store, then build each."""
    return from_rows(count_rows(store, tax, scopes), tax, scopes)


def load(store: Any, tax: Taxonomy, scope: str) -> Coverage:
    return load_all(store, tax, (scope,))[scope]


def with_added(cov: Coverage, new_rows: Iterable[Mapping[str, Any]], tax: Taxonomy) -> Coverage:
    """The planned coverage once new scenario rows (not generated yet) are added to the table."""
    return build(cov.rows + pending_rows(new_rows), tax, "planned")


# ---- gaps ----------------------------------------------------------------------------------
GAP_COLUMNS: list[str] = ["kind", "kind_name", "id", "name", "unit", "target", "count", "short_by", "progress",
                          "plannable", "how"]


def gaps(cov: Coverage, tax: Taxonomy) -> pd.DataFrame:
    """Every target not met, with how much is missing, biggest shortfall first within each kind."""
    rules = tax.targets.quality
    lo, hi = min(generator_exchanges(tax)), max(generator_exchanges(tax))
    carried = {e.id for e in tax.emotions if any(e.id in (a.start_emotion, a.end_emotion) for a in tax.arcs)}
    rows: list[dict[str, Any]] = []

    def add(kind: str, frame: pd.DataFrame, how: Any) -> None:
        label, unit, dim = KINDS[kind]
        for r in frame.itertuples(index=False):
            target = r.target
            if not isinstance(target, float) or math.isnan(target) or target <= 0 or r.count >= target - 1e-9:
                continue
            note, ok = how(r)
            rows.append({"kind": kind, "kind_name": label, "id": r.id, "name": r.name, "unit": unit,
                         "target": target, "count": float(r.count), "short_by": target - float(r.count),
                         "progress": min(float(r.count) / target, 1.0), "plannable": ok and dim is not None,
                         "how": note})

    add("emotion", cov.emotions, lambda r: (
        (f"More arcs that start or end in {r.name}", True) if r.id in carried else
        (f"No arc starts or ends in {r.name}: add one to taxonomy/arcs.yaml", False)))
    add("strategy", cov.strategies, lambda r: (f"More of the emotions {r.name} suits", True))
    add("persona", cov.personas, lambda r: ("More conversations with this persona", True))
    add("topic", cov.topics, lambda r: ("More conversations on this topic", True))

    def length_how(r: Any) -> tuple[str, bool]:
        if r.max_exchanges < lo or r.min_exchanges > hi:
            return (f"Not plannable: the quality rules allow {rules.min_turns}–{rules.max_turns} turns ({lo}–{hi} "
                    "exchanges); targets.yaml notes the conflict for the customer to settle", False)
        return (f"Not plannable by weight: the generator picks each length within {lo}–{hi} exchanges; more "
                "scenarios of any kind add to it", False)
    add("length", cov.lengths, length_how)
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    order = {k: n for n, k in enumerate(KINDS)}
    if not frame.empty:
        frame = frame.sort_values(["kind", "short_by"], key=lambda s: s.map(order) if s.name == "kind" else -s,
                                  kind="stable").reset_index(drop=True)
    return frame


def target_summary(cov: Coverage, tax: Taxonomy) -> dict[str, tuple[int, int]]:
    """kind -> (targets met, targets) for the headline."""
    frames = {"emotion": cov.emotions, "strategy": cov.strategies, "persona": cov.personas, "topic": cov.topics,
              "length": cov.lengths}
    out: dict[str, tuple[int, int]] = {}
    for kind, frame in frames.items():
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
                per_length = [sum(1.0 for e in profile[(a, k)] if e == value) if kind == "emotion"
                              else sum(shares.get(e, {}).get(value, 0.0) for e in profile[(a, k)]) for k in lengths]
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


def suggested_rows(weights: Mapping[str, Mapping[str, float]]) -> int:
    """How many scenarios to plan: the largest total shortfall of one kind, in conversations."""
    if not weights:
        return 0
    need = max(sum(values.values()) for values in weights.values())
    return max(1, min(MAX_PLAN_ROWS, math.ceil(need - 1e-9)))


def plan_for_gaps(tax: Taxonomy, gap_frame: pd.DataFrame, existing: Sequence[Mapping[str, Any]], n: int,
                  *, seed: int = 0) -> Plan:
    """Plan n scenarios on top of the existing rows, with the plannable gaps as weights."""
    return plan(tax, n, existing=existing, weights=gap_weights(gap_frame, tax), seed=seed)


def _counts(cov: Coverage) -> dict[tuple[str, str], float]:
    frames = {"emotion": cov.emotions, "strategy": cov.strategies, "persona": cov.personas, "topic": cov.topics,
              "length": cov.lengths}
    return {(k, r.id): float(r.count) for k, f in frames.items() if not f.empty for r in f.itertuples(index=False)}


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
        rows.append({"kind_name": r.kind_name, "name": r.name, "unit": r.unit, "target": r.target,
                     "before": had.get(key, 0.0), "after": has.get(key, 0.0),
                     "short_before": max(r.target - had.get(key, 0.0), 0.0),
                     "short_after": short_after.get(key, 0.0), "met": key not in short_after})
    return pd.DataFrame(rows, columns=["kind_name", "name", "unit", "target", "before", "after", "short_before",
                                       "short_after", "met"])


@dataclass(frozen=True)
class GapPlan:
    """A plan sized to the gaps: its rows, the planned coverage once they are added, and what changes."""
    plan: Plan
    after: Coverage
    change: pd.DataFrame  # gap_change(before, after)
    n: int
    closes_all: bool  # every gap planning can fill is met once the rows are generated


def fill_plan(tax: Taxonomy, planned: Coverage, existing: Sequence[Mapping[str, Any]], n: int | None = None,
              *, seed: int = 0) -> GapPlan:
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
    start = suggested_rows(weights)
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


# ---- the page's figures ----------------------------------------------------------------------
SCOPE_PHRASES: dict[str, str] = {"approved": "Approved conversations", "generated": "All generated conversations",
                                 "planned": "Planned: generated + estimated"}
FIGURES: tuple[str, ...] = ("emotions", "strategies", "emotion_strategy", "personas", "topics", "persona_topic",
                            "arc_tier", "lengths", "funnel", "quality", "corrections")


def figures(cov: Coverage, tax: Taxonomy) -> dict[str, Any]:
    """Every chart of the coverage page, by name (FIGURES), from one Coverage."""
    from lib.coverage import charts

    t = tax.targets
    where = SCOPE_PHRASES[cov.scope]
    empty = {"approved": "No approved conversations yet", "generated": "No generated conversations yet",
             "planned": "The scenario table is empty"}[cov.scope]
    uniform_e = not t.emotion_overrides
    uniform_s = not t.strategy_overrides
    emotions = cov.emotions.assign(hover=[f"in {charts.fmt(c)} conversations" for c in cov.emotions["conversations"]])
    strategies = cov.strategies.assign(
        hover=[f"also a supporting strategy in {charts.fmt(c)} replies" if c else "" for c in cov.strategies["supporting"]])
    es = cov.emotion_strategy
    pt = cov.persona_topic
    at = cov.arc_tier
    size = dataset_size_target(tax)
    arc_hover = {r.arc_name: f"{r.start} → {r.end}" for r in at.itertuples(index=False) if r.start}
    return {
        "emotions": charts.bar_vs_target(
            emotions, title="Primary emotion of user turns",
            subtitle=f"{where}\nTarget {t.per_emotion_min if uniform_e else 'per emotion'} user turns"
                     f"{' each' if uniform_e else ''} (black line) · hatched = under target",
            value_title="User turns", unit="user turns", horizontal=True, empty_text=empty),
        "strategies": charts.bar_vs_target(
            strategies, title="Primary strategy of assistant replies",
            subtitle=f"{where}\nTarget {t.per_strategy_min if uniform_s else 'per strategy'} replies"
                     f"{' each' if uniform_s else ''} (black line) · hatched = under target",
            value_title="Replies", unit="replies", horizontal=True, empty_text=empty),
        "emotion_strategy": charts.heatmap(
            es, x="strategy_name", y="emotion_name", x_order=list(dict.fromkeys(es["strategy_name"])),
            y_order=list(dict.fromkeys(es["emotion_name"])), title="Emotion × strategy",
            subtitle=f"{where} · replies by the emotion of the user turn they answer",
            x_title="Strategy of the reply", y_title="Emotion answered", unit="replies",
            y_colours=dict(zip(es["emotion_name"], es["colour"])), empty_text=empty),
        "personas": charts.bar_vs_target(
            cov.personas, title="Conversations per persona",
            subtitle=f"{where}\nTarget {even_share(tax, 'personas')} each, an even share of {size} (black line)",
            value_title="Conversations", unit="conversations", horizontal=True, empty_text=empty),
        "topics": charts.bar_vs_target(
            cov.topics.assign(hover=[f"cluster: {c}" for c in cov.topics["cluster"]]),
            title="Conversations per topic",
            subtitle=f"{where}\nTarget {even_share(tax, 'topics')} each, an even share of {size} (black line)",
            value_title="Conversations", unit="conversations", horizontal=True, empty_text=empty),
        "persona_topic": charts.heatmap(
            pt, x="persona_name", y="topic_name", x_order=list(dict.fromkeys(pt["persona_name"])),
            y_order=list(dict.fromkeys(pt["topic_name"])), title="Persona × topic",
            subtitle=f"{where} · conversations per pair; empty cells are pairs not covered",
            x_title="Persona", y_title="Topic", unit="conversations", empty_text=empty),
        "arc_tier": charts.heatmap(
            at, x="tier_name", y="arc_name", x_order=list(dict.fromkeys(at["tier_name"])),
            y_order=list(dict.fromkeys(at["arc_name"])), title="Emotional arc × tier",
            subtitle=f"{where}\nConversations per arc and tier", x_title="Tier", y_title="Emotional arc", unit="conversations",
            hover_y=arc_hover, empty_text=empty),
        "lengths": charts.bar_vs_target(
            cov.lengths.assign(hover=cov.lengths["detail"]) if not cov.lengths.empty else cov.lengths,
            title="Conversation length",
            subtitle=f"{where} · exchanges = turns ÷ 2\nBlack line = target · hatched = under target",
            value_title="Conversations", unit="conversations", horizontal=True, empty_text=empty),
        "funnel": charts.funnel(cov.funnel, title="Status funnel",
                                subtitle="The whole scenario table, whatever the view"),
        "quality": charts.quality_histogram(
            cov.quality, title="Quality scores",
            subtitle=("Generated conversations (planned ones have no score yet)" if cov.scope == "planned" else where),
            statuses=labels(REVIEW_STATUSES)),
        "corrections": charts.corrections(
            cov.corrections, title="Reviewer corrections by label",
            subtitle=("Generated conversations" if cov.scope == "planned" else where)
                     + " · labels that reviewers changed",
            emotion_colours={e.id: e.color for e in tax.emotions}),
    }
