"""The system prompt and user message of one generation request, from the prompts/ templates
(lib/generation/templates.py), the scenario and the taxonomy (lib/generation/prompt_text.py).

The system prompt holds the brand voice, the definitions of only the labels the scenario may use,
the output contract and one seed example. It depends only on the arc and the tier (and, for an edge
case, its resolution strategy), so scenarios that share them share a prompt-cache entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lib.core.checks.sentences import numbered_sentences, sentence_numbers, split_sentences
from lib.core.models import (
    SCENARIO_FIELDS,
    Arc,
    ArcPoint,
    AssistantTurn,
    CheckResult,
    Conversation,
    EmotionLabel,
    ScenarioDimensions,
    SentenceFunction,
    StrategyLabel,
    UserTurn,
)
from lib.core.taxonomy import Taxonomy
from lib.generation.prompt_text import (
    arc_profile,
    brand_voice,
    dimension_notes,
    emotion_definitions,
    persona_profile,
    strategy_definitions,
    topic_profile,
)
from lib.generation.templates import TIER_TEMPLATES, PromptError, PromptTemplate, default_templates


# ---- what the model writes ------------------------------------------------------------------
# Every field is required (nullable where the format allows null) because structured outputs
# follow the schema most reliably when nothing is optional. Numeric ranges are checked here, on
# our side: the SDK moves minimum/maximum into the schema's descriptions.
class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneratedEmotion(_Out):
    primary: str = Field(description="Emotion family id from the system prompt's list.")
    secondary: str | None = Field(description="Another family id, or null.")
    sub_emotion: str | None = Field(description="One of the primary family's sub-emotions, or null.")
    intensity: float = Field(ge=0, le=1)
    valence: float = Field(ge=-1, le=1, description="-1 unpleasant .. +1 pleasant")
    arousal: float = Field(ge=0, le=1, description="0 calm .. 1 activated")
    cues: list[str] = Field(description="Short phrases copied exactly from the turn's text.")


class GeneratedStrategies(_Out):
    primary: str = Field(description="Response strategy id from the system prompt's list.")
    supporting: list[str]


class GeneratedSentence(_Out):
    # The model points at a sentence by its number instead of quoting it again: quoting every
    # sentence was a quarter of the output tokens. The text is filled in from the split in to_turns.
    sentence: int = Field(description="Number of the sentence in the turn's text, counted from 0.")
    function: str = Field(description="Why the sentence is there, in a few words.")


class GeneratedUserTurn(_Out):
    role: Literal["user"]
    text: str
    emotion: GeneratedEmotion


class GeneratedAssistantTurn(_Out):
    role: Literal["assistant"]
    text: str
    strategies: GeneratedStrategies
    intended_effect: str
    sentence_functions: list[GeneratedSentence]
    learning_objective: str

    @model_validator(mode="after")
    def _sentences_exist(self) -> GeneratedAssistantTurn:
        count = len(split_sentences(self.text))
        bad = [sf.sentence for sf in self.sentence_functions if not 0 <= sf.sentence < count]
        if bad:
            raise ValueError(
                f"sentence_functions point at sentence {bad[0]}, but the text has {count} sentences, "
                f"numbered 0 to {count - 1}: {numbered_sentences(self.text)}"
            )
        return self


GeneratedTurn = Annotated[GeneratedUserTurn | GeneratedAssistantTurn, Field(discriminator="role")]


class GeneratedConversation(_Out):
    """The output_format of a generation request: the turns with their labels, nothing else.
    Ids, scenario, arc, provenance and quality are filled in by lib.generation.engine."""

    turns: list[GeneratedTurn]

    def to_turns(self) -> list[UserTurn | AssistantTurn]:
        out: list[UserTurn | AssistantTurn] = []
        for t in self.turns:
            if isinstance(t, GeneratedUserTurn):
                e = t.emotion
                out.append(
                    UserTurn(
                        text=t.text,
                        emotion=EmotionLabel(
                            primary=e.primary,
                            secondary=e.secondary,
                            sub_emotion=e.sub_emotion,
                            intensity=e.intensity,
                            valence=e.valence,
                            arousal=e.arousal,
                            cues=list(e.cues),
                        ),
                    )
                )
            else:
                out.append(
                    AssistantTurn(
                        text=t.text,
                        strategies=StrategyLabel(
                            primary=t.strategies.primary, supporting=list(t.strategies.supporting)
                        ),
                        intended_effect=t.intended_effect,
                        sentence_functions=[
                            SentenceFunction(sentence=sentences[s.sentence].text, function=s.function)
                            for sentences in [split_sentences(t.text)]
                            for s in t.sentence_functions
                        ],
                        learning_objective=t.learning_objective,
                    )
                )
        return out

    def arc(self) -> Arc:
        """The realized arc: the first and the last user turn's emotion."""
        users = [t for t in self.turns if isinstance(t, GeneratedUserTurn)]
        if not users:
            raise ValueError("the conversation has no user turns")
        first, last = users[0].emotion, users[-1].emotion
        return Arc(
            start=ArcPoint(emotion=first.primary, intensity=first.intensity),
            end=ArcPoint(emotion=last.primary, intensity=last.intensity),
        )

    @classmethod
    def from_conversation(cls, conv: Conversation) -> GeneratedConversation:
        """A stored conversation in the output format (current labels), e.g. a seed as an example."""
        turns: list[Any] = []
        for t in conv.current_turns():
            if isinstance(t, UserTurn):
                turns.append({"role": "user", "text": t.text, "emotion": t.emotion.model_dump()})
            else:
                turns.append(
                    {
                        "role": "assistant",
                        "text": t.text,
                        "strategies": t.strategies.model_dump(),
                        "intended_effect": t.intended_effect,
                        "sentence_functions": [
                            {"sentence": n, "function": s.function}
                            for n, s in zip(
                                sentence_numbers(t.text, [s.sentence for s in t.sentence_functions]),
                                t.sentence_functions,
                                strict=True,
                            )
                        ],
                        "learning_objective": t.learning_objective,
                    }
                )
        return cls.model_validate({"turns": turns})


# ---- what a scenario may use ----------------------------------------------------------------
@dataclass(frozen=True)
class AllowedLabels:
    emotions: tuple[str, ...]
    strategies: tuple[str, ...]


def allowed_labels(scenario: ScenarioDimensions, tax: Taxonomy) -> AllowedLabels:
    """The labels a scenario may use: the emotions its arc passes through, the strategies suited to
    them, the edge case's resolution strategy, and boundary_referral (safety is always in scope).
    Kept to the arc and tier on purpose, so the system prompt is shared and cached across scenarios."""
    arc = tax.by_id("arcs").get(scenario.emotional_arc)
    if arc is None:
        raise PromptError(f"scenario: emotional_arc {scenario.emotional_arc!r} is not in the taxonomy's arcs.yaml")
    wanted_emotions = {arc.start_emotion, arc.end_emotion, *(m.emotion for m in arc.milestones)}
    emotions = [e for e in tax.emotions if e.id in wanted_emotions]
    wanted_strategies = {s for e in emotions for s in e.suited_strategies}
    edge = _edge_case(scenario, tax)
    if edge is not None:
        wanted_strategies.add(edge.resolution_strategy)
    if "boundary_referral" in set(tax.ids("strategies")):
        wanted_strategies.add("boundary_referral")
    strategies = [s.id for s in tax.strategies if s.id in wanted_strategies]
    return AllowedLabels(emotions=tuple(e.id for e in emotions), strategies=tuple(strategies))


def _edge_case(scenario: ScenarioDimensions, tax: Taxonomy) -> Any:
    if scenario.tier != "edge_case" or not scenario.context_id:
        return None
    return {e.id: e for e in tax.edge_cases}.get(scenario.context_id)


def _context(scenario: ScenarioDimensions, tax: Taxonomy) -> Any:
    if not scenario.context_id:
        return None
    return {c.id: c for c in [*tax.scenario_contexts, *tax.edge_cases]}.get(scenario.context_id)


def pick_seed_example(scenario: ScenarioDimensions, seeds: Sequence[Conversation]) -> Conversation | None:
    """One seed marked use_as_seed_example: same tier and arc, else same arc, else same tier, else any.
    Deterministic (lowest id wins), so the system prompt stays cacheable."""
    usable = sorted((s for s in seeds if s.training.use_as_seed_example), key=lambda s: s.id)
    for match in (
        lambda s: s.scenario.tier == scenario.tier and s.scenario.emotional_arc == scenario.emotional_arc,
        lambda s: s.scenario.emotional_arc == scenario.emotional_arc,
        lambda s: s.scenario.tier == scenario.tier,
        lambda s: True,
    ):
        found = [s for s in usable if match(s)]
        if found:
            return found[0]
    return None


def turn_choices(tax: Taxonomy) -> list[int]:
    """The turn counts the generator asks for: the even counts inside the quality rules."""
    rules = tax.targets.quality
    lo = rules.min_turns + rules.min_turns % 2
    hi = rules.max_turns - rules.max_turns % 2
    return list(range(lo, hi + 1, 2)) or [rules.min_turns]


# The dimensions a scenario's length depends on (its context text does not change it).
LENGTH_KEY: tuple[str, ...] = tuple(f for f in SCENARIO_FIELDS if f != "context")


def target_turns(scenario: ScenarioDimensions | Mapping[str, Any], tax: Taxonomy) -> int:
    """The turn count the generator asks for: one of turn_choices, spread over them by a stable hash of
    the scenario, so a plan gets a mix of lengths without the planner having to choose one. The coverage
    estimate of scenarios not generated yet (lib/coverage/counts.py) calls this too, so it predicts
    exactly what will be asked for."""
    dims = scenario.model_dump() if isinstance(scenario, ScenarioDimensions) else scenario
    key = "|".join(str(dims.get(k) or "") for k in LENGTH_KEY)
    choices = turn_choices(tax)
    return choices[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(choices)]


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


def scenario_values(scenario: ScenarioDimensions, tax: Taxonomy) -> dict[str, Any]:
    """Every value a tier template may use, from the scenario row and the taxonomy."""
    for dim, key in [("personas", scenario.persona), ("arcs", scenario.emotional_arc), ("topics", scenario.topic)]:
        if key not in tax.by_id(dim):
            raise PromptError(
                f"scenario: {dim[:-1]} {key!r} is not in the taxonomy; choose one of {', '.join(tax.ids(dim)[:6])}, ..."
            )
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
        "context": scenario.context,
    }
    ctx = _context(scenario, tax)
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

    @property
    def system_sha256(self) -> str:
        return hashlib.sha256(self.system.encode()).hexdigest()


def render_system(
    scenario: ScenarioDimensions,
    tax: Taxonomy,
    seeds: Sequence[Conversation],
    templates: Mapping[str, PromptTemplate] | None = None,
) -> tuple[str, AllowedLabels, Conversation | None]:
    templates = templates or default_templates()
    labels = allowed_labels(scenario, tax)
    seed = pick_seed_example(scenario, seeds)
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
) -> PromptPlan:
    """The system prompt and first user message for one scenario (with a reviewer's feedback if given)."""
    templates = templates or default_templates()
    system, labels, seed = render_system(scenario, tax, seeds, templates)
    template = templates[TIER_TEMPLATES[scenario.tier]]
    values = scenario_values(scenario, tax)
    user = template.render(values)
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
    )
