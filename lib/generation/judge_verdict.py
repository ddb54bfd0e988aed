"""What the quality judge writes (its structured output, built from the rubric) and what it means:
ratings and label findings checked against the conversation and the taxonomy.

Reason before score: the model commits to its evidence first. Every field is required, as for the
generator's schema; ranges are checked on our side (the SDK moves them into descriptions). A
suggested label is stored typed, as the dataset format has it (a number, a list, null).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from lib.core.models import REVISABLE_FIELDS, Conversation
from lib.core.rubric import Rubric
from lib.core.taxonomy import Taxonomy
from lib.generation.prompt_text import num


# ---- what the judge writes ------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionRating(_Out):
    reason: str = Field(description="What in which turns led to the score, checkable by a reviewer.")
    turns: list[int] = Field(description="0-based numbers of the turns the reason rests on.")
    score: int = Field(ge=1, le=5, description="1-5 against the criterion's anchors.")


if TYPE_CHECKING:
    LabelField = str  # the field names are known at run time only, so mypy checks them as text
else:
    LabelField = Literal[tuple(REVISABLE_FIELDS)]


class LabelFindingOut(_Out):
    turn: int = Field(description="0-based number of the turn whose label is wrong.")
    field: LabelField = Field(description="The label field to change.")
    current_value: str = Field(description="The value the conversation shows now.")
    suggested_value: str = Field(description="The value it should have: an id from the lists, a number, or none.")
    why: str = Field(description="One sentence pointing at the turn's text.")


@lru_cache(maxsize=8)
def _verdict_model(criteria: tuple[tuple[str, str], ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {cid: (CriterionRating, Field(description=name)) for cid, name in criteria}
    ratings = create_model("JudgeRatings", __config__=ConfigDict(extra="forbid"), **fields)
    return create_model(
        "JudgeVerdict",
        __config__=ConfigDict(extra="forbid"),
        ratings=(ratings, Field(description="One rating per rubric criterion.")),
        label_findings=(list[LabelFindingOut], Field(description="Labels to change; empty when all are right.")),
    )


def verdict_model(rubric: Rubric) -> type[BaseModel]:
    """The output_format of a judge request: a field per rubric criterion, so none can be skipped."""
    return _verdict_model(tuple((c.id, c.name) for c in rubric.criteria))


# ---- what a verdict means -------------------------------------------------------------------
@dataclass(frozen=True)
class Rating:
    criterion: str
    score: int
    reason: str
    cited_turns: list[int]
    pass_at: int
    hard: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "score": self.score,
            "reason": self.reason,
            "cited_turns": list(self.cited_turns),
            "pass_at": self.pass_at,
            "hard": self.hard,
        }


@dataclass(frozen=True)
class LabelFinding:
    turn: int
    field: str
    current_value: Any
    suggested_value: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "field": self.field,
            "current_value": self.current_value,
            "suggested_value": self.suggested_value,
            "reason": self.reason,
        }


def label_value(field: str, text: str, tax: Taxonomy) -> Any:
    """A suggested label as the dataset stores it, or ValueError saying what is wrong with it."""
    raw = text.strip()
    empty = raw.lower() in ("", "none", "null", "-")
    if field in ("emotion.secondary", "emotion.sub_emotion") and empty:
        return None
    if field in ("emotion.primary", "emotion.secondary"):
        if raw not in tax.by_id("emotions"):
            raise ValueError(f"{raw!r} is not an emotion family id")
        return raw
    if field == "emotion.sub_emotion":
        if not any(raw in e.sub_emotions for e in tax.emotions):
            raise ValueError(f"{raw!r} is not a sub-emotion of any family")
        return raw
    if field in ("emotion.intensity", "emotion.valence", "emotion.arousal"):
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        low = -1.0 if field == "emotion.valence" else 0.0
        if not low <= number <= 1.0:
            raise ValueError(f"{number} is outside {num(low)} to 1")
        return number
    if field == "strategies.primary":
        if raw not in tax.by_id("strategies"):
            raise ValueError(f"{raw!r} is not a strategy id")
        return raw
    ids = [] if empty else [p.strip() for p in re.split(r"[,;]", raw) if p.strip()]
    unknown = [i for i in ids if i not in tax.by_id("strategies")]
    if unknown:
        what = "is not a strategy id" if len(unknown) == 1 else "are not strategy ids"
        raise ValueError(f"{', '.join(map(repr, unknown))} {what}")
    return ids


def read_verdict(
    verdict: Any, conv: Conversation, tax: Taxonomy, rubric: Rubric
) -> tuple[list[Rating], list[LabelFinding], list[str]]:
    """Ratings and findings from a parsed verdict, with the problems a repair round should fix.
    What is returned is usable as it is: bad turn numbers and unusable findings are left out."""
    turns = conv.current_turns()
    n = len(turns)
    problems: list[str] = []
    ratings: list[Rating] = []
    for c in rubric.criteria:
        r = getattr(verdict.ratings, c.id)
        bad = [t for t in r.turns if not 0 <= t < n]
        if bad:
            problems.append(f"ratings.{c.id}.turns: {bad} are not turn numbers (the turns are 0 to {n - 1})")
        ratings.append(
            Rating(c.id, r.score, r.reason.strip(), sorted({t for t in r.turns if 0 <= t < n}), c.pass_at, c.hard)
        )
    findings: list[LabelFinding] = []
    for i, f in enumerate(verdict.label_findings):
        where = f"label_findings[{i}]"
        if not 0 <= f.turn < n:
            problems.append(f"{where}.turn: {f.turn} is not a turn number (the turns are 0 to {n - 1})")
            continue
        role = turns[f.turn].role
        if REVISABLE_FIELDS[f.field] != role:
            article = "an" if role == "assistant" else "a"
            problems.append(f"{where}.field: {f.field} is not a label of turn {f.turn}, which is {article} {role} turn")
            continue
        try:
            value = label_value(f.field, f.suggested_value, tax)
        except ValueError as exc:
            problems.append(f"{where}.suggested_value: {exc}")
            continue
        current = conv.current_value(f.turn, f.field)
        if value != current:
            findings.append(LabelFinding(f.turn, f.field, current, value, f.why.strip()))
    return ratings, findings, problems
