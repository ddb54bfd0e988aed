"""Load and validate a vertical's taxonomy: a folder of YAML files.

The taxonomy is data. Each file below is required and has one top-level key of the same name:

    vertical.yaml    vertical: id, name, version, description, language, brand_voice
    emotions.yaml    emotions: primary families with sub-emotions, intensity bands, cues, valence and
                     arousal ranges
    strategies.yaml  strategies: response strategies
    personas.yaml    personas: user archetypes
    arcs.yaml        arcs: emotional arcs (start -> end emotion, intensity curve, milestones)
    topics.yaml      topic_clusters: clusters, each with its topics
    dimensions.yaml  intents, tones, outcomes, tiers
    targets.yaml     targets: coverage targets and the quality rules of a conversation
    contexts.yaml    scenario_contexts (tier 2) and edge_cases (tier 3)
    compliance.yaml  compliance: what the assistant must never say, and must say in some scenarios

Two files are optional (a vertical without them has no such rules):

    plausibility.yaml  plausibility: which rows are plausible (lib/core/plausibility.py)
    variation.yaml     variation: person details, writing habits, fact ranges, trajectories
                       (lib/core/variation.py)

A bad taxonomy fails with one line naming the file, the key path and what is wrong:
    taxonomy/arcs.yaml: arcs[2].start_emotion: unknown emotion 'panic'

The cross-file references are checked in lib/core/taxonomy_refs.py; `python -m lib taxonomy check [DIR]`
(lib/core/taxonomy_cli.py) prints the counts per dimension (exit 0) or that line (exit 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lib.core import files
from lib.core.compliance import Compliance
from lib.core.failures import Failures
from lib.core.plausibility import Plausibility
from lib.core.taxonomy_refs import taxonomy_problems
from lib.core.variation import Item, Variation

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DIR = ROOT / "taxonomy"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: several times faster


class TaxonomyError(ValueError):
    """A taxonomy problem, already phrased as one line: `file: key.path: what is wrong`."""


# ---- vertical and brand voice --------------------------------------------------------------
class BrandVoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    title: str
    summary: str
    principles: list[str] = Field(min_length=1)
    signature_phrases: list[str] = Field(default_factory=list)
    avoid: list[str] = Field(default_factory=list)
    referral_policy: str


class Vertical(Item):
    version: str
    language: str = Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code every turn is written in.")
    brand_voice: BrandVoice


# ---- emotions and strategies ---------------------------------------------------------------
class IntensityBand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    min: float = Field(ge=0, le=1)
    max: float = Field(ge=0, le=1)
    description: str

    @model_validator(mode="after")
    def _ordered(self) -> IntensityBand:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def _range_problem(name: str, bounds: tuple[float, float], typical: float) -> str | None:
    lo, hi = bounds
    if lo > hi:
        return f"{name} is [{lo}, {hi}]: the minimum is above the maximum"
    if not lo <= typical <= hi:
        return f"{name} [{lo}, {hi}] does not hold the family's typical value {typical}"
    return None


class Emotion(Item):
    goleman_domain: str = ""
    valence: float = Field(ge=-1, le=1)
    arousal: float = Field(ge=0, le=1)
    valence_range: tuple[Annotated[float, Field(ge=-1, le=1)], Annotated[float, Field(ge=-1, le=1)]] = Field(
        description="The valence a turn labelled with this family may have."
    )
    arousal_range: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = Field(
        description="The arousal a turn labelled with this family may have."
    )
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$", description="The colour of this emotion on every chart.")
    sub_emotions: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(min_length=1)
    intensity_bands: list[IntensityBand] = Field(min_length=2)
    cues: list[str] = Field(min_length=1)
    suited_strategies: list[str] = Field(min_length=1)

    def band_of(self, intensity: float) -> IntensityBand | None:
        """The band an intensity falls in, None outside every band. A band runs from its min up to the next
        band's min, so a value between one band's max and the next one's min (0.395 between 0.39 and 0.4)
        is in the lower band."""
        bands = sorted(self.intensity_bands, key=lambda b: b.min)
        below = [b for b in bands if b.min <= intensity]
        return below[-1] if below and intensity <= bands[-1].max else None

    @model_validator(mode="after")
    def _ranges_hold_the_typical_values(self) -> Emotion:
        for name, bounds, typical in [
            ("valence_range", self.valence_range, self.valence),
            ("arousal_range", self.arousal_range, self.arousal),
        ]:
            problem = _range_problem(name, bounds, typical)
            if problem:
                raise ValueError(problem)
        return self


class Strategy(Item):
    when_to_use: list[str] = Field(min_length=1)
    when_not_to_use: list[str] = Field(min_length=1)
    example_phrasing: list[str] = Field(min_length=1)
    quality_markers: list[str] = Field(min_length=1)


# ---- personas, arcs, topics ----------------------------------------------------------------
class Persona(Item):
    age_band: str
    life_situation: str
    income_band: str
    financial_literacy: Literal["none", "basic", "intermediate", "advanced"]
    emotional_baseline: str = Field(description="Emotion family id.")
    communication_style: str
    goals: list[str] = Field(min_length=1)
    keywords: list[str] = Field(min_length=1, description="Words that show the persona's situation in a conversation.")


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    position: float = Field(ge=0, le=1, description="0 = first turn, 1 = last turn")
    emotion: str
    description: str


class EmotionalArc(Item):
    start_emotion: str
    end_emotion: str
    intensity_curve: list[float] = Field(min_length=2, description="User emotion intensity from first to last turn.")
    milestones: list[Milestone] = Field(min_length=2)

    @model_validator(mode="after")
    def _curve_in_range(self) -> EmotionalArc:
        for n, v in enumerate(self.intensity_curve):
            if not 0 <= v <= 1:
                raise ValueError(f"intensity_curve[{n}] = {v} is outside 0..1")
        return self


class Topic(Item):
    keywords: list[str] = Field(min_length=1, description="Words that show the topic in a conversation.")


class TopicCluster(Item):
    topics: list[Topic] = Field(min_length=1)


class Tier(Item):
    number: int = Field(ge=1, le=3)
    default_count: int = Field(ge=0, description="How many rows of the default plan use this tier.")


# ---- targets and contexts ------------------------------------------------------------------
class LengthBucket(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    min_exchanges: int = Field(ge=1)
    max_exchanges: int = Field(ge=1)
    min_conversations: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LengthBucket:
        if self.min_exchanges > self.max_exchanges:
            raise ValueError(f"min_exchanges {self.min_exchanges} is above max_exchanges {self.max_exchanges}")
        return self


class QualityRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_turns: int = Field(ge=2)
    max_turns: int = Field(ge=2)
    user_words: tuple[int, int]
    assistant_words: tuple[int, int]
    # The integrity checks' thresholds (lib/core/checks); targets.yaml explains each value.
    intensity_tolerance: float = Field(
        gt=0, le=1, description="Largest gap between a user turn's intensity and the arc's curve."
    )
    shingle_words: int = Field(ge=1, le=10, description="Words per shingle when turns are compared.")
    near_duplicate_jaccard: float = Field(gt=0, le=1, description="Shingle Jaccard at which two turns repeat.")
    near_duplicate_containment: float = Field(
        gt=0, le=1, description="Share of a turn's shingles inside another at which it repeats it."
    )
    repeated_sentence_words: int = Field(ge=3, description="Words of a sentence that may not recur word for word.")
    max_list_items: int = Field(ge=1, description="Most list lines in a row.")
    min_language_share: float = Field(ge=0, le=1, description="Least share of the language's function words.")

    @model_validator(mode="after")
    def _ordered(self) -> QualityRules:
        for name in ("user_words", "assistant_words"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} is [{lo}, {hi}]: the minimum is above the maximum")
        return self


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_emotion_min: int = Field(ge=0)
    per_strategy_min: int = Field(ge=0)
    emotion_overrides: dict[str, int] = Field(default_factory=dict)
    strategy_overrides: dict[str, int] = Field(default_factory=dict)
    length_buckets: list[LengthBucket] = Field(min_length=1)
    quality: QualityRules


class Context(Item):
    context: str = Field(min_length=40)
    personas: list[str] = Field(min_length=1)
    topics: list[str] = Field(min_length=1)
    arcs: list[str] = Field(min_length=1)
    complexity: Literal["low", "medium", "high"] = "medium"
    fixed_facts: list[str] = Field(
        default_factory=list, description="Figures of the context text that rules depend on: never varied."
    )


class EdgeCase(Context):
    stress_factors: list[str] = Field(min_length=1)
    resolution_strategy: str = Field(description="Strategy id the resolution leans on.")


FILES: dict[str, tuple[str, ...]] = {
    "vertical.yaml": ("vertical",),
    "emotions.yaml": ("emotions",),
    "strategies.yaml": ("strategies",),
    "personas.yaml": ("personas",),
    "arcs.yaml": ("arcs",),
    "topics.yaml": ("topic_clusters",),
    "dimensions.yaml": ("intents", "tones", "outcomes", "tiers"),
    "targets.yaml": ("targets",),
    "contexts.yaml": ("scenario_contexts", "edge_cases"),
    "compliance.yaml": ("compliance",),
}
OPTIONAL_FILES: dict[str, tuple[str, ...]] = {
    "plausibility.yaml": ("plausibility",),
    "variation.yaml": ("variation",),
    "failures.yaml": ("failures",),
}

SCHEMAS: dict[str, Any] = {
    "vertical": Vertical,
    "emotions": list[Emotion],
    "strategies": list[Strategy],
    "personas": list[Persona],
    "arcs": list[EmotionalArc],
    "topic_clusters": list[TopicCluster],
    "intents": list[Item],
    "tones": list[Item],
    "outcomes": list[Item],
    "tiers": list[Tier],
    "targets": Targets,
    "scenario_contexts": list[Context],
    "edge_cases": list[EdgeCase],
    "compliance": Compliance,
    "plausibility": Plausibility,
    "variation": Variation,
    "failures": Failures,
}


# The taxonomy's lists, in the order people read them (the Settings page, `python -m lib taxonomy check`).
DIMENSIONS: tuple[str, ...] = (
    "emotions",
    "strategies",
    "personas",
    "arcs",
    "topic_clusters",
    "topics",
    "intents",
    "tones",
    "outcomes",
    "tiers",
    "scenario_contexts",
    "edge_cases",
)


class Taxonomy(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    path: Path
    sha256: str
    vertical: Vertical
    emotions: list[Emotion]
    strategies: list[Strategy]
    personas: list[Persona]
    arcs: list[EmotionalArc]
    topic_clusters: list[TopicCluster]
    intents: list[Item]
    tones: list[Item]
    outcomes: list[Item]
    tiers: list[Tier]
    targets: Targets
    scenario_contexts: list[Context]
    edge_cases: list[EdgeCase]
    compliance: Compliance
    plausibility: Plausibility = Plausibility()
    variation: Variation = Variation()
    failures: Failures = Failures()

    # -- lookups ---------------------------------------------------------------------------
    @cached_property
    def topics(self) -> list[Topic]:
        return [t for c in self.topic_clusters for t in c.topics]

    @cached_property
    def cluster_of(self) -> dict[str, str]:
        """topic id -> cluster id"""
        return {t.id: c.id for c in self.topic_clusters for t in c.topics}

    def context(self, context_id: str | None) -> Context | EdgeCase | None:
        """A scenario's context: a tier-2 scenario context or a tier-3 edge case, by id (None for none)."""
        if not context_id:
            return None
        return next((c for c in [*self.scenario_contexts, *self.edge_cases] if c.id == context_id), None)

    def by_id(self, dimension: str) -> dict[str, Any]:
        items = self.topics if dimension == "topics" else getattr(self, dimension)
        return {i.id: i for i in items}

    def ids(self, dimension: str) -> list[str]:
        return list(self.by_id(dimension))

    def names(self, dimension: str) -> dict[str, str]:
        """id -> display name, in taxonomy order."""
        return {k: v.name for k, v in self.by_id(dimension).items()}

    def counts(self) -> dict[str, int]:
        counts = {d: len(self.ids(d)) for d in DIMENSIONS}
        counts["sub_emotions"] = sum(len(e.sub_emotions) for e in self.emotions)
        return counts


def _format_loc(key: str, loc: Iterable[Any]) -> str:
    path = key
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _read(directory: Path, filename: str) -> dict[str, Any]:
    file = directory / filename
    if not file.exists():
        raise TaxonomyError(f"{file}: file is missing (a taxonomy needs {', '.join(FILES)})")
    try:
        data = yaml.load(files.read_text(file), Loader=_Loader)
    except files.FileProblem as exc:
        raise TaxonomyError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise TaxonomyError(files.syntax_error(file, "YAML", line, str(getattr(exc, "problem", None) or exc))) from None
    if not isinstance(data, dict):
        raise TaxonomyError(f"{file}: (top): expected a mapping with keys {', '.join(FILES[filename])}")
    return data


def load_taxonomy(directory: str | Path = DEFAULT_DIR) -> Taxonomy:
    """Read and validate every file; raise TaxonomyError (one line) on the first problem."""
    from pydantic import TypeAdapter

    directory = Path(directory)
    if not directory.is_dir():
        raise TaxonomyError(f"{directory}: taxonomy folder not found")
    values: dict[str, Any] = {}
    where: dict[str, Path] = {}
    digest = hashlib.sha256()
    for filename, keys in [*FILES.items(), *OPTIONAL_FILES.items()]:
        file = directory / filename
        if filename in OPTIONAL_FILES and not file.exists():
            continue
        data = _read(directory, filename)
        digest.update(file.read_bytes())
        for key in keys:
            if key not in data:
                raise TaxonomyError(f"{file}: {key}: missing field")
            try:
                values[key] = TypeAdapter(SCHEMAS[key]).validate_python(data[key])
            except ValidationError as exc:
                err = exc.errors()[0]
                raise TaxonomyError(f"{file}: {_format_loc(key, err['loc'])}: {err['msg']}") from None
            where[key] = file
        extra = set(data) - set(keys)
        if extra:
            raise TaxonomyError(f"{file}: {sorted(extra)[0]}: unexpected key (expected {', '.join(keys)})")
    tax = Taxonomy(path=directory, sha256=digest.hexdigest(), **values)
    for key, loc, msg in taxonomy_problems(tax):
        raise TaxonomyError(f"{where[key]}: {loc}: {msg}")
    return tax
