"""The runner at the account's limits without a database: the limiter with a shared budget (what a
request takes, what an answer gives back, what a 429 holds back), learning whether output is
reserved at admission, max_tokens from the measured output sizes, and the cache warm-up."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from lib.generation.budget import OutputSizer, PrefixGate, account_key, prefix_key
from lib.generation.llm import LLMClient, LLMSettings
from lib.generation.ratelimit import AdaptiveLimiter
from lib.generation.response import TryRecord

LIMITS = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-output-tokens-limit": "40000"}


def headers(requests: float = 40, output: float = 30000) -> dict[str, str]:
    return {**LIMITS, "anthropic-ratelimit-requests-remaining": str(requests),
            "anthropic-ratelimit-output-tokens-remaining": str(output)}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)  # the other requests run meanwhile


class Bucket:
    """The shared budget in memory, with the database's rules: all or nothing, refilled at the
    limit, a report lowers it; time is the test's clock."""

    def __init__(self, clock: Clock, level: dict[str, float]) -> None:
        self.clock, self.level, self.rate = clock, dict(level), {"requests": 50 / 60, "output_tokens": 40000 / 60}
        self.at = clock.t
        self.taken: list[dict[str, float]] = []
        self.settlements: list[tuple[dict[str, float], dict[str, float], dict[str, float]]] = []

    def _refill(self) -> None:
        for k in self.level:
            self.level[k] += self.rate[k] * (self.clock.t - self.at)
        self.at = self.clock.t

    async def take(self, amounts: Mapping[str, float], limits: Mapping[str, float],
                   remaining: Mapping[str, float]) -> float | None:
        self._refill()
        short = [(v - self.level[k]) / self.rate[k] for k, v in amounts.items() if k in self.level and v > self.level[k]]
        if short:
            return max(short)
        for k, v in amounts.items():
            if k in self.level:
                self.level[k] -= v
        self.taken.append(dict(amounts))
        return 0.0

    def settle(self, amounts: Mapping[str, float], remaining: Mapping[str, float],
               tolerance: Mapping[str, float]) -> None:
        self._refill()
        for k in self.level:
            if k in remaining:
                self.level[k] = min(self.level[k], remaining[k] + tolerance.get(k, 0.0))
            self.level[k] += amounts.get(k, 0.0)
        self.settlements.append((dict(amounts), dict(remaining), dict(tolerance)))

    async def settled(self, timeout: float) -> None:
        await self.clock.sleep(timeout)


def limiter_with(bucket: Bucket, clock: Clock, **kw: object) -> AdaptiveLimiter:
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, budget=bucket, **kw)  # type: ignore[arg-type]
    lim.observe(TryRecord(status=200, error=None, duration_s=1.0, output_tokens=3000), headers())
    return lim


async def request(lim: AdaptiveLimiter, max_tokens: int, answer: TryRecord | None,
                  answer_headers: dict[str, str] | None = None) -> None:
    await lim.before_request({"max_tokens": max_tokens})
    if answer is not None:
        lim.observe(answer, answer_headers if answer_headers is not None else headers())


def test_a_request_takes_its_max_tokens_and_the_answer_gives_back_what_it_did_not_use() -> None:
    clock = Clock()
    bucket = Bucket(clock, {"requests": 50, "output_tokens": 40000})
    lim = limiter_with(bucket, clock)
    assert lim.shared and lim.reserves_output is None
    asyncio.run(request(lim, 4000, TryRecord(status=200, error=None, duration_s=5, output_tokens=2500)))
    # not known whether the API reserves max_tokens at admission: the request takes all of it
    assert bucket.taken == [{"requests": 1.0, "output_tokens": 4000.0}]
    back, remaining, tolerance = bucket.settlements[-1]
    assert back == {"output_tokens": 1500.0} and remaining == {"requests": 40, "output_tokens": 30000}
    assert tolerance["requests"] == 1.0  # a report may be one answer stale


def test_a_request_that_does_not_fit_waits_while_one_that_fits_goes() -> None:
    clock = Clock()
    bucket = Bucket(clock, {"requests": 50, "output_tokens": 5000})
    lim = limiter_with(bucket, clock)
    started: list[tuple[str, float]] = []

    async def go(name: str, max_tokens: int) -> None:
        await lim.before_request({"max_tokens": max_tokens})
        started.append((name, clock.t))

    async def both() -> None:
        await asyncio.gather(go("big", 8000), go("small", 2000))

    asyncio.run(both())
    # 2,000 left (the first answer's 3,000 came off 5,000): the small one fits now
    assert started[0][0] == "small" and started[0][1] < 1001.0  # (the clock moves while the big one waits)
    big = dict(started)["big"]
    # the big one waits until the refill holds it (8,000 at 666 a second), not much longer
    assert 1000.0 + 12.0 <= big < 1000.0 + 12.7


def test_a_429_with_headers_holds_back_only_what_no_longer_fits() -> None:
    clock = Clock()
    bucket = Bucket(clock, {"requests": 50, "output_tokens": 40000})
    lim = limiter_with(bucket, clock)
    throttled = TryRecord(status=429, error="rate limited", duration_s=0.1, retry_after="30")
    asyncio.run(request(lim, 4000, throttled, headers(requests=30, output=3000)))
    assert lim.pause_until < clock.t  # no pause for every request
    back, remaining, tolerance = bucket.settlements[-1]
    assert back == {"requests": 1.0, "output_tokens": 4000.0} and tolerance == {}  # not admitted: all back
    assert bucket.level["output_tokens"] == pytest.approx(7000)  # the API's 3,000, plus this request's room
    asyncio.run(request(lim, 2000, None))  # fits: starts at once
    assert clock.t == pytest.approx(1000.0)
    # without rate-limit headers (a proxy) a 429 pauses everything for its retry-after
    lim.observe(TryRecord(status=429, error="rate limited", duration_s=0.1, retry_after="30"), {})
    assert lim.pause_until == pytest.approx(clock.t + 30)


def test_the_limiter_learns_that_the_api_charges_output_at_the_end() -> None:
    clock = Clock()
    bucket = Bucket(clock, {"requests": 50, "output_tokens": 40000})
    lim = limiter_with(bucket, clock)
    lim.observe_usage(1000, 2500)

    async def three_in_flight() -> None:
        for _ in range(3):
            await lim.before_request({"max_tokens": 8000})

    asyncio.run(three_in_flight())
    # an answer while two others hold 16,000 tokens of room: reserved at admission, at most 24,000
    # could remain; the API says 35,000, so it charges the output when the answer is written
    lim.observe(TryRecord(status=200, error=None, duration_s=5, output_tokens=2500), headers(output=35000))
    assert lim.reserves_output is False
    assert lim.share(8000)["output_tokens"] == pytest.approx(2500)  # the measured mean from now on
    # the same answer from an API that reserves: nothing learned, max_tokens stays the share
    other = limiter_with(Bucket(clock, {"requests": 50, "output_tokens": 40000}), clock)
    asyncio.run(other.before_request({"max_tokens": 8000}))
    asyncio.run(other.before_request({"max_tokens": 8000}))
    asyncio.run(other.before_request({"max_tokens": 8000}))
    other.observe(TryRecord(status=200, error=None, duration_s=5, output_tokens=2500), headers(output=20000))
    assert other.reserves_output is None and other.share(8000)["output_tokens"] == 8000


def test_max_tokens_come_from_a_high_quantile_of_the_measured_answers_plus_a_margin() -> None:
    sizer = OutputSizer(16000)
    assert sizer.max_tokens_for("tier1") == 16000  # nothing measured: the setting
    sizer.observe("tier1", 2000)
    assert sizer.max_tokens_for("tier1") == 3584  # 2,000 x 1.75, rounded up to 256: one answer tells little
    for n in range(199):
        sizer.observe("tier1", 1800 + n)  # 1,800 .. 1,998
    assert sizer.max_tokens_for("tier1") == 2304  # the 99th percentile 1,997 x 1.153, rounded up to 256
    assert sizer.max_tokens_for("tier2") == 2304  # not measured: as long as the longest measured
    sizer.observe("tier1", 0, truncated=True, max_tokens=2304)
    sizer.observe("tier1", 0, truncated=True, max_tokens=2304)
    sizer.observe("tier1", 0, truncated=True, max_tokens=2304)
    assert sizer.max_tokens_for("tier1") > 2304  # cut-off answers count at their max_tokens
    assert OutputSizer(16000, floor=1024).max_tokens_for(None) == 16000


def test_the_client_never_asks_for_more_room_than_the_setting() -> None:
    settings = LLMSettings(api_key="x", max_tokens=4096)
    assert LLMClient(settings, max_tokens_for=lambda template: 9000).max_tokens_for("t") == 4096
    assert LLMClient(settings, max_tokens_for=lambda template: 2048).max_tokens_for("t") == 2048
    assert LLMClient(settings).max_tokens_for("t") == 4096


def test_the_first_request_of_a_prefix_goes_alone_and_the_others_wait_for_its_answer() -> None:
    gate = PrefixGate(wait_cap_s=5.0)
    order: list[str] = []

    async def run() -> None:
        first = await gate.enter("a")
        assert first
        waiting = asyncio.create_task(gate.enter("a"))
        await asyncio.sleep(0)  # it starts, and waits
        other = await gate.enter("b")  # another prefix does not wait
        assert other and not waiting.done()
        order.append("answer a")
        gate.done("a", warming=True, ok=True)
        assert await waiting is False  # it went after the answer, and reads the cache
        order.append("second a")
        assert await gate.enter("a") is False  # warm: no wait
        gate.done("b", warming=True, ok=False)  # a failed first request: the next one warms it
        assert await gate.enter("b") is True

    asyncio.run(run())
    assert order == ["answer a", "second a"] and gate.waits == 1


def test_a_slow_first_request_holds_the_others_a_bounded_time() -> None:
    gate = PrefixGate(wait_cap_s=0.05)

    async def run() -> bool:
        await gate.enter("a")
        return await gate.enter("a")

    assert asyncio.run(run()) is False  # went after 0.05 s without the cache


def test_the_prefix_is_the_model_and_the_cached_system_blocks_and_the_account_hides_the_key() -> None:
    cached = {"model": "m", "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]}
    assert prefix_key(cached) == prefix_key({**cached, "messages": [{"role": "user", "content": "x"}]})
    assert prefix_key({**cached, "model": "n"}) != prefix_key(cached)
    assert prefix_key({"model": "m", "system": [{"type": "text", "text": "S"}]}) is None
    assert prefix_key({"model": "m", "system": "S"}) is None
    key = account_key("fake-ak-secret", None)
    assert "secret" not in key and key == account_key("fake-ak-secret", None) != account_key("other", None)
