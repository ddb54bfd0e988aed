"""Which scenario rows are plausible, as taxonomy data (taxonomy/plausibility.yaml, optional).

Pairwise coverage alone happily plans "a recent graduate x grief x pension decisions x objection handling".
These rules say what may meet what, and the planner keeps its pairwise coverage within them:

- tier_arcs: the arcs a tier may use (tier 1 = the module spec's five arc templates); a tier not listed
  may use any arc (a tier-2/3 row is held to its context's arcs anyway);
- persona_topics: the topics a persona plausibly brings up, as cluster or topic ids; a persona not listed
  may bring up any topic;
- arc_topics: the same for an arc (a crisis is about job loss or debt, not index funds);
- arc_fit: the intents, tones and outcomes that suit an arc;
- sensitive: arcs (crisis) whose share of all scenario rows is capped at max_share.

Each rule has a name (`plausibility.persona_topics.gig_worker`) that Coverage shows when the rule is what
makes a target impossible. A taxonomy without the file has no rules.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from lib.core.taxonomy import Taxonomy

FIT_FIELDS: dict[str, str] = {"intent": "intents", "tone": "tones", "outcome_type": "outcomes"}


class ArcFit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intents: list[str] = Field(default_factory=list)
    tones: list[str] = Field(default_factory=list)
    outcomes: list[str] = Field(default_factory=list)


class Sensitive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arcs: list[str] = Field(default_factory=list)
    max_share: float = Field(default=1.0, ge=0, le=1, description="Largest share of all rows these arcs may have.")

    def cap(self, rows: int) -> int:
        """How many of `rows` may use a sensitive arc (at least one once rows allow a share of it)."""
        return math.floor(self.max_share * rows + 1e-9)


class Plausibility(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier_arcs: dict[str, list[str]] = Field(default_factory=dict)
    persona_topics: dict[str, list[str]] = Field(default_factory=dict)
    arc_topics: dict[str, list[str]] = Field(default_factory=dict)
    arc_fit: dict[str, ArcFit] = Field(default_factory=dict)
    sensitive: Sensitive = Field(default_factory=Sensitive)

    @cached_property
    def sensitive_arcs(self) -> frozenset[str]:
        return frozenset(self.sensitive.arcs)

    def arcs_of_tier(self, tier: str, arcs: list[str]) -> list[str]:
        allowed = self.tier_arcs.get(tier)
        return [a for a in arcs if allowed is None or a in allowed]

    def fit_values(self, arc: str, field: str) -> list[str]:
        """The intent, tone or outcome ids (field: intent, tone, outcome_type) the arc_fit gives an arc."""
        fit = self.arc_fit.get(arc)
        return list(getattr(fit, FIT_FIELDS[field])) if fit else []


def expand_topics(values: list[str], clusters: dict[str, list[str]]) -> set[str]:
    """Cluster ids become their topics; topic ids stay."""
    out: set[str] = set()
    for v in values:
        out.update(clusters.get(v, [v]))
    return out


def topic_rule(rules: Plausibility, kind: str, key: str, clusters: dict[str, list[str]]) -> set[str] | None:
    """The topics persona_topics (kind 'persona') or arc_topics (kind 'arc') allow for key; None = any."""
    table = rules.persona_topics if kind == "persona" else rules.arc_topics
    values = table.get(key)
    return None if values is None else expand_topics(values, clusters)


def row_problems(
    rules: Plausibility, row: dict[str, str | None], clusters: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """The rules a scenario row breaks, as (rule name, what is wrong)."""
    tier, persona, arc, topic = (row.get(k) or "" for k in ("tier", "persona", "emotional_arc", "topic"))
    found: list[tuple[str, str]] = []
    tier_arcs = rules.tier_arcs.get(tier)
    if tier_arcs is not None and arc not in tier_arcs:
        found.append((f"plausibility.tier_arcs.{tier}", f"tier {tier} does not use the arc {arc}"))
    for kind, key in (("persona", persona), ("arc", arc)):
        allowed = topic_rule(rules, kind, key, clusters)
        if allowed is not None and topic not in allowed:
            found.append((f"plausibility.{kind}_topics.{key}", f"{kind} {key} does not fit the topic {topic}"))
    for field in FIT_FIELDS:
        values = rules.fit_values(arc, field)
        if values and (row.get(field) or "") not in values:
            found.append((f"plausibility.arc_fit.{arc}", f"{field} {row.get(field)} does not suit the arc {arc}"))
    return found


def context_triples(
    rules: Plausibility,
    tier: str,
    personas: list[str],
    arcs: list[str],
    topics: list[str],
    clusters: dict[str, list[str]],
) -> list[tuple[str, str, str]]:
    """The (persona, arc, topic) triples of a context that the rules allow."""
    out = []
    for a in rules.arcs_of_tier(tier, arcs):
        arc_ok = topic_rule(rules, "arc", a, clusters)
        for p in personas:
            persona_ok = topic_rule(rules, "persona", p, clusters)
            out += [
                (p, a, t) for t in topics if (arc_ok is None or t in arc_ok) and (persona_ok is None or t in persona_ok)
            ]
    return out


def reference_problems(tax: Taxonomy) -> list[tuple[str, str, str]]:
    """Unknown ids in plausibility.yaml and variation.yaml, fixed facts a context does not contain, and
    contexts the rules leave nothing to plan with, as (taxonomy key, key path, problem)."""
    rules, variation = tax.plausibility, tax.variation
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    known = {
        "tier": set(tax.ids("tiers")),
        "arc": set(tax.ids("arcs")),
        "persona": set(tax.ids("personas")),
        "topic or cluster": set(tax.ids("topics")) | set(clusters),
        "intent": set(tax.ids("intents")),
        "tone": set(tax.ids("tones")),
        "outcome": set(tax.ids("outcomes")),
        "trajectory": {t.id for t in variation.trajectories},
    }
    found: list[tuple[str, str, str]] = []

    def check(key: str, loc: str, kind: str, values: list[str]) -> None:
        found.extend(
            (key, f"{loc}[{n}]" if len(values) > 1 else loc, f"unknown {kind} {v!r}")
            for n, v in enumerate(values)
            if v not in known[kind]
        )

    P = "plausibility"
    for tier, arcs in rules.tier_arcs.items():
        check(P, f"{P}.tier_arcs", "tier", [tier])
        check(P, f"{P}.tier_arcs.{tier}", "arc", arcs)
    for persona, topics in rules.persona_topics.items():
        check(P, f"{P}.persona_topics", "persona", [persona])
        check(P, f"{P}.persona_topics.{persona}", "topic or cluster", topics)
    for arc, topics in rules.arc_topics.items():
        check(P, f"{P}.arc_topics", "arc", [arc])
        check(P, f"{P}.arc_topics.{arc}", "topic or cluster", topics)
    for arc, fit in rules.arc_fit.items():
        check(P, f"{P}.arc_fit", "arc", [arc])
        for kind, values in (("intent", fit.intents), ("tone", fit.tones), ("outcome", fit.outcomes)):
            check(P, f"{P}.arc_fit.{arc}.{kind}s", kind, values)
    check(P, f"{P}.sensitive.arcs", "arc", rules.sensitive.arcs)
    V = "variation"
    for arc, names in variation.arc_trajectories.items():
        check(V, f"{V}.arc_trajectories", "arc", [arc])
        check(V, f"{V}.arc_trajectories.{arc}", "trajectory", names)
    for n, t in enumerate(variation.trajectories):
        check(V, f"{V}.trajectories[{n}].outcomes", "outcome", t.outcomes)
    for key, tier in (("scenario_contexts", "scenario"), ("edge_cases", "edge_case")):
        for n, c in enumerate(getattr(tax, key)):
            for m, fact in enumerate(c.fixed_facts):
                if fact not in c.context:
                    found.append((key, f"{key}[{n}].fixed_facts[{m}]", f"{fact!r} is not in the context text"))
            if not context_triples(rules, tier, c.personas, c.arcs, c.topics, clusters):
                found.append(
                    (
                        key,
                        f"{key}[{n}]",
                        "no persona, arc and topic of this context fit together under plausibility.yaml",
                    )
                )
    return found
