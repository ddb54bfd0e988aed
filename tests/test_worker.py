"""The generation worker against a real (embedded) PostgreSQL and the fake Anthropic server: jobs run
to the end with exactly one conversation per item, whatever fails, crashes or is stopped."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from lib.generation import jobs as runner
from lib.generation.llm import LLMSettings
from lib.generation.ratelimit import AdaptiveLimiter
from lib.store.boot import import_seeds
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from lib.generation.worker import Worker
from lib.generation.worker_config import WorkerConfig
from tests.conftest import scenario_rows
from tests.fake_anthropic import Behaviour, FakeAnthropic, FakeLimits

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(lease_s=5, heartbeat_s=0.3, poll_s=0.05, batch_poll_s=0.05, batch_lease_s=3, requeue_every_s=0.3)


def settings_for(fake: FakeAnthropic, **kw: Any) -> LLMSettings:
    values: dict[str, Any] = dict(api_key=fake.api_key, base_url=fake.url, backoff_base_s=0.01, backoff_max_s=0.05,
                                  retry_after_cap_s=0.1, timeout_s=10.0, max_retries=2)
    values.update(kw)
    return LLMSettings(**values)


def make_worker(store: PostgresStore, fake: FakeAnthropic, tax: Taxonomy, name: str = "w1", *,
                concurrency: int = 4, **cfg: Any) -> Worker:
    config = WorkerConfig(name=name, concurrency=concurrency, **{**FAST, **cfg})
    # no pacing from the fake's fixed headers, no slow start: these tests are about correctness
    limiter = AdaptiveLimiter(concurrency, pace=False, slow_start=False)
    return Worker(store, settings_for(fake), config, tax=tax, limiter=limiter)


def run_until_idle(worker: Worker, timeout: float = 120) -> None:
    worker.config.until_idle = True
    asyncio.run(asyncio.wait_for(worker.run(), timeout))


class Background:
    """A worker in its own thread and event loop, as the app runs it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.worker.run())
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop"
        if self.error is not None:
            raise self.error


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def new_job(store: PostgresStore, tax: Taxonomy, n: int, **kw: Any) -> tuple[int, list[int]]:
    ids = store.add_scenarios(scenario_rows(tax, n))
    return store.create_job(ids, **kw), ids


def conversations_per_item(db_dsn: str, job_id: int) -> dict[int, int]:
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        rows = c.execute(
            "select i.id, count(c.id) as n from public.generation_job_items i "
            "left join public.conversations c on c.scenario_id = i.scenario_id and c.source = 'generated' "
            "where i.job_id = %(job)s group by i.id order by i.id", {"job": job_id}).fetchall()
    return {r["id"]: r["n"] for r in rows}


def assert_settled(store: PostgresStore, db_dsn: str, job_id: int) -> dict[str, Any]:
    """The job is completed; each item succeeded with exactly one conversation (its own), or
    failed with a reason and none; no scenario is left queued or generating."""
    job = store.get_job(job_id)
    assert job is not None and job["status"] == "completed", job
    items = store.job_items(job_id)
    per_item = conversations_per_item(db_dsn, job_id)
    for item in items:
        assert item["status"] in ("succeeded", "failed"), item
        if item["status"] == "succeeded":
            assert per_item[item["id"]] == 1, item
            conv = store.get_conversation(item["conversation_id"])
            assert conv is not None and conv.provenance.source == "generated"
        else:
            assert per_item[item["id"]] == 0 and item["error"], item
    statuses = {r["status"] for r in store.list_scenarios({"ids": [i["scenario_id"] for i in items]})}
    assert not statuses & {"queued", "generating"}, statuses
    return job


# ---- a job end to end ---------------------------------------------------------------------------
def test_a_job_runs_to_the_end_with_one_conversation_per_item(seeded: PostgresStore, fake: FakeAnthropic,
                                                              db_tax: Taxonomy, db_dsn: str) -> None:
    job_id, ids = new_job(seeded, db_tax, 6, created_by="Dana")
    worker = make_worker(seeded, fake, db_tax)
    run_until_idle(worker)
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] == 6 and job["cost_usd"] > 0 and job["output_tokens"] > 0
    assert sorted(worker.processed) == sorted(i["id"] for i in seeded.job_items(job_id))
    assert {e.outcome for e in worker.events} == {"ok"}
    assert len(fake.message_requests()) == 6
    assert {r["status"] for r in seeded.list_scenarios({"ids": ids})} == {"generated"}


def test_fifty_items_with_twenty_percent_random_failures_end_valid_or_failed_with_a_reason(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str) -> None:
    rng = random.Random(20251122)
    failures = [Behaviour("rate_limit", retry_after="0"), "overloaded", "server_error", "malformed", "schema_violation",
                "refusal", "too_few_turns", "unknown_label", "wrong_arc", "max_tokens"]
    lock = threading.Lock()
    drawn: list[str] = []

    def answer(body: dict[str, Any]) -> Any:
        with lock:
            behaviour = rng.choice(failures) if rng.random() < 0.2 else "valid"
            drawn.append(behaviour if isinstance(behaviour, str) else behaviour.kind)
        return fake.answer(body, behaviour)

    fake.default = answer
    job_id, _ = new_job(seeded, db_tax, 50)
    worker = make_worker(seeded, fake, db_tax, concurrency=8)
    run_until_idle(worker)
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] + job["failed_items"] == 50
    assert job["succeeded_items"] >= 35  # most failures are repaired or retried
    assert sum(1 for d in drawn if d != "valid") >= 8  # the failures really happened
    # every model call is logged against its item, and no key is in any log row
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        logged = c.execute("select item_id, count(*) as n from public.generation_logs where job_id = %(j)s "
                           "group by item_id", {"j": job_id}).fetchall()
        dump = str(c.execute("select * from public.generation_logs").fetchall())
    assert len(logged) == 50 and fake.api_key not in dump


def test_two_workers_on_one_job_never_generate_the_same_item(seeded: PostgresStore, fake: FakeAnthropic,
                                                             db_tax: Taxonomy, db_dsn: str) -> None:
    fake.default = Behaviour("slow", delay=0.05)
    job_id, _ = new_job(seeded, db_tax, 30)
    a = make_worker(seeded, fake, db_tax, "worker-a", concurrency=3)
    b = make_worker(seeded, fake, db_tax, "worker-b", concurrency=3)
    threads = [threading.Thread(target=run_until_idle, args=(w,)) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert_settled(seeded, db_dsn, job_id)
    assert a.processed and b.processed  # both worked
    assert not set(a.processed) & set(b.processed)
    assert len(a.processed) + len(b.processed) == 30
    # one first request per item: nothing was generated twice
    assert len(fake.message_requests()) == 30
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        owners = c.execute("select c.id, m.value #>> '{}' as worker from public.conversations c join "
                           "public.conversation_metadata m on m.conversation_id = c.id and m.key = 'worker' "
                           "where c.source = 'generated'").fetchall()
    assert {o["worker"] for o in owners} == {"worker-a", "worker-b"} and len(owners) == 30


def test_stop_then_resume_completes_the_rest(seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy,
                                             db_dsn: str) -> None:
    fake.default = Behaviour("slow", delay=0.1)
    job_id, _ = new_job(seeded, db_tax, 20)
    with Background(make_worker(seeded, fake, db_tax, concurrency=2)):
        wait_for(lambda: seeded.get_job(job_id)["succeeded_items"] >= 4, what="4 conversations")
        message = runner.stop_job(seeded, job_id)
        assert "stopped" in message
        # items in flight finish; nothing new starts
        stopped = wait_for(lambda: (j := seeded.get_job(job_id))["claimed_items"] == 0 and j, what="in-flight items")
        assert stopped["status"] == "stopped" and stopped["failed_items"] == 0 and stopped["pending_items"] == 0
        assert stopped["cancelled_items"] > 0
        assert stopped["succeeded_items"] + stopped["cancelled_items"] == 20
        time.sleep(0.3)  # the worker keeps polling, and claims nothing of a stopped job
        assert seeded.get_job(job_id)["succeeded_items"] == stopped["succeeded_items"]
        assert "queued again" in runner.resume_job(seeded, job_id)
        wait_for(lambda: seeded.get_job(job_id)["status"] == "completed", what="the resumed job")
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] == 20


def test_an_invalid_key_fails_the_job_with_its_reason_and_resume_queues_it_again(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str) -> None:
    fake.default = "unauthorized"
    job_id, _ = new_job(seeded, db_tax, 5)
    worker = make_worker(seeded, fake, db_tax, concurrency=1, fatal_pause_s=60)
    with Background(worker):
        failed = wait_for(lambda: (j := seeded.get_job(job_id))["status"] == "failed" and j, what="the failed job")
        assert "API key is invalid" in failed["error"]
        assert failed["cancelled_items"] >= 4 and failed["succeeded_items"] == 0
    assert worker.fatal and len(fake.message_requests()) == 1  # it did not try every item
    fake.default = "valid"
    assert "queued again" in runner.resume_job(seeded, job_id)
    assert seeded.get_job(job_id)["error"] is None
    run_until_idle(make_worker(seeded, fake, db_tax))
    assert assert_settled(seeded, db_dsn, job_id)["succeeded_items"] == 5


def test_a_worker_that_shuts_down_gives_its_items_back_without_using_an_attempt(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy) -> None:
    fake.default = Behaviour("slow", delay=3)
    job_id, _ = new_job(seeded, db_tax, 3)
    with Background(make_worker(seeded, fake, db_tax, concurrency=3)):
        wait_for(lambda: seeded.get_job(job_id)["claimed_items"] == 3, what="3 items in flight")
    items = seeded.job_items(job_id)
    assert {i["status"] for i in items} == {"pending"} and {i["attempts"] for i in items} == {0}
    assert {r["status"] for r in seeded.list_scenarios({"ids": [i["scenario_id"] for i in items]})} == {"queued"}


def test_enforced_rate_limits_are_followed_without_a_storm_of_429s(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str) -> None:
    # 600 requests a minute with a 1-second bucket: 10 a second at most, 20 items at once would burst
    fake.limits = FakeLimits(rpm=600, otpm=None, burst_s=1.0, integer_retry_after=False)
    fake.latency = lambda: 0.05
    job_id, _ = new_job(seeded, db_tax, 30)
    config = WorkerConfig(name="paced", concurrency=20, **FAST)
    worker = Worker(seeded, settings_for(fake), config, tax=db_tax)
    run_until_idle(worker)
    assert_settled(seeded, db_dsn, job_id)["succeeded_items"] == 30
    assert fake.rate_limited <= 6, fake.rate_limited  # the first burst may hit a few; then it paces
    assert worker.limiter.limits.rpm == 600


# ---- crashes ----------------------------------------------------------------------------------
def start_cli_worker(dsn: str, fake: FakeAnthropic, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SUPABASE_", "BRIGHTRUN_"))}
    env.update({"DATABASE_URL": dsn, "ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url})
    log = open(tmp_path / "worker.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "lib.generation.worker_cli", "--lease", "2", "--heartbeat", "0.4", "--poll", "0.1",
                             "--batch-poll", "0.2", "--batch-lease", "2", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def kill_mid_job(store: PostgresStore, job_id: int, proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker once it stored a few conversations and holds items in flight."""
    try:
        wait_for(lambda: store.get_job(job_id)["succeeded_items"] >= 3, timeout=90, what="the first conversations")
        wait_for(lambda: store.get_job(job_id)["claimed_items"] > 0, what="items in flight")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigkill_mid_job_then_a_new_worker_completes_it_with_one_conversation_per_item(
        fresh_dsn: str, fake: FakeAnthropic, db_tax: Taxonomy, tmp_path: Path) -> None:
    fake.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)  # headers that do not slow anyone down
    fake.default = Behaviour("slow", delay=0.3)
    store = PostgresStore(fresh_dsn, min_size=1, max_size=6)
    try:
        import_seeds(store, ROOT / "seeds", db_tax)
        job_id, _ = new_job(store, db_tax, 16)
        kill_mid_job(store, job_id, start_cli_worker(fresh_dsn, fake, tmp_path, "--concurrency", "3"))
        killed = store.get_job(job_id)
        assert killed["claimed_items"] > 0 and killed["status"] == "running"  # left behind by the dead worker
        run_until_idle(make_worker(store, fake, db_tax, "successor", lease_s=2))
        job = assert_settled(store, fresh_dsn, job_id)
        assert job["succeeded_items"] == 16
        dead = {i["id"] for i in store.job_items(job_id) if i["attempts"] == 2}
        assert dead  # the items the dead worker held were claimed again after their leases expired
    finally:
        store.close()
    assert "worker worker@" in (tmp_path / "worker.log").read_text()


def test_a_killed_workers_items_are_claimed_again_at_once_not_after_their_lease(
        fresh_dsn: str, fake: FakeAnthropic, db_tax: Taxonomy, tmp_path: Path) -> None:
    fake.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)
    fake.default = Behaviour("slow", delay=0.3)
    store = PostgresStore(fresh_dsn, min_size=1, max_size=6)
    try:
        import_seeds(store, ROOT / "seeds", db_tax)
        job_id, _ = new_job(store, db_tax, 12)
        # leases of ten minutes: only the end of its connection can give its items back in time
        kill_mid_job(store, job_id, start_cli_worker(fresh_dsn, fake, tmp_path, "--concurrency", "3", "--lease", "600",
                                                     "--name", "doomed"))
        orphans = {i["id"] for i in store.job_items(job_id) if i["status"] == "claimed" and i["lease_owner"] == "doomed"}
        assert orphans
        successor = make_worker(store, fake, db_tax, "successor", lease_s=600, requeue_every_s=60)
        run_until_idle(successor, timeout=60)
        job = assert_settled(store, fresh_dsn, job_id)
        assert job["succeeded_items"] == 12
        assert orphans <= set(successor.processed)  # the successor finished them, each once
    finally:
        store.close()


# ---- batch mode ----------------------------------------------------------------------------------
def test_a_batch_job_goes_through_message_batches_and_the_same_repair_path(
        seeded: PostgresStore, fake: FakeAnthropic, db_tax: Taxonomy, db_dsn: str) -> None:
    seen: dict[str, int] = {}
    sent: dict[str, dict[str, Any]] = {}

    def behaviour(custom_id: str, params: dict[str, Any]) -> str:
        seen[custom_id] = seen.get(custom_id, 0) + 1
        sent[custom_id] = params
        first = seen[custom_id] == 1
        n = int(custom_id.removeprefix("item-"))
        if n == 1:
            return "malformed"  # repaired with a live call
        if n == 2 and first:
            return "errored"    # a failed request: into the next batch
        if n == 3 and first:
            return "expired"    # not processed in time: into the next batch, no attempt used
        return "valid"

    fake.batch_behaviour = behaviour
    job_id, _ = new_job(seeded, db_tax, 6, kind="batch")
    worker = make_worker(seeded, fake, db_tax)
    run_until_idle(worker)
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] == 6 and job["kind"] == "batch"
    assert len(worker.batches_submitted) == 2 and job["batch_id"] == worker.batches_submitted[-1]
    assert len(fake.message_requests()) == 1  # only the repair went through the normal API
    items = {i["id"]: i for i in seeded.job_items(job_id)}
    assert items[2]["attempts"] == 2 and items[3]["attempts"] == 1  # an expired request is not the item's fault
    first = seeded.get_conversation(items[4]["conversation_id"])
    assert first is not None and first.provenance.parameters
    # the batch request and the stored conversation agree on who the person is: the item's id seeds both
    variation = first.provenance.parameters["variation"]
    assert variation["seed"] == 4 and variation["person"]["name"] in str(sent["item-4"]["messages"][0]["content"])
    with psycopg.connect(db_dsn, row_factory=dict_row) as c:
        logs = c.execute("select item_id, outcome, parameters ->> 'source' as source from public.generation_logs "
                         "where job_id = %(j)s order by id", {"j": job_id}).fetchall()
    assert [(r["outcome"], r["source"]) for r in logs if r["item_id"] == 1] == [("invalid", "batch"), ("repaired", None)]
    assert any(r["item_id"] == 2 and r["outcome"] == "error" for r in logs)
    # batch prices: the answers that came back through the batch cost half
    assert job["cost_usd"] > 0


def test_a_batch_job_survives_a_restart_of_the_worker(fresh_dsn: str, fake: FakeAnthropic, db_tax: Taxonomy,
                                                      tmp_path: Path) -> None:
    fake.limits = FakeLimits(rpm=1_000_000, otpm=1_000_000_000)
    fake.batch_polls_to_end = 10**9  # the batch stays in progress while the first worker runs
    store = PostgresStore(fresh_dsn, min_size=1, max_size=6)
    try:
        import_seeds(store, ROOT / "seeds", db_tax)
        job_id, _ = new_job(store, db_tax, 5, kind="batch")
        proc = start_cli_worker(fresh_dsn, fake, tmp_path)
        try:
            submitted = wait_for(lambda: store.get_job(job_id)["batch_id"], timeout=90, what="the batch")
            wait_for(lambda: sum(1 for r in fake.requests if r.path.endswith(submitted)) >= 2, what="polls")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert store.get_job(job_id)["batch_status"] == "in_progress"
        fake.batch_polls_to_end = 0  # it ends while no worker is watching
        worker = make_worker(store, fake, db_tax, "after-restart", batch_lease_s=2)
        run_until_idle(worker)
        job = assert_settled(store, fresh_dsn, job_id)
        assert job["succeeded_items"] == 5 and job["batch_id"] == submitted
        assert worker.batches_submitted == []  # the new worker polled the same batch: nothing paid twice
        assert sum(1 for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches") == 1
    finally:
        store.close()


def test_stopping_a_batch_job_cancels_its_message_batch(seeded: PostgresStore, fake: FakeAnthropic,
                                                        db_tax: Taxonomy, db_dsn: str) -> None:
    fake.batch_polls_to_end = 10**9
    job_id, _ = new_job(seeded, db_tax, 4, kind="batch")
    with Background(make_worker(seeded, fake, db_tax)):
        wait_for(lambda: seeded.get_job(job_id)["batch_id"], what="the batch")
        message = runner.stop_job(seeded, job_id, llm_settings=settings_for(fake))
        assert "being cancelled" in message
        assert any(r.path.endswith("/cancel") for r in fake.requests)
        assert seeded.get_job(job_id)["cancelled_items"] == 4
        # Resume: the canceled batch's requests go into a new batch, and the job completes
        fake.batch_polls_to_end = 1
        runner.resume_job(seeded, job_id)
        wait_for(lambda: seeded.get_job(job_id)["status"] == "completed", what="the resumed batch job")
    job = assert_settled(seeded, db_dsn, job_id)
    assert job["succeeded_items"] == 4
    assert sum(1 for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches") == 2
