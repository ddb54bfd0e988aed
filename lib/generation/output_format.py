"""What the model writes for a generation request: the structured output format (GeneratedConversation),
and how it turns into stored turns and back (a stored conversation as the prompt's example).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lib.core.checks.sentences import numbered_sentences, sentence_numbers, split_sentences
from lib.core.models import (
    Arc,
    ArcPoint,
    AssistantTurn,
    Conversation,
    EmotionLabel,
    SentenceFunction,
    StrategyLabel,
    UserTurn,
)


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
