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
from lib.generation.attempts import AttemptLog, AttemptTotals, call_round
from lib.generation.contrast_prompt import (
    Asks,
    ContrastAnswer,
    ContrastError,
    FailedResponse,
    build_contrast_prompt,
    output_budget,
    read_answer,
)
from lib.generation.llm import LLMClient, LLMError, LLMUnavailable
from lib.generation.response import LLMResponse, response_from_body
from lib.generation.templates import PromptError, PromptTemplate

PURPOSE = "contrast"
DEFAULT_CONTRAST_REPAIRS = 1


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
    params = plan.log_parameters(conv)
    max_tokens = min(settings.max_tokens_cap, output_budget(asks, n))
    messages: list[dict[str, Any]] = [{"role": "user", "content": plan.user}]
    for round_no in range(repair_attempts + 1):
        last_round = round_no == repair_attempts
        call_params = {**params, "max_tokens": max_tokens, "messages": len(messages)}
        try:
            response = await call_round(
                llm,
                plan.system,
                messages,
                first=round_no == 0,
                initial=initial,
                max_tokens=max_tokens,
                parameters=call_params,
                output_format=ContrastAnswer,
            )
        except LLMError as exc:
            result.attempts.append(
                AttemptLog.of_error(
                    exc,
                    attempt=round_no + 1,
                    purpose=PURPOSE,
                    model=settings.model,
                    template=plan.system_template,
                    parameters=call_params,
                )
            )
            result.reason, result.fatal = exc.message, exc.fatal
            result.retryable = isinstance(exc, LLMUnavailable)
            return result
        log = AttemptLog.of_response(
            response, attempt=round_no + 1, purpose=PURPOSE, template=plan.system_template, parameters=call_params
        )
        result.attempts.append(log)
        if response.outcome == "refusal":
            log.outcome = "refused"
            result.reason = log.error = "Claude declined to write failed responses for this conversation" + (
                " (" + response.refusal + ")" if response.refusal else ""
            )
            return result
        if response.outcome == "max_tokens":
            log.outcome = "truncated"
            if not last_round and max_tokens < settings.max_tokens_cap:
                max_tokens = min(settings.max_tokens_cap, max_tokens * 2)
                log.error = f"the answer was cut off; trying again with {max_tokens} output tokens"
                continue
            result.reason = log.error = (
                f"the answer was cut off at {max_tokens} output tokens; ask for fewer turns or kinds at once"
            )
            return result
        if isinstance(response.parsed, ContrastAnswer):
            kept, problems = read_answer(response.parsed, conv, asks, n)
        else:
            kept, problems = (
                [],
                ["your answer did not match the response schema: " + (response.parse_error or "no JSON")],
            )
        if kept and (not problems or last_round):
            log.outcome = "ok" if round_no == 0 else "repaired"
            if problems:
                result.note = log.error = "; ".join(problems)
            result.ok, result.responses = True, kept
            return result
        log.error = "; ".join(problems)
        if last_round:
            result.reason = (
                f"no failed response passed the checks after {round_no + 1} attempt(s): "
                + "; ".join(problems)
                + ". Try again, or ask for other turns or kinds."
            )
            return result
        messages = [
            *messages,
            {"role": "assistant", "content": response.text.strip() or "(no answer)"},
            {"role": "user", "content": plan.repair_template.render({"problems": problems})},
        ]
    raise AssertionError("unreachable: the loop returns on its last round")


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
    max_tokens = min(llm.settings.max_tokens_cap, output_budget(asks, n))
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
