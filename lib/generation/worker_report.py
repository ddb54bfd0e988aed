"""What a worker reports: one Event per item it finished or gave up, one server-log line per failure,
and the failures that stop a job (an error every item would hit, the circuit breaker tripping).

Apart from the worker's loop (lib.generation.worker) because the batch driver and the rater report
through the same object, and the Generate page and the CLIs read what it kept: the last events, the
items finished and the fatal reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lib.generation.breaker import CircuitBreaker
from lib.generation.causes import explain
from lib.store.protocol import JobItem, Store, StoreError

log = logging.getLogger("lib.generation.worker")  # the operators' filters know the worker's logger


@dataclass(frozen=True)
class Event:
    """One item finished (or given up) by this worker: for the CLI's output and the status panel."""

    at: float
    job_id: int
    item_id: int
    scenario_id: int
    outcome: str  # ok | failed | retry | released | error
    reason: str | None = None
    seconds: float = 0.0
    cost_usd: float = 0.0
    note: str | None = None  # a rating's scores and verdict


class WorkerReport:
    """The events, finished items and job failures of one worker. `on_fatal` is called after an error
    every item would hit has failed its job (the CLI stops the worker then)."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        breaker_failures: int,
        fatal_pause_s: float,
        on_event: Callable[[Event], None] | None = None,
        on_fatal: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.breaker = CircuitBreaker(breaker_failures)
        self.events: deque[Event] = deque(maxlen=200)
        self.processed: list[int] = []  # item ids this worker finished (ok or failed)
        self.fatal: str | None = None
        self.paused_until = 0.0  # no claiming before this (time.monotonic) after a fatal error
        self._fatal_pause_s = fatal_pause_s
        self._on_event = on_event
        self._on_fatal = on_fatal
        self._lock = threading.Lock()

    def recent(self, n: int = 20) -> list[Event]:
        """The last n events, safe to read from another thread (the Generate page)."""
        with self._lock:
            return list(self.events)[-n:]

    def record_event(
        self,
        item: JobItem,
        outcome: str,
        reason: str | None,
        started: float,
        cost: float = 0.0,
        *,
        note: str | None = None,
    ) -> None:
        ev = Event(
            at=time.time(),
            job_id=item.job_id,
            item_id=item.id,
            scenario_id=item.scenario_id,
            outcome=outcome,
            reason=reason,
            seconds=round(time.monotonic() - started, 2),
            cost_usd=round(cost, 6),
            note=note,
        )
        with self._lock:
            self.events.append(ev)
        if outcome in ("failed", "retry", "error"):
            log.warning(
                "job #%s item %s (scenario #%s) %s after %.1f s: %s",
                item.job_id,
                item.id,
                item.scenario_id,
                "failed" if outcome == "failed" else "failed, to be retried" if outcome == "retry" else "errored",
                ev.seconds,
                (reason or "no reason given")[:500],
            )
        if self._on_event is not None:
            try:
                self._on_event(ev)
            except Exception:  # a printing callback must not break the worker
                log.exception("worker event callback failed")

    def fail(self, item: JobItem, reason: str, started: float, cause: str) -> None:
        """The item failed for good (a missing row, a bug): stored with its reason and cause."""
        try:
            self.store.fail_item(item.id, reason, worker=self.name, cause=cause)
        except StoreError as exc:
            log.warning("worker %s: could not record the failure of item %s: %s", self.name, item.id, exc)
        self.record_event(item, "failed", reason, started)
        self.processed.append(item.id)

    def on_fatal(self, item: JobItem, reason: str) -> None:
        """An error every item would hit: fail the job with its reason and pause claiming."""
        self.fatal = reason
        self.paused_until = time.monotonic() + self._fatal_pause_s
        log.error("worker %s: %s", self.name, reason)
        self._fail_job(item.job_id, reason)
        if self._on_fatal is not None:
            self._on_fatal()

    def count_failure(self, item: JobItem, cause: str, reason: str) -> None:
        """The circuit breaker: the same cause too many times in a row fails the job with it."""
        tripped = self.breaker.failure(item.job_id, cause)
        if tripped is None:
            return
        message = f"stopped after {tripped} failures in a row with the same cause. " + explain(cause)
        log.error("worker %s: job #%s %s Latest: %s", self.name, item.job_id, message, reason[:300])
        self._fail_job(item.job_id, message)

    def _fail_job(self, job_id: int, reason: str) -> None:
        try:
            self.store.fail_job(job_id, reason)
        except StoreError as exc:
            log.warning("worker %s: could not stop job %s: %s", self.name, job_id, exc)
