"""The planned coverage of scenarios not generated yet, estimated from what the generator will be asked
to write: the length is its own choice (lib.generation.prompting.target_turns), the emotions follow the
arc, and each reply shares out over the strategies suited to the emotion it answers (see PLANNED_NOTE).

public.coverage_counts only lists those scenarios (section 'pending'); the estimate is made here, once,
for the stored rows and for the rows of a plan being previewed alike.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from lib.core.taxonomy import EmotionalArc, Taxonomy
from lib.generation.prompting import LENGTH_KEY, target_turns, turn_choices  # the generator's own lengths

PLANNED_NOTE = (
    "**How planned counts are estimated.** Scenarios that have a conversation are counted as they are. "
    "For the others: the length is the turn count the generator will ask for (picked per scenario within the "
    "quality rules, {min_turns}–{max_turns} turns); the first user turn has the arc's start emotion, the last its "
    "end emotion, and each turn between takes the arc's milestone it has reached; each reply counts an equal "
    "share towards every strategy suited to the emotion it answers (so estimates can be fractional). "
    "Supporting strategies, quality scores and corrections are not estimated."
)


def generator_exchanges(tax: Taxonomy) -> list[int]:
    """The exchange counts the generator picks from."""
    return [t // 2 for t in turn_choices(tax)]


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
        out.append(
            {"section": "funnel", "a": "planned", "b": None, "c": None, "n": float(sum(keys.values())), "m": None}
        )
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
        return {
            "section": section,
            "a": None if a is None else str(a),
            "b": b,
            "c": None,
            "n": float(n_),
            "m": None if m is None else float(m),
        }

    out = [
        row_("total", "conversations", n_=n),
        row_("total", "estimated", n_=n),
        row_("total", "user_turns", n_=users),
        row_("total", "assistant_turns", n_=users),
    ]
    out += [row_("emotion", e, n_=c, m=emotion_convs[e]) for e, c in emotions.items()]
    out += [row_("strategy", s, n_=c, m=0) for s, c in strategies.items()]
    out += [row_("emotion_strategy", e, s, n_=c) for (e, s), c in pairs.items()]
    out += [row_("persona_topic", p, t, n_=c) for (p, t), c in persona_topic.items()]
    out += [row_("arc_tier", a, t, n_=c) for (a, t), c in arc_tier.items()]
    out += [row_("exchanges", k, n_=c) for k, c in exchanges.items()]
    return out
