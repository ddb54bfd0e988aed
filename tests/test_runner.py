"""lib.generation.jobs, estimate and ratelimit without a database: the adaptive limiter, estimates,
progress and job actions."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lib.generation import estimate
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.generation.llm import LLMSettings
from lib.generation.judge import JudgeResult
from lib.generation.judge_verdict import Rating
from lib.generation.ratelimit import AdaptiveLimiter, RateLimits
from lib.generation.rating import QualityPolicy, low_rating_feedback
from lib.generation.response import TryRecord

OFF = QualityPolicy()
HEADERS = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "40",
           "anthropic-ratelimit-output-tokens-limit": "40000", "anthropic-ratelimit-output-tokens-remaining": "30000",
           "anthropic-ratelimit-input-tokens-limit": "400000"}


class Clock:
    """A fake monotonic clock; sleeping advances it."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def ok(duration: float = 1.0) -> TryRecord:
    return TryRecord(status=200, error=None, duration_s=duration)


def too_many(retry_after: str | None = "2", duration: float = 0.1) -> TryRecord:
    return TryRecord(status=429, error="rate limited", duration_s=duration, waited_s=0.0, retry_after=retry_after)


def test_rate_limits_are_read_from_the_headers() -> None:
    lim = RateLimits.from_headers(HEADERS)
    assert (lim.rpm, lim.otpm, lim.itpm, lim.requests_remaining, lim.output_remaining) == (50, 40000, 400000, 40, 30000)
    assert not RateLimits.from_headers({"x": "1", "anthropic-ratelimit-requests-limit": "lots"}).known


def test_the_window_starts_small_and_doubles_every_round_trip_until_the_bound() -> None:
    lim = AdaptiveLimiter(8)
    assert lim.capacity(0) == 1  # one request first: its answer tells the limits and the pace
    lim.observe(ok(), HEADERS)
    assert lim.capacity(0) == 2
    lim.observe(ok(), HEADERS)
    lim.observe(ok(), HEADERS)
    assert lim.capacity(0) == 4  # one more per good answer: doubling per round trip
    for _ in range(10):
        lim.observe(ok(), HEADERS)
    assert lim.capacity(0) == 8 and lim.capacity(5) == 3


def test_a_429_halves_the_window_once_per_round_trip_and_good_answers_grow_it_back() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, slow_start=False)
    assert lim.capacity(0) == 8 and lim.capacity(5) == 3
    lim.observe(too_many(), {})
    assert lim.window == 4 and lim.throttled == 1
    # more 429s from requests sent before the cut: the same congestion, no second cut
    lim.observe(too_many(duration=0.5), {})
    assert lim.window == 4
    clock.t += 1.0
    lim.observe(too_many(duration=0.1), {})  # sent after the cut: it still does not fit
    assert lim.window == 2
    for _ in range(40):
        lim.observe(ok(), {})
    assert 5 <= lim.window <= 8  # additive now: the slow start ended with the first 429
    for _ in range(200):
        lim.observe(ok(), {})
    assert lim.window == 8  # never above the configured bound
    for _ in range(10):
        clock.t += 10
        lim.observe(too_many(), {})
    assert lim.window == 1  # never below one


def test_a_worker_claims_only_what_can_start_soon() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, slow_start=False, output_tokens=4000)
    assert lim.claimable(0, 1.0) == 8  # nothing known yet: the window decides
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-output-tokens-remaining": "1000"})
    assert lim.gap() > 6 and lim.claimable(0, 1.0) == 1  # one request every 6 s: claim one at a time
    assert lim.claimable(8, 1.0) == 0
    lim.waiting = 1
    assert lim.claimable(0, 60.0) == 0  # one already waits for its turn


def test_a_429_pauses_every_request_for_its_retry_after() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(4, clock=clock, sleep=clock.sleep, pace=False)
    lim.observe(too_many(retry_after="3"), {})
    start = clock.t
    asyncio.run(lim.before_request())
    assert clock.t - start == pytest.approx(3.0)


def test_requests_are_paced_just_under_the_tightest_limit() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, utilization=0.95)
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-output-tokens-remaining": "1000"})  # no room to spare
    assert lim.gap() == pytest.approx(60 / 50 / 0.95)  # requests bind before any output is known
    lim.observe_usage(1000, 4000)
    assert lim.gap() == pytest.approx(60 * 4000 / 40000 / 0.95)  # 4,000 tokens a request: output binds

    starts = []

    async def burst() -> None:
        for _ in range(5):
            await lim.before_request()
            starts.append(clock.t)

    asyncio.run(burst())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([lim.gap()] * 4)
    assert lim.requests == 5


def test_room_in_the_buckets_lets_a_request_start_before_its_turn() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, output_tokens=4000)
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-output-tokens-remaining": "40000"})  # a full minute's worth
    starts = []

    async def burst() -> None:
        for _ in range(11):
            await lim.before_request()
            starts.append(clock.t)

    asyncio.run(burst())
    # a request starts at once while 40,000 tokens, less 4,000 for each request in flight, leave
    # half a request's worth: 10 start at once, the eleventh waits for its turn
    assert starts[:10] == [starts[0]] * 10 and starts[10] > starts[0]
    assert lim.in_flight == 11 and not lim.room(clock.t)
    lim.idle()  # the worker has nothing in flight: requests never answered are forgotten
    assert lim.in_flight == 0 and lim.room(clock.t)


def test_low_remaining_headers_pause_until_the_bucket_refills() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(8, clock=clock, sleep=clock.sleep, output_tokens=4000)
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-output-tokens-remaining": "1500"})
    assert lim.pause_until == 0  # enough for the pace to handle
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-output-tokens-remaining": "500"})
    assert lim.pause_until - clock.t == pytest.approx((2000 - 500) * 60 / 40000)
    clock.t += 10
    lim.observe(ok(), {**HEADERS, "anthropic-ratelimit-requests-remaining": "0"})
    assert lim.pause_until - clock.t == pytest.approx(60 / 50)  # a request comes back every 1.2 s


def test_without_pacing_only_the_window_applies() -> None:
    lim = AdaptiveLimiter(3, pace=False, slow_start=False)
    lim.observe(ok(), HEADERS)
    lim.observe_usage(100, 4000)
    assert lim.gap() == 0 and lim.snapshot()["window"] == 3
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimiter(0)


# ---- progress --------------------------------------------------------------------------------
def job(**kw: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    row: dict[str, Any] = {"id": 7, "kind": "realtime", "status": "running", "total_items": 10, "succeeded_items": 3,
                           "failed_items": 1, "cancelled_items": 0, "pending_items": 4, "claimed_items": 2,
                           "cost_usd": 0.12, "input_tokens": 1000, "output_tokens": 5000, "error": None,
                           "batch_id": None, "batch_status": None, "settings": {},
                           "started_at": now - timedelta(seconds=40), "finished_at": None}
    row.update(kw)
    return row


def test_progress_counts_and_eta_from_the_pace_so_far() -> None:
    now = datetime.now(timezone.utc)
    p = job_progress.progress(job(started_at=now - timedelta(seconds=40)), now=now)
    assert p.label == "4 of 10" and p.fraction == pytest.approx(0.4) and p.active
    assert p.elapsed_s == pytest.approx(40) and p.eta_s == pytest.approx(40 / 4 * 6)


def test_progress_before_anything_finished_uses_the_estimate_and_leaves_out_cancelled_items() -> None:
    now = datetime.now(timezone.utc)
    p = job_progress.progress(job(succeeded_items=0, failed_items=0, pending_items=8, claimed_items=2,
                            settings={"estimate": {"seconds": 100}}, started_at=now), now=now)
    assert p.eta_s == pytest.approx(100)
    stopped = job_progress.progress(job(status="stopped", cancelled_items=4, pending_items=0, claimed_items=0,
                                  finished_at=now, active_s=40.0), now=now + timedelta(hours=1))
    assert stopped.label == "4 of 6" and not stopped.active and stopped.eta_s is None
    assert stopped.elapsed_s == pytest.approx(40, abs=1)  # stops counting when the job stopped


def test_the_worker_line_says_what_runs_and_at_what_pace() -> None:
    lim = AdaptiveLimiter(8, slow_start=False)
    lim.observe(ok(), HEADERS)
    lim.observe_usage(100, 4000)
    line = job_progress.worker_line({"in_flight": [1, 2, 3], "limiter": lim.snapshot(), "fatal": None})
    assert line.startswith("Worker: 3 in flight, up to 8 at once (at most 8)")
    assert "one request every 6.1 s" in line and "50 requests and 40,000 output tokens a minute" in line


def test_item_title_and_durations() -> None:
    names = {"personas": {"p": "Anxious first-time investor"}, "topics": {"t": "Retirement planning"}}
    assert job_progress.item_title({"scenario_id": 47, "persona": "p", "topic": "t"}, names) == \
        "#47: Anxious first-time investor · Retirement planning"
    assert [estimate.duration_text(s) for s in (0.2, 75, 600, 3 * 3600 + 300)] == ["1 s", "75 s", "10 min", "3 h 05 min"]


# ---- estimates --------------------------------------------------------------------------------
class StatsStore:
    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def generation_stats(self, model: str | None = None, *, recent: int = 200) -> dict[str, Any]:
        return self.stats


SCENARIO = {"id": 1, "tier": "template", "persona": "anxious_first_time_investor", "emotional_arc": "struggle_to_success",
            "topic": "first_portfolio", "intent": "understand_options", "tone": "professional",
            "outcome_type": "action_plan", "context_id": None, "context": None}


def test_the_estimate_uses_the_measured_averages_when_there_is_history() -> None:
    store = StatsStore({"conversations": 40, "cost_usd": 0.05, "output_tokens": 6000, "calls": 50, "successes": 40,
                        "call_seconds": 30.0, "call_output_tokens": 5000, "rate_limits": HEADERS})
    s = LLMSettings(api_key="x")
    rows = [dict(SCENARIO, id=i) for i in range(100)]
    realtime = estimate.estimate_job(store, rows, mode="realtime", llm_settings=s, concurrency=8, quality=OFF)
    assert realtime.cost_usd == pytest.approx(5.0) and "last 40" in realtime.basis
    # 1.25 calls a conversation, 37.5 s each: 8 at once would do 12.8 a minute, but 40,000 output
    # tokens a minute allow 6.4 conversations (5,000 tokens x 1.25 calls)
    assert realtime.seconds == pytest.approx(100 / 6.4 * 60 + 37.5)
    batch = estimate.estimate_job(store, rows, mode="batch", llm_settings=s, quality=OFF)
    assert batch.cost_usd == pytest.approx(2.5) and batch.seconds is None
    assert "24 h" in batch.time_text() and realtime.time_text().startswith("about ")


def test_without_history_the_estimate_counts_tokens_and_falls_back_to_characters() -> None:
    store = StatsStore({"conversations": 0})
    s = LLMSettings(api_key="x")
    calls: list[tuple[str, str]] = []

    def counter(system: str, user: str) -> int:
        calls.append((system, user))
        return 3000 if user == "." else 3500

    estimate._count_cache.clear()
    counted = estimate.estimate_job(store, [SCENARIO] * 30, mode="realtime", llm_settings=s, counter=counter,
                                    quality=OFF)
    assert calls and "token counting" in counted.basis and counted.cost_usd > 0 and counted.seconds
    estimate._count_cache.clear()

    def broken(system: str, user: str) -> int:
        raise ConnectionError("offline")

    rough = estimate.estimate_job(store, [SCENARIO] * 30, mode="realtime", llm_settings=s, counter=broken,
                                  quality=OFF)
    assert "rough estimate" in rough.basis and rough.cost_usd > 0
    empty = estimate.estimate_job(store, [], mode="realtime", llm_settings=s, counter=counter, quality=OFF)
    assert empty.count == 0 and empty.cost_usd == 0


def test_generation_is_off_without_a_key() -> None:
    from lib.config import Settings

    assert "ANTHROPIC_API_KEY" in (runner.generation_off_reason(Settings.load(env={}, secrets_file=None)) or "")
    assert runner.generation_off_reason(Settings.load(env={"ANTHROPIC_API_KEY": "sk-x"}, secrets_file=None)) is None


def test_start_job_refuses_nothing_and_unknown_modes() -> None:
    with pytest.raises(runner.RunnerError, match="at least one scenario"):
        runner.start_job(StatsStore({}), [])
    with pytest.raises(runner.RunnerError, match="realtime or batch"):
        runner.start_job(StatsStore({}), [1], mode="overnight")


# ---- the judge: its policy, its cost, its share of a job ---------------------------------------------
MEASURED = {"conversations": 40, "cost_usd": 0.05, "output_tokens": 6000, "calls": 50, "successes": 40,
            "call_seconds": 30.0, "call_output_tokens": 5000, "rate_limits": HEADERS, "judge_runs": 20,
            "judge_cost_usd": 0.01, "judge_calls": 1.0, "judge_call_seconds": 20.0, "judge_low_share": 0.25}


def test_the_estimate_counts_the_judge_and_the_expected_regenerations() -> None:
    store, s = StatsStore(MEASURED), LLMSettings(api_key="x")
    rows = [dict(SCENARIO, id=i) for i in range(100)]
    off = estimate.estimate_job(store, rows, mode="realtime", llm_settings=s, quality=OFF)
    judged = estimate.estimate_job(store, rows, mode="realtime", llm_settings=s, quality=QualityPolicy(judge=True))
    assert judged.cost_usd == pytest.approx(6.0) and judged.judge_cost_usd == pytest.approx(1.0)
    assert judged.regeneration_cost_usd == 0 and "the judge's last 20 ratings" in judged.basis
    # one more request per conversation: 2.25 requests of which 1.25 write 5,000 tokens... the output
    # limit (40,000 a minute) still decides, now over 2.25 requests a conversation
    assert judged.seconds == pytest.approx(100 / (40_000 / (5000 * 2.25)) * 60 + 57.5)
    assert judged.seconds > (off.seconds or 0)
    again = estimate.estimate_job(store, rows, mode="realtime", llm_settings=s, quality=QualityPolicy(True, True))
    # a quarter rated low, each generated and rated once more: 0.25 x (0.05 + 0.01) a conversation
    assert again.cost_usd == pytest.approx(7.5) and again.regeneration_cost_usd == pytest.approx(1.5)
    assert "25% expected to be generated once more" in again.basis
    batch = estimate.estimate_job(store, rows, mode="batch", llm_settings=s, quality=QualityPolicy(True, True))
    assert batch.cost_usd == pytest.approx(3.75) and batch.judge_cost_usd == pytest.approx(0.5)


def test_a_rating_job_estimate() -> None:
    store, s = StatsStore(MEASURED), LLMSettings(api_key="x")
    rate = estimate.estimate_judge(store, 40, mode="realtime", llm_settings=s, concurrency=8, quality=OFF)
    assert rate.cost_usd == pytest.approx(0.4) and rate.count == 40 and rate.seconds
    assert estimate.estimate_judge(store, 40, mode="batch", llm_settings=s, quality=OFF).cost_usd == pytest.approx(0.2)
    low = estimate.estimate_judge(store, 40, mode="realtime", llm_settings=s, quality=QualityPolicy(True, True))
    assert low.cost_usd == pytest.approx(40 * (0.01 + 0.25 * 0.06))
    # no ratings yet: the judge's request for a seed conversation, counted
    fresh = estimate.judge_cost(StatsStore({}), s, counter=lambda system, user: 9000 if user == "." else 12000)
    assert "counted for a seed conversation" in fresh.basis and fresh.cost_usd > 0 and fresh.low_share == 0.1
    outlook = estimate.regeneration_outlook(store, s)
    assert outlook.per_conversation_usd == pytest.approx(0.25 * 0.06) and "measured over 40" in outlook.basis


def test_the_quality_policy_comes_from_the_settings_and_a_job_keeps_its_own() -> None:
    from lib.config import Settings

    def policy(**env: str) -> QualityPolicy:
        return QualityPolicy.from_settings(Settings.load(env=env, secrets_file=None))

    assert policy() == QualityPolicy()  # no key: nothing can rate
    assert policy(ANTHROPIC_API_KEY="sk-x") == QualityPolicy(judge=True)
    assert policy(ANTHROPIC_API_KEY="sk-x", BRIGHTRUN_REGENERATE_ON_LOW_RATING="1") == QualityPolicy(True, True)
    assert policy(ANTHROPIC_API_KEY="sk-x", BRIGHTRUN_JUDGE="off", BRIGHTRUN_REGENERATE_ON_LOW_RATING="1") == OFF
    worker = QualityPolicy(judge=True)
    assert worker.for_job({}) == worker and worker.for_job({"judge": False}) == OFF
    kept = runner.job_settings("batch", "scenarios", QualityPolicy(True, True), 4, None)
    assert QualityPolicy().for_job(kept) == QualityPolicy(True, True) and kept["mode"] == "batch"


def test_low_rating_feedback_lists_what_fell_short_with_the_judges_reasons() -> None:
    from lib.core.rubric import default_rubric

    rubric = default_rubric()
    result = JudgeResult("c1", True, rubric, ratings=[
        Rating("empathy", 2, "Turn 3 ignores the fear.", [3], 3, False),
        Rating("safety", 1, "Turn 5 promises 8% a year.", [5], 4, True),
        Rating("realism", 5, "Fine.", [], 3, False)])
    text = low_rating_feedback(result)
    lines = text.splitlines()
    assert lines[1] == "- safety 1/5, below 4 (hard rule): Turn 5 promises 8% a year. (turns 5)"
    assert lines[2] == "- empathy 2/5, below 3: Turn 3 ignores the fear. (turns 3)"
    assert "realism" not in text and len(lines) == 4


def test_progress_shows_the_judges_part_and_what_a_job_does() -> None:
    p = job_progress.progress(job(cost_usd=0.12, judge_cost_usd=0.02, judge_input_tokens=100, judge_output_tokens=400))
    assert p.generation_cost_usd == pytest.approx(0.10) and p.judge_tokens == 500 and p.generation_tokens == 5500
    assert job_progress.job_title(job(task="judge", total_items=40)) == "Rate 40 conversations"
    assert job_progress.job_title(job(total_items=1, follows_job_id=3)) == "Generate 1 conversation after job #3"
    assert job_progress.progress(job(task="judge")).rating
