"""The taxonomy's cross-references and rules that no single file's schema can see.

Unique ids in every dimension, references between files (an arc's emotions, a context's personas,
a compliance rule's contexts), the three tiers, and the language the checks know.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lib.core.checks.language import SUPPORTED as SUPPORTED_LANGUAGES
from lib.core.failures import failure_problems
from lib.core.plausibility import reference_problems

if TYPE_CHECKING:
    from lib.core.taxonomy import Taxonomy


def taxonomy_problems(tax: Taxonomy) -> Iterator[tuple[str, str, str]]:
    """(top-level key, key path, what is wrong) for each cross-reference or rule the schemas cannot see.

    Lazily, so that a caller stopping at the first problem runs no later check.
    """
    from lib.core.taxonomy import DIMENSIONS  # here, because lib.core.taxonomy imports this module

    # unique ids in every dimension, topics across clusters included
    for key in [d for d in DIMENSIONS if d != "topics"]:
        seen: set[str] = set()
        for n, item in enumerate(getattr(tax, key)):
            if item.id in seen:
                yield (key, f"{key}[{n}].id", f"duplicate id {item.id!r}")
            seen.add(item.id)
    seen_topics: set[str] = set()
    for c, cluster in enumerate(tax.topic_clusters):
        for t, topic in enumerate(cluster.topics):
            if topic.id in seen_topics:
                yield ("topic_clusters", f"topic_clusters[{c}].topics[{t}].id", f"duplicate topic id {topic.id!r}")
            seen_topics.add(topic.id)
    family_of: dict[str, str] = {}
    for n, e in enumerate(tax.emotions):
        for s, sub in enumerate(e.sub_emotions):
            if sub in family_of:
                yield (
                    "emotions",
                    f"emotions[{n}].sub_emotions[{s}]",
                    f"sub-emotion {sub!r} is already in the {family_of[sub]!r} family",
                )
            family_of[sub] = e.id
    context_ids = {c.id for c in tax.scenario_contexts}
    for n, edge in enumerate(tax.edge_cases):
        if edge.id in context_ids:
            yield ("edge_cases", f"edge_cases[{n}].id", f"id {edge.id!r} is also a scenario context id")

    known = {d: set(tax.ids(d)) for d in ["emotions", "strategies", "personas", "arcs", "topics"]}
    singular = {
        "emotions": "emotion",
        "strategies": "strategy",
        "personas": "persona",
        "arcs": "arc",
        "topics": "topic",
    }

    def ref(key: str, loc: str, dimension: str, value: str) -> Iterator[tuple[str, str, str]]:
        if value not in known[dimension]:
            yield key, loc, f"unknown {singular[dimension]} {value!r}"

    for n, e in enumerate(tax.emotions):
        for s, sid in enumerate(e.suited_strategies):
            yield from ref("emotions", f"emotions[{n}].suited_strategies[{s}]", "strategies", sid)
    for n, p in enumerate(tax.personas):
        yield from ref("personas", f"personas[{n}].emotional_baseline", "emotions", p.emotional_baseline)
    for n, a in enumerate(tax.arcs):
        yield from ref("arcs", f"arcs[{n}].start_emotion", "emotions", a.start_emotion)
        yield from ref("arcs", f"arcs[{n}].end_emotion", "emotions", a.end_emotion)
        for m, ms in enumerate(a.milestones):
            yield from ref("arcs", f"arcs[{n}].milestones[{m}].emotion", "emotions", ms.emotion)
    for key in ["scenario_contexts", "edge_cases"]:
        for n, c in enumerate(getattr(tax, key)):
            for dim, field in [("personas", "personas"), ("topics", "topics"), ("arcs", "arcs")]:
                for m, value in enumerate(getattr(c, field)):
                    yield from ref(key, f"{key}[{n}].{field}[{m}]", dim, value)
    for n, edge in enumerate(tax.edge_cases):
        yield from ref("edge_cases", f"edge_cases[{n}].resolution_strategy", "strategies", edge.resolution_strategy)
    for key, dim in [("emotion_overrides", "emotions"), ("strategy_overrides", "strategies")]:
        for value in getattr(tax.targets, key):
            yield from ref("targets", f"targets.{key}.{value}", dim, value)
    tiers = {t.id for t in tax.tiers}
    if tiers != {"template", "scenario", "edge_case"}:
        yield ("tiers", "tiers", f"expected the tiers template, scenario and edge_case, found {sorted(tiers)}")
    rules = tax.targets.quality
    if rules.min_turns > rules.max_turns:
        yield ("targets", "targets.quality.min_turns", f"{rules.min_turns} is above max_turns {rules.max_turns}")
    if tax.vertical.language not in SUPPORTED_LANGUAGES:
        yield (
            "vertical",
            "vertical.language",
            f"no function-word list for {tax.vertical.language!r}; "
            f"the language check knows {', '.join(SUPPORTED_LANGUAGES)}",
        )
    known_contexts = context_ids | {e.id for e in tax.edge_cases}
    outcomes = set(tax.ids("outcomes"))
    for n, rule in enumerate(tax.compliance.required):
        loc = f"compliance.required[{n}].when"
        for m, value in enumerate(rule.when.arcs):
            yield from ref("compliance", f"{loc}.arcs[{m}]", "arcs", value)
        for m, value in enumerate(rule.when.contexts):
            if value not in known_contexts:
                yield ("compliance", f"{loc}.contexts[{m}]", f"unknown scenario context or edge case {value!r}")
        for m, value in enumerate(rule.when.outcomes):
            if value not in outcomes:
                yield ("compliance", f"{loc}.outcomes[{m}]", f"unknown outcome {value!r}")
    yield from reference_problems(tax)
    for loc, msg in failure_problems(tax.failures, set(tax.ids("emotions"))):
        yield "failures", loc, msg
    for key in ["forbidden", "required"]:
        seen = set()
        for n, rule in enumerate(getattr(tax.compliance, key)):
            if rule.id in seen:
                yield ("compliance", f"compliance.{key}[{n}].id", f"duplicate id {rule.id!r}")
            seen.add(rule.id)
