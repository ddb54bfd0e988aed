"""The training-data format: one emotionally labelled multi-turn conversation.

Labels on a turn are the first-pass labels. Corrections never overwrite them: each one is a
`LabelRevision` in `label_history`, and the current value of a label is the latest revision for
that (turn, field), or the original when there is none ("self-healing labels"; the rule is
lib/core/labels.py).

`python -m lib schema --schema` prints the JSON Schema (committed as schema/conversation.schema.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from lib.core.labels import in_force
from lib.core.vocabulary import LABEL_FIELDS, ConversationSource, ReviewStatus, RevisionSource

FORMAT_VERSION = "1.0"

TierId = Literal["template", "scenario", "edge_case"]
Split = Literal["train", "eval"]

# The label fields a revision may target, with the turn role they belong to.
REVISABLE_FIELDS: dict[str, str] = {k: f.role for k, f in LABEL_FIELDS.items()}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetInfo(Strict):
    name: str
    version: str
    vertical: str


class ScenarioDimensions(Strict):
    tier: TierId
    persona: str
    emotional_arc: str
    topic: str
    intent: str
    tone: str
    outcome_type: str
    context_id: str | None = Field(None, description="Id of the tier-2 scenario context or tier-3 edge case.")
    context: str | None = Field(None, description="Situation text of a tier-2 or tier-3 scenario.")

    @model_validator(mode="after")
    def _context_for_tiers_2_and_3(self) -> ScenarioDimensions:
        if self.tier != "template" and not (self.context or "").strip():
            raise ValueError(f"a {self.tier} scenario needs its context text")
        return self


# The fields of a scenario row that make its dimensions, in order.
SCENARIO_FIELDS: tuple[str, ...] = tuple(ScenarioDimensions.model_fields)


class EmotionLabel(Strict):
    primary: str = Field(description="Emotion family id from the taxonomy.")
    secondary: str | None = Field(None, description="Optional second family id.")
    sub_emotion: str | None = Field(None, description="Finer label within the primary family.")
    intensity: float = Field(ge=0, le=1)
    valence: float = Field(ge=-1, le=1, description="-1 unpleasant .. +1 pleasant")
    arousal: float = Field(ge=0, le=1, description="0 calm .. 1 activated")
    cues: list[str] = Field(default_factory=list, description="Text in the turn that signals the emotion.")


class StrategyLabel(Strict):
    primary: str = Field(description="Response strategy id from the taxonomy.")
    supporting: list[str] = Field(default_factory=list)


class SentenceFunction(Strict):
    sentence: str
    function: str = Field(description="Why the sentence is there.")


class UserTurn(Strict):
    role: Literal["user"] = "user"
    text: str
    emotion: EmotionLabel


class AssistantTurn(Strict):
    role: Literal["assistant"] = "assistant"
    text: str
    strategies: StrategyLabel
    intended_effect: str
    sentence_functions: list[SentenceFunction] = Field(default_factory=list)
    learning_objective: str = Field(description="What a model should learn from this turn.")


Turn = Annotated[UserTurn | AssistantTurn, Field(discriminator="role")]
TURNS: TypeAdapter[list[UserTurn | AssistantTurn]] = TypeAdapter(list[Turn])


class ArcPoint(Strict):
    emotion: str
    intensity: float = Field(ge=0, le=1)


class Arc(Strict):
    start: ArcPoint
    end: ArcPoint


class CheckResult(Strict):
    name: str
    passed: bool
    reason: str


class Quality(Strict):
    score: int | None = Field(None, ge=1, le=10)
    checks: list[CheckResult] = Field(default_factory=list)
    empathy: int | None = Field(None, ge=1, le=10)
    appropriateness: int | None = Field(None, ge=1, le=10)
    brand_voice: int | None = Field(None, ge=1, le=10)


class Review(Strict):
    status: ReviewStatus = "unreviewed"
    reviewer: str | None = None
    notes: str | None = None
    reviewed_at: datetime | None = None


class LabelRevision(Strict):
    turn: int = Field(ge=0, description="0-based index into turns.")
    field: str = Field(description="One of " + ", ".join(REVISABLE_FIELDS))
    old_value: Any = None
    new_value: Any = None
    source: RevisionSource
    author: str
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _known_field(self) -> LabelRevision:
        if self.field not in REVISABLE_FIELDS:
            raise ValueError(f"unknown label field {self.field!r}; expected one of {', '.join(REVISABLE_FIELDS)}")
        return self


class Usage(Strict):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class Provenance(Strict):
    source: ConversationSource
    model: str | None = None
    template_name: str | None = None
    template_version: str | None = None
    template_sha256: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class TrainingFlags(Strict):
    use_as_seed_example: bool = False
    split: Split | None = None


class Conversation(Strict):
    format_version: str = FORMAT_VERSION
    id: str
    dataset: DatasetInfo
    scenario: ScenarioDimensions
    system_prompt: str
    turns: list[Turn]
    arc: Arc
    quality: Quality = Field(default_factory=Quality)
    review: Review = Field(default_factory=Review)
    label_history: list[LabelRevision] = Field(default_factory=list)
    provenance: Provenance
    training: TrainingFlags = Field(default_factory=TrainingFlags)

    @model_validator(mode="after")
    def _revisions_point_at_matching_turns(self) -> Conversation:
        for n, rev in enumerate(self.label_history):
            if rev.turn >= len(self.turns):
                raise ValueError(f"label_history[{n}] points at turn {rev.turn}, but there are {len(self.turns)} turns")
            problem = _field_problem(self.turns[rev.turn], rev.field)
            if problem:
                raise ValueError(f"label_history[{n}]: {problem}")
        return self

    def current_value(self, turn: int, field: str) -> Any:
        """The label now in force: the latest revision of (turn, field), else the original."""
        return _get_path(self.current_turns()[turn], field)

    def current_turns(self) -> list[UserTurn | AssistantTurn]:
        """Copies of the turns with the labels in force, for training exports and checks."""
        return TURNS.validate_python(
            in_force([t.model_dump() for t in self.turns], [r.model_dump() for r in self.label_history])
        )

    def revise(
        self, turn: int, field: str, new_value: Any, *, source: RevisionSource, author: str, reason: str = ""
    ) -> LabelRevision:
        """Append a revision (the originals stay as they are) and return it."""
        if not 0 <= turn < len(self.turns):
            raise ValueError(f"there is no turn {turn}; the conversation has {len(self.turns)} turns")
        problem = _field_problem(self.turns[turn], field)
        if problem:
            raise ValueError(problem)
        rev = LabelRevision(
            turn=turn,
            field=field,
            old_value=self.current_value(turn, field),
            new_value=new_value,
            source=source,
            author=author,
            reason=reason,
        )
        self.label_history.append(rev)
        type(self).model_validate(self.model_dump())  # the revision must leave a valid conversation
        return rev


def _field_problem(turn: UserTurn | AssistantTurn, field: str) -> str | None:
    if field not in REVISABLE_FIELDS:
        return f"unknown label field {field!r}; expected one of {', '.join(REVISABLE_FIELDS)}"
    if REVISABLE_FIELDS[field] != turn.role:
        article = "an" if turn.role == "assistant" else "a"
        return f"{field} is not a label of {article} {turn.role} turn"
    return None


def _get_path(obj: BaseModel, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def json_schema() -> dict[str, Any]:
    schema = Conversation.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Bright Run emotionally-aware conversation (format {FORMAT_VERSION})"
    return schema


def main(argv: list[str] | None = None, prog: str = "python -m lib schema") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--schema", action="store_true", help="print the JSON Schema of the format")
    args = parser.parse_args(argv)
    if not args.schema:
        parser.print_help()
        return 0
    json.dump(json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
