"""What a check returns: the share of the conversation that passed, a reason, and findings.

A finding names the turn (0-based, as the review page and label revisions count) and quotes the
span it concerns, so a reviewer can find it and the generation engine's repair loop can send it
back to the model with enough to act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from lib.core.models import AssistantTurn, Conversation, UserTurn
from lib.core.taxonomy import Taxonomy

AnyTurn = UserTurn | AssistantTurn


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    turn: int | None = None  # None: the conversation as a whole
    span: str | None = None  # the text concerned, quoted in the message too
    message: str
    check: str = ""  # filled in by the runner
    # a label the check knows a better value for: Review offers it as a suggested revision
    field: str | None = None
    suggested: Any = None


@dataclass(frozen=True)
class Outcome:
    fraction: float  # 0..1 of the check passed (weighs the score)
    reason: str
    findings: tuple[Finding, ...] = ()


CheckFn = Callable[[Conversation, list[AnyTurn], Taxonomy], Outcome]


def where(i: int, turn: AnyTurn) -> str:
    return f"turn {i} ({turn.role})"


def ok(reason: str) -> Outcome:
    return Outcome(1.0, reason)


def judged(findings: Iterable[Finding], considered: int, ok_reason: str) -> Outcome:
    """The outcome of a check that looked at `considered` turns: the share of them without a
    finding (a conversation-wide finding fails it all), and the findings' messages as the reason."""
    found = tuple(findings)
    if not found:
        return ok(ok_reason)
    bad_turns = {f.turn for f in found}
    fraction = 0.0 if None in bad_turns or considered <= 0 else max(0.0, 1 - len(bad_turns) / considered)
    return Outcome(fraction, "; ".join(f.message for f in found), found)
