"""Generation jobs as the app sees them: starting, stopping and resuming a job, its progress, the
estimate of its cost and time, and the adaptive limiter that keeps a worker near the rate limits.

The worker that runs the jobs is lib/worker.py; this module has no thread and no event loop of its
own, so the pages (and their tests) can use it directly.

Estimates (shown before "Generate all"):
- cost: the average cost of the latest generated conversations (repairs included) when there are
  a few, else token counting: the prompt of a sample scenario per tier counted by the API's
  count_tokens endpoint (or 4 characters a token when that fails), with the system prompt written
  to the cache once and read afterwards, and the output estimated from the target turn count;
- time: the measured seconds per conversation, divided over the concurrency, and never faster than
  the account's rate limits allow (the anthropic-ratelimit-* headers last seen);
- batch mode: the same tokens at the batch discount; results within 24 hours (usually far less).
"""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lib.generation.llm import LLMSettings, TryRecord, parse_retry_after

DEFAULT_CONCURRENCY = 8
OUTPUT_TOKENS_PER_TURN = 500  # a 16-turn conversation with sentence functions is ~8k output tokens
OUTPUT_TOKENS_PER_SECOND = 60.0  # generation speed assumed before there is any history
MIN_HISTORY = 3  # conversations needed before the measured averages replace token counting
BATCH_NOTE = "economy: about half the cost, results within 24 h (usually within the hour)"
MODES: dict[str, str] = {
    "realtime": "Realtime: results as they come, full price",
    "batch": "Economy (Message Batches API): about half the cost, results within 24 h",
}


class RunnerError(ValueError):
    """A job action that cannot be done as asked; the message says what to do."""


# ---- rate limits ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateLimits:
    """The anthropic-ratelimit-* headers of one answer (None: not sent)."""
    rpm: float | None = None
    itpm: float | None = None
    otpm: float | None = None
    requests_remaining: float | None = None
    input_remaining: float | None = None
    output_remaining: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any] | None) -> RateLimits:
        h = {str(k).lower(): v for k, v in (headers or {}).items()}

        def num(name: str) -> float | None:
            try:
                value = float(h["anthropic-ratelimit-" + name])
            except (KeyError, TypeError, ValueError):
                return None
            return value if value >= 0 else None

        return cls(rpm=num("requests-limit"), itpm=num("input-tokens-limit"), otpm=num("output-tokens-limit"),
                   requests_remaining=num("requests-remaining"), input_remaining=num("input-tokens-remaining"),
                   output_remaining=num("output-tokens-remaining"))

    @property
    def known(self) -> bool:
        return any(v is not None for v in (self.rpm, self.itpm, self.otpm))


class AdaptiveLimiter:
    """How many items a worker runs at once, and when its next request may start.

    - Window (AIMD): the number of items in flight. It starts at one and grows by one with every
      good answer (slow start: it doubles every round trip) up to `max_concurrency`, so the first
      answers tell the pace before a burst can overrun a small rate-limit bucket. A 429 or 529
      halves it (once per round trip: answers to requests sent before the last cut do not cut
      again) and ends the slow start; after that every good answer adds 1/window.
    - Pace: the gap between request starts, from the limits in the anthropic-ratelimit-* headers
      and the measured tokens per request: max(60/rpm, 60*output/otpm, 60*input/itpm) divided by
      `utilization` (0.95: just under the tightest limit, instead of bursting into 429s and
      backing off). A 429 lowers the utilization by 15% (down to 0.5), good answers bring it back.
    - Room: the "remaining" headers, refilled at the limit's rate since they came and less what
      the requests in flight will still use, tell when the buckets hold the next request with half
      a request to spare; then a request starts without waiting for its turn. So a full bucket (the
      first minute, or after a pause) is used instead of wasted, and a small one is not overrun.
    - Pause: after a 429, nothing starts until its retry-after has passed; when a "remaining"
      header says the bucket is (almost) empty, nothing starts until it has refilled a little.
    Without any rate-limit headers (a proxy, a local server) only the window and the pauses apply.
    One limiter serves one event loop; `snapshot()` may be read from any thread.
    """

    def __init__(self, max_concurrency: int = DEFAULT_CONCURRENCY, *, min_concurrency: int = 1,
                 utilization: float = 0.95, output_tokens: float | None = None, input_tokens: float | None = None,
                 pace: bool = True, slow_start: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if max_concurrency < 1:
            raise ValueError(f"the concurrency must be at least 1, not {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.pace = pace  # False: the window and the 429 pauses only (tests against a fake's fixed headers)
        self.min_concurrency = max(1, min(min_concurrency, max_concurrency))
        self.slow_start = slow_start
        self.window = float(self.min_concurrency if slow_start else max_concurrency)
        self.target_utilization = utilization
        self.utilization = utilization
        self.output_tokens = output_tokens  # EWMA per request
        self.input_tokens = input_tokens    # EWMA per request (uncached input + cache writes)
        self.limits = RateLimits()
        self.clock = clock
        self.sleep = sleep
        self.next_start = 0.0
        self.pause_until = 0.0
        self.last_cut = -math.inf
        self.requests = 0
        self.throttled = 0  # 429s and 529s seen
        self.waited_s = 0.0
        self.in_flight = 0  # requests started and not answered yet
        self.waiting = 0  # requests waiting for their turn
        self._seen_at = 0.0  # when the last "remaining" headers came
        self._starts_since_seen = 0

    # -- the window --------------------------------------------------------------------------
    def capacity(self, in_flight: int) -> int:
        """How many more items may start now."""
        return max(0, int(self.window) - in_flight)

    def claimable(self, in_flight: int, horizon_s: float) -> int:
        """How many items to claim now: within the window, and no more than can start within
        `horizon_s`. An item claimed only to wait for its turn would still run after a Stop, and
        would keep other workers from it."""
        free = self.capacity(in_flight)
        if not free:
            return 0
        if self.waiting:
            return 0  # some wait for their turn already: claim more once they have started
        gap = self.gap()
        if gap <= 0 or self.room(self.clock()):
            return free
        return min(free, 1 + int(horizon_s / gap))

    # -- pacing ------------------------------------------------------------------------------
    def gap(self) -> float:
        """Seconds between request starts that keeps every known limit at `utilization`."""
        lim = self.limits
        g = 0.0
        if not self.pace:
            return g
        if lim.rpm:
            g = max(g, 60.0 / lim.rpm)
        if lim.otpm and self.output_tokens:
            g = max(g, 60.0 * self.output_tokens / lim.otpm)
        if lim.itpm and self.input_tokens:
            g = max(g, 60.0 * self.input_tokens / lim.itpm)
        return g / self.utilization

    def room(self, now: float) -> bool:
        """Do the buckets clearly hold the next request, counting what the requests in flight will
        still use? Only with known limits, remaining counts and tokens per request."""
        lim = self.limits
        if not self.pace or self._seen_at <= 0:
            return False
        since = max(0.0, now - self._seen_at)
        if lim.rpm and lim.requests_remaining is not None:
            requests = min(lim.rpm, lim.requests_remaining + lim.rpm / 60.0 * since) - self._starts_since_seen
            if requests < 2:
                return False
        if lim.otpm:
            if lim.output_remaining is None or not self.output_tokens:
                return False
            tokens = min(lim.otpm, lim.output_remaining + lim.otpm / 60.0 * since)
            if tokens - self.output_tokens * self.in_flight < 0.5 * self.output_tokens:
                return False
        return bool(lim.rpm or lim.otpm)

    async def before_request(self) -> None:
        """LLMClient.before_try: wait for a pause to end and for this request's turn (or room)."""
        self.waiting += 1
        try:
            while True:
                now = self.clock()
                if now >= self.pause_until and (now >= self.next_start or self.room(now)):
                    break
                wait = max(self.pause_until, self.next_start) - now
                step = min(wait, 1.0 if now < self.pause_until else 0.25)  # look again: room may come back sooner
                self.waited_s += step
                await self.sleep(step)
        finally:
            self.waiting -= 1
        self.next_start = max(now, self.next_start) + self.gap()
        self.requests += 1
        self.in_flight += 1
        self._starts_since_seen += 1

    # -- feedback ----------------------------------------------------------------------------
    def observe(self, record: TryRecord, headers: Mapping[str, str] | None) -> None:
        """LLMClient.on_try: every try's status and anthropic-ratelimit-* headers."""
        now = self.clock()
        self.in_flight = max(0, self.in_flight - 1)
        limits = RateLimits.from_headers(headers)
        if limits.known:
            self.limits = limits
            self._seen_at = now
            self._starts_since_seen = 0
        if record.status in (429, 529):
            self.throttled += 1
            wait = parse_retry_after({"retry-after": record.retry_after}) if record.retry_after else None
            if wait is None:
                wait = record.waited_s or 1.0
            self.pause_until = max(self.pause_until, now + wait)
            started = now - record.duration_s
            if started >= self.last_cut:  # one cut per round trip, not one per 429 of a burst
                self.slow_start = False
                self.window = max(float(self.min_concurrency), self.window / 2)
                self.utilization = max(0.5, self.utilization * 0.9)
                self.last_cut = now
            return
        if record.status is not None and record.status < 400:
            grow = 1.0 if self.slow_start else 1.0 / max(self.window, 1.0)
            self.window = min(float(self.max_concurrency), self.window + grow)
            self.utilization = min(self.target_utilization, self.utilization + 0.02)
            self._respect_remaining(now, limits)

    def _respect_remaining(self, now: float, limits: RateLimits) -> None:
        waits = [0.0]
        if limits.rpm and limits.requests_remaining is not None and limits.requests_remaining < 1:
            waits.append((1 - limits.requests_remaining) * 60.0 / limits.rpm)
        # An (almost) empty output bucket: wait until half a request's worth has come back. Not a
        # whole request's worth: the pace already spaces requests by the average, and waiting for
        # more would throttle twice.
        need = (self.output_tokens or 0.0) / 2
        if limits.otpm and limits.output_remaining is not None and need and limits.output_remaining < need / 2:
            waits.append((need - limits.output_remaining) * 60.0 / limits.otpm)
        if max(waits) > 0:
            self.pause_until = max(self.pause_until, now + max(waits))

    def idle(self) -> None:
        """Nothing is in flight (the worker has no item): forget requests that were never answered
        (cancelled mid-call), so they do not hold back the room estimate."""
        self.in_flight = 0

    def observe_usage(self, input_tokens: int, output_tokens: int, cache_write_tokens: int = 0) -> None:
        """The tokens of one answered request (the worker reports each attempt)."""
        alpha = 0.05  # a long memory: the pace follows the mean size, not the last few conversations
        out = float(output_tokens)
        inp = float(input_tokens + cache_write_tokens)
        self.output_tokens = out if self.output_tokens is None else (1 - alpha) * self.output_tokens + alpha * out
        self.input_tokens = inp if self.input_tokens is None else (1 - alpha) * self.input_tokens + alpha * inp

    def snapshot(self) -> dict[str, Any]:
        return {"window": round(self.window, 2), "max_concurrency": self.max_concurrency,
                "gap_s": round(self.gap(), 3), "utilization": round(self.utilization, 3),
                "requests": self.requests, "throttled": self.throttled,
                "rpm": self.limits.rpm, "otpm": self.limits.otpm,
                "output_tokens_per_request": round(self.output_tokens or 0)}


# ---- estimates --------------------------------------------------------------------------------
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
            return "within 24 h (usually within the hour)"
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


TokenCounter = Callable[[str, str], int]  # (system, user) -> input tokens


def api_token_counter(llm_settings: LLMSettings, timeout_s: float = 5.0) -> TokenCounter:
    """Counts a prompt with the API's count_tokens endpoint (free; needs the key). After one
    failure it fails at once, so an unreachable API costs one timeout, not one per prompt."""
    import anthropic

    client = anthropic.Anthropic(api_key=llm_settings.api_key, base_url=llm_settings.base_url or None,
                                 max_retries=0, timeout=timeout_s)
    failed: list[Exception] = []

    def count(system: str, user: str) -> int:
        if failed:
            raise failed[0]
        try:
            answer = client.messages.count_tokens(model=llm_settings.model, system=system,
                                                  messages=[{"role": "user", "content": user}])
        except Exception as exc:
            failed.append(exc)
            raise
        return int(answer.input_tokens)

    return count


def llm_settings(settings: Any) -> LLMSettings:
    """The LLM settings of the app's Settings (lib.config) or of the environment."""
    return LLMSettings.from_settings(settings)


_count_cache: dict[tuple[str, str], int] = {}


def _counted(counter: TokenCounter | None, model: str, system: str, user: str) -> tuple[int, bool]:
    """(tokens, counted by the API?) for one prompt; 4 characters a token when counting fails."""
    import hashlib

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
    from lib.generation.engine import scenario_from_row
    from lib.generation.prompting import build_prompt, target_turns
    from lib.core.seeds import load_seeds
    from lib.core.taxonomy import load_taxonomy

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


# ---- starting and steering jobs ---------------------------------------------------------------
def generation_off_reason(settings: Any) -> str | None:
    """Why generation is off (no key), or None when it can run."""
    if settings is not None and getattr(settings, "has_api_key", False):
        return None
    return ("Generation needs an Anthropic API key: set ANTHROPIC_API_KEY in the environment or in "
            ".streamlit/secrets.toml and restart the app. Everything else (the seed conversations, review, "
            "coverage and export) works without one.")


def ids_with_status(rows: Iterable[Mapping[str, Any]], statuses: Iterable[str]) -> list[int]:
    wanted = set(statuses)
    return [int(r["id"]) for r in rows if r.get("status") in wanted]


def start_job(store: Any, scenario_ids: Sequence[int], *, mode: str = "realtime", model: str | None = None,
              created_by: str | None = None, requested_from: str = "scenarios", concurrency: int | None = None,
              estimate: Estimate | None = None) -> tuple[int, int]:
    """Create a job for the scenarios; returns (job id, items queued). Scenarios already queued or
    generating in another job are left out (the store does it)."""
    from lib.store.protocol import StoreError

    ids = sorted({int(i) for i in scenario_ids})
    if not ids:
        raise RunnerError("Nothing to generate: choose at least one scenario.")
    if mode not in MODES:
        raise RunnerError(f"Unknown generation mode {mode!r}; choose realtime or batch.")
    settings: dict[str, Any] = {"requested_from": requested_from, "mode": mode}
    if concurrency:
        settings["concurrency"] = int(concurrency)
    if estimate is not None:
        settings["estimate"] = {"cost_usd": round(estimate.cost_usd, 4), "seconds": estimate.seconds,
                                "basis": estimate.basis}
    try:
        job_id = store.create_job(ids, kind=mode, model=model, settings=settings, created_by=created_by or None)
    except StoreError as exc:
        if "already in a running job" in str(exc):
            raise RunnerError("Nothing to generate: every chosen scenario is already queued or being generated "
                              "(see the Generate page).") from None
        raise
    job = store.get_job(job_id) or {}
    return job_id, int(job.get("total_items") or len(ids))


def stop_job(store: Any, job_id: int, *, llm_settings: LLMSettings | None = None) -> str:
    """Stop: nothing new starts, items in flight finish. A batch job's Message Batch is cancelled
    too (its finished results are kept and used on Resume). Returns a message for the person."""
    job = store.get_job(job_id)
    if job is None:
        raise RunnerError(f"Job #{job_id} does not exist any more; refresh the page.")
    cancelled = store.stop_job(job_id)
    note = ""
    if job.get("kind") == "batch" and job.get("batch_id") and job.get("batch_status") == "in_progress" \
            and llm_settings is not None and llm_settings.api_key:
        try:
            import anthropic

            anthropic.Anthropic(api_key=llm_settings.api_key, base_url=llm_settings.base_url or None,
                                max_retries=1, timeout=15).messages.batches.cancel(job["batch_id"])
            note = " Its Message Batch is being cancelled; results it already has are kept for Resume."
        except Exception as exc:  # the job is stopped anyway; the batch just runs to its end
            note = f" Its Message Batch could not be cancelled ({str(exc)[:120]}); it will run to its end."
    in_flight = int(job.get("claimed_items") or 0)
    flight = f" {in_flight} in flight will finish." if in_flight else ""
    return f"Job #{job_id} stopped: {cancelled} not started were cancelled.{flight}{note}"


def resume_job(store: Any, job_id: int, *, failed: bool = False) -> str:
    n = store.resume_job(job_id, failed=failed)
    if failed:
        return (f"Job #{job_id}: {n} failed item(s) queued again." if n else
                f"Job #{job_id} has no failed item to retry.")
    return f"Job #{job_id} resumed: {n} item(s) queued again." if n else f"Job #{job_id} has nothing left to resume."


# ---- progress -------------------------------------------------------------------------------
ACTIVE_JOB_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class Progress:
    job_id: int
    kind: str
    status: str
    total: int
    succeeded: int
    failed: int
    cancelled: int
    in_flight: int
    pending: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    elapsed_s: float | None
    eta_s: float | None
    error: str | None = None
    batch_id: str | None = None
    batch_status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def counted(self) -> int:
        """The items that count towards "X of Y" (cancelled ones are left out until resumed)."""
        return self.total - self.cancelled

    @property
    def fraction(self) -> float:
        return self.done / self.counted if self.counted else 1.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def label(self) -> str:
        return f"{self.done} of {self.counted}"


def progress(job: Mapping[str, Any], *, now: datetime | None = None) -> Progress:
    """A v_generation_jobs row as progress: counts, elapsed time and the ETA (from the pace so far,
    else the estimate made when the job was created)."""
    now = now or datetime.now(timezone.utc)
    started = job.get("started_at")
    finished = job.get("finished_at")
    elapsed = None
    if started is not None:
        elapsed = max(0.0, ((finished if finished is not None and job.get("status") not in ACTIVE_JOB_STATUSES
                             else now) - started).total_seconds())
    succeeded, failed = int(job.get("succeeded_items") or 0), int(job.get("failed_items") or 0)
    pending, in_flight = int(job.get("pending_items") or 0), int(job.get("claimed_items") or 0)
    left = pending + in_flight
    eta = None
    if job.get("status") in ACTIVE_JOB_STATUSES and left:
        done = succeeded + failed
        if elapsed and done:
            eta = elapsed / done * left
        else:
            est = (job.get("settings") or {}).get("estimate") or {}
            total = int(job.get("total_items") or 0)
            if est.get("seconds") and total:
                eta = float(est["seconds"]) * left / total - (elapsed or 0.0)
                eta = max(eta, 0.0)
    elif job.get("status") in ACTIVE_JOB_STATUSES:
        eta = 0.0
    return Progress(job_id=int(job["id"]), kind=str(job.get("kind") or "realtime"), status=str(job.get("status")),
                    total=int(job.get("total_items") or 0), succeeded=succeeded, failed=failed,
                    cancelled=int(job.get("cancelled_items") or 0), in_flight=in_flight, pending=pending,
                    cost_usd=float(job.get("cost_usd") or 0), input_tokens=int(job.get("input_tokens") or 0),
                    output_tokens=int(job.get("output_tokens") or 0), elapsed_s=elapsed, eta_s=eta,
                    error=job.get("error"), batch_id=job.get("batch_id"), batch_status=job.get("batch_status"))


def worker_line(status: Mapping[str, Any]) -> str:
    """One line on the app's worker (lib.generation.worker.Worker.status()): what runs and at what pace."""
    lim = status.get("limiter") or {}
    parts = [f"Worker: {len(status.get('in_flight') or [])} in flight, up to {int(lim.get('window') or 0)} at once "
             f"(at most {lim.get('max_concurrency', '?')})"]
    if lim.get("gap_s"):
        parts.append(f"one request every {lim['gap_s']:.1f} s")
    limits = [f"{int(lim['rpm']):,} requests" if lim.get("rpm") else "",
              f"{int(lim['otpm']):,} output tokens" if lim.get("otpm") else ""]
    if any(limits):
        parts.append("account limits " + " and ".join(x for x in limits if x) + " a minute")
    if lim.get("throttled"):
        parts.append(f"{lim['throttled']} rate-limited answers so far")
    if status.get("fatal"):
        parts.append("stopped by: " + str(status["fatal"]))
    return " · ".join(parts)


def active_jobs(store: Any, limit: int = 20) -> list[dict[str, Any]]:
    return [j for j in store.list_jobs(limit) if j.get("status") in ACTIVE_JOB_STATUSES]


def item_title(item: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> str:
    """'#47: Anxious first-time investor · Retirement planning' for a job item row."""
    persona = names.get("personas", {}).get(item.get("persona", ""), item.get("persona", ""))
    topic = names.get("topics", {}).get(item.get("topic", ""), item.get("topic", ""))
    return f"#{item['scenario_id']}: {persona} · {topic}"


__all__ = [
    "AdaptiveLimiter", "Estimate", "Progress", "RateLimits", "RunnerError", "active_jobs", "api_token_counter",
    "duration_text", "estimate_job", "generation_off_reason", "ids_with_status", "item_title", "progress",
    "resume_job", "start_job", "stop_job",
]
