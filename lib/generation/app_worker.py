"""The app's generation worker: a Worker on its own event loop in a daemon thread, one per server
process (started through st.cache_resource by lib.ui.resources.worker). `python -m lib worker` runs
the same Worker in a process of its own."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
from typing import Any

from lib.config import Settings
from lib.core.redaction import redact_text
from lib.core.vocabulary import DEMO_MODEL
from lib.generation.llm import LLMSettings
from lib.generation.ratelimit import DEFAULT_CONCURRENCY, AdaptiveLimiter
from lib.generation.rating import QualityPolicy
from lib.generation.replay import DEMO_KEY, replay_server
from lib.generation.worker import Worker
from lib.generation.worker_config import WorkerConfig, worker_name
from lib.store.protocol import Store, StoreError

log = logging.getLogger(__name__)


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
            self.error = redact_text(f"{type(exc).__name__}: {exc}")

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

    def problem(self) -> str | None:
        """What the Generate page says when this worker does not run, or None while it does."""
        if self.alive:
            return None
        return (
            f"The generation worker stopped ({self.error or 'no reason given'}). Restart the app; "
            "queued items are safe and will be picked up again."
        )


class NotStarted:
    """The app's worker that could not start (a bad price table, a setting, the database), and why.
    Not cached: every page run tries again, so fixing the cause is enough, no restart needed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.alive = False

    def status(self) -> dict[str, Any]:
        return {"alive": False, "error": self.reason, "in_flight": [], "limiter": {}}

    def problem(self) -> str:
        return (
            f"The generation worker did not start: {self.reason}. Fix that and reload this page; "
            "queued jobs wait until a worker runs."
        )

    def stop(self) -> None:
        return None


_said: set[str] = set()


def not_started(exc: Exception) -> NotStarted:
    """The worker that did not start, said once in the server log (the page says it on every run)."""
    reason = redact_text(str(exc).rstrip(".")) or type(exc).__name__
    if reason not in _said:
        _said.add(reason)
        log.error("the generation worker did not start: %s", reason)
    return NotStarted(reason)


def start_app_worker(store: Store, settings: Settings | None, **config: Any) -> WorkerThread | None:
    """The app's worker (lib.ui.resources.worker), or None when there is no API key (offline demos)."""
    if settings is None or not getattr(settings, "has_api_key", False):
        return None
    llm_settings = LLMSettings.from_settings(settings)
    concurrency = int(getattr(settings, "concurrency", DEFAULT_CONCURRENCY) or DEFAULT_CONCURRENCY)
    config.setdefault("quality", QualityPolicy.from_settings(settings))
    cfg = WorkerConfig(name=worker_name("app"), concurrency=concurrency, **config)
    stats = {}
    with contextlib.suppress(StoreError, AttributeError):
        stats = store.generation_stats(llm_settings.model)
    limiter = AdaptiveLimiter(cfg.concurrency, output_tokens=stats.get("call_output_tokens") or None)
    return WorkerThread(Worker(store, llm_settings, cfg, limiter=limiter)).start()


def start_demo_worker(store: Store, job_id: int, settings: Settings | None) -> WorkerThread:
    """A worker for one demo replay job (lib.generation.replay): the same Worker, limiter and progress as
    a real job, against this process's replay endpoint, without the judge. It ends when the job has no
    work left."""
    llm_settings = LLMSettings(api_key=DEMO_KEY, base_url=replay_server().url, model=DEMO_MODEL, max_retries=1)
    concurrency = int(getattr(settings, "concurrency", DEFAULT_CONCURRENCY) or DEFAULT_CONCURRENCY)
    cfg = WorkerConfig(
        name=worker_name("demo"), concurrency=concurrency, job_id=job_id, until_idle=True, quality=QualityPolicy()
    )
    return WorkerThread(Worker(store, llm_settings, cfg, limiter=AdaptiveLimiter(cfg.concurrency))).start()
