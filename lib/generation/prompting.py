"""The system prompt and user message of one generation request, from the prompts/ templates
(lib/generation/templates.py), the scenario and the taxonomy (lib/generation/prompt_text.py).

The system prompt holds the brand voice, the definitions of the whole label set (the arc guides the
labels, it does not restrict them), the output contract and, last, one few-shot example. Everything but
the example is the same for every scenario, and the example rotates among the approved examples of the
scenario's tier: a handful of distinct system prompts, each a prompt-cache entry that many requests share.

The user message carries the scenario and what this one conversation's variation seed drew
(lib/core/variation.py): the person's name, age, background and writing habits, the context's facts and
the trajectory. The seed and what it drew go into the conversation's provenance, so the prompt can be
built again.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core.models import SCENARIO_FIELDS, CheckResult, Conversation, ScenarioDimensions
from lib.core.taxonomy import Taxonomy
from lib.core.variation import Drawn, draw
from lib.generation.output_format import GeneratedConversation
from lib.generation.prompt_text import (
    arc_profile,
    brand_voice,
    dimension_notes,
    emotion_definitions,
    person_details,
    persona_profile,
    strategy_definitions,
    topic_profile,
    trajectory_note,
)
from lib.generation.templates import TIER_TEMPLATES, PromptError, PromptTemplate, default_templates
from lib.generation.variation_prompt import VariationSource, render_variation


# ---- what a scenario may use ----------------------------------------------------------------
@dataclass(frozen=True)
class AllowedLabels:
    emotions: tuple[str, ...]
    strategies: tuple[str, ...]


def allowed_labels(scenario: ScenarioDimensions, tax: Taxonomy) -> AllowedLabels:
    """The labels a scenario may use: all of them. People do not feel only their arc's emotions (every seed
    has labels outside its arc), and one label set keeps the system prompt the same for every scenario."""
    if scenario.emotional_arc not in tax.by_id("arcs"):
        raise PromptError(f"scenario: emotional_arc {scenario.emotional_arc!r} is not in the taxonomy's arcs.yaml")
    return AllowedLabels(emotions=tuple(tax.ids("emotions")), strategies=tuple(tax.ids("strategies")))


def _edge_case(scenario: ScenarioDimensions, tax: Taxonomy) -> Any:
    if scenario.tier != "edge_case" or not scenario.context_id:
        return None
    return {e.id: e for e in tax.edge_cases}.get(scenario.context_id)


def pick_seed_example(
    scenario: ScenarioDimensions, seeds: Sequence[Conversation], variation_seed: int = 0
) -> Conversation | None:
    """The few-shot example: one of the conversations marked use_as_seed_example (the approved seeds and
    any a reviewer marked) of the scenario's tier, else of any tier, drawn by the variation seed. Drawing
    among a tier's few examples, not by arc, keeps the distinct system prompts (cache entries) few."""
    usable = sorted((s for s in seeds if s.training.use_as_seed_example), key=lambda s: s.id)
    same_tier = [s for s in usable if s.scenario.tier == scenario.tier]
    pool = same_tier or usable
    if not pool:
        return None
    return random.Random(f"example:{variation_seed}").choice(pool)


def default_variation_seed(scenario: ScenarioDimensions) -> int:
    """The seed of a prompt built without one (estimates, previews): stable for the scenario."""
    key = "|".join(str(v or "") for v in scenario.model_dump().values())
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def turn_choices(tax: Taxonomy) -> list[int]:
    """The turn counts the generator asks for: the even counts inside the quality rules."""
    rules = tax.targets.quality
    lo = rules.min_turns + rules.min_turns % 2
    hi = rules.max_turns - rules.max_turns % 2
    return list(range(lo, hi + 1, 2)) or [rules.min_turns]


# The dimensions a scenario's length depends on (its context text does not change it).
LENGTH_KEY: tuple[str, ...] = tuple(f for f in SCENARIO_FIELDS if f != "context")


def length_weights(tax: Taxonomy) -> dict[int, float]:
    """turn count -> how often the generator asks for it: each length bucket's min_conversations shared
    over the turn counts of the bucket that the quality rules allow, so the lengths follow the targets.
    Turn counts outside every bucket are not asked for, unless no bucket has one (then all equally)."""
    choices = turn_choices(tax)
    weights = dict.fromkeys(choices, 0.0)
    for b in tax.targets.length_buckets:
        inside = [t for t in choices if b.min_exchanges <= t // 2 <= b.max_exchanges]
        for t in inside:
            weights[t] += b.min_conversations / len(inside)
    if sum(weights.values()) <= 0:
        return dict.fromkeys(choices, 1.0)
    return weights


def target_turns(scenario: ScenarioDimensions | Mapping[str, Any], tax: Taxonomy) -> int:
    """The turn count the generator asks for: one of turn_choices, drawn by length_weights with a stable
    hash of the scenario, so a plan gets the targets' mix of lengths without the planner choosing one.
    The coverage estimate of scenarios not generated yet (lib/coverage/counts.py) calls this too, so it
    predicts exactly what will be asked for."""
    dims = scenario.model_dump() if isinstance(scenario, ScenarioDimensions) else scenario
    key = "|".join(str(dims.get(k) or "") for k in LENGTH_KEY)
    weights = length_weights(tax)
    point = int(hashlib.sha256(key.encode()).hexdigest(), 16) / 16**64 * sum(weights.values())
    for turns, w in weights.items():
        point -= w
        if point < 0 and w > 0:
            return turns
    return max(t for t, w in weights.items() if w > 0)


# ---- rendering the pieces -------------------------------------------------------------------
def _seed_example(seed: Conversation | None) -> str:
    if seed is None:
        return "(no seed example is available; follow the output contract above)"
    s = seed.scenario
    head = (
        "Scenario of the example: tier "
        + s.tier
        + ", persona "
        + s.persona
        + ", arc "
        + s.emotional_arc
        + ", topic "
        + s.topic
        + ", intent "
        + s.intent
        + ", tone "
        + s.tone
        + ", outcome "
        + s.outcome_type
        + "."
    )
    # Compact JSON: the example is the biggest part of the prompt, and whitespace costs tokens.
    body = json.dumps(GeneratedConversation.from_conversation(seed).model_dump(mode="json"), ensure_ascii=False)
    return head + "\n" + body


def variation_for(scenario: ScenarioDimensions, tax: Taxonomy, variation_seed: int) -> Drawn:
    """What the seed draws for this scenario: its person, its context's facts and its trajectory."""
    persona = tax.by_id("personas").get(scenario.persona)
    ctx = tax.context(scenario.context_id)
    return draw(
        variation_seed,
        tax.variation,
        age_band=persona.age_band if persona else "",
        arc=scenario.emotional_arc,
        outcome=scenario.outcome_type,
        context=scenario.context,
        fixed_facts=frozenset(ctx.fixed_facts) if ctx else frozenset(),
    )


def scenario_values(scenario: ScenarioDimensions, tax: Taxonomy, drawn: Drawn | None = None) -> dict[str, Any]:
    """Every value a tier template may use, from the scenario row, the taxonomy and what the variation
    seed drew (by default the scenario's own stable seed)."""
    for dim, key in [("personas", scenario.persona), ("arcs", scenario.emotional_arc), ("topics", scenario.topic)]:
        if key not in tax.by_id(dim):
            raise PromptError(
                f"scenario: {dim[:-1]} {key!r} is not in the taxonomy; choose one of {', '.join(tax.ids(dim)[:6])}, ..."
            )
    drawn = drawn or variation_for(scenario, tax, default_variation_seed(scenario))
    tier = {t.id: t for t in tax.tiers}.get(scenario.tier)
    values: dict[str, Any] = {
        "tier": (tier.name + " (tier " + str(tier.number) + ")") if tier else scenario.tier,
        "persona": scenario.persona,
        "persona_profile": persona_profile(scenario.persona, tax),
        "emotional_arc": scenario.emotional_arc,
        "arc_profile": arc_profile(scenario.emotional_arc, tax),
        "topic": scenario.topic,
        "topic_profile": topic_profile(scenario.topic, tax),
        "intent": scenario.intent,
        "tone": scenario.tone,
        "outcome_type": scenario.outcome_type,
        "dimension_notes": dimension_notes(scenario, tax),
        "target_turns": target_turns(scenario, tax),
        "context_id": scenario.context_id or "custom",
        "context": drawn.context or scenario.context,
        "person": person_details(drawn),
        "trajectory": trajectory_note(drawn, tax),
    }
    ctx = tax.context(scenario.context_id)
    if ctx is not None:
        values["complexity"] = ctx.complexity
    else:
        values["complexity"] = "medium"
    edge = _edge_case(scenario, tax)
    if edge is not None:
        values["stress_factors"] = list(edge.stress_factors)
        strat = tax.by_id("strategies").get(edge.resolution_strategy)
        values["resolution_strategy"] = (
            (edge.resolution_strategy + " (" + strat.name + ")") if strat else edge.resolution_strategy
        )
    return values


# ---- the request ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Feedback:
    """A reviewer's request for a new version: their notes, plus the previous version and the checks it failed."""

    notes: str
    failed_checks: tuple[CheckResult, ...] = ()
    previous: Conversation | None = None


@dataclass(frozen=True)
class PromptPlan:
    """Everything lib.generation.llm needs for the first request, and what the logs record about it."""

    system: str
    user: str
    template: PromptTemplate  # the tier template
    system_template: PromptTemplate
    parameters: dict[str, Any]  # the scenario values as rendered (for the logs)
    labels: AllowedLabels
    seed_example_id: str | None
    training_system_prompt: str  # the system prompt stored with the conversation, for training
    feedback_template: PromptTemplate | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    variation: dict[str, Any] = field(default_factory=dict)  # the seed and what it drew (provenance)
    variation_of: dict[str, Any] | None = None  # a variation's source and what it changes (provenance)

    @property
    def system_sha256(self) -> str:
        return hashlib.sha256(self.system.encode()).hexdigest()


def render_system(
    scenario: ScenarioDimensions,
    tax: Taxonomy,
    seeds: Sequence[Conversation],
    templates: Mapping[str, PromptTemplate] | None = None,
    variation_seed: int | None = None,
) -> tuple[str, AllowedLabels, Conversation | None]:
    templates = templates or default_templates()
    labels = allowed_labels(scenario, tax)
    if variation_seed is None:
        variation_seed = default_variation_seed(scenario)
    seed = pick_seed_example(scenario, seeds, variation_seed)
    rules = tax.targets.quality
    text = templates["system"].render(
        {
            "vertical": tax.vertical.name + ": " + " ".join(tax.vertical.description.split()),
            "brand_voice": brand_voice(tax),
            "emotion_definitions": emotion_definitions(labels.emotions, tax),
            "strategy_definitions": strategy_definitions(labels.strategies, tax),
            "min_turns": rules.min_turns,
            "max_turns": rules.max_turns,
            "user_words": str(rules.user_words[0]) + "-" + str(rules.user_words[1]),
            "assistant_words": str(rules.assistant_words[0]) + "-" + str(rules.assistant_words[1]),
            "seed_example": _seed_example(seed),
        }
    )
    return text, labels, seed


def render_feedback(feedback: Feedback, templates: Mapping[str, PromptTemplate] | None = None) -> str:
    templates = templates or default_templates()
    failed = [c.name + ": " + c.reason for c in feedback.failed_checks if not c.passed]
    previous = "(not available)"
    if feedback.previous is not None:
        previous = "\n".join(
            "[" + str(i) + "] " + t.role + ": " + t.text for i, t in enumerate(feedback.previous.current_turns())
        )
    return templates["feedback"].render(
        {
            "reviewer_notes": feedback.notes.strip() or "(no notes; fix the failed checks)",
            "failed_checks": failed or ["(none: every automated check passed)"],
            "previous_version": previous,
        }
    )


def render_repair(problems: Sequence[str], templates: Mapping[str, PromptTemplate] | None = None) -> str:
    templates = templates or default_templates()
    return templates["repair"].render({"problems": list(problems)})


def training_system_prompt(seed: Conversation | None, tax: Taxonomy) -> str:
    """The system prompt a trained model will see: the seeds' (all the same), else built from the voice."""
    if seed is not None and seed.system_prompt.strip():
        return seed.system_prompt
    v = tax.vertical.brand_voice
    return "You are " + v.name + ", " + v.title + ". " + " ".join(v.summary.split())


def build_prompt(
    scenario: ScenarioDimensions,
    tax: Taxonomy,
    seeds: Sequence[Conversation],
    *,
    feedback: Feedback | None = None,
    templates: Mapping[str, PromptTemplate] | None = None,
    variation_seed: int | None = None,
    source: VariationSource | None = None,
) -> PromptPlan:
    """The system prompt and first user message for one scenario (with a reviewer's feedback if given).
    variation_seed draws the example, the person, the facts and the trajectory; None: the scenario's own
    stable seed (estimates and previews). source: the approved conversation a variation scenario keeps the
    structure of (its turn count, arc and strategies), with what must change."""
    templates = templates or default_templates()
    if variation_seed is None:
        variation_seed = default_variation_seed(scenario)
    system, labels, seed = render_system(scenario, tax, seeds, templates, variation_seed)
    template = templates[TIER_TEMPLATES[scenario.tier]]
    drawn = variation_for(scenario, tax, variation_seed)
    values = scenario_values(scenario, tax, drawn)
    if source is not None:
        values["target_turns"] = len(source.conversation.turns)
    user = template.render(values)
    if source is not None:
        user = user + "\n\n" + render_variation(source, tax, templates)
    if feedback is not None:
        user = user + "\n\n" + render_feedback(feedback, templates)
    parameters = {p: values[p] for p in template.placeholders}
    return PromptPlan(
        system=system,
        user=user,
        template=template,
        system_template=templates["system"],
        parameters=parameters,
        labels=labels,
        seed_example_id=seed.id if seed else None,
        training_system_prompt=training_system_prompt(seed, tax),
        feedback_template=templates["feedback"] if feedback is not None else None,
        variation={**drawn.as_dict(), "example_id": seed.id if seed else None},
        variation_of=source.provenance() if source is not None else None,
    )
