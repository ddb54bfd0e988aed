"""prompts/ templates -> the system prompt and user message of one generation request.

A template file is a small YAML header between `---` lines (name, tier, version, placeholders),
then the text with `$placeholder` / `${placeholder}` slots (string.Template syntax; `$$` is a
literal dollar sign). Rendering is safe by construction:

- every value is fenced in a tag named after its placeholder and escaped (`&`, `<`, `>`), so a
  value cannot close its fence or open a tag of its own;
- substitution is one pass of string.Template, so `$`, `${...}`, `{braces}` and quotes inside a
  value are copied as they are, never interpreted;
- a placeholder without a value fails with PromptError naming the file and the placeholder.

The system prompt holds the brand voice, the definitions of only the labels the scenario may use,
the output contract and one seed example. It depends only on the arc and the tier (and, for an edge
case, its resolution strategy), so scenarios that share them share a prompt-cache entry.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from lib.core.models import (
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

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPTS_DIR = ROOT / "prompts"
TIER_TEMPLATES: dict[str, str] = {
    "template": "tier1_template",
    "scenario": "tier2_scenario",
    "edge_case": "tier3_edge_case",
}
TEMPLATE_TIERS = {"template", "scenario", "edge_case", "all"}


class PromptError(ValueError):
    """A template or rendering problem, phrased as one line that names the file and what to do."""


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
    sentence: str
    function: str = Field(description="Why the sentence is there.")


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
                            SentenceFunction(sentence=s.sentence, function=s.function) for s in t.sentence_functions
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
                        "sentence_functions": [s.model_dump() for s in t.sentence_functions],
                        "learning_objective": t.learning_objective,
                    }
                )
        return cls.model_validate({"turns": turns})


# ---- templates ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptTemplate:
    name: str
    tier: str
    version: str
    placeholders: tuple[str, ...]
    body: str
    sha256: str  # of the whole file, header included: any edit gives a new hash
    path: Path
    description: str = ""

    @property
    def where(self) -> str:
        return f"{_display(self.path)} ({self.name} v{self.version})"

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill every placeholder with its fenced, escaped value. A missing or empty value is an error."""
        missing = [p for p in self.placeholders if _is_blank(values.get(p))]
        if missing:
            names = ", ".join("${" + p + "}" for p in missing)
            raise PromptError(
                f"{self.where}: no value for {names}; "
                f"the scenario or the taxonomy must provide {', '.join(missing)} before this prompt can be sent"
            )
        fenced = {p: fence(p, values[p]) for p in self.placeholders}
        # safe_substitute: a literal `$` in the template text that is not a placeholder stays as it is.
        return Template(self.body).safe_substitute(fenced)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def escape(value: Any) -> str:
    """Text safe to put between tags: `&`, `<` and `>` escaped; quotes, `$` and braces left as they are
    (nothing downstream interprets them: values are never formatted or parsed again)."""
    if isinstance(value, (list, tuple)):
        value = "\n".join("- " + str(v) for v in value)
    return html.escape(str(value), quote=False)


def fence(name: str, value: Any) -> str:
    """`<name>escaped value</name>`; a multi-line value starts and ends on its own lines."""
    text = escape(value)
    if "\n" in text:
        text = "\n" + text + "\n"
    return "<" + name + ">" + text + "</" + name + ">"


_HEADER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


def load_template(path: str | Path) -> PromptTemplate:
    """Read one template file and check it: header fields, and placeholders that match the text."""
    path = Path(path)
    where = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"{where}: cannot read the template ({exc.strerror})") from None
    text = raw.decode("utf-8")
    match = _HEADER.match(text)
    if not match:
        raise PromptError(
            f"{where}: line 1: expected a header between '---' lines "
            "(name, tier, version, placeholders) before the prompt text"
        )
    try:
        header = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise PromptError(f"{where}: the header is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(header, dict):
        raise PromptError(f"{where}: the header must be a mapping of name, tier, version, placeholders")
    for key in ("name", "tier", "version", "placeholders"):
        if key not in header:
            raise PromptError(f"{where}: header: missing field '{key}'")
    if header["tier"] not in TEMPLATE_TIERS:
        raise PromptError(f"{where}: header: tier {header['tier']!r} is not one of {sorted(TEMPLATE_TIERS)}")
    placeholders = header["placeholders"]
    if not isinstance(placeholders, list) or not all(isinstance(p, str) for p in placeholders):
        raise PromptError(f"{where}: header: placeholders must be a list of names")
    body = text[match.end() :]
    header_lines = text[: match.end()].count("\n")
    template = Template(body)
    if not template.is_valid():
        # Find the offending `$` to point at its line.
        for n, line in enumerate(body.splitlines(), start=header_lines + 1):
            if not Template(line).is_valid():
                raise PromptError(
                    f"{where}: line {n}: a '$' that is not a placeholder; "
                    "write $$ for a literal dollar sign or ${name} for a placeholder"
                )
    used = set(template.get_identifiers())
    declared = set(placeholders)
    if used - declared:
        raise PromptError(
            f"{where}: the text uses {', '.join(sorted(used - declared))} "
            "but the header does not declare it; add it to placeholders"
        )
    if declared - used:
        raise PromptError(
            f"{where}: the header declares {', '.join(sorted(declared - used))} "
            "but the text never uses it; remove it from placeholders"
        )
    return PromptTemplate(
        name=str(header["name"]),
        tier=str(header["tier"]),
        version=str(header["version"]),
        placeholders=tuple(placeholders),
        body=body,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
        description=str(header.get("description", "")),
    )


def load_templates(directory: str | Path = PROMPTS_DIR) -> dict[str, PromptTemplate]:
    """Every template in the folder by name; the tier templates, system, repair and feedback are required."""
    directory = Path(directory)
    out: dict[str, PromptTemplate] = {}
    for path in sorted(directory.glob("*.md")):
        t = load_template(path)
        if t.name in out:
            raise PromptError(
                f"{_display(path)}: template name {t.name!r} is also used by {_display(out[t.name].path)}"
            )
        out[t.name] = t
    required = ["system", "repair", "feedback", *TIER_TEMPLATES.values()]
    missing = [n for n in required if n not in out]
    if missing:
        raise PromptError(f"{_display(directory)}: missing template(s) {', '.join(missing)}")
    for tier, name in TIER_TEMPLATES.items():
        if out[name].tier != tier:
            raise PromptError(f"{out[name].where}: header tier is {out[name].tier!r}, expected {tier!r}")
    return out


@lru_cache(maxsize=4)
def _cached_templates(directory: str) -> dict[str, PromptTemplate]:
    return load_templates(directory)


def default_templates() -> dict[str, PromptTemplate]:
    return _cached_templates(str(PROMPTS_DIR))


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
LENGTH_KEY: tuple[str, ...] = (
    "tier",
    "persona",
    "emotional_arc",
    "topic",
    "intent",
    "tone",
    "outcome_type",
    "context_id",
)


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
def _brand_voice(tax: Taxonomy) -> str:
    v = tax.vertical.brand_voice
    lines = [v.name + ", " + v.title + ". " + v.summary, "", "Principles:"]
    lines += ["- " + p for p in v.principles]
    if v.signature_phrases:
        lines += ["", "Phrases in this voice (use sparingly, never as a formula):"]
        lines += ["- " + p for p in v.signature_phrases]
    if v.avoid:
        lines += ["", "Never:"]
        lines += ["- " + a for a in v.avoid]
    lines += ["", "Referral policy: " + v.referral_policy]
    return "\n".join(lines)


def _emotion_definitions(ids: Sequence[str], tax: Taxonomy) -> str:
    emotions = tax.by_id("emotions")
    blocks = []
    for eid in ids:
        e = emotions[eid]
        bands = "; ".join(
            b.label + " " + _num(b.min) + "-" + _num(b.max) + ": " + b.description for b in e.intensity_bands
        )
        blocks.append(
            "\n".join(
                [
                    eid + " (" + e.name + "): " + " ".join(e.description.split()),
                    "  sub-emotions: " + ", ".join(e.sub_emotions),
                    "  typical valence " + _num(e.valence) + ", arousal " + _num(e.arousal),
                    "  cues: " + _items(e.cues),
                    "  intensity: " + bands,
                ]
            )
        )
    return "\n".join(blocks)


def _strategy_definitions(ids: Sequence[str], tax: Taxonomy) -> str:
    strategies = tax.by_id("strategies")
    blocks = []
    for sid in ids:
        s = strategies[sid]
        blocks.append(
            "\n".join(
                [
                    sid + " (" + s.name + "): " + " ".join(s.description.split()),
                    "  use when: " + _items(s.when_to_use),
                    "  not when: " + _items(s.when_not_to_use),
                    "  sounds like: " + " / ".join(s.example_phrasing[:2]),
                    "  done well: " + _items(s.quality_markers),
                ]
            )
        )
    return "\n".join(blocks)


def _items(items: Sequence[str]) -> str:
    return "; ".join(i.strip().rstrip(".") for i in items) + "."


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


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


def _persona_profile(pid: str, tax: Taxonomy) -> str:
    p = tax.by_id("personas")[pid]
    return "\n".join(
        [
            p.name + ": " + " ".join(p.description.split()),
            "Age " + p.age_band + "; income " + p.income_band + "; financial literacy " + p.financial_literacy + ".",
            "Situation: " + p.life_situation,
            "Usual emotional state: " + p.emotional_baseline + ".",
            "How they write: " + p.communication_style,
            "Goals: " + "; ".join(p.goals) + ".",
            "Words this person naturally uses (use some): " + ", ".join(p.keywords) + ".",
        ]
    )


def _arc_profile(aid: str, tax: Taxonomy) -> str:
    a = tax.by_id("arcs")[aid]
    lines = [
        a.name + ": from " + a.start_emotion + " to " + a.end_emotion + ". " + " ".join(a.description.split()),
        "Intensity of the user's emotion, first user turn to last: "
        + ", ".join(_num(x) for x in a.intensity_curve)
        + ".",
        "Milestones (0 = first turn, 1 = last turn):",
    ]
    lines += ["- " + _num(m.position) + " " + m.emotion + ": " + m.description for m in a.milestones]
    return "\n".join(lines)


def _topic_profile(tid: str, tax: Taxonomy) -> str:
    t = tax.by_id("topics")[tid]
    cluster = {c.id: c for c in tax.topic_clusters}[tax.cluster_of[tid]]
    return "\n".join(
        [
            t.name + " (" + cluster.name + "): " + " ".join(t.description.split()),
            "Words that show the topic (use some): " + ", ".join(t.keywords) + ".",
        ]
    )


def _dimension_notes(scenario: ScenarioDimensions, tax: Taxonomy) -> str:
    lines = []
    for dim, value in [("intents", scenario.intent), ("tones", scenario.tone), ("outcomes", scenario.outcome_type)]:
        item = tax.by_id(dim).get(value)
        if item is None:
            raise PromptError(f"scenario: {dim[:-1]} {value!r} is not in the taxonomy's dimensions.yaml")
        lines.append(item.id + " (" + item.name + "): " + " ".join(item.description.split()))
    return "\n".join(lines)


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
        "persona_profile": _persona_profile(scenario.persona, tax),
        "emotional_arc": scenario.emotional_arc,
        "arc_profile": _arc_profile(scenario.emotional_arc, tax),
        "topic": scenario.topic,
        "topic_profile": _topic_profile(scenario.topic, tax),
        "intent": scenario.intent,
        "tone": scenario.tone,
        "outcome_type": scenario.outcome_type,
        "dimension_notes": _dimension_notes(scenario, tax),
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
            "brand_voice": _brand_voice(tax),
            "emotion_definitions": _emotion_definitions(labels.emotions, tax),
            "strategy_definitions": _strategy_definitions(labels.strategies, tax),
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
