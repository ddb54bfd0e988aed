"""The validation and repair loop, error handling, logging, and generate_one, with the fake server."""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from lib.core.redaction import redact
from lib.generation.attempts import dumps_row
from lib.generation.engine import GenerationResult, generate_conversation, generate_one
from lib.generation.llm import LLMClient, LLMSettings
from lib.generation.response import response_from_body
from lib.core.models import CheckResult, Conversation, ScenarioDimensions
from lib.generation.prompting import Feedback
from lib.core.taxonomy import Taxonomy
from lib.core.validation import CHECKS
from tests.fake_anthropic import Behaviour, FakeAnthropic


@pytest.fixture
def fake(tax: Taxonomy) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(tax) as server:
        yield server


def settings_for(fake: FakeAnthropic, **kw: Any) -> LLMSettings:
    values: dict[str, Any] = dict(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01,
                                  backoff_max_s=0.05, retry_after_cap_s=0.3, timeout_s=5.0, max_retries=2)
    values.update(kw)
    return LLMSettings(**values)


def template_scenario() -> ScenarioDimensions:
    return ScenarioDimensions(tier="template", persona="anxious_first_time_investor", emotional_arc="struggle_to_success",
                              topic="first_portfolio", intent="understand_options", tone="professional",
                              outcome_type="action_plan")


def scenario_of_each_tier(tax: Taxonomy) -> list[ScenarioDimensions]:
    ctx, edge = tax.scenario_contexts[0], tax.edge_cases[0]
    return [
        template_scenario(),
        ScenarioDimensions(tier="scenario", persona=ctx.personas[0], emotional_arc=ctx.arcs[0], topic=ctx.topics[0],
                           intent="make_decision", tone="professional", outcome_type="action_plan",
                           context_id=ctx.id, context=ctx.context),
        ScenarioDimensions(tier="edge_case", persona=edge.personas[0], emotional_arc=edge.arcs[0],
                           topic=edge.topics[0], intent="decision_support", tone="urgent", outcome_type="referral",
                           context_id=edge.id, context=edge.context),
    ]


def run(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation], sc: ScenarioDimensions | None = None, *,
        settings: LLMSettings | None = None, **kw: Any) -> GenerationResult:
    async def go() -> GenerationResult:
        async with LLMClient(settings or settings_for(fake)) as llm:
            return await generate_conversation(sc or template_scenario(), llm=llm, tax=tax,
                                               seeds=list(seeds.values()), **kw)
    return asyncio.run(go())


# ---- the happy path -------------------------------------------------------------------------
def test_each_tier_yields_a_valid_conversation(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    for sc in scenario_of_each_tier(tax):
        result = run(fake, tax, seeds, sc)
        assert result.ok, result.reason
        conv = result.conversation
        assert conv is not None and result.report is not None and result.report.passed
        # the scenario as written, with the context's facts as this conversation's seed varied them
        assert conv.scenario.model_copy(update={"context": sc.context}) == sc and conv.quality.score == 10
        assert (conv.scenario.context is None) == (sc.context is None) and len(conv.quality.checks) == len(CHECKS)
        assert conv.arc.start.emotion == tax.by_id("arcs")[sc.emotional_arc].start_emotion
        p = conv.provenance
        assert p.source == "generated" and p.model == "claude-sonnet-5-5"
        assert p.template_name == {"template": "tier1_template", "scenario": "tier2_scenario",
                                   "edge_case": "tier3_edge_case"}[sc.tier]
        assert p.template_version == "1.1.0" and len(p.template_sha256 or "") == 64
        assert p.usage == result.usage and p.cost_usd == pytest.approx(result.cost_usd, abs=1e-6)
        assert p.parameters["persona"] == sc.persona and p.parameters["seed_example_id"]
        assert conv.system_prompt == seeds["seed-01"].system_prompt
        assert [a.outcome for a in result.attempts] == ["ok"]
        Conversation.model_validate(conv.model_dump(mode="json"))  # a valid dataset document


def test_the_second_request_reads_the_cached_system_prompt(fake: FakeAnthropic, tax: Taxonomy,
                                                           seeds: dict[str, Conversation]) -> None:
    # two people, one example (the seed draws the example among the tier's; 1 and 6 draw the same one)
    first = run(fake, tax, seeds, variation_seed=1)
    second = run(fake, tax, seeds, template_scenario().model_copy(update={"persona": "gig_worker"}), variation_seed=6)
    assert first.conversation is not None and second.conversation is not None
    assert first.conversation.provenance.parameters["seed_example_id"] == second.conversation.provenance.parameters[
        "seed_example_id"]
    assert first.conversation.turns[0].text != second.conversation.turns[0].text
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.cost_usd < first.cost_usd


# ---- repair ---------------------------------------------------------------------------------
def test_malformed_json_is_repaired(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script("malformed")
    result = run(fake, tax, seeds)
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert [a.purpose for a in result.attempts] == ["generate", "repair"]
    repair = fake.message_requests()[1].body["messages"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert repair[1]["content"] == json.loads(result.attempts[0].raw_response)["content"][0]["text"]
    assert "<problems>" in repair[2]["content"] and "not valid JSON" in repair[2]["content"]
    # both calls are paid for, and the conversation carries the total
    assert result.conversation.provenance.cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts), abs=1e-6)


def test_a_schema_violation_is_repaired(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script("schema_violation")
    result = run(fake, tax, seeds)
    assert result.ok and len(result.attempts) == 2
    assert "turns[1].strategies: Field required" in fake.message_requests()[1].body["messages"][2]["content"]


@pytest.mark.parametrize("kind, check", [("unknown_label", "known_labels"), ("too_few_turns", "turn_count"),
                                         ("wrong_arc", "arc_realized")])
def test_repairable_quality_failures_are_sent_back(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation],
                                                  kind: str, check: str) -> None:
    fake.script(kind)
    result = run(fake, tax, seeds)
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert check in (result.attempts[0].error or "")
    assert "- " + check + ":" in fake.message_requests()[1].body["messages"][2]["content"]


def test_repair_gives_up_after_n_attempts_with_every_attempt_logged(fake: FakeAnthropic, tax: Taxonomy,
                                                                    seeds: dict[str, Conversation]) -> None:
    fake.default = "unknown_label"
    result = run(fake, tax, seeds)
    assert not result.ok and result.conversation is None and len(result.attempts) == 3  # 1 + 2 repairs
    assert all(a.outcome == "invalid" for a in result.attempts)
    assert "after 3 attempt(s)" in (result.reason or "") and "known_labels" in (result.reason or "")
    assert result.report is not None and not result.report.passed


def test_the_number_of_repairs_is_configurable(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.default = "too_few_turns"
    assert len(run(fake, tax, seeds, repair_attempts=0).attempts) == 1
    assert len(run(fake, tax, seeds, repair_attempts=4).attempts) == 5


# ---- stop reasons ---------------------------------------------------------------------------
def test_max_tokens_is_retried_with_more_room(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script("max_tokens")
    result = run(fake, tax, seeds)
    assert result.ok and [a.outcome for a in result.attempts] == ["truncated", "repaired"]
    assert [r.body["max_tokens"] for r in fake.message_requests()] == [16000, 32000]
    assert len(fake.message_requests()[1].body["messages"]) == 1  # the same request, more room


def test_max_tokens_at_the_cap_fails_with_what_to_do(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.default = "max_tokens"
    result = run(fake, tax, seeds, settings=settings_for(fake, max_tokens=8000, max_tokens_cap=16000))
    assert not result.ok and [a.outcome for a in result.attempts] == ["truncated", "truncated"]
    assert "cut off at 16000 output tokens" in (result.reason or "") and "BRIGHTRUN_MAX_TOKENS" in (result.reason or "")


def test_a_refusal_fails_with_its_reason_and_is_not_retried(fake: FakeAnthropic, tax: Taxonomy,
                                                            seeds: dict[str, Conversation]) -> None:
    fake.script("refusal")
    result = run(fake, tax, seeds)
    assert not result.ok and not result.fatal and len(fake.message_requests()) == 1
    assert result.attempts[0].outcome == "refused" and result.attempts[0].stop_reason == "refusal"
    assert "declined" in (result.reason or "") and "will not write" in (result.reason or "")


# ---- API errors -----------------------------------------------------------------------------
def test_429_with_retry_after_then_success(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script(Behaviour("rate_limit", retry_after="0.1"), "valid")
    result = run(fake, tax, seeds)
    assert result.ok and len(result.attempts) == 1
    tries = result.attempts[0].parameters["tries"]
    assert [t["status"] for t in tries] == [429, 200] and tries[0]["retry_after"] == "0.1"
    assert tries[0]["waited_s"] == pytest.approx(0.1)


@pytest.mark.parametrize("kind, outcome", [("overloaded", "overloaded"), ("server_error", "error"),
                                           ("rate_limit", "rate_limited")])
def test_transient_errors_that_persist_fail_as_retryable(fake: FakeAnthropic, tax: Taxonomy,
                                                         seeds: dict[str, Conversation], kind: str, outcome: str) -> None:
    fake.default = Behaviour(kind, retry_after="0")
    result = run(fake, tax, seeds)
    assert not result.ok and result.retryable and not result.fatal
    assert len(fake.message_requests()) == 3 and result.attempts[0].outcome == outcome
    assert "retry this scenario later" in (result.reason or "")


def test_transient_errors_then_success(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script("overloaded", "server_error", "valid")
    assert run(fake, tax, seeds).ok


def test_a_slow_answer_times_out_then_succeeds(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script(Behaviour("slow", delay=1.2), "valid")
    result = run(fake, tax, seeds, settings=settings_for(fake, timeout_s=0.4))
    assert result.ok and result.attempts[0].parameters["tries"][0]["error"] == "timed out"


def test_timeouts_that_persist_are_logged_as_timeouts(fake: FakeAnthropic, tax: Taxonomy,
                                                      seeds: dict[str, Conversation]) -> None:
    fake.default = Behaviour("slow", delay=1.0)
    result = run(fake, tax, seeds, settings=settings_for(fake, timeout_s=0.2, max_retries=1))
    assert not result.ok and result.retryable and result.attempts[0].outcome == "timeout"


@pytest.mark.parametrize("kind", ["unauthorized", "forbidden"])
def test_an_invalid_key_stops_everything(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation],
                                         kind: str) -> None:
    fake.script(kind)
    result = run(fake, tax, seeds)
    assert not result.ok and result.fatal and "the API key is invalid" in (result.reason or "")
    assert len(fake.message_requests()) == 1 and result.attempts[0].http_status in (401, 403)


# ---- feedback -------------------------------------------------------------------------------
def test_feedback_goes_into_the_prompt(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    previous = seeds["seed-01"]
    fb = Feedback(notes='Turn 3 is pushy. Mention the "$1,000" {start} amount. </reviewer_notes>',
                  failed_checks=(CheckResult(name="lengths", passed=False, reason="turn 5 has 300 words"),),
                  previous=previous)
    result = run(fake, tax, seeds, feedback=fb)
    assert result.ok
    prompt = fake.message_requests()[0].body["messages"][0]["content"]
    assert 'Mention the "$1,000" {start} amount. &lt;/reviewer_notes&gt;' in prompt
    assert "lengths: turn 5 has 300 words" in prompt and previous.turns[0].text[:50] in prompt
    fb_params = result.conversation.provenance.parameters["feedback"]
    assert fb_params["previous_conversation_id"] == "seed-01" and fb_params["failed_checks"] == ["lengths"]


# ---- logs -----------------------------------------------------------------------------------
def test_every_attempt_is_a_complete_log_row(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    fake.script("malformed")
    result = run(fake, tax, seeds)
    for a in result.attempts:
        row = a.as_row(scenario_id=7, item_id=None)
        assert row["scenario_id"] == 7 and row["template_name"] == "tier1_template"
        assert row["template_version"] == "1.1.0" and len(row["template_sha256"]) == 64
        assert row["model"] == "claude-sonnet-5-5" and row["raw_response"]
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["cost_usd"] > 0
        assert row["duration_ms"] >= 0 and row["outcome"] in ("invalid", "repaired")
        assert row["parameters"]["persona"] == "anxious_first_time_investor"
        assert row["parameters"]["system_template"]["sha256"]
        json.loads(dumps_row(row))


def test_no_log_row_holds_the_key(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    key = fake.api_key

    def echo_headers(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        # a misbehaving proxy that echoes the request's auth header in its error message
        headers = fake.requests[-1].headers
        sent = headers.get("x-api-key") or headers.get("authorization", "")
        return 400, {}, {"type": "error", "error": {"type": "invalid_request_error",
                                                    "message": "bad credentials " + sent + " in " + json.dumps(headers)}}

    rows = []
    for script in (["valid"], ["malformed"], ["unauthorized"], ["refusal"], [Behaviour("rate_limit", retry_after="0"),
                   "valid"], [echo_headers]):
        fake.script(*script)
        result = run(fake, tax, seeds)
        rows += [a.as_row(scenario_id=1, secrets=[key]) for a in result.attempts]
        if result.conversation is not None:
            assert key not in result.conversation.model_dump_json()
    assert any(key in json.dumps(r.headers) for r in fake.requests)  # the key did travel to the server
    assert len(rows) >= 7
    for row in rows:
        assert key not in dumps_row(row)
    assert "[redacted]" in dumps_row(rows[-1])


def test_redact_walks_nested_values() -> None:
    secret = "fake-ak-secret-123456"
    value = {"a": [secret, {"b": "x" + secret + "y"}], "c": 3}
    assert redact(value, [secret]) == {"a": ["[redacted]", {"b": "x[redacted]y"}], "c": 3}


# ---- batch results enter the same path -------------------------------------------------------
def test_a_batch_result_is_validated_and_repaired_like_a_live_answer(fake: FakeAnthropic, tax: Taxonomy,
                                                                     seeds: dict[str, Conversation]) -> None:
    s = settings_for(fake)
    status, _, message = fake.answer({"model": s.model, "messages": [{"role": "user", "content": (
        "<persona>anxious_first_time_investor</persona><emotional_arc>struggle_to_success</emotional_arc>"
        "<topic>first_portfolio</topic><target_turns>10</target_turns>")}]}, "too_few_turns", batch=True)
    initial = response_from_body(message, settings=s, requested_model=s.model, batch=True)
    result = run(fake, tax, seeds, settings=s, initial=initial)
    assert result.ok and [a.outcome for a in result.attempts] == ["invalid", "repaired"]
    assert result.attempts[0].parameters["source"] == "batch" and len(fake.message_requests()) == 1


# ---- generate_one with a store ----------------------------------------------------------------
class MemoryStore:
    """The few Store methods generate_one uses, in memory (the real store is tested in test_generation_db)."""

    def __init__(self, scenarios: dict[int, ScenarioDimensions]) -> None:
        self.scenarios = {i: {**s.model_dump(), "id": i, "status": "not_generated"} for i, s in scenarios.items()}
        self.conversations: dict[int, list[Conversation]] = {}
        self.logs: list[dict[str, Any]] = []
        self.templates: list[tuple[str, str, str]] = []
        self.failed_items: list[tuple[int, str, bool]] = []
        self.statuses: list[tuple[int, str | None]] = []

    def get_scenario(self, scenario_id: int) -> dict[str, Any] | None:
        return self.scenarios.get(scenario_id)

    def conversation_versions(self, scenario_id: int) -> list[Conversation]:
        return list(reversed(self.conversations.get(scenario_id, [])))

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return next((c for cs in self.conversations.values() for c in cs if c.id == conversation_id), None)

    def register_prompt_template(self, name: str, version: str, sha256: str, body: str, tier: str | None = None) -> int:
        self.templates.append((name, version, sha256))
        return len(self.templates)

    def set_scenario_status(self, scenario_id: int, status: str | None) -> str:
        self.statuses.append((scenario_id, status))
        new = status or ("generated" if self.conversations.get(scenario_id) else "not_generated")
        self.scenarios[scenario_id]["status"] = new
        return new

    def save_generated(self, conversation: Conversation, *, item_id: int | None = None, scenario_id: int | None = None,
                       worker: str | None = None, metadata: Any = None) -> str:
        assert scenario_id is not None
        self.conversations.setdefault(scenario_id, []).append(conversation)
        return conversation.id

    def fail_item(self, item_id: int, error: str, *, worker: str | None = None, retry: bool = False,
                  cost_usd: float = 0.0, input_tokens: int = 0, output_tokens: int = 0,
                  cause: str | None = None) -> str:
        self.failed_items.append((item_id, error, retry))
        return "pending" if retry else "failed"

    def log_generation(self, row: dict[str, Any]) -> int:
        self.logs.append(dict(row))
        return len(self.logs)


def test_generate_one_stores_logs_and_sets_the_status(fake: FakeAnthropic, tax: Taxonomy,
                                                      seeds: dict[str, Conversation]) -> None:
    store = MemoryStore(dict(enumerate(scenario_of_each_tier(tax), start=1)))
    s = settings_for(fake)
    for sid in (1, 2, 3):
        result = generate_one(store, sid, settings=s, tax=tax, seeds=list(seeds.values()))
        assert result.ok and result.conversation_id == result.conversation.id
        assert store.scenarios[sid]["status"] == "generated"
    assert [st for st in store.statuses if st[0] == 1] == [(1, "generating"), (1, None)]
    assert len(store.logs) == 3 and {r["outcome"] for r in store.logs} == {"ok"}
    assert ("tier1_template", "1.1.0") in [(n, v) for n, v, _ in store.templates]
    fake.script("overloaded", "overloaded", "overloaded")
    failed = generate_one(store, 1, settings=s, tax=tax, seeds=list(seeds.values()))
    assert not failed.ok and store.scenarios[1]["status"] == "failed"
    fake.script("unauthorized")
    failed = generate_one(store, 2, settings=s, tax=tax, seeds=list(seeds.values()), job_item_id=42)
    assert failed.fatal and store.failed_items == [(42, failed.reason, True)]
    for row in store.logs:
        assert fake.api_key not in dumps_row(row)


def test_generate_one_with_feedback_makes_a_new_version(fake: FakeAnthropic, tax: Taxonomy,
                                                        seeds: dict[str, Conversation]) -> None:
    store = MemoryStore({1: template_scenario()})
    s = settings_for(fake)
    first = generate_one(store, 1, settings=s, tax=tax, seeds=list(seeds.values()))
    second = generate_one(store, 1, settings=s, tax=tax, seeds=list(seeds.values()), feedback="Slow down in turn 2.")
    assert first.ok and second.ok and first.conversation_id != second.conversation_id
    assert len(store.conversations[1]) == 2
    prompt = fake.message_requests()[-1].body["messages"][0]["content"]
    assert "<reviewer_notes>Slow down in turn 2.</reviewer_notes>" in prompt
    assert second.conversation.provenance.parameters["feedback"]["previous_conversation_id"] == first.conversation_id
    assert ("feedback", "1.0.0") in [(n, v) for n, v, _ in store.templates]


def test_generate_one_names_a_missing_scenario(fake: FakeAnthropic, tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    with pytest.raises(LookupError, match="scenario #99"):
        generate_one(MemoryStore({}), 99, settings=settings_for(fake), tax=tax, seeds=list(seeds.values()))


# ---- live ------------------------------------------------------------------------------------
@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="ANTHROPIC_API_KEY is not set")
def test_live_generates_one_valid_conversation(tax: Taxonomy, seeds: dict[str, Conversation]) -> None:
    settings = LLMSettings.from_settings(None)

    async def go() -> GenerationResult:
        async with LLMClient(settings) as llm:
            return await generate_conversation(template_scenario(), llm=llm, tax=tax, seeds=list(seeds.values()))
    result = asyncio.run(go())
    assert result.ok, result.reason
    assert result.report is not None and result.report.passed
    assert result.usage.output_tokens > 0 and result.cost_usd > 0


def test_a_prompt_that_cannot_be_built_is_logged_and_sends_nothing(fake: FakeAnthropic, tax: Taxonomy,
                                                                    seeds: dict[str, Conversation]) -> None:
    sc = template_scenario().model_copy(update={"persona": "nobody"})
    result = run(fake, tax, seeds, sc)
    assert not result.ok and result.cause == "prompt" and "persona 'nobody'" in (result.reason or "")
    [attempt] = result.attempts
    assert (attempt.purpose, attempt.outcome, attempt.template) == ("generate", "error", None)
    assert attempt.parameters["persona"] == "nobody" and attempt.error == result.reason
    assert not fake.requests
