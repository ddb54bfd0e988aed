"""The record of every model call: AttemptLog, one generation_logs row (parameters, template,
model, raw response, tokens, cost, duration, outcome), built the same way for a generation, a
repair and a judge's review, and the call each round of their repair loops makes. Secrets never
reach a row: lib.core.redaction's `redact` is applied on the way out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic

from lib.core.models import Usage
from lib.core.redaction import redact
from lib.generation.llm import LLMClient, LLMError, LLMUnavailable
from lib.generation.output_format import GeneratedConversation
from lib.generation.response import LLMResponse, TryRecord
from lib.generation.templates import PromptTemplate


@dataclass
class AttemptLog:
    """One model call (a generation, a repair or a judge's review), as a generation_logs row."""

    attempt: int
    purpose: str  # generate | repair | judge
    outcome: str  # ok | invalid | refused | truncated | error | rate_limited | overloaded | timeout
    model: str
    template: PromptTemplate | None
    parameters: dict[str, Any]
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_s: float = 0.0
    raw_response: str = ""
    stop_reason: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def of_prompt_error(cls, exc: Exception, *, purpose: str, model: str, parameters: dict[str, Any]) -> AttemptLog:
        """A call never made: its prompt could not be built."""
        return cls(
            attempt=1,
            purpose=purpose,
            outcome="error",
            model=model,
            template=None,
            parameters=parameters,
            error=str(exc),
        )

    @classmethod
    def of_error(
        cls,
        exc: LLMError,
        *,
        attempt: int,
        purpose: str,
        model: str,
        template: PromptTemplate | None,
        parameters: dict[str, Any],
    ) -> AttemptLog:
        """A call that got no answer; the tries it took go into `parameters`."""
        parameters["tries"] = tries_detail(exc.tries)
        return cls(
            attempt=attempt,
            purpose=purpose,
            outcome=error_outcome(exc),
            model=model,
            template=template,
            parameters=parameters,
            duration_s=exc.duration_s,
            raw_response=exc.raw_body,
            http_status=exc.status,
            request_id=exc.request_id,
            error=exc.message,
        )

    @classmethod
    def of_response(
        cls,
        response: LLMResponse,
        *,
        attempt: int,
        purpose: str,
        template: PromptTemplate | None,
        parameters: dict[str, Any],
    ) -> AttemptLog:
        """An answered call, "invalid" until the caller has read the answer; the tries it took (and a
        missing price) go into `parameters`."""
        parameters["tries"] = tries_detail(response.tries)
        if not response.priced:
            parameters["unpriced"] = f"no price for model {response.model!r} in the price table; cost recorded as 0"
        return cls(
            attempt=attempt,
            purpose=purpose,
            outcome="invalid",
            model=response.model,
            template=template,
            parameters=parameters,
            usage=response.usage,
            cost_usd=response.cost_usd,
            duration_s=response.duration_s,
            raw_response=response.raw_body,
            stop_reason=response.stop_reason,
            http_status=200,
            request_id=response.request_id,
        )

    def as_row(
        self,
        *,
        scenario_id: int | None = None,
        item_id: int | None = None,
        job_id: int | None = None,
        secrets: Sequence[str] = (),
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "job_id": job_id,
            "item_id": item_id,
            "scenario_id": scenario_id,
            "attempt": self.attempt,
            "purpose": self.purpose,
            "outcome": self.outcome,
            "model": self.model,
            "template_name": self.template.name if self.template else None,
            "template_version": self.template.version if self.template else None,
            "template_sha256": self.template.sha256 if self.template else None,
            "parameters": self.parameters,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cache_read_tokens": self.usage.cache_read_input_tokens,
            "cache_write_tokens": self.usage.cache_creation_input_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "duration_ms": round(self.duration_s * 1000),
            "http_status": self.http_status,
            "request_id": self.request_id,
            "error": self.error,
            "raw_response": self.raw_response,
            "stop_reason": self.stop_reason,
        }
        return redact(row, secrets)


def error_outcome(exc: LLMError) -> str:
    """The log outcome of a call without an answer: timeout, rate_limited, overloaded or error."""
    if isinstance(exc, LLMUnavailable):
        last = exc.tries[-1] if exc.tries else None
        if last is not None and last.status is None:
            return "timeout" if last.error == "timed out" else "error"
        if last is not None and last.status == 429:
            return "rate_limited"
        if last is not None and last.status == 529:
            return "overloaded"
    return "error"


def tries_detail(tries: Sequence[TryRecord]) -> list[dict[str, Any]]:
    """The HTTP tries of a call as they are logged."""
    return [
        {
            "status": t.status,
            "error": t.error,
            "duration_ms": round(t.duration_s * 1000),
            "waited_s": round(t.waited_s, 3),
            "retry_after": t.retry_after,
        }
        for t in tries
    ]


async def call_round(
    llm: LLMClient,
    system: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    first: bool,
    initial: LLMResponse | None,
    max_tokens: int,
    parameters: dict[str, Any],
    output_format: type[pydantic.BaseModel] = GeneratedConversation,
) -> LLMResponse:
    """The answer of one round of a repair loop: for the first round an answer obtained elsewhere (a
    Message Batches result) when there is one, else a live call. Raises LLMError without an answer."""
    if first and initial is not None:
        parameters["source"] = "batch"
        return initial
    return await llm.generate(system, messages, max_tokens=max_tokens, output_format=output_format)


class AttemptTotals:
    """The tokens and cost of a result's calls (a generation and its repairs, a review and its repair)."""

    attempts: list[AttemptLog]

    @property
    def usage(self) -> Usage:
        u = Usage()
        for a in self.attempts:
            u.input_tokens += a.usage.input_tokens
            u.output_tokens += a.usage.output_tokens
            u.cache_creation_input_tokens += a.usage.cache_creation_input_tokens
            u.cache_read_input_tokens += a.usage.cache_read_input_tokens
        return u

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)


def dumps_row(row: Mapping[str, Any]) -> str:
    """A log row as JSON (for the CLI and tests)."""
    return json.dumps(row, default=str, sort_keys=True)
