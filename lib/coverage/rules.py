"""Which rule stands between a coverage target and the plan: the quality rules' turn counts, and the
plausibility rules (taxonomy/plausibility.yaml). A rule that makes a target impossible is named on the
Coverage page; the sensitive cap does not make a target impossible, it makes it need a bigger table.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.core.plausibility import context_triples, topic_rule
from lib.core.taxonomy import Context, Taxonomy


@dataclass(frozen=True)
class Reach:
    """The arcs, personas and topics some plausible row of some tier can hold."""

    arcs: frozenset[str]
    personas: frozenset[str]
    topics: frozenset[str]


def reach(tax: Taxonomy) -> Reach:
    rules = tax.plausibility
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    contexts: dict[str, list[Context]] = {"scenario": list(tax.scenario_contexts), "edge_case": list(tax.edge_cases)}
    triples: set[tuple[str, str, str]] = set()
    for tier in tax.ids("tiers"):
        if tier in contexts:
            for c in contexts[tier]:
                triples.update(context_triples(rules, tier, c.personas, c.arcs, c.topics, clusters))
            continue
        for a in rules.arcs_of_tier(tier, tax.ids("arcs")):
            arc_ok = topic_rule(rules, "arc", a, clusters)
            for p in tax.ids("personas"):
                persona_ok = topic_rule(rules, "persona", p, clusters)
                triples.update(
                    (p, a, t)
                    for t in tax.ids("topics")
                    if (arc_ok is None or t in arc_ok) and (persona_ok is None or t in persona_ok)
                )
    return Reach(
        frozenset(a for _, a, _ in triples), frozenset(p for p, _, _ in triples), frozenset(t for _, _, t in triples)
    )


def carriers(tax: Taxonomy, emotion: str) -> list[str]:
    """The arcs that start or end in an emotion (what a plan can add it with)."""
    return [a.id for a in tax.arcs if emotion in (a.start_emotion, a.end_emotion)]


def blocking_rule(tax: Taxonomy, kind: str, value: str, r: Reach | None = None) -> str | None:
    """Why no plausible row can add to an emotion, persona or topic target, naming the rule; None if one can.
    r: reach(tax), when the caller has it."""
    r = r or reach(tax)
    if kind == "emotion":
        arcs = carriers(tax, value)
        if arcs and not set(arcs) & r.arcs:
            return (
                f"Impossible under rule plausibility.tier_arcs: no tier may plan the arcs that carry it "
                f"({', '.join(arcs)}); let a tier or a context use one"
            )
    if kind == "persona" and value not in r.personas:
        return (
            f"Impossible under rule plausibility.persona_topics.{value}: no plausible row holds this persona; "
            "give it topics that a tier's arcs or a context allow"
        )
    if kind == "topic" and value not in r.topics:
        return (
            "Impossible under rules plausibility.persona_topics and plausibility.arc_topics: no persona and arc "
            "that may meet fit this topic; list it for one"
        )
    return None


def sensitive_only(tax: Taxonomy, emotion: str, r: Reach | None = None) -> list[str]:
    """The arcs carrying an emotion when every plannable one is sensitive (capped), else []."""
    arcs = [a for a in carriers(tax, emotion) if a in (r or reach(tax)).arcs]
    sensitive = tax.plausibility.sensitive_arcs
    return arcs if arcs and all(a in sensitive for a in arcs) else []
