"""The shared rate-limit budget: the anthropic-ratelimit-* and retry-after headers, and the adaptive
limiter that keeps a worker's requests just under the account's limits (lib.generation.worker runs one
per event loop; lib.generation.estimate reads the last headers seen to bound its time estimate)."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.generation.llm import TryRecord

DEFAULT_CONCURRENCY = 8
RATE_LIMIT_PREFIX = "anthropic-ratelimit-"


# ---- headers --------------------------------------------------------------------------------
def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after` (seconds or an HTTP date), else None."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        return max(0.0, float(lower["retry-after-ms"]) / 1000)
    except (KeyError, TypeError, ValueError):
        pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (now if now is not None else time.time()))


def rate_limit_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The anthropic-ratelimit-* and retry-after headers of an answer, names in lower case."""
    return {
        k.lower(): v
        for k, v in (headers or {}).items()
        if k.lower().startswith(RATE_LIMIT_PREFIX) or k.lower() in ("retry-after", "retry-after-ms")
    }


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
                value = float(h[RATE_LIMIT_PREFIX + name])
            except (KeyError, TypeError, ValueError):
                return None
            return value if value >= 0 else None

        return cls(
            rpm=num("requests-limit"),
            itpm=num("input-tokens-limit"),
            otpm=num("output-tokens-limit"),
            requests_remaining=num("requests-remaining"),
            input_remaining=num("input-tokens-remaining"),
            output_remaining=num("output-tokens-remaining"),
        )

    @property
    def known(self) -> bool:
        return any(v is not None for v in (self.rpm, self.itpm, self.otpm))


# ---- the limiter ----------------------------------------------------------------------------
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
      backing off). A 429 lowers the utilization by 10% (down to 0.5), good answers bring it back.
    - Room: the "remaining" headers, refilled at the limit's rate since they came and less what
      the requests in flight will still use, tell when the buckets hold the next request with half
      a request to spare; then a request starts without waiting for its turn. So a full bucket (the
      first minute, or after a pause) is used instead of wasted, and a small one is not overrun.
    - Pause: after a 429, nothing starts until its retry-after has passed; when a "remaining"
      header says the bucket is (almost) empty, nothing starts until it has refilled a little.
    Without any rate-limit headers (a proxy, a local server) only the window and the pauses apply.
    One limiter serves one event loop; `snapshot()` may be read from any thread.
    """

    def __init__(
        self,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        *,
        min_concurrency: int = 1,
        utilization: float = 0.95,
        output_tokens: float | None = None,
        input_tokens: float | None = None,
        pace: bool = True,
        slow_start: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
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
        self.input_tokens = input_tokens  # EWMA per request (uncached input + cache writes)
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
        return {
            "window": round(self.window, 2),
            "max_concurrency": self.max_concurrency,
            "gap_s": round(self.gap(), 3),
            "utilization": round(self.utilization, 3),
            "requests": self.requests,
            "throttled": self.throttled,
            "rpm": self.limits.rpm,
            "otpm": self.limits.otpm,
            "output_tokens_per_request": round(self.output_tokens or 0),
        }
