"""Contrastive turns: Claude writes failed responses for assistant turns of an approved conversation, of the
failure kinds the taxonomy names, each with why it fails (lib.generation.contrast_prompt: what is asked
and what an answer must pass).

One request per conversation asks for every failed response of it, through the same structured output as
generation and the judge (`messages.parse` with ContrastAnswer). An answer with problems (a turn or kind
not asked for, a copy of the real turn, a label in the text, missing responses) gets one repair round with
the problems listed; after it, the responses that pass are kept and the rest never stored. Every call is
an AttemptLog (purpose 'contrast'): model, template, tokens, cost. Each stored row carries the model, the
prompt's hash, and its share of the calls' tokens and cost.

`contrast_batch_request` / `contrast_batch_response` put the same request through the Message Batches API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.generation.attempts import AttemptLog, AttemptTotals
from lib.generation.contrast_prompt import (
    Asks,
    ContrastAnswer,
    ContrastError,
    FailedResponse,
    build_contrast_prompt,
    output_budget,
    read_answer,
)
from lib.generation.llm import LLMClient
from lib.generation.response import LLMResponse, response_from_body
from lib.generation.rounds import RoundWords, structured_rounds
from lib.generation.templates import PromptError, PromptTemplate

PURPOSE = "contrast"
DEFAULT_CONTRAST_REPAIRS = 1
CONTRAST_WORDS = RoundWords(
    answer="the answer",
    refused="Claude declined to write failed responses for this conversation",
    refused_advice="",
    again="ask for fewer turns or kinds at once",
    unusable="no failed response passed the checks",
    unusable_advice="Try again, or ask for other turns or kinds.",
    kept="kept the rest, left out: ",
)


@dataclass
class ContrastResult(AttemptTotals):
    conversation_id: str
    ok: bool = False
    responses: list[FailedResponse] = field(default_factory=list)
    attempts: list[AttemptLog] = field(default_factory=list)
    reason: str | None = None  # why nothing was kept, one line a person can act on
    note: str | None = None  # what was left out of a kept answer
    fatal: bool = False  # the next conversation would fail the same way (a bad key)
    retryable: bool = False
    prompt_sha256: str | None = None

    @property
    def model(self) -> str | None:
        return self.attempts[-1].model if self.attempts else None

    def rows(self) -> list[dict[str, Any]]:
        """The responses as public.contrastive_responses rows: the calls' tokens and cost shared out, so
        the rows of a conversation add up to what its run spent."""
        if not self.ok:
            return []
        k = len(self.responses)
        usage = self.usage
        spent = [usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens]
        shares = [_share(spent[0], k), _share(usage.output_tokens, k)]
        cost = round(self.cost_usd / k, 6)
        return [
            {
                "turn_idx": r.turn,
                "failure_kind": r.kind,
                "text": r.text,
                "why": r.why,
                "model": self.model,
                "prompt_sha256": self.prompt_sha256,
                "input_tokens": shares[0][i],
                "output_tokens": shares[1][i],
                "cost_usd": cost,
            }
            for i, r in enumerate(self.responses)
        ]

    def to_record(self, secrets: Sequence[str] = ()) -> dict[str, Any]:
        """The arguments of public.save_contrast_result (without their p_ prefix)."""
        return {
            "conversation_id": self.conversation_id,
            "responses": self.rows(),
            "logs": [a.as_row(secrets=secrets) for a in self.attempts],
        }

    def summary(self) -> str:
        if not self.ok:
            return "error: " + (self.reason or "nothing written")
        turns = len({r.turn for r in self.responses})
        text = f"{len(self.responses)} failed response(s) for {turns} turn(s)"
        return text + ("; left out: " + self.note if self.note else "")


def _share(total: int, k: int) -> list[int]:
    base, rest = divmod(total, k)
    return [base + (1 if i < rest else 0) for i in range(k)]


async def acontrast_conversation(
    conv: Conversation,
    asks: Asks,
    *,
    llm: LLMClient,
    tax: Taxonomy,
    n: int = 1,
    templates: Mapping[str, PromptTemplate] | None = None,
    repair_attempts: int = DEFAULT_CONTRAST_REPAIRS,
    initial: LLMResponse | None = None,
) -> ContrastResult:
    """Write the failed responses `asks` names for one conversation. Never raises for a model or API
    problem: the result says what happened. `initial`: an answer obtained elsewhere (a batch result)."""
    result = ContrastResult(conversation_id=conv.id)
    settings = llm.settings
    try:
        plan = build_contrast_prompt(conv, tax, asks, n, templates)
    except (PromptError, ContrastError) as exc:
        result.reason = str(exc)
        result.attempts.append(
            AttemptLog.of_prompt_error(
                exc, purpose=PURPOSE, model=settings.model, parameters={"conversation_id": conv.id}
            )
        )
        return result
    result.prompt_sha256 = plan.prompt_sha256

    def read(answer: Any) -> tuple[list[FailedResponse] | None, list[str]]:
        kept, problems = read_answer(answer, conv, asks, n)
        return kept or None, problems

    out = await structured_rounds(
        llm,
        plan.system,
        plan.user,
        read=read,
        output_format=ContrastAnswer,
        purpose=PURPOSE,
        template=plan.system_template,
        repair_template=plan.repair_template,
        parameters=plan.log_parameters(conv),
        words=CONTRAST_WORDS,
        repair_attempts=repair_attempts,
        max_tokens=output_budget(asks, n, settings.max_tokens_cap),
        initial=initial,
    )
    result.attempts = out.attempts
    result.reason, result.note, result.fatal, result.retryable = out.reason, out.note, out.fatal, out.retryable
    if out.value is not None:
        result.ok, result.responses = True, out.value
    return result


# ---- Message Batches ------------------------------------------------------------------------
def contrast_batch_params(
    conv: Conversation,
    asks: Asks,
    *,
    llm: LLMClient,
    tax: Taxonomy,
    n: int = 1,
    templates: Mapping[str, PromptTemplate] | None = None,
) -> dict[str, Any]:
    """The body of the live request, for a Message Batch."""
    plan = build_contrast_prompt(conv, tax, asks, n, templates)
    max_tokens = output_budget(asks, n, llm.settings.max_tokens_cap)
    return llm.request_params(
        plan.system, [{"role": "user", "content": plan.user}], max_tokens=max_tokens, output_format=ContrastAnswer
    )


def contrast_batch_response(message: Mapping[str, Any], *, llm: LLMClient) -> LLMResponse:
    """A succeeded batch result's message as the `initial` answer of acontrast_conversation (batch price)."""
    return response_from_body(
        message,
        settings=llm.settings,
        requested_model=llm.settings.model,
        batch=True,
        max_tokens=llm.settings.max_tokens_cap,
        output_format=ContrastAnswer,
    )
