"""What generating a set of scenarios will cost and take (shown before "Generate all").

- cost: the average cost of the latest generated conversations (repairs included) when there are
  a few, with the measured share of failed items at what a failed item spent (its calls are paid for
  too); else token counting: the prompt of a sample scenario per tier counted by the API's
  count_tokens endpoint (or 4 characters a token when that fails), with the system prompt written
  to the cache once and read afterwards, and the output estimated from the target turn count, times
  the measured repairs per generation once there are a few calls to measure them by;
- time: the measured seconds per conversation, divided over the concurrency, and never faster than
  the account's rate limits allow (the anthropic-ratelimit-* headers last seen);
- batch mode: the same tokens at the batch discount; results within 24 hours (usually far less);
- the judge, when it rates each conversation (lib.generation.rating.QualityPolicy): the average cost of
  its latest ratings, else its request counted for a seed conversation, with ~1.5k output tokens;
- the regeneration a low rating triggers (when that is on): the share of ratings below a pass mark
  (measured, else 10 %) times one more generation and its rating;
- a variation scenario (a variation set) is counted with its source conversation in the prompt and the
  source's turn count, as the engine asks for it;
- a contrastive job: each conversation's request counted as the worker builds it, with
  TOKENS_PER_RESPONSE output tokens per failed response asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.generation.contrast_prompt import TOKENS_PER_RESPONSE, Asks, build_contrast_prompt, response_count
from lib.generation.engine import scenario_from_row
from lib.generation.judge import build_judge_prompt
from lib.generation.llm import LLMSettings, TokenCounter
from lib.generation.prompting import build_prompt, target_turns
from lib.generation.ratelimit import DEFAULT_CONCURRENCY, RateLimits
from lib.generation.rating import QualityPolicy, policy_in_force
from lib.generation.variation_prompt import VariationSource, source_for
from lib.store.protocol import Store

OUTPUT_TOKENS_PER_TURN = 360  # the seeds in the output format (sentences numbered, not quoted): ~355 a turn
OUTPUT_TOKENS_PER_SECOND = 60.0  # generation speed assumed before there is any history
MIN_HISTORY = 3  # conversations needed before the measured averages replace token counting
BATCH_TIME = "within 24 h (usually within the hour)"  # how long the Message Batches API takes
JUDGE_OUTPUT_TOKENS = 1_500  # seven short reasons and a few label findings
DEFAULT_LOW_SHARE = 0.1  # the share of conversations rated below a pass mark, assumed before any rating


@dataclass(frozen=True)
class Estimate:
    count: int
    mode: str
    cost_usd: float
    per_conversation_usd: float
    seconds: float | None  # None: batch mode (up to 24 h)
    basis: str  # where the figures come from, one line
    judge_cost_usd: float = 0.0  # the part of cost_usd the judge's ratings take
    regeneration_cost_usd: float = 0.0  # the part the expected regenerations after low ratings take

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


def _prompt_tokens(counter: TokenCounter | None, model: str, system: str, user: str) -> tuple[int, int, bool]:
    """(system tokens, user tokens, both counted by the API?) of one prompt: the system prompt is counted
    alone so that its cached share can be priced apart."""
    system_n, ok1 = _counted(counter, model, system, ".")
    whole_n, ok2 = _counted(counter, model, system, user)
    return system_n, max(1, whole_n - system_n), ok1 and ok2


def _stats(store: Store, llm_settings: LLMSettings) -> dict[str, Any]:
    return store.generation_stats(llm_settings.model)


@dataclass(frozen=True)
class JudgeCost:
    """What the judge's rating of one conversation costs (full price) and takes."""

    cost_usd: float
    calls: float  # requests per rating (repairs and failed runs included)
    seconds: float  # per request
    low_share: float  # the share of ratings below a pass mark (each triggers a regeneration when on)
    basis: str


def judge_cost(
    store: Store,
    llm_settings: LLMSettings,
    *,
    tax: Taxonomy | None = None,
    seeds: Sequence[Any] | None = None,
    counter: TokenCounter | None = None,
    stats: Mapping[str, Any] | None = None,
) -> JudgeCost:
    """The judge's latest ratings when there are a few, else its request counted for a seed conversation."""
    stats = _stats(store, llm_settings) if stats is None else stats
    runs = int(stats.get("judge_runs") or 0)
    if runs >= MIN_HISTORY and stats.get("judge_cost_usd") is not None:
        seconds = float(stats.get("judge_call_seconds") or 0) or JUDGE_OUTPUT_TOKENS / OUTPUT_TOKENS_PER_SECOND
        return JudgeCost(
            float(stats["judge_cost_usd"]),
            max(1.0, float(stats.get("judge_calls") or 1.0)),
            seconds,
            float(stats.get("judge_low_share") or 0.0),
            f"measured: the judge's last {runs} ratings",
        )
    tax = tax or load_taxonomy()
    sample = next(iter(seeds if seeds is not None else load_seeds().conversations), None)
    price = llm_settings.prices.price_for(llm_settings.model)
    cost, counted = 0.0, counter is not None
    if sample is not None:
        plan = build_judge_prompt(sample, tax)
        system_n, user_n, counted = _prompt_tokens(counter, llm_settings.model, plan.system, plan.user)
        if price is not None:  # the system prompt is the same for every rating: read from the cache
            cost = (user_n * price.input + system_n * price.cache_read + JUDGE_OUTPUT_TOKENS * price.output) / 1_000_000
    basis = (
        "the judge's request counted for a seed conversation"
        if counted
        else "the judge's request at 4 characters a token"
    )
    return JudgeCost(
        cost,
        1.0,
        JUDGE_OUTPUT_TOKENS / OUTPUT_TOKENS_PER_SECOND + 2.0,
        DEFAULT_LOW_SHARE,
        basis + f", {JUDGE_OUTPUT_TOKENS:,} output tokens, {DEFAULT_LOW_SHARE:.0%} rated low",
    )


def estimate_job(
    store: Store,
    scenarios: Sequence[Mapping[str, Any]],
    *,
    mode: str,
    llm_settings: LLMSettings,
    concurrency: int = DEFAULT_CONCURRENCY,
    tax: Taxonomy | None = None,
    seeds: Sequence[Any] | None = None,
    counter: TokenCounter | None = None,
    quality: QualityPolicy | None = None,
) -> Estimate:
    """What generating `scenarios` (v_scenarios rows) will cost and take, with the judge's ratings and
    the expected regenerations when `quality` (None: the app's settings) has them. See the module docstring."""
    quality = policy_in_force() if quality is None else quality
    n = len(scenarios)
    paid = llm_settings.prices.paid_share(batch=mode == "batch")
    stats = _stats(store, llm_settings)
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
        failed_share = float(stats.get("failure_rate") or 0.0)
        if failed_share and stats.get("failed_item_cost_usd") is not None:
            per_conv = (1 - failed_share) * per_conv + failed_share * float(stats["failed_item_cost_usd"])
            basis += f", and {failed_share:.0%} of items failing at what a failed item spent"
    else:
        per_call, out_per_conv, counted = _token_estimate(
            scenarios, llm_settings, tax, seeds, counter, lambda cid: store.get_conversation(cid)
        )
        out_per_call = out_per_conv
        call_s = out_per_conv / OUTPUT_TOKENS_PER_SECOND + 2.0
        basis = (
            "token counting: sample prompts counted by the API, output estimated from the turn count"
            if counted
            else "prompts at 4 characters a token, output from the turn count: a rough estimate "
            "(no history yet, and the API could not count tokens)"
        )
        repairs = measured_repair_rate(stats)
        per_conv = per_call * (1 + repairs)
        if repairs:
            basis += f", with {repairs:.2f} repairs per generation (measured)"
    seconds_per_conv = call_s * calls_per_conv
    per_judge = per_regen = 0.0
    if quality.judge and n:
        judge = judge_cost(store, llm_settings, tax=tax, seeds=seeds, counter=counter, stats=stats)
        per_judge = judge.cost_usd
        seconds_per_conv += judge.seconds * judge.calls
        calls_per_conv += judge.calls
        basis += "; each rated by the judge (" + judge.basis + ")"
        if quality.regenerate_on_low_rating:
            per_regen = judge.low_share * (per_conv + per_judge)
            basis += f"; {judge.low_share:.0%} expected to be generated once more after a low rating"
    seconds = (
        None if mode == "batch" else _seconds(n, seconds_per_conv, calls_per_conv, out_per_call, concurrency, stats)
    )
    return _estimate(n, mode, seconds, basis, paid=paid, generation=per_conv, judge=per_judge, regeneration=per_regen)


def _estimate(
    n: int,
    mode: str,
    seconds: float | None,
    basis: str,
    *,
    paid: float,
    generation: float,
    judge: float,
    regeneration: float,
) -> Estimate:
    """n conversations at these full-price costs each, of which `paid` is charged."""
    each = (generation + judge + regeneration) * paid
    return Estimate(
        n,
        mode,
        each * n,
        each,
        seconds,
        basis,
        judge_cost_usd=judge * paid * n,
        regeneration_cost_usd=regeneration * paid * n,
    )


def measured_repair_rate(stats: Mapping[str, Any]) -> float:
    """Repair calls per generation, once enough calls were logged to measure it; else 0."""
    if int(stats.get("calls") or 0) < MIN_HISTORY * 2:
        return 0.0
    return max(0.0, float(stats.get("repair_rate") or 0.0))


def _seconds(
    n: int,
    seconds_per_conv: float,
    calls_per_conv: float,
    out_per_call: float,
    concurrency: int,
    stats: Mapping[str, Any],
) -> float:
    """n conversations at `concurrency` at once, never faster than the account's rate limits allow."""
    per_minute = [max(1, concurrency) * 60.0 / max(seconds_per_conv, 0.1)]
    limits = RateLimits.from_headers(stats.get("rate_limits") or {})
    if limits.rpm:
        per_minute.append(limits.rpm / calls_per_conv)
    if limits.otpm and out_per_call:
        per_minute.append(limits.otpm / (out_per_call * calls_per_conv))
    rate = min(per_minute)
    return n / rate * 60.0 + (seconds_per_conv if n else 0.0)


def estimate_judge(
    store: Store,
    count: int,
    *,
    mode: str,
    llm_settings: LLMSettings,
    concurrency: int = DEFAULT_CONCURRENCY,
    tax: Taxonomy | None = None,
    seeds: Sequence[Any] | None = None,
    counter: TokenCounter | None = None,
    quality: QualityPolicy | None = None,
) -> Estimate:
    """What rating `count` conversations will cost and take (a rating job), with the regenerations the
    low ratings are expected to trigger when that is on (None: the app's settings)."""
    quality = policy_in_force() if quality is None else quality
    paid = llm_settings.prices.paid_share(batch=mode == "batch")
    stats = _stats(store, llm_settings)
    judge = judge_cost(store, llm_settings, tax=tax, seeds=seeds, counter=counter, stats=stats)
    basis = judge.basis
    per_regen = 0.0
    if quality.regenerate_on_low_rating and stats.get("cost_usd") is not None:
        per_regen = judge.low_share * (float(stats["cost_usd"]) + judge.cost_usd)
        basis += f"; {judge.low_share:.0%} expected to be generated once more (if generated and not reviewed yet)"
    seconds = (
        None
        if mode == "batch"
        else _seconds(count, judge.seconds * judge.calls, judge.calls, JUDGE_OUTPUT_TOKENS, concurrency, stats)
    )
    return _estimate(
        count, mode, seconds, basis, paid=paid, generation=0.0, judge=judge.cost_usd, regeneration=per_regen
    )


def estimate_contrast(
    store: Store,
    requests: Sequence[tuple[Conversation, Asks, int]],
    *,
    mode: str,
    llm_settings: LLMSettings,
    concurrency: int = DEFAULT_CONCURRENCY,
    tax: Taxonomy | None = None,
    counter: TokenCounter | None = None,
) -> Estimate:
    """What a contrastive job will cost and take: one request per (conversation, the failure kinds asked
    per assistant turn, how many of each), counted as the worker builds it."""
    tax = tax or load_taxonomy()
    paid = llm_settings.prices.paid_share(batch=mode == "batch")
    price = llm_settings.prices.price_for(llm_settings.model)
    stats = _stats(store, llm_settings)
    cost = out = 0.0
    counted = counter is not None
    for conv, asks, n in requests:
        plan = build_contrast_prompt(conv, tax, asks, n)
        system_n, user_n, ok = _prompt_tokens(counter, llm_settings.model, plan.system, plan.user)
        counted = counted and ok
        tokens = TOKENS_PER_RESPONSE * response_count(asks, n)
        out += tokens
        if price is not None:  # the system prompt is the same for every conversation: read from the cache
            cost += (user_n * price.input + system_n * price.cache_read + tokens * price.output) / 1_000_000
    count = len(requests)
    each_out = out / count if count else 0.0
    call_s = each_out / OUTPUT_TOKENS_PER_SECOND + 2.0
    basis = "requests counted by the API" if counted else "requests at 4 characters a token"
    basis += f", {TOKENS_PER_RESPONSE:,} output tokens per failed response"
    seconds = None if mode == "batch" else _seconds(count, call_s, 1.0, each_out, concurrency, stats)
    return _estimate(
        count, mode, seconds, basis, paid=paid, generation=cost / count if count else 0.0, judge=0.0, regeneration=0.0
    )


@dataclass(frozen=True)
class RegenerationOutlook:
    """What the regeneration after a low rating is expected to cost (the Settings page)."""

    share: float  # of the generated conversations, expected to be rated low
    cost_each_usd: float  # one more generation and its rating
    basis: str

    @property
    def per_conversation_usd(self) -> float:
        """Added to the cost of each generated conversation, on average."""
        return self.share * self.cost_each_usd


def regeneration_outlook(
    store: Store,
    llm_settings: LLMSettings,
    *,
    tax: Taxonomy | None = None,
    seeds: Sequence[Any] | None = None,
    counter: TokenCounter | None = None,
) -> RegenerationOutlook:
    """The share of conversations expected to be rated low, and what one more generation and its rating
    costs: measured when there is history, else estimated."""
    stats = _stats(store, llm_settings)
    judge = judge_cost(store, llm_settings, tax=tax, seeds=seeds, counter=counter, stats=stats)
    if int(stats.get("conversations") or 0) >= MIN_HISTORY and stats.get("cost_usd") is not None:
        generation, basis = float(stats["cost_usd"]), f"generation measured over {int(stats['conversations'])}"
    else:
        sample = store.list_scenarios(limit=50)
        generation, _, _ = _token_estimate(sample, llm_settings, tax, seeds, counter)
        basis = "generation estimated from sample prompts"
    return RegenerationOutlook(judge.low_share, generation + judge.cost_usd, basis + "; rating: " + judge.basis)


def _token_estimate(
    scenarios: Sequence[Mapping[str, Any]],
    llm_settings: LLMSettings,
    tax: Taxonomy | None,
    seeds: Sequence[Any] | None,
    counter: TokenCounter | None,
    read: Callable[[str], Conversation | None] | None = None,
) -> tuple[float, float, bool]:
    """(cost per conversation, output tokens per conversation, counted by the API?) from one sample
    scenario per tier, weighted by how many of each tier there are. read: a variation's source
    conversation by id (Store.get_conversation); None counts variations as the plain scenarios they are."""
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
    sources: dict[str, VariationSource | None] = {}

    def source(row: Mapping[str, Any]) -> VariationSource | None:
        cid = str(row.get("source_conversation_id") or "")
        if cid not in sources:
            try:
                sources[cid] = source_for(row, read) if read is not None else None
            except LookupError:  # the source is gone: generating it fails and says so; count it as planned
                sources[cid] = None
        return sources[cid]

    def turns_of(row: Mapping[str, Any]) -> int:
        varies = source(row)  # a variation keeps its source's turn count
        return len(varies.conversation.turns) if varies else target_turns(scenario_from_row(row), tax)

    for rows in by_tier.values():
        sample = scenario_from_row(rows[0])
        plan = build_prompt(sample, tax, seeds, source=source(rows[0]))
        system_n, user_n, counted = _prompt_tokens(counter, llm_settings.model, plan.system, plan.user)
        all_counted = all_counted and counted
        turns = sum(turns_of(r) for r in rows[:50]) / min(len(rows), 50)
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
