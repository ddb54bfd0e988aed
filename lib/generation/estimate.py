"""What generating a set of scenarios will cost and take (shown before "Generate all").

- cost: the average cost of the latest generated conversations (repairs included) when there are
  a few, else token counting: the prompt of a sample scenario per tier counted by the API's
  count_tokens endpoint (or 4 characters a token when that fails), with the system prompt written
  to the cache once and read afterwards, and the output estimated from the target turn count;
- time: the measured seconds per conversation, divided over the concurrency, and never faster than
  the account's rate limits allow (the anthropic-ratelimit-* headers last seen);
- batch mode: the same tokens at the batch discount; results within 24 hours (usually far less).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.core.seeds import load_seeds
from lib.core.taxonomy import load_taxonomy
from lib.generation.engine import scenario_from_row
from lib.generation.llm import LLMSettings, TokenCounter
from lib.generation.prompting import build_prompt, target_turns
from lib.generation.ratelimit import DEFAULT_CONCURRENCY, RateLimits

OUTPUT_TOKENS_PER_TURN = 500  # a 16-turn conversation with sentence functions is ~8k output tokens
OUTPUT_TOKENS_PER_SECOND = 60.0  # generation speed assumed before there is any history
MIN_HISTORY = 3  # conversations needed before the measured averages replace token counting
BATCH_TIME = "within 24 h (usually within the hour)"  # how long the Message Batches API takes


@dataclass(frozen=True)
class Estimate:
    count: int
    mode: str
    cost_usd: float
    per_conversation_usd: float
    seconds: float | None        # None: batch mode (up to 24 h)
    basis: str                   # where the figures come from, one line

    def cost_text(self) -> str:
        return f"about ${self.cost_usd:,.2f}" if self.cost_usd >= 0.01 else "under $0.01"

    def time_text(self) -> str:
        if self.seconds is None:
            return BATCH_TIME
        return "about " + duration_text(self.seconds)


def duration_text(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def compact(n: float) -> str:
    """1234 -> '1.2k', 2500000 -> '2.5M'."""
    n = float(n)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{n:.0f}"


_count_cache: dict[tuple[str, str], int] = {}


def _counted(counter: TokenCounter | None, model: str, system: str, user: str) -> tuple[int, bool]:
    """(tokens, counted by the API?) for one prompt; 4 characters a token when counting fails."""
    key = (model, hashlib.sha256((system + "\x00" + user).encode()).hexdigest())
    if key in _count_cache:
        return _count_cache[key], True
    if counter is not None:
        try:
            n = int(counter(system, user))
        except Exception:  # offline, no key, an endpoint without count_tokens: estimate instead
            pass
        else:
            if len(_count_cache) > 256:
                _count_cache.clear()
            _count_cache[key] = n
            return n, True
    return max(1, round(len(system + user) / 4)), False


def estimate_job(store: Any, scenarios: Sequence[Mapping[str, Any]], *, mode: str, llm_settings: LLMSettings,
                 concurrency: int = DEFAULT_CONCURRENCY, tax: Any = None, seeds: Sequence[Any] | None = None,
                 counter: TokenCounter | None = None) -> Estimate:
    """What generating `scenarios` (v_scenarios rows) will cost and take. See the module docstring."""
    n = len(scenarios)
    prices = llm_settings.prices
    discount = prices.batch_discount if mode == "batch" else 0.0
    stats = store.generation_stats(llm_settings.model) if hasattr(store, "generation_stats") else {}
    history = int(stats.get("conversations") or 0)
    calls_per_conv = 1.0
    if stats.get("successes"):
        calls_per_conv = max(1.0, float(stats["calls"]) / float(stats["successes"]))

    out_per_call: float
    if history >= MIN_HISTORY and stats.get("cost_usd") is not None:
        per_conv = float(stats["cost_usd"])
        out_per_conv = float(stats.get("output_tokens") or 0)
        out_per_call = float(stats.get("call_output_tokens") or out_per_conv)
        call_s = float(stats.get("call_seconds") or 0) or out_per_call / OUTPUT_TOKENS_PER_SECOND
        basis = f"measured: the averages of the last {history} generated conversations"
    else:
        per_conv, out_per_conv, counted = _token_estimate(scenarios, llm_settings, tax, seeds, counter)
        out_per_call = out_per_conv
        call_s = out_per_conv / OUTPUT_TOKENS_PER_SECOND + 2.0
        basis = ("token counting: sample prompts counted by the API, output estimated from the turn count"
                 if counted else "a rough estimate: prompts at 4 characters a token, output from the turn count "
                 "(no history yet, and the API could not count tokens)")
    per_conv_final = per_conv * (1 - discount)
    if mode == "batch":
        return Estimate(n, mode, per_conv_final * n, per_conv_final, None, basis)

    seconds_per_conv = call_s * calls_per_conv
    per_minute = [max(1, concurrency) * 60.0 / max(seconds_per_conv, 0.1)]
    limits = RateLimits.from_headers(stats.get("rate_limits") or {})
    if limits.rpm:
        per_minute.append(limits.rpm / calls_per_conv)
    if limits.otpm and out_per_call:
        per_minute.append(limits.otpm / (out_per_call * calls_per_conv))
    rate = min(per_minute)
    seconds = n / rate * 60.0 + (seconds_per_conv if n else 0.0)
    return Estimate(n, mode, per_conv_final * n, per_conv_final, seconds, basis)


def _token_estimate(scenarios: Sequence[Mapping[str, Any]], llm_settings: LLMSettings, tax: Any,
                    seeds: Sequence[Any] | None, counter: TokenCounter | None) -> tuple[float, float, bool]:
    """(cost per conversation, output tokens per conversation, counted by the API?) from one sample
    scenario per tier, weighted by how many of each tier there are."""
    if not scenarios:
        return 0.0, 0.0, counter is not None
    tax = tax or load_taxonomy()
    seeds = list(seeds) if seeds is not None else load_seeds().conversations
    price = llm_settings.prices.price_for(llm_settings.model)
    by_tier: dict[str, list[Mapping[str, Any]]] = {}
    for row in scenarios:
        by_tier.setdefault(str(row.get("tier")), []).append(row)
    total_cost = total_out = 0.0
    all_counted = True
    for rows in by_tier.values():
        sample = scenario_from_row(rows[0])
        plan = build_prompt(sample, tax, seeds)
        system_n, ok1 = _counted(counter, llm_settings.model, plan.system, ".")
        whole_n, ok2 = _counted(counter, llm_settings.model, plan.system, plan.user)
        all_counted = all_counted and ok1 and ok2
        user_n = max(1, whole_n - system_n)
        turns = sum(target_turns(scenario_from_row(r), tax) for r in rows[:50]) / min(len(rows), 50)
        out = turns * OUTPUT_TOKENS_PER_TURN
        if price is None:
            cost = 0.0
        else:  # the system prompt is read from the cache: written once per arc and tier, then read
            cost = (user_n * price.input + system_n * price.cache_read + out * price.output) / 1_000_000
            cost += system_n * (price.cache_write_5m - price.cache_read) / 1_000_000 / max(1, min(len(rows), 20))
        total_cost += cost * len(rows)
        total_out += out * len(rows)
    n = len(scenarios)
    return total_cost / n, total_out / n, all_counted
