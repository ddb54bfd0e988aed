"""The quality judge in the runner, against a real (embedded) PostgreSQL and the fake Anthropic server:
rating jobs (realtime and batch, stop and resume), the rating after each generation, a judge failure
that leaves the conversation stored and unrated, and the one regeneration a low rating triggers."""
from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from lib.core.models import Usage
from lib.core.taxonomy import Taxonomy
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.generation.pricing import load_prices
from lib.generation.rating import QualityPolicy
from lib.store.postgres import PostgresStore
from lib.store.protocol import StoreError
from tests.fake_anthropic import Behaviour, FakeAnthropic, is_judge_request
from tests.test_worker import Background, assert_settled, make_worker, new_job, run_until_idle, wait_for

JUDGE = QualityPolicy(judge=True)
REGENERATE = QualityPolicy(judge=True, regenerate_on_low_rating=True)


def rows(db_dsn: str, query: str, **params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        return c.execute(query, params).fetchall()


def rated(db_dsn: str, conversation_ids: list[str]) -> dict[str, bool]:
    """conversation id -> flagged, for the conversations that have ratings in force."""
    found = rows(db_dsn, "select conversation_id, flagged from public.v_conversation_quality "
                         "where conversation_id = any(%(ids)s)", ids=conversation_ids)
    return {r["conversation_id"]: r["flagged"] for r in found}


def judge_requests(fake: FakeAnthropic) -> list[dict[str, Any]]:
    return [r.body for r in fake.message_requests() if is_judge_request(r.body)]


def statuses(store: PostgresStore, scenario_ids: list[int]) -> dict[int, str]:
    return {r["id"]: r["status"] for r in store.list_scenarios({"ids": scenario_ids})}


def completed(store: PostgresStore, job_id: int) -> dict[str, Any]:
    """The job completed with every item succeeded, and no scenario is left queued or generating
    (assert_settled, for jobs whose scenarios are regenerated afterwards)."""
    job = store.get_job(job_id)
    assert job is not None and job["status"] == "completed" and job["succeeded_items"] == job["total_items"], job
    scenario_ids = [i["scenario_id"] for i in store.job_items(job_id)]
    assert not set(statuses(store, scenario_ids).values()) & {"queued", "generating"}
    return job


def follow_ups(store: PostgresStore, job_id: int) -> list[dict[str, Any]]:
    return [j for j in store.list_jobs(50) if j["follows_job_id"] == job_id]


# ---- after each generation ---------------------------------------------------------------------
def test_a_realtime_job_rates_each_conversation_right_after_storing_it(seeded: PostgresStore, fake: FakeAnthropic,
                                                                        db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, _ = new_job(seeded, db_tax, 3)
    worker = make_worker(seeded, fake, db_tax, quality=JUDGE)
    run_until_idle(worker)
    job = assert_settled(seeded, db_dsn, job_id)
    items = seeded.job_items(job_id)
    convs = [i["conversation_id"] for i in items]
    assert set(rated(db_dsn, convs)) == set(convs)
    assert len(judge_requests(fake)) == 3 and len(fake.message_requests()) == 6  # one client, one budget
    logs = rows(db_dsn, "select item_id, purpose, cost_usd, input_tokens, output_tokens from public.generation_logs "
                        "where job_id = %(j)s", j=job_id)
    judged = [r for r in logs if r["purpose"] == "judge"]
    assert sorted(r["item_id"] for r in judged) == sorted(i["id"] for i in items)
    # the job's cost is everything its items spent; the judge's part is shown apart
    assert float(job["cost_usd"]) == pytest.approx(sum(float(r["cost_usd"]) for r in logs), abs=1e-5)
    assert float(job["judge_cost_usd"]) == pytest.approx(sum(float(r["cost_usd"]) for r in judged), abs=1e-5)
    assert job["judge_calls"] == 3 and job["judge_output_tokens"] == sum(r["output_tokens"] for r in judged)
    p = job_progress.progress(job)
    assert 0 < p.judge_cost_usd < p.generation_cost_usd and p.judge_tokens > 0
    assert p.generation_tokens == sum(r["input_tokens"] + r["output_tokens"] for r in logs if r["purpose"] != "judge")
    assert all(e.outcome == "ok" and (e.note or "").startswith("rated: empathy") for e in worker.events)
    assert not set(convs) & set(seeded.conversations_to_judge(100))


def test_without_the_judge_nothing_is_rated(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy,
                                            db_dsn: str) -> None:
    job_id, _ = new_job(seeded, db_tax, 2, settings={"judge": False})
    run_until_idle(make_worker(seeded, fake, db_tax, quality=JUDGE))  # the job's own policy wins
    job = assert_settled(seeded, db_dsn, job_id)
    assert judge_requests(fake) == [] and job["judge_calls"] == 0
    assert rated(db_dsn, [i["conversation_id"] for i in seeded.job_items(job_id)]) == {}


def test_a_judge_failure_leaves_the_conversation_stored_and_unrated_for_a_later_rating_job(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake.default = lambda body: fake.answer(body, "refusal" if is_judge_request(body) else "valid")
    job_id, _ = new_job(seeded, db_tax, 2)
    run_until_idle(make_worker(seeded, fake, db_tax, quality=JUDGE))
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] == 2 and job["failed_items"] == 0
    convs = [i["conversation_id"] for i in seeded.job_items(job_id)]
    assert rated(db_dsn, convs) == {} and set(convs) <= set(seeded.conversations_to_judge(100))
    refused = rows(db_dsn, "select item_id, outcome from public.generation_logs where job_id = %(j)s "
                           "and purpose = 'judge'", j=job_id)
    assert [r["outcome"] for r in refused] == ["refused", "refused"]  # logged against the items

    # the store failing while saving the ratings does not touch the conversation either
    fake.default = "valid"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("cannot save the judge's ratings: the database refused")

    monkeypatch.setattr(seeded, "save_judge_result", broken)
    other, _ = new_job(seeded, db_tax, 1)
    run_until_idle(make_worker(seeded, fake, db_tax, quality=JUDGE))
    assert assert_settled(seeded, db_dsn, other)["succeeded_items"] == 1
    [stored] = [i["conversation_id"] for i in seeded.job_items(other)]
    assert seeded.get_conversation(stored) is not None and rated(db_dsn, [stored]) == {}
    monkeypatch.undo()

    # a later rating job picks them up
    later, n = runner.start_judge_job(seeded, conversation_ids=[*convs, stored], quality=QualityPolicy())
    assert n == 3
    run_until_idle(make_worker(seeded, fake, db_tax))
    assert seeded.get_job(later)["succeeded_items"] == 3 and set(rated(db_dsn, [*convs, stored])) == {*convs, stored}


def test_a_batch_job_hands_what_it_stored_to_one_follow_up_rating_batch(seeded: PostgresStore, fake: FakeAnthropic,
                                                                        db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, _ = new_job(seeded, db_tax, 4, kind="batch")
    worker = make_worker(seeded, fake, db_tax, quality=JUDGE)
    run_until_idle(worker)
    assert_settled(seeded, db_dsn, job_id)
    [follow] = follow_ups(seeded, job_id)
    assert (follow["task"], follow["kind"], follow["status"], follow["succeeded_items"]) == ("judge", "batch",
                                                                                           "completed", 4)
    assert len(worker.batches_submitted) == 2 and follow["batch_id"] == worker.batches_submitted[1]
    assert fake.message_requests() == []  # generation and rating both went through Message Batches
    convs = [i["conversation_id"] for i in seeded.job_items(job_id)]
    assert set(rated(db_dsn, convs)) == set(convs)
    logs = rows(db_dsn, "select parameters ->> 'source' as source, cost_usd from public.generation_logs "
                        "where job_id = %(j)s", j=follow["id"])
    assert len(logs) == 4 and {r["source"] for r in logs} == {"batch"}
    assert float(follow["cost_usd"]) > 0
    assert float(follow["judge_cost_usd"]) == pytest.approx(float(follow["cost_usd"]), abs=1e-5)


# ---- rating jobs ---------------------------------------------------------------------------------
def test_a_batch_rating_job_rates_at_half_price_and_leaves_the_scenarios_alone(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str) -> None:
    todo = seeded.conversations_to_judge(100)
    scenario_ids = [r["id"] for r in seeded.list_scenarios() if r["conversation_id"] in todo]
    before = statuses(seeded, scenario_ids)
    job_id, n = runner.start_judge_job(seeded, mode="batch", limit=4, quality=QualityPolicy())
    assert n == 4 and seeded.judge_backlog() == len(todo) - 4
    assert statuses(seeded, scenario_ids) == before
    # realtime first, for the price of the same requests
    live, _ = runner.start_judge_job(seeded, conversation_ids=todo[4:6], quality=QualityPolicy())
    worker = make_worker(seeded, fake, db_tax)
    run_until_idle(worker)
    job, realtime = seeded.get_job(job_id), seeded.get_job(live)
    assert job["task"] == "judge" and job["succeeded_items"] == 4 and len(worker.batches_submitted) == 1
    assert set(rated(db_dsn, todo[:6])) == set(todo[:6])
    assert statuses(seeded, scenario_ids) == before
    assert realtime["succeeded_items"] == 2 and float(job["judge_cost_usd"]) > 0
    prices = load_prices()
    logs = rows(db_dsn, "select job_id, model, cost_usd, input_tokens, output_tokens, cache_read_tokens, "
                        "cache_write_tokens from public.generation_logs where job_id in (%(a)s, %(b)s)",
                a=job_id, b=live)
    assert len(logs) == 6
    for r in logs:  # each at its price: the batch's at half
        usage = Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                      cache_read_input_tokens=r["cache_read_tokens"],
                      cache_creation_input_tokens=r["cache_write_tokens"])
        full = prices.cost(usage, r["model"])
        assert full and float(r["cost_usd"]) == pytest.approx(full * (0.5 if r["job_id"] == job_id else 1), abs=2e-6)
    assert job_progress.progress(job).generation_cost_usd == pytest.approx(0, abs=1e-6)


def test_stopping_and_resuming_a_rating_job(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy,
                                            db_dsn: str) -> None:
    fake.default = Behaviour("slow", delay=0.15)
    todo = seeded.conversations_to_judge(100)
    scenario_ids = [r["id"] for r in seeded.list_scenarios() if r["conversation_id"] in todo]
    before = statuses(seeded, scenario_ids)
    job_id, n = runner.start_judge_job(seeded, quality=QualityPolicy())
    assert n == len(todo) == 10
    with Background(make_worker(seeded, fake, db_tax, concurrency=2)):
        wait_for(lambda: seeded.get_job(job_id)["succeeded_items"] >= 2, what="2 ratings")
        assert "stopped" in runner.stop_job(seeded, job_id)
        stopped = wait_for(lambda: (j := seeded.get_job(job_id))["claimed_items"] == 0 and j, what="in flight")
        assert stopped["status"] == "stopped" and stopped["cancelled_items"] > 0
        assert stopped["succeeded_items"] + stopped["cancelled_items"] == 10
        assert statuses(seeded, scenario_ids) == before  # neither queued nor generating, ever
        assert len(seeded.conversations_to_judge(100)) == stopped["cancelled_items"]  # cancelled: not queued
        assert "queued again" in runner.resume_job(seeded, job_id)
        wait_for(lambda: seeded.get_job(job_id)["status"] == "completed", what="the resumed job")
    assert seeded.get_job(job_id)["succeeded_items"] == 10 and statuses(seeded, scenario_ids) == before
    # each conversation rated once: one judge run each
    runs = rows(db_dsn, "select conversation_id, count(distinct run_id) as n from public.conversation_ratings "
                        "group by conversation_id")
    assert sorted(r["conversation_id"] for r in runs) == sorted(todo) and {r["n"] for r in runs} == {1}


def test_a_rating_job_skips_what_is_rated_or_queued_and_says_when_nothing_is_left(seeded: PostgresStore) -> None:
    first, n = runner.start_judge_job(seeded, limit=3, quality=QualityPolicy())
    assert n == 3 and seeded.judge_backlog() == 7
    second, m = runner.start_judge_job(seeded, quality=QualityPolicy())
    assert m == 7 and not {i["conversation_id"] for i in seeded.job_items(first)} & {
        i["conversation_id"] for i in seeded.job_items(second)}
    with pytest.raises(runner.RunnerError, match="Nothing to rate"):
        runner.start_judge_job(seeded, quality=QualityPolicy())
    # a rating job does not keep a scenario from being generated again
    [item] = seeded.job_items(first)[:1]
    assert seeded.create_job([item["scenario_id"]]) > 0


# ---- a low rating ------------------------------------------------------------------------------------
def test_a_low_rating_triggers_one_regeneration_with_the_judges_reasons(seeded: PostgresStore, fake: FakeAnthropic,
                                                                         db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, ids = new_job(seeded, db_tax, 2)
    low, fine = (seeded.get_scenario(i) for i in ids)
    assert low["topic"] != fine["topic"]
    fake.low_rating_topics = {low["topic"]}
    run_until_idle(make_worker(seeded, fake, db_tax, quality=REGENERATE))
    completed(seeded, job_id)
    [again] = follow_ups(seeded, job_id)
    completed(seeded, again["id"])
    assert (again["task"], again["total_items"], again["status"]) == ("generate", 1, "completed")
    [item] = seeded.job_items(again["id"])
    assert item["scenario_id"] == low["id"] and item["status"] == "succeeded"
    assert "empathy 2/5, below 3" in item["feedback"] and "without naming what the person says" in item["feedback"]
    versions = seeded.conversation_versions(low["id"])
    assert [v.id for v in versions] == [item["conversation_id"], item["previous_conversation_id"]]
    # the regeneration's request carried the judge's reasons as feedback
    generation = [r.body for r in fake.message_requests() if not is_judge_request(r.body)]
    assert sum("without naming what the person says" in str(b["messages"]) for b in generation) == 1
    # rated low again, and not regenerated a second time
    assert rated(db_dsn, [v.id for v in versions]) == {v.id: True for v in versions}
    assert follow_ups(seeded, again["id"]) == []
    assert seeded.queue_follow_up(again["id"], "generate", versions[0].id, feedback="again") is None
    assert len(seeded.conversation_versions(fine["id"])) == 1 and len(judge_requests(fake)) == 3


def test_a_low_rating_regenerates_nothing_when_the_setting_is_off(seeded: PostgresStore, fake: FakeAnthropic,
                                                                  db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, ids = new_job(seeded, db_tax, 1)
    fake.low_rating_topics = {seeded.get_scenario(ids[0])["topic"]}
    run_until_idle(make_worker(seeded, fake, db_tax, quality=JUDGE))
    completed(seeded, job_id)
    [conv] = seeded.conversation_versions(ids[0])
    assert rated(db_dsn, [conv.id]) == {conv.id: True} and follow_ups(seeded, job_id) == []


def test_a_rating_job_regenerates_a_low_rated_generated_conversation_once(seeded: PostgresStore, fake: FakeAnthropic,
                                                                          db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, ids = new_job(seeded, db_tax, 1)
    run_until_idle(make_worker(seeded, fake, db_tax))  # generated, not rated
    [conv] = seeded.conversation_versions(ids[0])
    stored = [seeded.get_conversation(c) for c in seeded.conversations_to_judge(100)]
    assert len(stored) == 11
    fake.low_rating_topics = {c.scenario.topic for c in stored if c is not None}
    rating, _ = runner.start_judge_job(seeded, quality=REGENERATE)
    worker = make_worker(seeded, fake, db_tax, quality=REGENERATE)
    run_until_idle(worker)
    assert seeded.get_job(rating)["status"] == "completed"
    [again] = follow_ups(seeded, rating)
    # only the generated conversation nobody reviewed is regenerated; seeds are rated, never rewritten
    assert [i["scenario_id"] for i in seeded.job_items(again["id"])] == [ids[0]]
    assert len(seeded.conversation_versions(ids[0])) == 2 and conv.id in rated(db_dsn, [conv.id])
    assert any(e.note and "queued to be generated once more" in e.note for e in worker.events)
