"""The shared rate-limit budget: the anthropic-ratelimit-* and retry-after headers, and the adaptive
limiter that keeps a worker's requests just under the account's limits (lib.generation.worker runs one
per event loop; lib.generation.estimate reads the last headers seen to bound its time estimate)."""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib.generation.budget import PrefixGate, SharedBudget, prefix_key

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

    def per_minute(self) -> dict[str, float]:
        """The limits by budget resource (lib.generation.budget.RESOURCES)."""
        pairs = (("requests", self.rpm), ("input_tokens", self.itpm), ("output_tokens", self.otpm))
        return {k: v for k, v in pairs if v}

    def remaining(self) -> dict[str, float]:
        pairs = (
            ("requests", self.requests_remaining),
            ("input_tokens", self.input_remaining),
            ("output_tokens", self.output_remaining),
        )
        return {k: v for k, v in pairs if v is not None}


@dataclass
class _Request:
    """One HTTP try between before_request and observe: what it took from the shared budget, the
    room it asked for, and its cached prefix."""

    max_tokens: float = 0.0
    serial: int = 0  # the key of its room in AdaptiveLimiter._reserved (an id() could be reused)
    taken: dict[str, float] = field(default_factory=dict)
    unbudgeted: bool = False  # went without the shared budget: there was none to take from yet
    prefix: str | None = None
    warming: bool = False


# before_request and observe run in the task of the call they pace (LLMClient.generate)
_current: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("brightrun_rate_request", default=None)


# ---- the limiter ----------------------------------------------------------------------------
class AdaptiveLimiter:
    """How many items a worker runs at once, and when its next request may start.

    - Window (AIMD): the number of items in flight. It starts at one and grows by one with every
      good answer (slow start: it doubles every round trip) up to `max_concurrency`, so the first
      answers tell the pace before a burst can overrun a small rate-limit bucket. A 429 or 529
      halves it (once per round trip: answers to requests sent before the last cut do not cut
      again) and ends the slow start; after that every good answer adds 1/window.
    - Shared budget (with `budget`, once the headers told the limits): every request takes its
      share from the account's buckets in the database (lib.generation.budget.SharedBudget), which
      every worker of the database takes from, refilled at `utilization` (0.95) of the limits. A
      request that does not fit waits until it would, while smaller ones go: a 429 lowers the
      buckets to what its headers report, which holds back only the requests that no longer fit.
      The output share is max_tokens while the API may reserve it at admission, the measured mean
      once the headers showed it does not (`reserves_output` False: an answer reported more
      output room than the other requests in flight would have left reserved).
    - Pace (without a budget): the gap between request starts, from the limits in the headers and
      the measured tokens per request: max(60/rpm, 60*output/otpm, 60*input/itpm) divided by
      `utilization`. Room: the "remaining" headers, refilled at the limit's rate since they came and
      less what the requests in flight will still use, let a request start before its turn.
    - Pause: after a 429 without rate-limit headers (or a 529), nothing starts until its
      retry-after has passed; without a budget, an (almost) empty "remaining" pauses too.
    - Cache warm-up (with `gate`): the first request of a cached prompt prefix goes alone; the
      others of that prefix wait for its answer (lib.generation.budget.PrefixGate).
    A 429 lowers the utilization by 10% (down to 0.5), good answers bring it back. Without any
    rate-limit headers (a proxy, a local server) only the window and the pauses apply.
    One limiter serves one event loop; `snapshot()` may be read from any thread.
    """

    def __init__(
        self,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        *,
        min_concurrency: int = 1,
        utilization: float = 0.98,
        output_tokens: float | None = None,
        input_tokens: float | None = None,
        pace: bool = True,
        slow_start: bool = True,
        budget: SharedBudget | None = None,
        gate: PrefixGate | None = None,
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
        self.budget = budget
        self.gate = gate
        self.reserves_output: bool | None = None  # does the API charge max_tokens at admission? None: not known
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
        self._reserved: dict[int, float] = {}  # max_tokens of each request in flight
        self._serial = 0
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
        if gap <= 0 or self.shared or self.room(self.clock()):
            return free
        return min(free, 1 + int(horizon_s / gap))

    # -- pacing ------------------------------------------------------------------------------
    @property
    def shared(self) -> bool:
        """Do requests take from the shared budget (it is there, and the headers told the limits)?"""
        return self.budget is not None and self.pace and self.limits.known

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

    def share(self, max_tokens: float) -> dict[str, float]:
        """What one request takes from the shared budget: a request, its input, and its output room
        (max_tokens while the API may reserve it at admission, else the measured mean)."""
        amounts = {"requests": 1.0}
        reserve = self.reserves_output is not False or not self.output_tokens
        output = float(max_tokens if reserve and max_tokens else (self.output_tokens or 0.0))
        if output and (self.limits.otpm or not self.limits.known):
            amounts["output_tokens"] = output
        if self.input_tokens and (self.limits.itpm or not self.limits.known):
            amounts["input_tokens"] = float(self.input_tokens)
        return amounts

    async def before_request(self, params: Mapping[str, Any] | None = None) -> None:
        """LLMClient.before_try: wait for this prefix's warm-up, a pause to end, and for this
        request's share of the budget (or its turn)."""
        self._serial += 1
        request = _Request(max_tokens=float((params or {}).get("max_tokens") or 0), serial=self._serial)
        if self.gate is not None and params is not None:
            # not counted as waiting: a request of another prefix may be claimed and go meanwhile
            request.prefix = prefix_key(params)
            request.warming = await self.gate.enter(request.prefix)
        self.waiting += 1
        try:
            while True:
                now = self.clock()
                if now < self.pause_until:
                    step = min(self.pause_until - now, 1.0)
                elif self.budget is not None and self.pace:
                    # before this worker saw the limits, it takes from the buckets others made
                    amounts = self.share(request.max_tokens)
                    limits = {k: v * self.utilization for k, v in self.limits.per_minute().items()}
                    wait = await self.budget.take(amounts, limits, self.limits.remaining())
                    if wait is None:
                        request.unbudgeted = True
                        break
                    if wait <= 0:
                        request.taken = amounts
                        break
                    # ask again when an answer of this worker gave back what it did not use, or
                    # after half a request's gap at most (other workers' answers give back too)
                    step = min(wait, max(0.05, 30.0 / (self.limits.rpm or 60.0)))
                    started = self.clock()
                    await self.budget.settled(step)
                    self.waited_s += self.clock() - started
                    continue
                elif now >= self.next_start or self.room(now):
                    self.next_start = max(now, self.next_start) + self.gap()
                    break
                else:
                    step = min(self.next_start - now, 0.25)  # look again: room may come back sooner
                self.waited_s += step
                await self.sleep(step)
        except BaseException:
            if self.gate is not None:
                self.gate.done(request.prefix, warming=request.warming, ok=False)
            raise
        finally:
            self.waiting -= 1
        self.requests += 1
        self.in_flight += 1
        self._starts_since_seen += 1
        self._reserved[request.serial] = request.max_tokens
        _current.set(request)

    # -- feedback ----------------------------------------------------------------------------
    def observe(self, record: TryRecord, headers: Mapping[str, str] | None) -> None:
        """LLMClient.on_try: every try's status and anthropic-ratelimit-* headers."""
        now = self.clock()
        request = _current.get() or _Request()
        _current.set(None)
        self._reserved.pop(request.serial, None)
        self.in_flight = max(0, self.in_flight - 1)
        ok = record.status is not None and record.status < 400
        if self.gate is not None:
            self.gate.done(request.prefix, warming=request.warming, ok=ok)
        limits = RateLimits.from_headers(headers)
        if limits.known:
            self.limits = limits
            self._seen_at = now
            self._starts_since_seen = 0
        if record.status in (429, 529):
            self.throttled += 1
            if record.status == 429 and self.shared and limits.remaining():
                # the API's buckets, as its headers report them, hold back what no longer fits
                self._settle(request, limits, record, stale=False)
                self.reserves_output = None if self.reserves_output is False else self.reserves_output
            else:
                self._settle(request, limits, record, stale=False)
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
        self._settle(request, limits, record, stale=True)
        if ok:
            self._learn_reservation(limits)
            grow = 1.0 if self.slow_start else 1.0 / max(self.window, 1.0)
            self.window = min(float(self.max_concurrency), self.window + grow)
            self.utilization = min(self.target_utilization, self.utilization + 0.02)
            if not self.shared:
                self._respect_remaining(now, limits)

    def _settle(self, request: _Request, limits: RateLimits, record: TryRecord, *, stale: bool) -> None:
        """Give back to the shared budget what this try took and did not use (all of it when the API
        did not take the request), and follow the API's remaining counts: within one request's
        worth when they may be `stale` (another answer may have given back since they were
        counted), exactly after a 429."""
        if self.budget is None or not (request.taken or limits.known):
            return
        admitted = record.status is not None and record.status < 400
        back = {k: v for k, v in request.taken.items() if not admitted or k != "requests"}
        if admitted and request.unbudgeted:
            # No bucket when it started: one made while it was in flight started from headers that
            # counted its reservation (the API gives back the unused part now) or nothing of it.
            reserved = request.max_tokens if self.reserves_output is not False else 0.0
            back["output_tokens"] = reserved - record.output_tokens
        elif admitted:
            back["output_tokens"] = back.get("output_tokens", 0.0) - record.output_tokens
            if "input_tokens" in back:
                back["input_tokens"] -= record.input_tokens
        tolerance = {"requests": 1.0, "output_tokens": self.output_tokens or 0.0} if stale else {}
        self.budget.settle(back, limits.remaining(), tolerance)

    def _learn_reservation(self, limits: RateLimits) -> None:
        """An answer reporting more output room than the other requests in flight would leave if the
        API held their max_tokens shows it charges output at the end, not at admission. One
        request's room is the margin: an answer the API has written but we have not read yet gave
        back what it did not use."""
        if self.reserves_output is not None or not limits.otpm or limits.output_remaining is None:
            return
        others = [m for m in self._reserved.values() if m > 0]
        if len(others) >= 2 and limits.output_remaining > limits.otpm - sum(others) + max(others):
            self.reserves_output = False

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
        self._reserved.clear()

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
            "shared_budget": self.shared,
            "reserves_output": self.reserves_output,
            "cache_waits": self.gate.waits if self.gate is not None else 0,
        }
