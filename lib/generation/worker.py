"""The generation worker: claims job items, generates them concurrently within the rate limits, and
stores the results.

    python -m lib worker [--concurrency 8] [--job ID] [--until-idle] [--name NAME]

The app runs one worker as a thread per server process (lib.ui.common.get_worker); this command runs
more, on any machine that reaches the same database (DATABASE_URL) with an API key.

How a worker keeps its promises (see "Long work" in the design notes):
- It claims items with a lease (claim_job_items: `for update skip locked`, so two workers never
  get the same item) and extends the leases of the items in flight with heartbeats. A worker that
  dies stops sending them: its items are claimed again once their leases expire, and saving is
  idempotent per item, so a crash loses nothing and stores nothing twice.
- It runs items as asyncio tasks, as many at once as lib.generation.jobs.AdaptiveLimiter's window allows
  (settings.concurrency at most); every request waits for the limiter's pace, and every answer's
  anthropic-ratelimit-* headers and 429s adjust it.
- Stop (lib.generation.jobs.stop_job) cancels the items not started; the ones in flight finish and are
  stored. A worker that shuts down (the app exits, Ctrl-C, SIGTERM) cancels what it has in flight
  and gives those items back without using up an attempt (release_job_items).
- An error every item would hit (an invalid key, an unknown model) fails the job with its reason
  (fail_job) and the worker stops claiming for a while; Resume queues the items again.
- Batch jobs (the Message Batches API at half the price) are driven by one worker at a time under
  a job lease: it submits the job's pending items as one batch (custom_id item-<id>), records the
  batch id on the job, polls it, and when it has ended reads the results through the same
  validation and repair path as a live answer (repairs use the normal API). Any worker takes the
  job over when the lease expires, so a batch survives an app restart.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.generation.engine import AttemptLog, GenerationResult, _feedback_for, agenerate_one, scenario_from_row
from lib.generation.llm import LLMClient, LLMResponse, LLMSettings, response_from_body
from lib.generation.prompting import PromptError, build_prompt
from lib.generation.jobs import ACTIVE_JOB_STATUSES, AdaptiveLimiter
from lib.store.protocol import JobItem, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


def worker_name(prefix: str = "worker") -> str:
    """A name unique to this process: host, pid and a random tag (a restarted process is a new worker)."""
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


@dataclass
class WorkerConfig:
    name: str = field(default_factory=worker_name)
    concurrency: int = 8
    lease_s: int = 120            # an item's lease; heartbeats extend it while the item is in flight
    heartbeat_s: float = 20.0
    poll_s: float = 1.0           # how often to look for new work
    batch_poll_s: float = 30.0    # how often to ask the Message Batches API about a batch in progress
    batch_lease_s: int = 90       # the lease on a batch job; another worker takes over after it
    batch_max_requests: int = 10_000
    requeue_every_s: float = 30.0
    job_id: int | None = None     # only this job
    until_idle: bool = False      # return when no job has work left
    fatal_pause_s: float = 30.0   # no claiming for this long after an error every item would hit
    exit_on_fatal: bool = False   # the CLI: stop instead (nothing else would work either)
    drain_s: float = 0.0          # on stop: let items in flight finish for up to this long


@dataclass(frozen=True)
class Event:
    """One item finished (or given up) by this worker: for the CLI's output and the status panel."""
    at: float
    job_id: int
    item_id: int
    scenario_id: int
    outcome: str                  # ok | failed | retry | released | error
    reason: str | None = None
    seconds: float = 0.0
    cost_usd: float = 0.0


class Worker:
    """One worker: an asyncio loop that claims and runs items until stop() (or until idle)."""

    def __init__(self, store: Any, llm_settings: LLMSettings, config: WorkerConfig | None = None, *,
                 tax: Any = None, seeds: Sequence[Any] | None = None, limiter: AdaptiveLimiter | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.store = store
        self.llm_settings = llm_settings
        self.config = config or WorkerConfig()
        self.name = self.config.name
        self.tax = tax
        self.seeds = seeds
        self.limiter = limiter or AdaptiveLimiter(self.config.concurrency)
        self.on_event = on_event
        self.events: deque[Event] = deque(maxlen=200)
        self.processed: list[int] = []          # item ids this worker finished (ok or failed)
        self.fatal: str | None = None
        self.batches_submitted: list[str] = []
        self._held: dict[int, JobItem] = {}      # claimed items, in flight or waiting for a batch result
        self._tasks: dict[asyncio.Task[None], int] = {}
        self._started: dict[int, float] = {}
        self._lost: set[int] = set()
        self._batch_jobs: set[int] = set()
        self._stop = threading.Event()
        self._drain_s = self.config.drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._fatal_until = 0.0
        self._llm: LLMClient | None = None
        self._batch_client: Any = None
        self._lock = threading.Lock()
        self._state = "starting"

    # -- control (any thread) --------------------------------------------------------------------
    def stop(self, *, drain_s: float | None = None) -> None:
        """Stop claiming; cancel what is in flight (after `drain_s` seconds) and give it back."""
        if drain_s is not None:
            self._drain_s = drain_s
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def status(self) -> dict[str, Any]:
        """A snapshot safe to read from another thread (the Generate page)."""
        for _ in range(5):  # the loop may change _held meanwhile
            try:
                held = sorted(self._held)
                break
            except RuntimeError:
                continue
        else:
            held = []
        with self._lock:
            return {"name": self.name, "state": self._state, "in_flight": held,
                    "fatal": self.fatal, "limiter": self.limiter.snapshot(),
                    "events": list(self.events)[-20:]}

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.tax is None or self.seeds is None:
            await asyncio.to_thread(self._load_prompt_inputs)
        self._llm = LLMClient(self.llm_settings, before_try=self.limiter.before_request, on_try=self.limiter.observe)
        heartbeats = asyncio.create_task(self._heartbeats(), name=f"{self.name}-heartbeats")
        self._set_state("running")
        try:
            await self._main()
        finally:
            heartbeats.cancel()
            await self._shutdown()
            await self._llm.aclose()
            if self._batch_client is not None:
                await self._batch_client.close()
            self._set_state("stopped")

    def _load_prompt_inputs(self) -> None:
        from lib.core.seeds import load_seeds
        from lib.core.taxonomy import load_taxonomy

        if self.tax is None:
            self.tax = load_taxonomy()
        if self.seeds is None:
            try:
                self.seeds = self.store.seed_examples() or load_seeds().conversations
            except StoreError:
                self.seeds = load_seeds().conversations

    async def _main(self) -> None:
        cfg = self.config
        next_requeue = 0.0
        next_batch = 0.0
        batch_work = False
        while not self._stop.is_set():
            now = time.monotonic()
            claimed = 0
            if not self._tasks:
                self.limiter.idle()
            try:
                if now >= next_requeue:
                    await asyncio.to_thread(self.store.requeue_expired)
                    next_requeue = now + cfg.requeue_every_s
                if now >= self._fatal_until:
                    free = self.limiter.claimable(len(self._tasks), cfg.poll_s)
                    if free:
                        items = await asyncio.to_thread(self.store.claim_items, self.name, limit=free,
                                                        lease_seconds=cfg.lease_s, job_id=cfg.job_id)
                        for item in items:
                            self._held[item.id] = item
                            self._start(item)
                        claimed = len(items)
                    if now >= next_batch and not self._stop.is_set():
                        batch_work, soon = await self._drive_batches()
                        next_batch = time.monotonic() + (cfg.poll_s if soon else cfg.batch_poll_s)
                if cfg.until_idle and not self._tasks and not claimed and not batch_work \
                        and not await asyncio.to_thread(self._work_left):
                    return
            except StoreUnavailable as exc:
                log.warning("worker %s: %s; trying again in %.0f s", self.name, exc, max(cfg.poll_s, 5.0))
                await self._sleep(max(cfg.poll_s, 5.0))
                continue
            except StoreError as exc:
                log.warning("worker %s: %s", self.name, exc)
            await self._sleep(cfg.poll_s if claimed == 0 else 0.0)

    async def _sleep(self, seconds: float) -> None:
        """Sleep until `seconds` pass, an item finishes, or stop() is called."""
        assert self._wake is not None
        if seconds > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=seconds)
            except TimeoutError:
                pass
        self._wake.clear()

    def _work_left(self) -> bool:
        """Is any item of an active job still pending or claimed (by anyone)?"""
        if self.config.job_id is not None:
            job = self.store.get_job(self.config.job_id)
            jobs = [job] if job else []
        else:
            jobs = self.store.list_jobs(200)
        return any(j["status"] in ACTIVE_JOB_STATUSES and (j["pending_items"] or j["claimed_items"]) for j in jobs)

    async def _shutdown(self) -> None:
        """Let items in flight finish for drain_s seconds, then cancel them and give them back."""
        if self._tasks and self._drain_s > 0:
            self._set_state("draining")
            await asyncio.wait(list(self._tasks), timeout=self._drain_s)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        left = [i for i in self._held if i not in self._lost]
        if left:  # waiting for a batch result, never started
            self._release(left)
        for job_id in list(self._batch_jobs):
            try:
                await asyncio.to_thread(self.store.release_batch_job, job_id, self.name)
            except StoreError:
                pass
        self._batch_jobs.clear()

    # -- one item --------------------------------------------------------------------------------
    def _start(self, item: JobItem, initial: LLMResponse | None = None) -> None:
        task = asyncio.create_task(self._process(item, initial), name=f"item-{item.id}")
        self._tasks[task] = item.id
        self._started[item.id] = time.monotonic()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        item_id = self._tasks.pop(task, None)
        if item_id is not None:
            self._held.pop(item_id, None)
            self._started.pop(item_id, None)
        if self._wake is not None:
            self._wake.set()

    async def _process(self, item: JobItem, initial: LLMResponse | None) -> None:
        started = time.monotonic()
        try:
            result = await agenerate_one(
                self.store, item.scenario_id, settings=self.llm_settings, feedback=item.feedback,
                job_item_id=item.id, job_id=item.job_id, llm=self._llm, tax=self.tax, seeds=self.seeds,
                worker=self.name, initial=initial)
        except asyncio.CancelledError:
            if item.id not in self._lost:
                self._release([item.id])
                self._event(item, "released", "the worker stopped; the item went back to the queue", started)
            raise
        except StoreUnavailable as exc:  # the lease expires and the item is claimed again
            self._event(item, "error", str(exc), started)
        except LookupError as exc:  # the scenario is gone
            self._fail(item, str(exc), started)
        except Exception as exc:  # a bug: the item fails with what happened, the worker goes on
            log.exception("worker %s: item %s (scenario #%s) failed unexpectedly", self.name, item.id, item.scenario_id)
            self._fail(item, f"unexpected error while generating: {type(exc).__name__}: {str(exc)[:300]}. "
                             "Retry it; if it fails again, report it with the server log.", started)
        else:
            self._learn(result)
            if result.fatal:
                self._on_fatal(item, result.reason or "generation stopped")
            outcome = "ok" if result.ok else ("retry" if result.retryable else "failed")
            self._event(item, outcome, None if result.ok else result.reason, started, result.cost_usd)
            self.processed.append(item.id)

    def _learn(self, result: GenerationResult) -> None:
        for a in result.attempts:
            if a.http_status == 200 and a.parameters.get("source") != "batch":
                self.limiter.observe_usage(a.usage.input_tokens, a.usage.output_tokens,
                                           a.usage.cache_creation_input_tokens)

    def _fail(self, item: JobItem, reason: str, started: float) -> None:
        try:
            self.store.fail_item(item.id, reason, worker=self.name)
        except StoreError as exc:
            log.warning("worker %s: could not record the failure of item %s: %s", self.name, item.id, exc)
        self._event(item, "failed", reason, started)
        self.processed.append(item.id)

    def _release(self, item_ids: Sequence[int]) -> None:
        try:
            self.store.release_items(self.name, list(item_ids))
        except StoreError as exc:  # their leases expire instead
            log.warning("worker %s: could not give back items %s: %s", self.name, list(item_ids), exc)
        for i in item_ids:
            self._held.pop(i, None)

    def _on_fatal(self, item: JobItem, reason: str) -> None:
        self.fatal = reason
        self._fatal_until = time.monotonic() + self.config.fatal_pause_s
        log.error("worker %s: %s", self.name, reason)
        try:
            self.store.fail_job(item.job_id, reason)
        except StoreError as exc:
            log.warning("worker %s: could not stop job %s: %s", self.name, item.job_id, exc)
        if self.config.exit_on_fatal:
            self.stop()

    def _event(self, item: JobItem, outcome: str, reason: str | None, started: float, cost: float = 0.0) -> None:
        ev = Event(at=time.time(), job_id=item.job_id, item_id=item.id, scenario_id=item.scenario_id, outcome=outcome,
                   reason=reason, seconds=round(time.monotonic() - started, 2), cost_usd=round(cost, 6))
        with self._lock:
            self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a printing callback must not break the worker
                log.exception("worker event callback failed")

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    # -- heartbeats ------------------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.heartbeat_s)
            try:
                ids = list(self._held)
                if ids:
                    held = set(await asyncio.to_thread(self.store.heartbeat, self.name, ids, lease_seconds=cfg.lease_s))
                    for task, item_id in list(self._tasks.items()):
                        if item_id in ids and item_id not in held and not task.done():
                            # its lease expired and another worker took it: that one finishes it
                            log.warning("worker %s lost item %s to another worker; cancelling it here", self.name, item_id)
                            self._lost.add(item_id)
                            task.cancel()
                for job_id in list(self._batch_jobs):
                    kept = await asyncio.to_thread(self.store.claim_batch_jobs, self.name,
                                                   lease_seconds=cfg.batch_lease_s, job_id=job_id)
                    if not kept:
                        self._batch_jobs.discard(job_id)
            except StoreError as exc:
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)

    # -- batch jobs ------------------------------------------------------------------------------
    def _batches(self) -> Any:
        if self._batch_client is None:
            import anthropic

            self._batch_client = anthropic.AsyncAnthropic(
                api_key=self.llm_settings.api_key, base_url=self.llm_settings.base_url or None,
                max_retries=3, timeout=120.0)
        return self._batch_client.messages.batches

    async def _drive_batches(self) -> tuple[bool, bool]:
        """One step for every batch job this worker may drive. Returns (any batch job has work,
        something to do soon, e.g. results to read or items to submit)."""
        jobs = await asyncio.to_thread(self.store.claim_batch_jobs, self.name, lease_seconds=self.config.batch_lease_s,
                                       job_id=self.config.job_id)
        self._batch_jobs = {int(j["id"]) for j in jobs}
        soon = False
        for job in jobs:
            if self._stop.is_set():
                break
            try:
                soon = await self._drive_batch(job) or soon
            except StoreError:
                raise
            except Exception as exc:  # the API is unreachable or refused: try again at the next poll
                log.warning("worker %s: batch job %s: %s: %s", self.name, job["id"], type(exc).__name__, str(exc)[:300])
        return bool(jobs), soon

    async def _drive_batch(self, job: dict[str, Any]) -> bool:
        job_id = int(job["id"])
        batch_id: str | None = job.get("batch_id")
        status: str | None = job.get("batch_status")
        if batch_id and status != "ended":
            batch = await self._batches().retrieve(batch_id)
            status = batch.processing_status
            await asyncio.to_thread(self.store.record_job_batch, job_id, self.name, batch_status=status)
            if status != "ended":
                return False
        items = await asyncio.to_thread(self.store.job_items, job_id)
        prefix = (batch_id + ":") if batch_id else None
        unread = [i for i in items if prefix and (i.get("batch_request_id") or "").startswith(prefix)
                  and i["status"] in ("pending", "claimed")]
        if unread:
            if any(i["status"] == "pending" for i in unread) or any(
                    i["status"] == "claimed" and i.get("lease_owner") != self.name for i in unread):
                await self._read_results(job_id, str(batch_id))
            return True
        unsent = [i for i in items if i["status"] == "pending"
                  and not (prefix and (i.get("batch_request_id") or "").startswith(prefix))]
        if unsent:
            await self._submit(job_id, unsent[: self.config.batch_max_requests])
            return False
        return False

    async def _submit(self, job_id: int, items: list[dict[str, Any]]) -> None:
        assert self._llm is not None
        rows = {r["id"]: r for r in await asyncio.to_thread(
            self.store.list_scenarios, {"ids": [i["scenario_id"] for i in items]})}
        requests: list[dict[str, Any]] = []
        sent: list[int] = []
        for item in items:
            row = rows.get(item["scenario_id"])
            try:
                if row is None:
                    raise LookupError(f"scenario #{item['scenario_id']} does not exist any more")
                scenario = scenario_from_row(row)
                fb = _feedback_for(self.store, item["scenario_id"], item["feedback"], self.tax) if item.get("feedback") else None
                plan = build_prompt(scenario, self.tax, self.seeds or [], feedback=fb)
            except (LookupError, PromptError, ValueError) as exc:
                await asyncio.to_thread(self.store.fail_item, item["id"], str(exc), worker=self.name)
                continue
            params = self._llm.request_params(plan.system, [{"role": "user", "content": plan.user}])
            requests.append({"custom_id": f"item-{item['id']}", "params": params})
            sent.append(int(item["id"]))
        if not requests:
            return
        batch = await self._batches().create(requests=requests)
        ok = await asyncio.to_thread(self.store.record_job_batch, job_id, self.name, batch_id=batch.id,
                                     batch_status=batch.processing_status, item_ids=sent,
                                     request_ids=[f"{batch.id}:item-{i}" for i in sent])
        if not ok:  # another worker took the job over meanwhile: do not pay twice
            log.warning("worker %s lost batch job %s while submitting; cancelling batch %s", self.name, job_id, batch.id)
            await self._batches().cancel(batch.id)
            return
        self.batches_submitted.append(batch.id)
        log.info("worker %s: job %s: submitted %d requests as Message Batch %s", self.name, job_id, len(sent), batch.id)

    async def _read_results(self, job_id: int, batch_id: str) -> None:
        claimed = await asyncio.to_thread(self.store.claim_batch_items, self.name, job_id, batch_id,
                                          limit=100_000, lease_seconds=self.config.lease_s)
        if not claimed:
            return
        waiting = {f"item-{i.id}": i for i in claimed}
        for i in claimed:
            self._held[i.id] = i
        read_all = False
        try:
            results = await self._batches().results(batch_id)
            async for entry in results:
                item = waiting.pop(entry.custom_id, None)
                if item is None:
                    continue
                # read: a retry of this item goes into a new batch
                await asyncio.to_thread(self.store.record_job_batch, job_id, self.name, item_ids=[item.id],
                                        request_ids=[None])
                await self._take_result(item, entry.result, batch_id)
                if self._stop.is_set():
                    break
            else:
                read_all = True
        finally:
            if waiting and read_all:  # the batch has no result for them: send them again
                ids = [i.id for i in waiting.values()]
                await asyncio.to_thread(self.store.record_job_batch, job_id, self.name, item_ids=ids,
                                        request_ids=[None] * len(ids))
                for item in waiting.values():
                    await asyncio.to_thread(self.store.fail_item, item.id, f"Message Batch {batch_id} had no result "
                                            "for this item; it goes into the next batch", worker=self.name, retry=True)
                    self._held.pop(item.id, None)
            elif waiting:  # not read (an error, or stopping): back in the queue, still in this batch
                self._release([i.id for i in waiting.values()])

    async def _take_result(self, item: JobItem, result: Any, batch_id: str) -> None:
        kind = getattr(result, "type", None)
        if kind == "succeeded":
            body = result.message.to_dict()
            initial = response_from_body(body, settings=self.llm_settings, requested_model=self.llm_settings.model,
                                         batch=True, max_tokens=self.llm_settings.max_tokens)
            while not self.limiter.capacity(len(self._tasks)) and not self._stop.is_set():
                await self._sleep(self.config.poll_s)
            self._start(item, initial)
            return
        started = time.monotonic()
        if kind in ("canceled", "expired"):
            self._release([item.id])
            self._event(item, "released", f"the batch request was {kind}; it goes into the next batch", started)
            return
        err = getattr(getattr(result, "error", None), "error", None)
        detail = f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', '')}".strip(": ")
        reason = (f"the Message Batches request failed ({detail or kind}); it is retried in the next batch "
                  "while it has attempts left")
        await asyncio.to_thread(self.store.log_generation, AttemptLog(
            attempt=1, purpose="generate", outcome="error", model=self.llm_settings.model, template=None,
            parameters={"source": "batch", "batch_id": batch_id, "result": kind}, error=reason,
        ).as_row(scenario_id=item.scenario_id, item_id=item.id, job_id=item.job_id,
                 secrets=[self.llm_settings.api_key or ""]))
        status = await asyncio.to_thread(self.store.fail_item, item.id, reason, worker=self.name, retry=True)
        self._held.pop(item.id, None)
        self._event(item, "retry" if status == "pending" else "failed", reason, started)
        if status != "pending":
            self.processed.append(item.id)


# ---- the app's worker thread ------------------------------------------------------------------
class WorkerThread:
    """A Worker on its own event loop in a daemon thread. The thread never calls st.*; pages read
    status() and the database."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="brightrun-worker", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.worker.run())
        except Exception as exc:  # the thread ends; the page shows why, and the leases expire
            log.exception("the generation worker stopped")
            self.error = f"{type(exc).__name__}: {exc}"

    def start(self) -> WorkerThread:
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        return {**self.worker.status(), "alive": self.alive, "error": self.error}


def start_app_worker(store: Any, settings: Any, **config: Any) -> WorkerThread | None:
    """The app's worker (lib.ui.common.get_worker), or None when there is no API key (offline demos)."""
    if settings is None or not getattr(settings, "has_api_key", False):
        return None
    llm_settings = LLMSettings.from_settings(settings)
    cfg = WorkerConfig(name=worker_name("app"), concurrency=int(getattr(settings, "concurrency", 8) or 8), **config)
    stats = {}
    try:
        stats = store.generation_stats(llm_settings.model)
    except (StoreError, AttributeError):
        pass
    limiter = AdaptiveLimiter(cfg.concurrency, output_tokens=stats.get("call_output_tokens") or None)
    return WorkerThread(Worker(store, llm_settings, cfg, limiter=limiter)).start()


# ---- python -m lib worker -----------------------------------------------------------------------
def _print_event(ev: Event) -> None:
    reason = f": {ev.reason}" if ev.reason else ""
    cost = f" ${ev.cost_usd:.4f}" if ev.cost_usd else ""
    print(f"job {ev.job_id} item {ev.item_id} scenario #{ev.scenario_id}: {ev.outcome} in {ev.seconds:.1f} s{cost}{reason}",
          flush=True)


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib worker") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=(
        "Run a generation worker against the app's database (DATABASE_URL, else the embedded one): it claims "
        "queued job items and generates them with Claude. Several may run at once, on any machines."))
    parser.add_argument("--concurrency", type=int, default=None, help="items at once (default: BRIGHTRUN_CONCURRENCY or 8)")
    parser.add_argument("--job", type=int, default=None, help="work on this job only")
    parser.add_argument("--until-idle", action="store_true", help="exit when no job has work left")
    parser.add_argument("--name", default=None, help="the worker's name in the leases (default: host, pid, tag)")
    parser.add_argument("--lease", type=int, default=120, help="lease seconds of a claimed item (default 120)")
    parser.add_argument("--heartbeat", type=float, default=None, help="seconds between heartbeats (default lease/6)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks for new work (default 1)")
    parser.add_argument("--batch-poll", type=float, default=30.0,
                        help="seconds between polls of a Message Batch in progress (default 30)")
    parser.add_argument("--batch-lease", type=int, default=90,
                        help="lease seconds of a batch job; another worker takes it over after that (default 90)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="on Ctrl-C / SIGTERM, let items in flight finish for this many seconds (default 30)")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from lib.config import ConfigError, Settings
    from lib.store import open_store

    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.has_api_key:
        print("error: no Anthropic API key: set ANTHROPIC_API_KEY (or put it in .streamlit/secrets.toml)", file=sys.stderr)
        return 2
    try:
        store = open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    concurrency = args.concurrency or settings.concurrency
    if concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    cfg = WorkerConfig(name=args.name or worker_name(), concurrency=concurrency, lease_s=max(args.lease, 2),
                       heartbeat_s=args.heartbeat or max(args.lease / 6, 0.5), poll_s=args.poll,
                       batch_poll_s=args.batch_poll, batch_lease_s=max(args.batch_lease, 2), job_id=args.job, until_idle=args.until_idle,
                       drain_s=args.drain, requeue_every_s=max(args.lease / 4, 1.0), exit_on_fatal=True)
    llm_settings = LLMSettings.from_settings(settings)
    worker = Worker(store, llm_settings, cfg, on_event=None if args.quiet else _print_event)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                print(f"stopping: items in flight get {cfg.drain_s:.0f} s to finish (again to cancel them now)",
                      file=sys.stderr, flush=True)
                worker.stop()
            else:
                worker.stop(drain_s=0)
                for task in asyncio.all_tasks(loop):
                    if task.get_name().startswith("item-"):
                        task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await worker.run()

    print(f"worker {cfg.name}: concurrency {cfg.concurrency}, model {llm_settings.model}"
          + (f", job {cfg.job_id} only" if cfg.job_id else "") + (", until idle" if cfg.until_idle else ""), flush=True)
    try:
        asyncio.run(run())
    finally:
        store.close()
    if worker.fatal:
        print(f"error: {worker.fatal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
