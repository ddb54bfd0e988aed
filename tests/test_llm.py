"""lib/llm.py against the fake Anthropic server, driven by the real SDK through base_url."""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from pydantic import SecretStr

from lib.config import Settings
from lib.core.models import Usage
from lib.core.taxonomy import Taxonomy
from lib.generation.llm import (
    DEFAULT_MODEL,
    InvalidApiKey,
    LLMClient,
    LLMRequestRejected,
    LLMSettings,
    LLMUnavailable,
    MissingApiKey,
    ModelNotFound,
    retry_delay,
)
from lib.generation.pricing import PriceError, load_prices
from lib.generation.ratelimit import parse_retry_after
from lib.generation.response import LLMResponse, response_from_body
from tests.fake_anthropic import Behaviour, FakeAnthropic

SYSTEM = "You write training conversations. " * 400  # long enough to be cached (>= 1024 tokens)
USER = ("Write one conversation.\n<persona>anxious_first_time_investor</persona>\n"
        "<emotional_arc>struggle_to_success</emotional_arc>\n<topic>first_portfolio</topic>\n"
        "<target_turns>10</target_turns>")
MESSAGES = [{"role": "user", "content": USER}]


@pytest.fixture
def fake(tax: Taxonomy) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(tax) as server:
        yield server


def settings_for(fake: FakeAnthropic, **kw: Any) -> LLMSettings:
    values: dict[str, Any] = dict(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01,
                                  backoff_max_s=0.05, retry_after_cap_s=0.5, timeout_s=5.0)
    values.update(kw)
    return LLMSettings(**values)


def call(settings: LLMSettings, messages: list[dict[str, Any]] = MESSAGES, **kw: Any) -> LLMResponse:
    async def go() -> LLMResponse:
        async with LLMClient(settings) as llm:
            return await llm.generate(SYSTEM, messages, **kw)
    return asyncio.run(go())


# ---- the model ------------------------------------------------------------------------------
def test_default_model_is_the_newest_sonnet_the_price_table_lists() -> None:
    # The project's own record, config/prices.yaml, not the installed SDK's model list: that list
    # changes with every SDK release, and a fresh install must pass the same tests.
    prices = load_prices()
    assert DEFAULT_MODEL in prices.models  # priced under its own id, not through a prefix
    sonnets = [m for m in prices.models if re.fullmatch(r"claude-sonnet-\d+(-\d+)?", m)]
    assert "claude-sonnet-4-5" in sonnets
    newest = max(sonnets, key=lambda m: tuple(int(n) for n in m.removeprefix("claude-sonnet-").split("-")))
    assert newest == DEFAULT_MODEL
    assert Settings().model == DEFAULT_MODEL == LLMSettings(prices=prices).model


def test_model_comes_from_settings(fake: FakeAnthropic) -> None:
    resp = call(settings_for(fake, model="claude-haiku-4-5"))
    assert fake.message_requests()[0].body["model"] == "claude-haiku-4-5"
    assert resp.model == "claude-haiku-4-5" and resp.priced


# ---- prices and cost ------------------------------------------------------------------------
def test_cost_arithmetic_with_cache_writes_and_reads() -> None:
    prices = load_prices()
    p = prices.price_for("claude-sonnet-5-5")
    assert p is not None and (p.input, p.output, p.cache_write_5m, p.cache_read) == (2.0, 10.0, 2.5, 0.1)
    first = Usage(input_tokens=1_000, output_tokens=2_000, cache_creation_input_tokens=10_000)
    again = Usage(input_tokens=1_000, output_tokens=2_000, cache_read_input_tokens=10_000)
    # 1,000 x $2 + 2,000 x $10 + 10,000 x $2.50 (write) = $0.047 ; with a read instead: + 10,000 x $0.10
    assert prices.cost(first, "claude-sonnet-5-5") == pytest.approx(0.047)
    assert prices.cost(again, "claude-sonnet-5-5") == pytest.approx(0.023)
    # without caching the 10,000 system tokens are plain input
    plain = Usage(input_tokens=11_000, output_tokens=2_000)
    assert prices.cost(plain, "claude-sonnet-5-5") == pytest.approx(0.042)
    # the batch API halves every rate, cache rates included
    assert prices.cost(again, "claude-sonnet-5-5", batch=True) == pytest.approx(0.0115)
    # one-hour cache writes cost 2x input
    assert prices.cost(first, "claude-sonnet-5-5", cache_write_1h_tokens=10_000) == pytest.approx(0.062)


def test_price_lookup_and_overrides(tmp_path: Path) -> None:
    prices = load_prices()
    assert prices.price_for("claude-sonnet-4-5-20250929") == prices.price_for("claude-sonnet-4-5")
    assert prices.price_for("some-local-model") is None
    assert prices.cost(Usage(input_tokens=5), "some-local-model") is None
    custom = load_prices(overrides={"claude-sonnet-5-5": {"cache_read": 0.2},
                                    "my-model": {"input": 1, "output": 2, "cache_write_5m": 1.25,
                                                 "cache_write_1h": 2, "cache_read": 0.1}})
    assert custom.price_for("claude-sonnet-5-5").cache_read == 0.2
    assert custom.price_for("claude-sonnet-5-5").input == 2.0
    assert custom.cost(Usage(input_tokens=1_000_000), "my-model") == pytest.approx(1.0)
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  m: {input: 1}\n")
    with pytest.raises(PriceError, match=r"models\.m"):
        load_prices(bad)
    with pytest.raises(PriceError, match="cannot read"):
        load_prices(tmp_path / "missing.yaml")


def test_cost_of_a_call_is_recorded_with_its_cache_usage(fake: FakeAnthropic) -> None:
    s = settings_for(fake)
    first, second = call(s), call(s)
    assert first.usage.cache_creation_input_tokens > 1024 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    for r in (first, second):
        assert r.cost_usd == pytest.approx(s.prices.cost(r.usage, DEFAULT_MODEL))
    assert second.cost_usd < first.cost_usd


# ---- settings and the endpoint --------------------------------------------------------------
def test_settings_honour_the_environment(monkeypatch: pytest.MonkeyPatch, fake: FakeAnthropic, tmp_path: Path) -> None:
    monkeypatch.setattr("lib.config.SECRETS_FILE", tmp_path / "no-secrets.toml")
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.delenv("BRIGHTRUN_MODEL", raising=False)
    s = LLMSettings.from_settings(None)
    assert s.api_key == fake.api_key and s.base_url == fake.url and s.model == DEFAULT_MODEL
    assert fake.api_key not in repr(s)
    resp = call(s)  # reaches the fake through ANTHROPIC_BASE_URL
    assert resp.parsed is not None and fake.message_requests()


def test_settings_read_the_app_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-ak-from-the-environment")  # a Settings built in code ignores it

    app = Settings(anthropic_api_key=SecretStr("fake-ak-from-settings-123456"), anthropic_base_url="http://127.0.0.1:9",
                   model="claude-opus-5")
    s = LLMSettings.from_settings(app, max_retries=1)
    assert (s.api_key, s.base_url, s.model, s.max_retries) == ("fake-ak-from-settings-123456", "http://127.0.0.1:9",
                                                               "claude-opus-5", 1)
    assert "fake-ak-from-settings" not in repr(s)


def test_no_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingApiKey, match="ANTHROPIC_API_KEY"):
        LLMClient(LLMSettings(api_key=None))


# ---- the request ----------------------------------------------------------------------------
def test_request_is_structured_and_caches_the_system_prompt(fake: FakeAnthropic) -> None:
    resp = call(settings_for(fake, effort="medium"))
    body = fake.message_requests()[0].body
    assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert "turns" in body["output_config"]["format"]["schema"]["properties"]
    assert body["output_config"]["effort"] == "medium"
    assert "temperature" not in body  # Sonnet 5.x rejects non-default sampling parameters
    assert resp.outcome == "parsed" and resp.parsed is not None and len(resp.parsed.turns) == 10
    assert resp.stop_reason == "end_turn" and resp.request_id and resp.request_id.startswith("req_fake_")
    assert resp.rate_limits["anthropic-ratelimit-requests-limit"] == "50"
    assert json.loads(resp.raw_body)["usage"]["output_tokens"] == resp.usage.output_tokens


def test_request_params_for_a_batch_match_a_live_call(fake: FakeAnthropic) -> None:
    s = settings_for(fake)
    llm = LLMClient(s)
    params = llm.request_params(SYSTEM, MESSAGES)
    asyncio.run(llm.aclose())
    call(s)
    live = fake.message_requests()[0].body
    assert params == live


# ---- answers that are not a conversation ----------------------------------------------------
def test_malformed_output_is_returned_for_repair(fake: FakeAnthropic) -> None:
    fake.script("malformed")
    resp = call(settings_for(fake))
    assert resp.outcome == "malformed" and resp.parsed is None
    assert "not valid JSON" in (resp.parse_error or "")
    assert resp.usage.output_tokens > 0 and resp.cost_usd > 0 and resp.raw_body


def test_schema_violation_names_the_field(fake: FakeAnthropic) -> None:
    fake.script("schema_violation")
    resp = call(settings_for(fake))
    assert resp.outcome == "malformed" and "turns[1].strategies: Field required" in (resp.parse_error or "")


def test_refusal_and_max_tokens_are_reported(fake: FakeAnthropic) -> None:
    fake.script("refusal", "max_tokens")
    refused = call(settings_for(fake))
    assert refused.outcome == "refusal" and "will not write" in (refused.refusal or "")
    cut = call(settings_for(fake))
    assert cut.outcome == "max_tokens" and cut.parsed is None and cut.parse_error is None


# ---- retries --------------------------------------------------------------------------------
def test_429_honours_retry_after(fake: FakeAnthropic) -> None:
    fake.script(Behaviour("rate_limit", retry_after="0.2"), "valid")
    t0 = time.monotonic()
    resp = call(settings_for(fake))
    assert resp.parsed is not None and time.monotonic() - t0 >= 0.2
    assert [t.status for t in resp.tries] == [429, 200]
    assert resp.tries[0].waited_s == pytest.approx(0.2) and resp.tries[0].retry_after == "0.2"


def test_an_absurd_retry_after_is_capped(fake: FakeAnthropic) -> None:
    fake.script(Behaviour("rate_limit", retry_after="86400"), "valid")
    resp = call(settings_for(fake, retry_after_cap_s=0.3))
    assert resp.parsed is not None
    assert resp.tries[0].waited_s == pytest.approx(0.3)


@pytest.mark.parametrize("kind, status", [("overloaded", 529), ("server_error", 500)])
def test_529_and_500_are_retried(fake: FakeAnthropic, kind: str, status: int) -> None:
    fake.script(kind, kind, "valid")
    resp = call(settings_for(fake))
    assert resp.parsed is not None and [t.status for t in resp.tries] == [status, status, 200]
    waits = [t.waited_s for t in resp.tries[:2]]
    assert all(w > 0 for w in waits)


def test_retries_run_out_with_a_clear_error(fake: FakeAnthropic) -> None:
    fake.default = "overloaded"
    with pytest.raises(LLMUnavailable) as exc:
        call(settings_for(fake, max_retries=2))
    assert len(fake.message_requests()) == 3 and exc.value.status == 529
    assert "after 3 tries (529, 529, 529)" in exc.value.message and not exc.value.fatal


def test_a_slow_answer_times_out_and_is_retried(fake: FakeAnthropic) -> None:
    fake.script(Behaviour("slow", delay=1.5), "valid")
    resp = call(settings_for(fake, timeout_s=0.5))
    assert resp.parsed is not None
    assert resp.tries[0].status is None and resp.tries[0].error == "timed out"


def test_a_slow_answer_within_the_timeout_is_fine(fake: FakeAnthropic) -> None:
    fake.script(Behaviour("slow", delay=0.3))
    resp = call(settings_for(fake, timeout_s=5))
    assert resp.parsed is not None and resp.duration_s >= 0.3 and len(resp.tries) == 1


def test_timeouts_run_out(fake: FakeAnthropic) -> None:
    fake.default = Behaviour("slow", delay=1.0)
    with pytest.raises(LLMUnavailable, match="timed out"):
        call(settings_for(fake, timeout_s=0.2, max_retries=1))


@pytest.mark.parametrize("kind", ["unauthorized", "forbidden"])
def test_401_and_403_mean_an_invalid_key_and_stop(fake: FakeAnthropic, kind: str) -> None:
    fake.script(kind)
    with pytest.raises(InvalidApiKey) as exc:
        call(settings_for(fake))
    assert exc.value.fatal and "the API key is invalid" in str(exc.value)
    assert len(fake.message_requests()) == 1  # not retried
    assert fake.api_key not in str(exc.value)


def test_a_wrong_key_is_rejected_by_the_fake(fake: FakeAnthropic) -> None:
    with pytest.raises(InvalidApiKey):
        call(settings_for(fake, api_key="fake-ak-wrong-key-000000"))


def test_unknown_model_and_bad_request_are_not_retried(fake: FakeAnthropic) -> None:
    fake.script("not_found", "bad_request")
    with pytest.raises(ModelNotFound, match="BRIGHTRUN_MODEL") as nf:
        call(settings_for(fake))
    assert nf.value.fatal
    with pytest.raises(LLMRequestRejected, match="400") as br:
        call(settings_for(fake))
    assert not br.value.fatal and len(fake.message_requests()) == 2


# ---- retry-after parsing --------------------------------------------------------------------
def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_retry_delay_caps_and_backs_off() -> None:
    import random

    s = LLMSettings(api_key="x", backoff_base_s=1, backoff_max_s=30, retry_after_cap_s=60)
    assert retry_delay(0, {"retry-after": "86400"}, s) == 60
    assert retry_delay(0, {"retry-after": "3"}, s) == 3
    rng = random.Random(1)
    delays = [retry_delay(n, None, s, rng) for n in range(8)]
    assert 0.75 <= delays[0] <= 1.25 and 1.5 <= delays[1] <= 2.5 and max(delays) <= 30 * 1.25


# ---- Message Batches (for the runner) -------------------------------------------------------
def test_batch_results_go_through_the_same_response_path(fake: FakeAnthropic) -> None:
    fake.batch_behaviour = lambda custom_id, params: {"b": "malformed", "c": "errored"}.get(custom_id, "valid")
    s = settings_for(fake)
    llm = LLMClient(s)
    params = llm.request_params(SYSTEM, MESSAGES)
    asyncio.run(llm.aclose())

    client = anthropic.Anthropic(api_key=fake.api_key, base_url=fake.url, max_retries=0)
    batch = client.messages.batches.create(requests=[{"custom_id": c, "params": params} for c in "abc"])
    assert batch.processing_status == "in_progress"
    batch = client.messages.batches.retrieve(batch.id)
    assert batch.processing_status == "ended" and batch.request_counts.succeeded == 2
    results = {r.custom_id: r for r in client.messages.batches.results(batch.id)}
    assert results["c"].result.type == "errored"
    ok = response_from_body(results["a"].result.message.to_dict(), settings=s, requested_model=s.model, batch=True)
    bad = response_from_body(results["b"].result.message.to_dict(), settings=s, requested_model=s.model, batch=True)
    assert ok.outcome == "parsed" and bad.outcome == "malformed"
    assert ok.cost_usd == pytest.approx(s.prices.cost(ok.usage, s.model) / 2)
    assert [b.id for b in client.messages.batches.list()] == [batch.id]


def test_the_model_is_the_app_settings_model() -> None:
    implicit = Settings.load(env={}, secrets_file=None)
    assert LLMSettings.from_settings(implicit).model == DEFAULT_MODEL
    explicit = Settings.load(env={"BRIGHTRUN_MODEL": "claude-opus-5"}, secrets_file=None)
    assert LLMSettings.from_settings(explicit).model == "claude-opus-5"


def test_max_tokens_and_the_price_table_come_from_the_app_settings(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text("models:\n"
                     "  claude-x: {input: 1, output: 2, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1}\n")
    app = Settings.load(env={"BRIGHTRUN_MAX_TOKENS": "4096", "BRIGHTRUN_PRICES_FILE": str(table)}, secrets_file=None)
    s = LLMSettings.from_settings(app)
    assert s.max_tokens == 4096 and list(s.prices.models) == ["claude-x"]


def test_a_runner_sees_every_try_and_its_rate_limit_headers(fake: FakeAnthropic) -> None:
    seen: list[tuple[int | None, str | None]] = []
    gates = []

    async def gate(params: Any) -> None:
        gates.append(params["max_tokens"])

    async def go() -> LLMResponse:
        llm = LLMClient(settings_for(fake), before_try=gate,
                        on_try=lambda t, h: seen.append((t.status, h.get("anthropic-ratelimit-requests-remaining"))))
        async with llm:
            return await llm.generate(SYSTEM, MESSAGES)

    fake.script(Behaviour("rate_limit", retry_after="0"), "valid")
    asyncio.run(go())
    assert [s for s, _ in seen] == [429, 200] and seen[0][1] == "0" and seen[1][1] not in (None, "0")
    assert len(gates) == 2


def test_an_endpoint_that_is_not_the_messages_api_is_named(fake: FakeAnthropic) -> None:
    fake.script(lambda body: (200, {"content-type": "text/html"}, b"<html>proxy login</html>"))
    with pytest.raises(LLMRequestRejected, match="ANTHROPIC_BASE_URL") as exc:
        call(settings_for(fake))
    assert "proxy login" in exc.value.raw_body
