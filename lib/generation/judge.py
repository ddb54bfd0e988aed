"""The quality judge: Claude rates a conversation against the rubric (taxonomy/rubric.yaml) and checks
its labels.

The judge has its own prompt (prompts/judge_system.md, judge_conversation.md, judge_repair.md). The
system prompt holds the rubric, the brand voice and the definition of every emotion and strategy of
the taxonomy, so it is the same for every conversation and is cached. The request carries the
scenario and the conversation turn by turn with the labels in force (revisions applied). It carries
nothing that hints at a verdict: no automated scores, no review status, no reviewer notes.

The answer is structured output (lib.generation.judge_verdict: one rating per rubric criterion, with
a reason, the turns it cites and a 1-5 score, plus label findings). An answer that does not parse,
cites turns that do not exist or suggests labels the taxonomy lacks gets one repair round; after it,
out-of-range turns and unusable findings are dropped and the ratings kept. Every call is an
AttemptLog (purpose 'judge'): model, template, tokens, cost, like a generation call.

`judge_batch_request` / `judge_batch_response` put the same request through the Message Batches API
at half the price: a runner submits the requests (custom_id from `judge_custom_id`) and hands each
result to `ajudge_conversation(..., initial=...)`, the path a live answer takes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from lib.config import Settings
from lib.core.models import AssistantTurn, Conversation, UserTurn
from lib.core.rubric import Assessment, Rubric, default_rubric
from lib.core.taxonomy import Taxonomy
from lib.generation.attempts import AttemptLog, AttemptTotals
from lib.generation.judge_verdict import LabelFinding, Rating, read_verdict, verdict_model
from lib.generation.llm import LLMClient, LLMError, LLMSettings
from lib.generation.prompt_text import brand_voice, emotion_definitions, num, strategy_definitions
from lib.generation.prompting import scenario_values
from lib.generation.response import LLMResponse, response_from_body
from lib.generation.rounds import RoundWords, structured_rounds
from lib.generation.templates import PromptError, PromptTemplate, template_set

JUDGE_MAX_TOKENS = 6_000  # seven short reasons and a few findings: ~1.5k tokens; room for a long one
DEFAULT_JUDGE_REPAIRS = 1
NO_CONTEXT = "(none: a template-tier scenario has no situation text; judge it on the person, arc and topic)"
JUDGE_WORDS = RoundWords(
    answer="the review",
    refused="Claude declined to review this conversation",
    refused_advice="; review it by hand.",
    again="judge this conversation again, or review it by hand",
    unusable="the judge's answer still did not match the response schema",
    unusable_advice="Judge this conversation again, or review it by hand.",
    kept="kept the ratings, left out: ",
)


# ---- the prompt -----------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgePlan:
    system: str
    user: str
    system_template: PromptTemplate
    user_template: PromptTemplate
    repair_template: PromptTemplate
    rubric: Rubric
    output_format: type[BaseModel]

    def log_parameters(self, conv: Conversation) -> dict[str, Any]:
        """What a judge log row records about the request (never the conversation text)."""
        return {
            "conversation_id": conv.id,
            "turns": len(conv.turns),
            "rubric": {"id": self.rubric.id, "version": self.rubric.version, "sha256": self.rubric.sha256},
            "user_template": {
                "name": self.user_template.name,
                "version": self.user_template.version,
                "sha256": self.user_template.sha256,
            },
            "system_sha256": hashlib.sha256(self.system.encode()).hexdigest(),
        }


def render_rubric(rubric: Rubric) -> str:
    """Criteria with their question and anchors. Pass marks and hardness stay out: they are our
    policy, and a judge that knows them rates towards them."""
    blocks = []
    for c in rubric.criteria:
        lines = [c.id + " (" + c.name + "): " + c.question]
        lines += ["  " + str(point) + ": " + text for point, text in sorted(c.anchors.items())]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_turns(turns: Sequence[UserTurn | AssistantTurn]) -> str:
    """The conversation as the judge reads it: number, role, labels, then the text."""
    blocks = []
    for i, t in enumerate(turns):
        if isinstance(t, UserTurn):
            e = t.emotion
            lines = [
                f"[{i}] user",
                "emotion: "
                + e.primary
                + "; sub_emotion: "
                + (e.sub_emotion or "none")
                + "; secondary: "
                + (e.secondary or "none")
                + "; intensity: "
                + num(e.intensity)
                + "; valence: "
                + num(e.valence)
                + "; arousal: "
                + num(e.arousal),
                "cues: " + (" | ".join('"' + c + '"' for c in e.cues) if e.cues else "none"),
            ]
        else:
            s = t.strategies
            lines = [
                f"[{i}] assistant",
                "strategies: " + s.primary + "; supporting: " + (", ".join(s.supporting) or "none"),
            ]
        lines.append("text: " + t.text)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def judge_templates(templates: Mapping[str, PromptTemplate] | None = None) -> tuple[PromptTemplate, ...]:
    """The judge's three templates (system, request, repair), for logging and registration."""
    return template_set(("judge_system", "judge_conversation", "judge_repair"), "the judge", templates)


def build_judge_prompt(
    conv: Conversation,
    tax: Taxonomy,
    rubric: Rubric | None = None,
    templates: Mapping[str, PromptTemplate] | None = None,
) -> JudgePlan:
    """The system prompt and request that ask for one conversation's verdict."""
    rubric = rubric or default_rubric(tax.path)
    system_t, user_t, repair_t = judge_templates(templates)
    system = system_t.render(
        {
            "vertical": tax.vertical.name + ": " + " ".join(tax.vertical.description.split()),
            "rubric": render_rubric(rubric),
            "brand_voice": brand_voice(tax),
            "emotion_definitions": emotion_definitions(tax.ids("emotions"), tax),
            "strategy_definitions": strategy_definitions(tax.ids("strategies"), tax),
        }
    )
    values = scenario_values(conv.scenario, tax)
    turns = conv.current_turns()
    values.update(context=conv.scenario.context or NO_CONTEXT, turn_count=len(turns), conversation=render_turns(turns))
    return JudgePlan(
        system=system,
        user=user_t.render(values),
        system_template=system_t,
        user_template=user_t,
        repair_template=repair_t,
        rubric=rubric,
        output_format=verdict_model(rubric),
    )


# ---- the result -----------------------------------------------------------------------------
@dataclass
class JudgeResult(AttemptTotals):
    conversation_id: str
    ok: bool
    rubric: Rubric
    ratings: list[Rating] = field(default_factory=list)
    findings: list[LabelFinding] = field(default_factory=list)
    attempts: list[AttemptLog] = field(default_factory=list)
    reason: str | None = None  # why there is no verdict, one line a person can act on
    fatal: bool = False  # the next conversation would fail the same way (a bad key)
    retryable: bool = False
    prompt: PromptTemplate | None = None

    @property
    def scores(self) -> dict[str, int]:
        return {r.criterion: r.score for r in self.ratings}

    @property
    def assessment(self) -> Assessment:
        return self.rubric.assess(self.scores)

    @property
    def flagged(self) -> bool:
        return self.ok and self.assessment.flagged

    @property
    def flag_reasons(self) -> list[str]:
        return self.assessment.reasons if self.ok else []

    @property
    def model(self) -> str | None:
        return self.attempts[-1].model if self.attempts else None

    def log_rows(self, secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
        """One generation_logs row per call, oldest first."""
        return [a.as_row(secrets=secrets) for a in self.attempts]

    def to_record(self, secrets: Sequence[str] = ()) -> dict[str, Any]:
        """The arguments of public.save_judge_result (without their p_ prefix)."""
        return {
            "conversation_id": self.conversation_id,
            "rater": self.model or "unknown",
            "prompt_name": self.prompt.name if self.prompt else None,
            "prompt_version": self.prompt.version if self.prompt else None,
            "prompt_sha256": self.prompt.sha256 if self.prompt else None,
            "rubric_id": self.rubric.id,
            "rubric_version": self.rubric.version,
            "ratings": [r.as_dict() for r in self.ratings] if self.ok else [],
            "findings": [f.as_dict() for f in self.findings] if self.ok else [],
            "logs": self.log_rows(secrets),
        }

    def summary(self) -> str:
        """`empathy 5 appropriateness 4 ...`, then the verdict: ok, or FLAGGED with the reasons."""
        if not self.ok:
            return "error: " + (self.reason or "no verdict")
        scores = " ".join(f"{r.criterion} {r.score}" for r in self.ratings)
        if self.flagged:
            return scores + "  FLAGGED: " + "; ".join(self.flag_reasons)
        return scores + "  ok"


# ---- judging --------------------------------------------------------------------------------
async def ajudge_conversation(
    conv: Conversation,
    *,
    llm: LLMClient,
    tax: Taxonomy,
    rubric: Rubric | None = None,
    templates: Mapping[str, PromptTemplate] | None = None,
    repair_attempts: int = DEFAULT_JUDGE_REPAIRS,
    initial: LLMResponse | None = None,
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> JudgeResult:
    """Judge one conversation. Never raises for a model or API problem: the result says what happened.
    `initial`: an answer obtained elsewhere (a Message Batches result), read like a live one."""
    rubric = rubric or default_rubric(tax.path)
    result = JudgeResult(conversation_id=conv.id, ok=False, rubric=rubric)
    settings = llm.settings
    try:
        plan = build_judge_prompt(conv, tax, rubric, templates)
    except PromptError as exc:
        result.reason = str(exc)
        result.attempts.append(
            AttemptLog.of_prompt_error(
                exc, purpose="judge", model=settings.model, parameters={"conversation_id": conv.id}
            )
        )
        return result
    result.prompt = plan.system_template

    def read(verdict: Any) -> tuple[tuple[list[Rating], list[LabelFinding]] | None, list[str]]:
        ratings, findings, problems = read_verdict(verdict, conv, tax, rubric)
        return (ratings, findings), problems

    out = await structured_rounds(
        llm,
        plan.system,
        plan.user,
        read=read,
        output_format=plan.output_format,
        purpose="judge",
        template=plan.system_template,
        repair_template=plan.repair_template,
        parameters=plan.log_parameters(conv),
        words=JUDGE_WORDS,
        repair_attempts=repair_attempts,
        max_tokens=max_tokens,
        initial=initial,
    )
    result.attempts = out.attempts
    result.reason, result.fatal, result.retryable = out.reason, out.fatal, out.retryable
    if out.value is not None:
        result.ok = True
        result.ratings, result.findings = out.value
    return result


async def ajudge_many(
    conversations: Sequence[Conversation],
    *,
    llm: LLMClient,
    tax: Taxonomy,
    rubric: Rubric | None = None,
    concurrency: int = 4,
    **kwargs: Any,
) -> list[JudgeResult]:
    """Judge several conversations, `concurrency` at a time; results in the order given. After a
    fatal error (a bad key) the conversations not started fail with the same reason, unsent."""
    rubric = rubric or default_rubric(tax.path)
    gate = asyncio.Semaphore(max(1, concurrency))
    stop: list[JudgeResult] = []

    async def one(conv: Conversation) -> JudgeResult:
        async with gate:
            if stop:
                return JudgeResult(conversation_id=conv.id, ok=False, rubric=rubric, reason=stop[0].reason, fatal=True)
            result = await ajudge_conversation(conv, llm=llm, tax=tax, rubric=rubric, **kwargs)
            if result.fatal:
                stop.append(result)
            return result

    return list(await asyncio.gather(*(one(c) for c in conversations)))


def judge_conversation(
    conv: Conversation,
    *,
    settings: Settings | LLMSettings | None = None,
    tax: Taxonomy | None = None,
    rubric: Rubric | None = None,
    **kwargs: Any,
) -> JudgeResult:
    """Judge one conversation with a client of its own (settings: lib.config.Settings, LLMSettings or
    None for the environment). For many, use ajudge_many with one shared client."""
    from lib.core.taxonomy import load_taxonomy

    tax = tax or load_taxonomy()
    rubric = rubric or default_rubric(tax.path)

    async def run() -> JudgeResult:
        try:
            llm = LLMClient(LLMSettings.from_settings(settings))
        except LLMError as exc:
            return JudgeResult(conversation_id=conv.id, ok=False, rubric=rubric, reason=exc.message, fatal=exc.fatal)
        async with llm:
            return await ajudge_conversation(conv, llm=llm, tax=tax, rubric=rubric, **kwargs)

    return asyncio.run(run())


# ---- Message Batches ------------------------------------------------------------------------
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,58}$")


def judge_custom_id(conversation_id: str) -> str:
    """A Message Batches custom_id (at most 64 of [A-Za-z0-9_-]) for a conversation: `judge-<id>`
    when the id fits, else `judge-` and a hash of it. The runner keeps the id -> custom_id map."""
    if _CUSTOM_ID.match(conversation_id):
        return "judge-" + conversation_id
    return "judge-h" + hashlib.sha256(conversation_id.encode()).hexdigest()[:40]


def judge_batch_request(
    conv: Conversation,
    *,
    llm: LLMClient,
    tax: Taxonomy,
    rubric: Rubric | None = None,
    templates: Mapping[str, PromptTemplate] | None = None,
    max_tokens: int = JUDGE_MAX_TOKENS,
) -> dict[str, Any]:
    """One Message Batches request: the live request's body under the conversation's custom_id."""
    plan = build_judge_prompt(conv, tax, rubric, templates)
    params = llm.request_params(
        plan.system, [{"role": "user", "content": plan.user}], max_tokens=max_tokens, output_format=plan.output_format
    )
    return {"custom_id": judge_custom_id(conv.id), "params": params}


def judge_batch_response(
    message: Mapping[str, Any], *, llm: LLMClient, rubric: Rubric, max_tokens: int = JUDGE_MAX_TOKENS
) -> LLMResponse:
    """A succeeded batch result's message as the `initial` answer of ajudge_conversation (batch price)."""
    return response_from_body(
        message,
        settings=llm.settings,
        requested_model=llm.settings.model,
        batch=True,
        max_tokens=max_tokens,
        output_format=verdict_model(rubric),
    )
