"""The repair loop of a structured answer that is read, not stored as a conversation (the quality judge's verdict,
contrastive turns): ask, read what came back, and when it has problems send them back for one more round.

Each round is an AttemptLog. A refusal ends the loop; an answer cut off gets one more round with twice the
output tokens; an answer with problems is sent back with them (the caller's repair template) until the last
round, where what the reader could use is kept and the problems noted. The words a person reads differ per
caller (RoundWords); how the rounds go is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic

from lib.generation.attempts import AttemptLog, call_round
from lib.generation.llm import LLMClient, LLMError, LLMUnavailable
from lib.generation.response import LLMResponse
from lib.generation.templates import PromptTemplate

T = TypeVar("T")
Reader = Callable[[Any], tuple["T | None", list[str]]]  # parsed answer -> (what is usable, None: nothing), problems


@dataclass(frozen=True)
class RoundWords:
    """What a person reads about a caller's rounds."""

    answer: str  # "the review": what was cut off
    refused: str  # "Claude declined to review this conversation"
    refused_advice: str  # after the refusal's own words: "; review it by hand."
    again: str  # what to do after a cut-off answer: "judge this conversation again, or review it by hand"
    unusable: str  # "the judge's answer still did not match the response schema"
    unusable_advice: str  # "Judge this conversation again, or review it by hand."
    kept: str  # before the problems left with a kept answer: "kept the ratings, left out: "


@dataclass
class RoundsOutcome(Generic[T]):
    value: T | None = None  # what the reader kept (None: nothing usable)
    reason: str | None = None  # why there is nothing, one line a person can act on
    note: str | None = None  # the problems left with a kept value
    fatal: bool = False
    retryable: bool = False
    attempts: list[AttemptLog] = field(default_factory=list)


async def structured_rounds(
    llm: LLMClient,
    system: str,
    user: str,
    *,
    read: Reader[T],
    output_format: type[pydantic.BaseModel],
    purpose: str,
    template: PromptTemplate,
    repair_template: PromptTemplate,
    parameters: dict[str, Any],
    words: RoundWords,
    repair_attempts: int,
    max_tokens: int,
    initial: LLMResponse | None = None,
) -> RoundsOutcome[T]:
    """Run the rounds; never raises for a model or API problem. `initial`: the first answer obtained
    elsewhere (a Message Batches result), read like a live one."""
    out: RoundsOutcome[T] = RoundsOutcome()
    settings = llm.settings
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    for n in range(repair_attempts + 1):
        last_round = n == repair_attempts
        call_params = {**parameters, "max_tokens": max_tokens, "messages": len(messages)}
        try:
            response = await call_round(
                llm,
                system,
                messages,
                first=n == 0,
                initial=initial,
                max_tokens=max_tokens,
                parameters=call_params,
                output_format=output_format,
            )
        except LLMError as exc:
            out.attempts.append(
                AttemptLog.of_error(
                    exc, attempt=n + 1, purpose=purpose, model=settings.model, template=template, parameters=call_params
                )
            )
            out.reason, out.fatal, out.retryable = exc.message, exc.fatal, isinstance(exc, LLMUnavailable)
            return out
        log = AttemptLog.of_response(
            response, attempt=n + 1, purpose=purpose, template=template, parameters=call_params
        )
        out.attempts.append(log)
        if response.outcome == "refusal":
            log.outcome = "refused"
            out.reason = log.error = (
                words.refused + (" (" + response.refusal + ")" if response.refusal else "") + words.refused_advice
            )
            return out
        if response.outcome == "max_tokens":
            log.outcome = "truncated"
            if not last_round and max_tokens < settings.max_tokens_cap:
                max_tokens = min(settings.max_tokens_cap, max_tokens * 2)
                log.error = f"{words.answer} was cut off; trying again with {max_tokens} output tokens"
                continue
            out.reason = log.error = f"{words.answer} was cut off at {max_tokens} output tokens; {words.again}"
            return out
        if response.parsed is None:
            value = None
            problems = ["your answer did not match the response schema: " + (response.parse_error or "no JSON found")]
        else:
            value, problems = read(response.parsed)
        if value is not None and (not problems or last_round):
            log.outcome = "ok" if n == 0 else "repaired"
            if problems:
                out.note = "; ".join(problems)
                log.error = words.kept + out.note
            out.value = value
            return out
        log.error = "; ".join(problems)
        if last_round:
            out.reason = (
                f"{words.unusable} after {n + 1} attempt(s): " + "; ".join(problems) + ". " + words.unusable_advice
            )
            return out
        messages = [
            *messages,
            {"role": "assistant", "content": response.text.strip() or "(no answer)"},
            {"role": "user", "content": repair_template.render({"problems": problems})},
        ]
    raise AssertionError("unreachable: the loop returns on its last round")
