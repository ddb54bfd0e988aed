"""Generate one conversation: prompt -> Claude -> parse -> quality report -> repair -> store.

`generate_conversation` is the engine (no database): it sends the scenario's prompt, parses the
answer into the dataset format, runs the QualityReport, and sends repairable failures back to the
model with the problems listed, up to `repair_attempts` times (default 2). Every model call becomes
an AttemptLog (lib.generation.attempts: a generation_logs row with parameters, template name, version
and sha256, model, raw response, tokens, cost, duration and outcome). The API key is never in one.

`generate_one(store, scenario_id, ...)` wraps it for the app and the worker: it reads the scenario,
marks it generating, stores the conversation through the store's SQL function (atomically, a new
version linked to the previous one), or records the failure with its reason, and writes the logs.

How each kind of answer is handled:
    valid and passes every check      stored, status generated
    fails checks the model can fix    repair: the failures go back to the model
    malformed JSON / schema violation repair: the parse errors go back to the model
    stop_reason max_tokens            retried with twice the room (up to max_tokens_cap), else failed
    refusal                           failed with the model's reason; no retry (it would refuse again)
    401 / 403                         "the API key is invalid": the run stops (result.fatal)
    429, 529, 5xx, timeouts           retried with backoff inside lib.generation.llm; then failed, retryable later
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.config import Settings
from lib.core.models import (
    SCENARIO_FIELDS,
    CheckResult,
    Conversation,
    DatasetInfo,
    Provenance,
    ScenarioDimensions,
    TrainingFlags,
)
from lib.core.taxonomy import Taxonomy
from lib.core.validation import QualityReport, check_conversation
from lib.core.variation_sets import PROVENANCE_KEY
from lib.generation.attempts import AttemptLog, AttemptTotals, call_round
from lib.generation.causes import checks_cause
from lib.generation.llm import LLMClient, LLMError, LLMSettings, LLMUnavailable
from lib.generation.prompting import Feedback, PromptPlan, build_prompt, render_repair
from lib.generation.response import LLMResponse
from lib.generation.templates import PromptError, PromptTemplate
from lib.generation.variation_prompt import VariationSource, source_for
from lib.store.protocol import Store, StoreError, StoreUnavailable

DEFAULT_REPAIR_ATTEMPTS = 2
DEFAULT_DATASET = DatasetInfo(name="brightrun-emotional-fp", version="1.0.0", vertical="financial_planning")


@dataclass
class GenerationResult(AttemptTotals):
    ok: bool
    conversation: Conversation | None
    report: QualityReport | None
    attempts: list[AttemptLog]
    reason: str | None = None  # why it failed, one line a person can act on
    fatal: bool = False  # stop the whole run: the next scenario would fail the same way
    retryable: bool = False  # a transient failure: generating again later may work
    cause: str | None = None  # why it failed, as a key of lib.generation.causes
    conversation_id: str | None = None  # the stored id (generate_one)


# ---- the engine -----------------------------------------------------------------------------
def _log_parameters(
    scenario: ScenarioDimensions, plan: PromptPlan, max_tokens: int, feedback: Feedback | None, repair_attempts: int
) -> dict[str, Any]:
    params: dict[str, Any] = scenario.model_dump(mode="json")
    params.update(
        {
            "target_turns": plan.parameters.get("target_turns"),
            "allowed_emotions": list(plan.labels.emotions),
            "allowed_strategies": list(plan.labels.strategies),
            "seed_example_id": plan.seed_example_id,
            "variation": plan.variation,
            "system_template": {
                "name": plan.system_template.name,
                "version": plan.system_template.version,
                "sha256": plan.system_template.sha256,
            },
            "system_prompt_sha256": plan.system_sha256,
            "max_tokens": max_tokens,
            "repair_attempts": repair_attempts,
            "feedback": None,
        }
    )
    if plan.variation_of is not None:
        params[PROVENANCE_KEY] = plan.variation_of
    if feedback is not None and plan.feedback_template is not None:
        params["feedback"] = {
            "notes": feedback.notes,
            "failed_checks": [c.name for c in feedback.failed_checks if not c.passed],
            "previous_conversation_id": feedback.previous.id if feedback.previous else None,
            "template": {
                "name": plan.feedback_template.name,
                "version": plan.feedback_template.version,
                "sha256": plan.feedback_template.sha256,
            },
        }
    return params


def new_conversation_id() -> str:
    return "gen-" + uuid.uuid4().hex[:16]


async def generate_conversation(
    scenario: ScenarioDimensions,
    *,
    llm: LLMClient,
    tax: Taxonomy,
    seeds: Sequence[Conversation],
    repair_attempts: int = DEFAULT_REPAIR_ATTEMPTS,
    feedback: Feedback | None = None,
    conversation_id: str | None = None,
    dataset: DatasetInfo | None = None,
    initial: LLMResponse | None = None,
    templates: Mapping[str, PromptTemplate] | None = None,
    variation_seed: int | None = None,
    source: VariationSource | None = None,
) -> GenerationResult:
    """Generate, validate and repair one conversation. Never raises for a model or API problem:
    the result says what happened. `initial` is an answer obtained elsewhere (a Message Batches
    result) that enters the same validation and repair path; repairs then use the normal API."""
    attempts: list[AttemptLog] = []
    settings = llm.settings
    try:
        if variation_seed is None:
            variation_seed = secrets.randbelow(2**31)
        plan = build_prompt(
            scenario, tax, seeds, feedback=feedback, templates=templates, variation_seed=variation_seed, source=source
        )
    except PromptError as exc:
        attempts.append(
            AttemptLog.of_prompt_error(
                exc, purpose="generate", model=settings.model, parameters=scenario.model_dump(mode="json")
            )
        )
        return GenerationResult(False, None, None, attempts, reason=str(exc), cause="prompt")
    max_tokens = llm.max_tokens_for(plan.template.name)
    params = _log_parameters(scenario, plan, max_tokens, feedback, repair_attempts)
    messages: list[dict[str, Any]] = [{"role": "user", "content": plan.user}]
    dataset = dataset or next((s.dataset for s in seeds), DEFAULT_DATASET)
    last_problems: list[str] = []

    for n in range(repair_attempts + 1):
        purpose = "generate" if n == 0 else "repair"
        call_params = {**params, "max_tokens": max_tokens, "messages": len(messages)}
        try:
            response = await call_round(
                llm, plan.system, messages, first=n == 0, initial=initial, max_tokens=max_tokens, parameters=call_params
            )
        except LLMError as exc:
            attempts.append(
                AttemptLog.of_error(
                    exc,
                    attempt=n + 1,
                    purpose=purpose,
                    model=settings.model,
                    template=plan.template,
                    parameters=call_params,
                )
            )
            return GenerationResult(
                False,
                None,
                None,
                attempts,
                reason=exc.message,
                fatal=exc.fatal,
                retryable=isinstance(exc, LLMUnavailable),
                cause=exc.cause,
            )

        if response.rate_limits:
            call_params["rate_limits"] = response.rate_limits
        log = AttemptLog.of_response(
            response, attempt=n + 1, purpose=purpose, template=plan.template, parameters=call_params
        )
        attempts.append(log)
        last_round = n == repair_attempts

        if response.outcome == "refusal":
            log.outcome = "refused"
            log.error = (
                "Claude declined to write this conversation"
                + (" (" + response.refusal + ")" if response.refusal else "")
                + ". Edit the scenario's context, or regenerate it with feedback that reframes the request."
            )
            return GenerationResult(False, None, None, attempts, reason=log.error, cause="refused")

        if response.outcome == "max_tokens":
            log.outcome = "truncated"
            cap = settings.max_tokens_cap
            if not last_round and max_tokens < cap:
                log.error = (
                    f"the answer was cut off at {max_tokens} output tokens; "
                    f"trying again with {min(cap, max_tokens * 2)}"
                )
                max_tokens = min(cap, max_tokens * 2)
                continue
            log.error = (
                f"the answer was cut off at {max_tokens} output tokens (stop_reason max_tokens). "
                "Raise BRIGHTRUN_MAX_TOKENS, or plan a shorter conversation for this scenario."
            )
            return GenerationResult(False, None, None, attempts, reason=log.error, cause="truncated")

        problems: list[str]
        report: QualityReport | None = None
        conv: Conversation | None = None
        if response.outcome == "malformed" or response.parsed is None:
            problems = ["your answer did not match the response schema: " + (response.parse_error or "no JSON found")]
        else:
            try:
                conv = Conversation(
                    id=conversation_id or new_conversation_id(),
                    dataset=dataset,
                    # the situation as this conversation has it: its facts varied by the variation seed
                    scenario=scenario.model_copy(update={"context": plan.parameters.get("context", scenario.context)}),
                    system_prompt=plan.training_system_prompt,
                    turns=response.parsed.to_turns(),
                    arc=response.parsed.arc(),
                    provenance=Provenance(
                        source="generated",
                        model=response.model,
                        template_name=plan.template.name,
                        template_version=plan.template.version,
                        template_sha256=plan.template.sha256,
                        parameters=params,
                    ),
                    training=TrainingFlags(),
                )
            except ValueError as exc:  # e.g. no user turns: nothing to build an arc from
                problems = ["the conversation cannot be used: " + str(exc).splitlines()[0]]
            else:
                report = check_conversation(conv, tax)
                problems = [c.name + ": " + c.reason for c in report.failures]

        if not problems and conv is not None and report is not None:
            log.outcome = "ok" if n == 0 else "repaired"
            result = GenerationResult(True, conv, report, attempts)
            conv.quality = report.to_quality(conv.quality)
            conv.provenance.usage = result.usage
            conv.provenance.cost_usd = round(result.cost_usd, 6)
            return result

        last_problems = problems
        log.error = "; ".join(problems)
        unfixable = [c for c in report.failures if c not in report.repairable_failures] if report else []
        if unfixable or last_round:
            what = "quality checks" if report else "the response schema"
            reason = (
                f"the conversation still failed {what} after {n + 1} attempt(s): "
                + "; ".join(last_problems)
                + ". Generate again, or regenerate with feedback that addresses these problems."
            )
            cause = checks_cause(c.name for c in report.failures) if report else "schema"
            return GenerationResult(False, None, report, attempts, reason=reason, cause=cause)
        messages = [
            *messages,
            {"role": "assistant", "content": response.text.strip() or "(no answer)"},
            {"role": "user", "content": render_repair(problems, templates)},
        ]

    raise AssertionError("unreachable: the loop returns on its last round")


# ---- with the database ----------------------------------------------------------------------
def scenario_from_row(row: Mapping[str, Any]) -> ScenarioDimensions:
    return ScenarioDimensions(**{k: row.get(k) for k in SCENARIO_FIELDS})


def feedback_for(store: Store, scenario_id: int, notes: str | Feedback, tax: Taxonomy) -> Feedback:
    if isinstance(notes, Feedback):
        return notes
    versions = store.conversation_versions(scenario_id)
    previous = versions[0] if versions else None
    failed: tuple[CheckResult, ...] = ()
    if previous is not None:
        failed = tuple(check_conversation(previous, tax).failures)
    return Feedback(notes=notes, failed_checks=failed, previous=previous)


async def agenerate_one(
    store: Store,
    scenario_id: int,
    *,
    settings: Settings | LLMSettings | None = None,
    feedback: str | Feedback | None = None,
    job_item_id: int | None = None,
    job_id: int | None = None,
    llm: LLMClient | None = None,
    tax: Taxonomy | None = None,
    seeds: Sequence[Conversation] | None = None,
    repair_attempts: int | None = None,
    worker: str | None = None,
    initial: LLMResponse | None = None,
) -> GenerationResult:
    """generate_one for callers that already run an event loop (the worker): pass a shared `llm`,
    `tax` and `seeds` to skip loading them for every scenario. `initial`: a Message Batches result
    for this scenario, validated (and repaired with the normal API) like a live answer."""
    from lib.core.seeds import load_seeds
    from lib.core.taxonomy import load_taxonomy

    tax = tax or load_taxonomy()
    if seeds is None:
        # The seed examples live in the database (a reviewer may mark more); the files are the fallback.
        seeds = store.seed_examples() or load_seeds().conversations
    if repair_attempts is None:
        repair_attempts = DEFAULT_REPAIR_ATTEMPTS
    row = store.get_scenario(scenario_id)
    if row is None:
        raise LookupError(f"scenario #{scenario_id} does not exist; refresh the scenario table")
    scenario = scenario_from_row(row)
    fb = feedback_for(store, scenario_id, feedback, tax) if feedback is not None else None
    source = source_for(row, store.get_conversation)

    owns_client = llm is None
    if llm is None:
        try:
            llm = LLMClient(LLMSettings.from_settings(settings))
        except LLMError as exc:  # no key: nothing was sent, nothing changes but the item
            result = GenerationResult(False, None, None, [], reason=exc.message, fatal=exc.fatal, cause=exc.cause)
            if job_item_id is not None:
                store.fail_item(job_item_id, exc.message, worker=worker, retry=True, cause=exc.cause)
            return result
    secrets = [llm.settings.api_key or ""]
    _register_templates(store, scenario, fb is not None, source is not None)
    if job_item_id is None:
        store.set_scenario_status(scenario_id, "generating")
    try:
        result = await generate_conversation(
            scenario,
            llm=llm,
            tax=tax,
            seeds=seeds,
            repair_attempts=repair_attempts,
            feedback=fb,
            initial=initial,
            # a job item draws the same person for its realtime call and its Message Batches request
            variation_seed=job_item_id,
            source=source,
        )
    except BaseException as exc:
        # A bug or a cancellation: do not leave the scenario "generating" for ever.
        if job_item_id is None:
            store.set_scenario_status(scenario_id, None)
        if not isinstance(exc, Exception):
            raise
        store.log_generation(
            AttemptLog(
                attempt=1,
                purpose="generate",
                outcome="error",
                model=llm.settings.model,
                template=None,
                parameters=scenario.model_dump(mode="json"),
                error=type(exc).__name__ + ": " + str(exc)[:500],
            ).as_row(scenario_id=scenario_id, item_id=job_item_id, job_id=job_id, secrets=secrets)
        )
        raise
    finally:
        if owns_client:
            await llm.aclose()

    if result.ok and result.conversation is not None:
        try:
            result.conversation_id = store.save_generated(
                result.conversation, item_id=job_item_id, scenario_id=scenario_id, worker=worker
            )
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            result.ok = False
            result.cause = "store"
            result.reason = "the conversation was generated but could not be stored: " + str(exc)
            result.attempts[-1].error = result.reason
    if result.ok:
        if job_item_id is None:
            store.set_scenario_status(scenario_id, None)  # None: what its (new) current conversation says
    elif job_item_id is not None:
        usage = result.usage
        # a transient or run-stopping failure goes back in the queue while the item has attempts left
        store.fail_item(
            job_item_id,
            result.reason or "failed",
            worker=worker,
            retry=result.retryable or result.fatal,
            cost_usd=round(result.cost_usd, 6),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cause=result.cause,
        )
    else:
        # an invalid key is not the scenario's fault: leave its status as it was
        store.set_scenario_status(scenario_id, None if result.fatal else "failed")
    for a in result.attempts:
        store.log_generation(a.as_row(scenario_id=scenario_id, item_id=job_item_id, job_id=job_id, secrets=secrets))
    return result


_registered: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _register_templates(store: Store, scenario: ScenarioDimensions, with_feedback: bool, varied: bool) -> None:
    """Record the template versions used (prompt_templates), once per store and version, before
    saving: save_generated links the conversation to its tier template's row."""
    try:
        done = _registered.setdefault(store, set())
    except TypeError:  # a store that cannot be weakly referenced: register every time
        done = set()
    for t in _templates_used(scenario, with_feedback, varied):
        if t.sha256 in done:
            continue
        store.register_prompt_template(
            t.name, t.version, t.sha256, t.path.read_text(encoding="utf-8"), tier=t.tier if t.tier != "all" else None
        )
        done.add(t.sha256)


def generate_one(
    store: Store,
    scenario_id: int,
    *,
    settings: Settings | LLMSettings | None = None,
    feedback: str | Feedback | None = None,
    job_item_id: int | None = None,
    **kwargs: Any,
) -> GenerationResult:
    """Generate (or, with feedback, regenerate) the conversation of one scenario and store it.
    Returns the result; `result.fatal` means stop generating anything else (e.g. an invalid key)."""
    return asyncio.run(
        agenerate_one(store, scenario_id, settings=settings, feedback=feedback, job_item_id=job_item_id, **kwargs)
    )


def _templates_used(scenario: ScenarioDimensions, with_feedback: bool, varied: bool = False) -> list[PromptTemplate]:
    from lib.generation.templates import TIER_TEMPLATES, default_templates

    templates = default_templates()
    names = ["system", TIER_TEMPLATES[scenario.tier], "repair"] + (["feedback"] if with_feedback else [])
    names += ["variation"] if varied else []
    return [templates[n] for n in names]
