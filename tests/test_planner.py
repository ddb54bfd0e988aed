"""The scenario planner: tiers, balance, pairwise coverage, contexts, affinities, top-up, weights, errors."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lib.core.vocabulary import round_mix
from lib.core.planner import PAIRS, Plan, PlanCoverage, PlannedScenario, plan
from lib.core.plausibility import row_problems
from lib.core.taxonomy import Taxonomy, load_taxonomy

SUPPORT_DIR = Path(__file__).parent / "fixtures" / "taxonomy_support"
BALANCED = {"persona": "personas", "emotional_arc": "arcs", "topic": "topics", "intent": "intents",
            "tone": "tones", "outcome_type": "outcomes"}
# Within one of each other in the financial taxonomy. Arcs and intents cannot be: tier 1 uses 5 of the 11
# arcs, contexts list theirs, and an arc's arc_fit keeps e.g. boundary_setting to the hostility arc.
EVEN = ("persona", "topic", "tone", "outcome_type")


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def support() -> Taxonomy:
    return load_taxonomy(SUPPORT_DIR)


@pytest.fixture(scope="module")
def default_plan(tax: Taxonomy) -> Plan:
    return plan(tax)


def counts(rows: list[dict[str, Any]] | list[PlannedScenario], field: str) -> Counter[str]:
    return Counter(r[field] if isinstance(r, dict) else getattr(r, field) for r in rows)


def spread(tax: Taxonomy, rows: list[Any], field: str) -> int:
    """max - min count over every id of the dimension (unused ids count 0)."""
    c = counts(rows, field)
    values = [c[v] for v in tax.ids(BALANCED[field])]
    return max(values) - min(values)


def covered(rows: list[Any], x: str, y: str) -> set[tuple[str, str]]:
    return {(getattr(r, x), getattr(r, y)) for r in rows}


def possible_pairs(tax: Taxonomy) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Every pair a plausible row of some tier can hold, by brute force over the rows a tier could plan."""
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    found: dict[tuple[str, str], set[tuple[str, str]]] = {pair: set() for pair in PAIRS}
    sources = {"scenario": tax.scenario_contexts, "edge_case": tax.edge_cases}
    for tier in tax.ids("tiers"):
        if tier in sources:
            triples = {(p, a, t) for c in sources[tier] for p in c.personas for a in c.arcs for t in c.topics}
        else:
            triples = {(p, a, t) for p in tax.ids("personas") for a in tax.ids("arcs") for t in tax.ids("topics")}
        for p, a, t in triples:
            row = {"tier": tier, "persona": p, "emotional_arc": a, "topic": t}
            if any(not name.startswith("plausibility.arc_fit") for name, _ in row_problems(tax.plausibility, row, clusters)):
                continue
            values = {"persona": p, "emotional_arc": a, "topic": t}
            for x, y in PAIRS:
                found[(x, y)].add((values[x], values[y]))
    return found


# ---- the default plan ----------------------------------------------------------------------
def test_default_plan_has_90_rows_in_40_35_15(default_plan: Plan) -> None:
    assert len(default_plan.scenarios) == 90
    assert counts(default_plan.scenarios, "tier") == {"template": 40, "scenario": 35, "edge_case": 15}
    assert all(isinstance(s, PlannedScenario) for s in default_plan.scenarios)


@pytest.mark.parametrize("field", list(BALANCED))
def test_default_plan_uses_every_value_and_is_balanced(tax: Taxonomy, default_plan: Plan, field: str) -> None:
    used = set(counts(default_plan.scenarios, field))
    assert used == set(tax.ids(BALANCED[field]))
    if field in EVEN:
        assert spread(tax, default_plan.scenarios, field) <= 1
    if field == "emotional_arc":  # the tier-1 arcs even out over all rows
        c = counts(default_plan.scenarios, field)
        template = [c[a] for a in tax.plausibility.tier_arcs["template"]]
        assert max(template) - min(template) <= 1


def test_context_rows_take_their_values_from_the_context(tax: Taxonomy, default_plan: Plan) -> None:
    sources = {"scenario": tax.by_id("scenario_contexts"), "edge_case": tax.by_id("edge_cases")}
    for s in default_plan.scenarios:
        if s.tier == "template":
            assert s.context_id is None and s.context is None
            continue
        ctx = sources[s.tier][s.context_id]  # KeyError = an unknown context or one of the other tier
        assert s.persona in ctx.personas and s.topic in ctx.topics and s.emotional_arc in ctx.arcs
        assert s.context == ctx.context


def test_contexts_are_spread_evenly(tax: Taxonomy) -> None:
    p = plan(tax, n=300)
    for tier, contexts in (("scenario", tax.scenario_contexts), ("edge_case", tax.edge_cases)):
        used = counts([s for s in p.scenarios if s.tier == tier], "context_id")
        per_context = [used[c.id] for c in contexts]
        assert max(per_context) - min(per_context) <= 1, (tier, per_context)


def test_affinities_are_respected(tax: Taxonomy) -> None:
    p = plan(tax, n=300)
    for s in p.scenarios:
        for field in ("intent", "tone", "outcome_type"):
            values = tax.plausibility.fit_values(s.emotional_arc, field)
            assert not values or getattr(s, field) in values, s
    crisis = [s for s in p.scenarios if s.emotional_arc == "crisis_to_referral"]
    assert crisis and all(s.outcome_type == "referral" and s.tone == "urgent" for s in crisis)
    hostile = [s for s in p.scenarios if s.emotional_arc == "hostility_to_boundary"]
    assert hostile and all(s.intent in ("boundary_setting", "objection_handling") for s in hostile)
    for field in ("tone", "outcome_type"):
        assert spread(tax, p.scenarios, field) <= 1, field
    assert set(counts(p.scenarios, "intent")) == set(tax.ids("intents"))


def test_coverage_matches_the_rows(tax: Taxonomy, default_plan: Plan) -> None:
    cov = default_plan.coverage
    assert isinstance(cov, PlanCoverage)
    assert list(cov.per_dimension) == ["tier", "persona", "emotional_arc", "topic", "topic_cluster", "intent",
                                       "tone", "outcome_type", "start_emotion"]
    for field in ["tier", *BALANCED]:
        assert {v: c for v, c in cov.per_dimension[field].items() if c} == counts(default_plan.scenarios, field)
    clusters = Counter(tax.cluster_of[s.topic] for s in default_plan.scenarios)
    assert cov.per_dimension["topic_cluster"] == {c.id: clusters[c.id] for c in tax.topic_clusters}
    arcs = tax.by_id("arcs")
    starts = Counter(arcs[s.emotional_arc].start_emotion for s in default_plan.scenarios)
    assert {v: c for v, c in cov.per_dimension["start_emotion"].items() if c} == starts
    possible = possible_pairs(tax)
    for x, y in PAIRS:
        assert cov.pairs[f"{x} x {y}"] == (len(covered(default_plan.scenarios, x, y)), len(possible[(x, y)]))
    rows = cov.as_rows()
    assert len(rows) == sum(len(v) for v in cov.per_dimension.values())
    assert {"dimension": "tier", "value": "template", "count": 40} in rows
    assert default_plan.scenarios[0].as_dict()["persona"] == default_plan.scenarios[0].persona


# ---- pairwise covering ---------------------------------------------------------------------
def test_support_taxonomy_gets_every_pair(support: Taxonomy) -> None:
    sizes = {"persona": len(support.personas), "emotional_arc": len(support.arcs), "topic": len(support.topics)}
    n = 3 * max(sizes[x] * sizes[y] for x, y in PAIRS)
    p = plan(support, n=n)
    for x, y in PAIRS:
        assert p.coverage.pairs[f"{x} x {y}"] == (sizes[x] * sizes[y],) * 2, (x, y)
    for field in BALANCED:
        assert spread(support, p.scenarios, field) <= 1, field


def test_n600_covers_persona_arc_and_arc_topic(tax: Taxonomy) -> None:
    p = plan(tax, n=600)
    possible = possible_pairs(tax)
    for x, y in (("persona", "emotional_arc"), ("emotional_arc", "topic")):
        missing = possible[(x, y)] - covered(p.scenarios, x, y)
        # the sensitive arcs, held to 5% of the rows, may leave pairs out; the others at most two (contexts
        # that list few personas or topics leave the swaps of the last rows little room)
        assert len({pair for pair in missing if not set(pair) & tax.plausibility.sensitive_arcs}) <= 2, missing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_n90_covers_close_to_the_greedy_maximum(tax: Taxonomy, seed: int) -> None:
    p = plan(tax, n=90, seed=seed)
    for name, (got, possible) in p.coverage.pairs.items():
        assert got >= 0.85 * min(possible, 90), (name, got, possible)


# ---- determinism, top-up, weights ----------------------------------------------------------
def test_deterministic_for_a_seed(tax: Taxonomy) -> None:
    assert plan(tax, seed=7).scenarios == plan(tax, seed=7).scenarios
    assert plan(tax, seed=7).scenarios != plan(tax, seed=8).scenarios


def test_top_up_fills_gaps_instead_of_duplicating(tax: Taxonomy) -> None:
    first = plan(tax, n=90)
    second = plan(tax, n=90, existing=[s.as_dict() for s in first.scenarios], seed=1)
    both = first.scenarios + second.scenarios
    for field in BALANCED:
        assert spread(tax, both, field) <= 1 or field not in EVEN, field
        assert second.coverage.per_dimension[field] == {v: counts(both, field)[v] for v in tax.ids(BALANCED[field])}
    fresh = plan(tax, n=180)  # what one plan of the combined size covers
    independent = first.scenarios + plan(tax, n=90, seed=1).scenarios  # a second plan that ignores the first
    for x, y in PAIRS:
        name = f"{x} x {y}"
        grown = second.coverage.pairs[name][0]
        assert grown == len(covered(both, x, y))
        assert grown > first.coverage.pairs[name][0] + 45, name
        assert grown >= 0.93 * fresh.coverage.pairs[name][0], name
        assert grown > len(covered(independent, x, y)) + 10, name


def test_top_up_evens_out_a_lopsided_table(tax: Taxonomy) -> None:
    persona = tax.personas[0].id
    existing = [{"tier": "template", "persona": persona, "emotional_arc": tax.arcs[0].id, "topic": tax.topics[0].id,
                 "intent": tax.intents[0].id, "tone": tax.tones[0].id, "outcome_type": tax.outcomes[0].id,
                 "context_id": None}] * 10
    n = len(tax.personas) * 10 - 10
    p = plan(tax, n=n, tier_mix={"template": n}, existing=existing)  # context rows must take what contexts list
    assert persona not in counts(p.scenarios, "persona")
    assert set(p.coverage.per_dimension["persona"].values()) == {10}


def test_existing_rows_with_old_ids_are_counted_not_planned(tax: Taxonomy) -> None:
    first = plan(tax, n=20, seed=4)
    retired = {**first.scenarios[0].as_dict(), "persona": "retired_persona", "context_id": "gone"}
    p = plan(tax, n=20, existing=[*first.scenarios[1:], retired])  # PlannedScenario rows are accepted too
    assert p.coverage.per_dimension["persona"]["retired_persona"] == 1
    assert "retired_persona" not in counts(p.scenarios, "persona")
    assert sum(p.coverage.per_dimension["tier"].values()) == 40


def test_weighting_an_emotion_favours_its_arcs(tax: Taxonomy) -> None:
    emotion = "grief"
    arcs = {a.id for a in tax.arcs if emotion in (a.start_emotion, a.end_emotion)}
    assert arcs
    plain = sum(1 for s in plan(tax).scenarios if s.emotional_arc in arcs)
    weighted = sum(1 for s in plan(tax, weights={"emotions": {emotion: 12}}).scenarios if s.emotional_arc in arcs)
    assert weighted >= plain + 3  # grief's arcs come only from the contexts that list them


def test_weighting_a_strategy_or_persona_favours_it(tax: Taxonomy) -> None:
    strategy = "boundary_referral"
    suited = {e.id for e in tax.emotions if strategy in e.suited_strategies}
    arcs = {a.id for a in tax.arcs if a.start_emotion in suited or a.end_emotion in suited}
    assert arcs and len(arcs) < len(tax.arcs)
    plain = sum(1 for s in plan(tax).scenarios if s.emotional_arc in arcs)
    weighted = sum(1 for s in plan(tax, weights={"strategies": {strategy: 20}}).scenarios if s.emotional_arc in arcs)
    assert weighted > plain
    persona = tax.personas[-1].id
    assert counts(plan(tax, weights={"personas": {persona: 10}}).scenarios, "persona")[persona] >= 10


# ---- tier mix and inputs -------------------------------------------------------------------
def test_tier_mix_is_configurable_and_defaults_scale(tax: Taxonomy) -> None:
    p = plan(tax, n=20, tier_mix={"template": 20})
    assert counts(p.scenarios, "tier") == {"template": 20}
    p = plan(tax, n=10, tier_mix={"template": 0, "scenario": 5, "edge_case": 5})
    assert counts(p.scenarios, "tier") == {"scenario": 5, "edge_case": 5}
    assert counts(plan(tax, n=9).scenarios, "tier") == {"template": 4, "scenario": 4, "edge_case": 1}
    assert counts(plan(tax, n=180).scenarios, "tier") == {"template": 80, "scenario": 70, "edge_case": 30}
    empty = plan(tax, n=0)
    assert empty.scenarios == [] and sum(empty.coverage.per_dimension["persona"].values()) == 0


def test_another_vertical_plans_without_financial_ids(support: Taxonomy) -> None:
    p = plan(support, n=45, seed=3)
    assert len(p.scenarios) == 45
    for field in BALANCED:
        assert set(counts(p.scenarios, field)) <= set(support.ids(BALANCED[field]))
        assert spread(support, p.scenarios, field) <= 1, field


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "n must be"),
    ({"n": 10, "tier_mix": {"template": 5, "bogus": 5}}, "unknown tier id 'bogus'"),
    ({"n": 10, "tier_mix": {"template": 5, "scenario": 4}}, "sums to 9, but n is 10"),
    ({"n": 10, "tier_mix": {"template": 11, "scenario": -1}}, "counts must be whole numbers"),
    ({"weights": {"moods": {"grief": 1}}}, "unknown dimension 'moods'"),
    ({"weights": {"emotions": {"glee": 1}}}, "unknown id 'glee'"),
    ({"weights": {"emotions": {"grief": -2}}}, "expected a number >= 0"),
])
def test_bad_input_raises_value_error(tax: Taxonomy, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(tax, **kwargs)


def test_a_large_plan_stays_balanced(tax: Taxonomy) -> None:
    # Its speed is measured by bench/bench_db.py, not asserted here (machines are noisy).
    big = plan(tax, n=10_000)
    assert len(big.scenarios) == 10_000
    for field in EVEN:
        assert spread(tax, big.scenarios, field) <= 1, field
    arcs = counts(big.scenarios, "emotional_arc")
    template = [arcs[a] for a in tax.plausibility.tier_arcs["template"]]
    assert max(template) - min(template) <= 1
    assert arcs["crisis_to_referral"] <= 500


def test_a_mix_is_rounded_to_whole_counts_that_add_up() -> None:
    assert round_mix(90, {"template": 40, "scenario": 35, "edge_case": 15}) == {
        "template": 40, "scenario": 35, "edge_case": 15}
    # the largest remainders get the rest: 44.4, 38.9, 16.7
    assert round_mix(100, {"template": 40, "scenario": 35, "edge_case": 15}) == {
        "template": 44, "scenario": 39, "edge_case": 17}
    assert round_mix(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # a tie goes in the mix's order
    assert round_mix(7, {"a": 0, "b": 0}) == {"a": 4, "b": 3}  # nothing asked: an even split
    assert round_mix(0, {"a": 2}) == {"a": 0}
    with pytest.raises(ValueError, match="numbers >= 0"):
        round_mix(5, {"a": -1})
