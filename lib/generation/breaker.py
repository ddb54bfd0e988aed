"""The circuit breaker of a worker: the same failure again and again (an endpoint that went away, a model
whose answers the checks keep rejecting) stops the job instead of spending money on every item left."""

from __future__ import annotations

import threading


class CircuitBreaker:
    """Counts each job's failures in a row with the same cause; `failure` says when there are `limit`
    of them (once), `success` starts the count again. One per worker: its own items."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._runs: dict[int, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def success(self, job_id: int) -> None:
        with self._lock:
            self._runs.pop(job_id, None)

    def failure(self, job_id: int, cause: str) -> int | None:
        """The number of failures in a row when this one reaches the limit, else None."""
        with self._lock:
            last, n = self._runs.get(job_id, (cause, 0))
            n = n + 1 if last == cause else 1
            if n >= self.limit:
                self._runs.pop(job_id, None)
                return n
            self._runs[job_id] = (cause, n)
            return None


__all__ = ["CircuitBreaker"]
