"""Job outcomes that tell the truth: failed when every item failed, completed with failures, stopping
until the last item in flight settles, failures grouped by cause, the run time without the pauses, the
circuit breaker, the preflight's findings and the estimate's measured repairs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import JOB_OUTCOMES
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.generation.breaker import CircuitBreaker
from lib.generation.causes import cause_of, checks_cause, explain
from lib.generation.llm import LLMSettings, preflight
from lib.store.postgres import PostgresStore
from tests.conftest import make_conversation, scenario_rows
from tests.fake_anthropic import FakeAnthropic


def add(store: PostgresStore, tax: Taxonomy, n: int) -> list[dict[str, Any]]:
    ids = store.add_scenarios(scenario_rows(tax, n), plan_batch="test")
    return store.list_scenarios({"ids": ids})


def outcome(store: PostgresStore, job: int) -> str:
    row = store.get_job(job)
    assert row is not None
    assert row["outcome"] in JOB_OUTCOMES
    return str(row["outcome"])


# -- outcomes -------------------------------------------------------------------------------------
def test_a_job_whose_items_all_fail_ends_failed_with_one_grouped_cause(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 3)
    job = store.create_job([r["id"] for r in rows])
    for item in store.claim_items("w", limit=3):
        store.fail_item(item.id, f"unknown labels in turn {item.id}", worker="w", cause=checks_cause(["labels"]))
    row = store.get_job(job)
    assert row is not None
    assert (row["status"], row["outcome"]) == ("failed", "failed")
    assert "all 3 items failed (one cause)" in row["error"]
    [group] = store.job_failure_causes(job)
    assert (group["cause"], group["failures"]) == ("checks:labels", 3)
    assert group["example"].startswith("unknown labels in turn")
    assert group["example_scenario_id"] in {r["id"] for r in rows}


def test_some_failures_complete_with_failures_and_group_by_cause(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 4)
    job = store.create_job([r["id"] for r in rows])
    a, b, c, d = store.claim_items("w", limit=4)
    store.save_generated(make_conversation(rows[0], "conv-ok"), item_id=a.id, scenario_id=a.scenario_id)
    store.fail_item(b.id, "connection refused", cause="unreachable")
    store.fail_item(c.id, "connection refused again", cause="unreachable")
    store.fail_item(d.id, "cut off", cause="truncated")
    assert outcome(store, job) == "completed_with_failures"
    assert store.get_job(job)["status"] == "completed"  # type: ignore[index]
    groups = store.job_failure_causes(job)
    assert [(g["cause"], g["failures"]) for g in groups] == [("unreachable", 2), ("truncated", 1)]
    assert groups[0]["example"] in ("connection refused", "connection refused again")
    p = job_progress.progress(store.get_job(job))  # type: ignore[arg-type]
    assert p.outcome_label == "Completed with failures (1 ok, 3 failed)" and not p.live


def test_a_stopped_job_is_stopping_until_its_last_item_in_flight_settles(
    store: PostgresStore, db_tax: Taxonomy
) -> None:
    rows = add(store, db_tax, 3)
    job = store.create_job([r["id"] for r in rows])
    first, second = store.claim_items("w", limit=2)
    assert outcome(store, job) == "running"
    assert store.stop_job(job) == 1
    assert outcome(store, job) == "stopping" and job_progress.is_live(store.get_job(job))  # type: ignore[arg-type]
    store.save_generated(make_conversation(rows[0], "conv-a"), item_id=first.id, scenario_id=first.scenario_id)
    assert outcome(store, job) == "stopping"
    # a transient failure after Stop does not queue the item again: the job is not running any more
    assert store.fail_item(second.id, "429", retry=True, cause="rate_limited") == "cancelled"
    assert outcome(store, job) == "stopped"
    assert store.get_scenario(second.scenario_id)["status"] == "not_generated"  # type: ignore[index]
    assert store.resume_job(job) == 2  # the cancelled one and the one Stop cancelled
    assert outcome(store, job) == "running"


def test_a_failed_job_leaves_no_scenario_queued(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 3)
    job = store.create_job([r["id"] for r in rows])
    [item] = store.claim_items("w", limit=1)
    store.fail_job(job, "the API key is invalid")
    assert store.fail_item(item.id, "401", retry=True, cause="invalid_key") == "cancelled"
    statuses = {store.get_scenario(r["id"])["status"] for r in rows}  # type: ignore[index]
    assert statuses == {"not_generated"}
    assert outcome(store, job) == "failed"


def test_the_run_time_leaves_out_the_time_a_job_was_stopped(
    store: PostgresStore, db_tax: Taxonomy, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    rows = add(store, db_tax, 2)
    job = store.create_job([r["id"] for r in rows])
    store.claim_items("w", limit=1)
    # it ran for 60 s, then was stopped for an hour
    conn.execute("update public.generation_jobs set started_at = now() - interval '61 minutes' where id = %s", (job,))
    conn.execute(
        "update public.generation_jobs set run_started_at = now() - interval '61 minutes' where id = %s", (job,)
    )
    store.stop_job(job)
    conn.execute("update public.generation_jobs set active_s = 60 where id = %s", (job,))
    store.resume_job(job)
    row = store.get_job(job)
    assert row is not None
    seconds = job_progress.run_seconds(row, now=row["run_started_at"] + timedelta(seconds=7))
    assert seconds == pytest.approx(67, abs=0.5)
    assert job_progress.run_seconds({"started_at": None}) is None
    stopped = {**row, "status": "stopped"}
    assert job_progress.run_seconds(stopped, now=datetime.now(UTC) + timedelta(hours=5)) == pytest.approx(60)


def test_a_scenario_shows_its_latest_failure(store: PostgresStore, db_tax: Taxonomy) -> None:
    [scn] = add(store, db_tax, 1)
    assert store.last_failure(scn["id"]) is None
    job = store.create_job([scn["id"]], max_attempts=1)
    [item] = store.claim_items("w")
    store.fail_item(item.id, "the answer was cut off at 8000 output tokens", cause="truncated")
    got = store.last_failure(scn["id"])
    assert got is not None
    assert (got["job_id"], got["error_cause"], got["error"]) == (
        job,
        "truncated",
        "the answer was cut off at 8000 output tokens",
    )


def test_generation_stats_measure_repairs_and_what_failed_items_spent(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 2)
    store.create_job([r["id"] for r in rows])
    a, b = store.claim_items("w", limit=2)
    store.fail_item(a.id, "checks", cost_usd=0.3, cause="checks:labels")
    store.fail_item(b.id, "checks", cost_usd=0.1, cause="checks:labels")
    for purpose in ("generate", "repair", "repair", "generate"):
        store.log_generation({"purpose": purpose, "outcome": "invalid", "model": "m", "duration_ms": 10})
    stats = store.generation_stats("m")
    assert stats["repair_rate"] == pytest.approx(1.0)
    assert stats["failed_item_cost_usd"] == pytest.approx(0.2) and stats["failed_items"] == 2


# -- the circuit breaker, the log, the words --------------------------------------------------------
def test_the_circuit_breaker_trips_on_the_same_cause_in_a_row_only() -> None:
    breaker = CircuitBreaker(3)
    assert breaker.failure(1, "unreachable") is None
    assert breaker.failure(1, "unreachable") is None
    assert breaker.failure(1, "timeout") is None  # another cause starts the count again
    assert breaker.failure(1, "timeout") is None
    breaker.success(1)
    assert breaker.failure(1, "timeout") is None
    assert breaker.failure(2, "timeout") is None  # each job counts apart
    assert breaker.failure(1, "timeout") is None
    assert breaker.failure(1, "timeout") == 3


def test_each_change_of_a_job_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    job = {"id": 987_001, "status": "running", "outcome": "running", "total_items": 2, "task": "generate"}
    with caplog.at_level(logging.INFO, logger="lib.generation.job_progress"):
        job_progress.note_job_state(job)
        job_progress.note_job_state(job)
        job_progress.note_job_state({**job, "status": "failed", "outcome": "failed", "failed_items": 2, "error": "boom"})
    lines = [r for r in caplog.records if "job #987001" in r.getMessage()]
    assert len(lines) == 2
    assert "running -> failed" in lines[1].getMessage() and "boom" in lines[1].getMessage()
    assert lines[1].levelno == logging.ERROR


def test_every_cause_says_what_to_do() -> None:
    assert "ANTHROPIC_BASE_URL" in explain("unreachable")
    assert "BRIGHTRUN_MODEL" in explain("unknown_model", "model: claude-nope")
    assert "ANTHROPIC_API_KEY" in explain("invalid_key")
    assert "BRIGHTRUN_CONCURRENCY" in explain("rate_limited")
    assert cause_of("checks:arc,labels").title.endswith("arc, labels")
    assert cause_of("no such cause") == cause_of("other")
    assert not cause_of("rate_limited").blocks_start and cause_of("unreachable").blocks_start


# -- the preflight ---------------------------------------------------------------------------------
def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_preflight_tells_the_endpoint_problems_apart(db_tax: Taxonomy) -> None:
    with FakeAnthropic(db_tax) as fake:
        good = LLMSettings(api_key=fake.api_key, base_url=fake.url, model="claude-test")
        assert preflight(good).ok
        assert preflight(LLMSettings(api_key="wrong", base_url=fake.url)).cause == "invalid_key"
        fake.known_models = {"claude-test"}
        assert preflight(LLMSettings(api_key=fake.api_key, base_url=fake.url, model="claude-nope")).cause == (
            "unknown_model"
        )
        fake.script("rate_limit")
        fake.models_route = False  # an endpoint without GET /v1/models: the one-token answer decides
        assert preflight(good).cause == "rate_limited"
        assert preflight(good).ok
        spent = len(fake.message_requests())
    unreachable = LLMSettings(api_key="k", base_url=f"http://127.0.0.1:{closed_port()}")
    assert preflight(unreachable).cause == "unreachable"
    assert preflight(LLMSettings(api_key=None)).cause == "no_key"
    # a known model costs no message; an unknown one is confirmed by one, and the endpoint without the route
    # is asked one each time
    assert spent == 3


def test_a_job_is_not_started_against_an_unreachable_endpoint(store: PostgresStore, db_tax: Taxonomy) -> None:
    [scn] = add(store, db_tax, 1)
    settings = LLMSettings(api_key="k", base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(runner.RunnerError, match="could not be reached.*ANTHROPIC_BASE_URL"):
        runner.start_job(store, [scn["id"]], check=settings)
    assert store.list_jobs(5) == []
    assert store.get_scenario(scn["id"])["status"] == "not_generated"  # type: ignore[index]


# -- the worker: all failed, the circuit breaker ------------------------------------------------------
def test_a_worker_job_whose_answers_all_fail_the_checks_ends_failed_with_one_cause(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_worker import make_worker, new_job, run_until_idle

    fake.default = "unknown_label"
    job_id, _ = new_job(seeded, db_tax, 3)
    with caplog.at_level(logging.INFO):
        run_until_idle(make_worker(seeded, fake, db_tax, concurrency=3))
    job = seeded.get_job(job_id)
    assert job is not None and (job["status"], job["outcome"], job["failed_items"]) == ("failed", "failed", 3)
    [group] = seeded.job_failure_causes(job_id)
    assert group["cause"].startswith("checks:") and group["failures"] == 3
    failures = [r for r in caplog.records if f"job #{job_id} item" in r.getMessage()]
    assert len(failures) == 3 and all(r.levelno == logging.WARNING for r in failures)
    assert any(f"job #{job_id} (" in r.getMessage() and "-> failed" in r.getMessage() for r in caplog.records)


def test_the_circuit_breaker_stops_a_job_before_it_spends_the_rest(
    seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy
) -> None:
    from tests.test_worker import make_worker, new_job, run_until_idle

    fake.default = "unknown_label"
    job_id, _ = new_job(seeded, db_tax, 12)
    run_until_idle(make_worker(seeded, fake, db_tax, concurrency=1, breaker_failures=3))
    job = seeded.get_job(job_id)
    assert job is not None and job["outcome"] == "failed"
    assert "3 failures in a row with the same cause" in job["error"] and "quality checks" in job["error"]
    assert job["failed_items"] == 3 and job["cancelled_items"] == 9
    assert len(fake.message_requests()) == 3 * 3  # three items, each with its two repairs; nothing more


# -- estimates that hold: repairs and failed items are paid for ---------------------------------------
def test_the_estimate_includes_the_measured_repairs_and_failures() -> None:
    from lib.generation import estimate
    from tests.test_runner import OFF, SCENARIO, StatsStore

    s = LLMSettings(api_key="x")
    rows = [dict(SCENARIO, id=i) for i in range(100)]
    measured = {
        "conversations": 40,
        "cost_usd": 0.05,
        "calls": 60,
        "successes": 40,
        "call_seconds": 30.0,
        "failure_rate": 0.2,
        "failed_item_cost_usd": 0.15,
    }
    got = estimate.estimate_job(StatsStore(measured), rows, mode="realtime", llm_settings=s, quality=OFF)
    assert got.cost_usd == pytest.approx(100 * (0.8 * 0.05 + 0.2 * 0.15))
    assert "20% of items failing" in got.basis

    def counter(system: str, user: str) -> int:
        return 3000 if user == "." else 3500

    estimate._count_cache.clear()
    plain = estimate.estimate_job(
        StatsStore({"conversations": 0}), rows, mode="realtime", llm_settings=s, counter=counter, quality=OFF
    )
    repairs = {"conversations": 0, "calls": 30, "successes": 10, "repair_rate": 0.5}
    estimate._count_cache.clear()
    with_repairs = estimate.estimate_job(
        StatsStore(repairs), rows, mode="realtime", llm_settings=s, counter=counter, quality=OFF
    )
    assert with_repairs.cost_usd == pytest.approx(plain.cost_usd * 1.5)
    assert "0.50 repairs per generation (measured)" in with_repairs.basis
