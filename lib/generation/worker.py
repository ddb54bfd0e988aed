"""The generation worker: claims job items, generates them concurrently within the rate limits, and
stores the results.

The app runs one worker as a thread per server process (lib.generation.app_worker); `python -m lib
worker` (lib.generation.worker_cli) runs more, on any machine that reaches the same database
(DATABASE_URL) with an API key.

How a worker keeps its promises (see "Long work" in the design notes):
- It claims items with a lease (claim_job_items: `for update skip locked`, so two workers never
  get the same item) and extends the leases of the items in flight with heartbeats. A worker that
  is killed loses its liveness session (lib.generation.liveness): its items are claimable again at
  once; one that hangs stops sending heartbeats and its items are claimed again once their leases
  expire. Saving is idempotent per item, so a crash loses nothing and stores nothing twice.
- It runs items as asyncio tasks, as many at once as lib.generation.ratelimit.AdaptiveLimiter's
  window allows (settings.concurrency at most); every request takes its share of the account's
  rate budget, shared with the other workers of the database (lib.generation.budget), and every
  answer's anthropic-ratelimit-* headers and 429s adjust it. max_tokens is sized per template from
  the measured answers; the first request of a cached prompt prefix goes alone.
- Stop (lib.generation.jobs.stop_job) cancels the items not started; the ones in flight finish and are
  stored. A worker that shuts down (the app exits, Ctrl-C, SIGTERM) cancels what it has in flight
  and gives those items back without using up an attempt (release_job_items).
- An error every item would hit (an invalid key, an unknown model) fails the job with its reason
  (fail_job) and the worker stops claiming for a while; Resume queues the items again. So does the
  circuit breaker: `breaker_failures` failures in a row with the same cause (an endpoint that went away,
  a model whose answers the checks keep rejecting) fail the job, before it spends more.
- Every failure is one line in the server log, and so is every change of a job's outcome. What a
  worker reports (its events, the failures that stop a job) is lib.generation.worker_report.
- Batch jobs (the Message Batches API at half the price) are driven by lib.generation.batch; their
  results run here like live answers.
- Rating jobs (task 'judge') run the same way: each item rates a conversation with the quality judge
  (lib.generation.rating). With the judge on, a generation item rates what it stored (realtime) or
  queues it for the job's follow-up rating job (batch).
- Contrastive jobs (task 'contrast') too: each item writes failed responses for a conversation's assistant
  turns (lib.generation.contrast_jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from lib.core.rubric import Rubric
from lib.core.taxonomy import Taxonomy
from lib.generation.attempts import AttemptLog
from lib.generation.batch import BatchDriver
from lib.generation.budget import OutputSizer, PrefixGate, SharedBudget, account_key
from lib.generation.contrast_jobs import Contraster
from lib.generation.engine import agenerate_one
from lib.generation.job_progress import ACTIVE_JOB_STATUSES, note_job_state
from lib.generation.liveness import Liveness
from lib.generation.llm import LLMClient, LLMSettings
from lib.generation.ratelimit import AdaptiveLimiter
from lib.generation.rating import ItemDone, Rater
from lib.generation.response import LLMResponse
from lib.generation.worker_config import WorkerConfig
from lib.generation.worker_report import Event, WorkerReport
from lib.store.protocol import JobItem, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class Worker:
    """One worker: an asyncio loop that claims and runs items until stop() (or until idle)."""

    def __init__(
        self,
        store: Store,
        llm_settings: LLMSettings,
        config: WorkerConfig | None = None,
        *,
        tax: Taxonomy | None = None,
        seeds: Sequence[Any] | None = None,
        limiter: AdaptiveLimiter | None = None,
        on_event: Callable[[Event], None] | None = None,
        rubric: Rubric | None = None,
    ) -> None:
        self.store = store
        self.llm_settings = llm_settings
        self.config = config or WorkerConfig()
        self.name = self.config.name
        self.tax = tax
        self.seeds = seeds
        self.limiter = limiter or AdaptiveLimiter(self.config.concurrency)
        self.report = WorkerReport(
            store,
            self.name,
            breaker_failures=self.config.breaker_failures,
            fatal_pause_s=self.config.fatal_pause_s,
            on_event=on_event,
            on_fatal=self.stop if self.config.exit_on_fatal else None,
        )
        # the batch driver and the rater report through the worker, as its own items do
        self.record_event = self.report.record_event
        self.on_fatal = self.report.on_fatal
        self.batches = BatchDriver(self)
        self.rater = Rater(self, self.config.quality, rubric)
        self.contraster = Contraster(self)
        self._held: dict[int, JobItem] = {}  # claimed items, in flight or waiting for a batch result
        self._tasks: dict[asyncio.Task[None], int] = {}
        self._started: dict[int, float] = {}
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._drain_s = self.config.drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._llm: LLMClient | None = None
        self.liveness = Liveness(store, self.name)
        self.sizer = OutputSizer(llm_settings.max_tokens)
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
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def fatal(self) -> str | None:
        """Why the last job this worker ran into an error every item would hit was failed."""
        return self.report.fatal

    @property
    def events(self) -> deque[Event]:
        return self.report.events

    @property
    def processed(self) -> list[int]:
        """The item ids this worker finished (ok or failed)."""
        return self.report.processed

    @property
    def batches_submitted(self) -> list[str]:
        """The Message Batches this worker created."""
        return self.batches.submitted

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
            return {
                "name": self.name,
                "state": self._state,
                "in_flight": held,
                "fatal": self.report.fatal,
                "limiter": self.limiter.snapshot(),
                "max_tokens": self.sizer.snapshot(),
                "session": self.liveness.held,
                "events": self.report.recent(20),
            }

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.tax is None or self.seeds is None:
            await asyncio.to_thread(self._load_prompt_inputs)
        await asyncio.to_thread(self._prepare_limits)
        self._llm = LLMClient(
            self.llm_settings,
            before_try=self.limiter.before_request,
            on_try=self.limiter.observe,
            max_tokens_for=self.sizer.max_tokens_for if self.config.size_max_tokens else None,
        )
        heartbeats = asyncio.create_task(self._heartbeats(), name=f"{self.name}-heartbeats")
        self._set_state("running")
        try:
            await self._main()
        finally:
            heartbeats.cancel()
            await self._shutdown()
            await self._llm.aclose()
            await self.batches.aclose()
            if self.limiter.budget is not None:
                await self.limiter.budget.drain()
            self.liveness.close()
            self._set_state("stopped")

    def _prepare_limits(self) -> None:
        """Before the first claim: the session the database sees end with this process, the shared
        budget of the account, the cache warm-up, and the measured output sizes."""
        self.liveness.open()
        cfg, lim = self.config, self.limiter
        account = account_key(self.llm_settings.api_key, self.llm_settings.base_url)
        if cfg.shared_budget and lim.budget is None:
            lim.budget = SharedBudget(self.store, account)
        if cfg.warm_cache and lim.gate is None:
            lim.gate = PrefixGate(self.store if cfg.shared_budget else None, account, worker=self.name)
        if cfg.size_max_tokens:
            self.sizer.load(self.store, self.llm_settings.model)

    @property
    def taxonomy(self) -> Taxonomy:
        """The taxonomy the prompts are built with; run() loads it before the first item."""
        if self.tax is None:
            from lib.core.taxonomy import load_taxonomy

            self.tax = load_taxonomy()
        return self.tax

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
        next_sizes = time.monotonic() + cfg.sizes_every_s  # _prepare_limits read them just now
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
                if cfg.size_max_tokens and now >= next_sizes:
                    await asyncio.to_thread(self.sizer.load, self.store, self.llm_settings.model)
                    next_sizes = now + cfg.sizes_every_s
                if now >= self.report.paused_until:
                    free = self.limiter.claimable(len(self._tasks), cfg.poll_s)
                    if free and await self._claims_live():
                        items = await asyncio.to_thread(
                            self.store.claim_items, self.name, limit=free, lease_seconds=cfg.lease_s, job_id=cfg.job_id
                        )
                        for item in items:
                            self.hold(item)
                            self.start_item(item)
                        claimed = len(items)
                    if now >= next_batch and not self._stop.is_set():
                        batch_work, soon = await self.batches.step()
                        next_batch = time.monotonic() + (cfg.poll_s if soon else cfg.batch_poll_s)
                if (
                    cfg.until_idle
                    and not self._tasks
                    and not claimed
                    and not batch_work
                    and not await asyncio.to_thread(self._work_left)
                ):
                    return
            except StoreUnavailable as exc:
                log.warning("worker %s: %s; trying again in %.0f s", self.name, exc, max(cfg.poll_s, 5.0))
                await self._sleep(max(cfg.poll_s, 5.0))
                continue
            except StoreError as exc:
                log.warning("worker %s: %s", self.name, exc)
            await self._sleep(cfg.poll_s if claimed == 0 else 0.0)

    async def _claims_live(self) -> bool:
        """False for a worker kept to one batch job: its items wait for their Message Batches results."""
        if self.config.job_id is None:
            return True
        try:
            return (await self.rater.job(self.config.job_id))["kind"] != "batch"
        except LookupError:  # no such job: nothing to claim
            return False

    async def _sleep(self, seconds: float) -> None:
        """Sleep until `seconds` pass, an item finishes, or stop() is called."""
        assert self._wake is not None
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=seconds)
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
            self.release(left)
        await self.batches.release_leases()

    # -- one item --------------------------------------------------------------------------------
    @property
    def llm(self) -> LLMClient:
        """The client of the running loop (its limiter paces every request)."""
        if self._llm is None:
            raise RuntimeError("the worker's client exists only while run() runs")
        return self._llm

    def hold(self, item: JobItem) -> None:
        """A claimed item: its lease is extended by the heartbeats until it is dropped or finished."""
        self._held[item.id] = item

    def drop(self, item_id: int) -> None:
        self._held.pop(item_id, None)

    def working_on(self, job_id: int) -> bool:
        """Does this worker hold an item of the job (in flight, or waiting for a batch result)?"""
        return any(i.job_id == job_id for i in list(self._held.values()))

    async def wait_for_room(self) -> None:
        """Until the limiter's window has room for one more item (or the worker stops)."""
        while not self.limiter.capacity(len(self._tasks)) and not self._stop.is_set():
            await self._sleep(self.config.poll_s)

    def start_item(self, item: JobItem, initial: LLMResponse | None = None) -> None:
        task = asyncio.create_task(self._process(item, initial), name=f"item-{item.id}")
        self._tasks[task] = item.id
        self._started[item.id] = time.monotonic()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        item_id = self._tasks.pop(task, None)
        if item_id is not None:
            self.drop(item_id)
            self._started.pop(item_id, None)
        if self._wake is not None:
            self._wake.set()

    async def _process(self, item: JobItem, initial: LLMResponse | None) -> None:
        started = time.monotonic()
        try:
            task = (await self.rater.job(item.job_id))["task"]
            if task == "judge":
                done = await self.rater.rate_item(item, initial)
            elif task == "contrast":
                done = await self.contraster.run_item(item, initial)
            else:
                done = await self._generate(item, initial)
        except asyncio.CancelledError:
            if item.id not in self._lost:
                self.release([item.id])
                self.record_event(item, "released", "the worker stopped; the item went back to the queue", started)
            raise
        except StoreUnavailable as exc:  # the lease expires and the item is claimed again
            self.record_event(item, "error", str(exc), started)
        except LookupError as exc:  # the scenario, conversation or job is gone
            self.report.fail(item, str(exc), started, "missing")
        except Exception as exc:  # a bug: the item fails with what happened, the worker goes on
            log.exception("worker %s: item %s (scenario #%s) failed unexpectedly", self.name, item.id, item.scenario_id)
            self.report.fail(
                item,
                f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}. "
                "Retry it; if it fails again, report it with the server log.",
                started,
                "unexpected",
            )
        else:
            self.record_event(item, done.outcome, done.reason, started, done.cost_usd, note=done.note)
            self.processed.append(item.id)
        with contextlib.suppress(StoreError):
            job = await asyncio.to_thread(self.store.get_job, item.job_id)
            if job is not None:
                note_job_state(job)

    async def _generate(self, item: JobItem, initial: LLMResponse | None) -> ItemDone:
        result = await agenerate_one(
            self.store,
            item.scenario_id,
            settings=self.llm_settings,
            feedback=item.feedback,
            job_item_id=item.id,
            job_id=item.job_id,
            llm=self._llm,
            tax=self.tax,
            seeds=self.seeds,
            worker=self.name,
            initial=initial,
        )
        self.learn(result.attempts)
        if result.fatal:
            self.on_fatal(item, result.reason or "generation stopped")
        elif result.ok:
            self.report.breaker.success(item.job_id)
        else:
            self.report.count_failure(item, result.cause or "other", result.reason or "")
        cost, note = result.cost_usd, None
        if result.ok and result.conversation_id:
            rated = await self.rater.after_generation(item, result.conversation_id)
            if rated is not None:
                cost += rated.cost_usd
                note = "rated: " + rated.summary()
        outcome = "ok" if result.ok else ("retry" if result.retryable else "failed")
        return ItemDone(outcome, None if result.ok else result.reason, cost, note)

    def learn(self, attempts: Sequence[AttemptLog]) -> None:
        """The limiter learns the tokens of each live answer (a batch answer spent no live budget)."""
        for a in attempts:
            if a.http_status == 200 and a.parameters.get("source") != "batch":
                self.limiter.observe_usage(
                    a.usage.input_tokens, a.usage.output_tokens, a.usage.cache_creation_input_tokens
                )
            if a.http_status == 200 and a.purpose in ("generate", "repair"):
                self.sizer.observe(
                    a.template.name if a.template else None,
                    a.usage.output_tokens,
                    truncated=a.outcome == "truncated",
                    max_tokens=int(a.parameters.get("max_tokens") or 0),
                )

    def release(self, item_ids: Sequence[int]) -> None:
        """Give items back to the queue without using up an attempt."""
        try:
            self.store.release_items(self.name, list(item_ids))
        except StoreError as exc:  # their leases expire instead
            log.warning("worker %s: could not give back items %s: %s", self.name, list(item_ids), exc)
        for i in item_ids:
            self.drop(i)

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    # -- heartbeats ------------------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.heartbeat_s)
            try:
                await asyncio.to_thread(self.liveness.check)
                ids = list(self._held)
                if ids:
                    held = set(await asyncio.to_thread(self.store.heartbeat, self.name, ids, lease_seconds=cfg.lease_s))
                    for task, item_id in list(self._tasks.items()):
                        if item_id in ids and item_id not in held and not task.done():
                            # its lease expired and another worker took it: that one finishes it
                            log.warning(
                                "worker %s lost item %s to another worker; cancelling it here", self.name, item_id
                            )
                            self._lost.add(item_id)
                            task.cancel()
                await self.batches.renew_leases()
            except StoreError as exc:
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)


__all__ = ["Event", "Worker"]
