"""A worker's liveness in the database: a connection of its own that holds a session-level
advisory lock (public.register_worker_session) for as long as the worker lives. When the process
is killed, its connection ends, the lock goes with it, and the items the worker held are claimable
at once (claim_job_items and the others look at app_private.gone_workers); the leases stay as the
backstop for a worker that hangs while connected, and for a store without sessions (Supabase's
REST API)."""

from __future__ import annotations

import logging

from lib.store.protocol import Store, StoreError, WorkerSession

log = logging.getLogger(__name__)


class Liveness:
    """open() before the first claim, check() with every heartbeat, close() at the end. Blocking:
    a worker calls them through asyncio.to_thread."""

    def __init__(self, store: Store, worker: str) -> None:
        self.store = store
        self.worker = worker
        self._session: WorkerSession | None = None

    @property
    def held(self) -> bool:
        return self._session is not None

    def open(self) -> None:
        try:
            self._session = self.store.worker_session(self.worker)
        except StoreError as exc:  # the leases still bring its items back, only later
            log.warning("worker %s: no liveness session (%s); a crash is recovered by the leases", self.worker, exc)
            self._session = None

    def check(self) -> None:
        """The database lost the session's connection: the worker's items became claimable by
        others (the heartbeat says which were taken); hold a new session from now on."""
        if self._session is not None and not self._session.alive:
            self.close()
            self.open()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
