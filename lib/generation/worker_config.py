"""What a worker is called and how it runs: its name, its concurrency, leases, polling, heartbeats and
shutdown, and the quality policy for jobs that do not name one (lib.generation.worker runs with it).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from lib.generation.ratelimit import DEFAULT_CONCURRENCY
from lib.generation.rating import QualityPolicy


def worker_name(prefix: str = "worker") -> str:
    """A name unique to this process: host, pid and a random tag (a restarted process is a new worker)."""
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


@dataclass
class WorkerConfig:
    name: str = field(default_factory=worker_name)
    concurrency: int = DEFAULT_CONCURRENCY
    lease_s: int = 120  # an item's lease; heartbeats extend it while the item is in flight
    heartbeat_s: float = 20.0
    poll_s: float = 1.0  # how often to look for new work
    batch_poll_s: float = 30.0  # how often to ask the Message Batches API about a batch in progress
    batch_lease_s: int = 90  # the lease on a batch job; another worker takes over after it
    batch_max_requests: int = 10_000
    requeue_every_s: float = 30.0
    job_id: int | None = None  # only this job
    until_idle: bool = False  # return when no job has work left
    fatal_pause_s: float = 30.0  # no claiming for this long after an error every item would hit
    exit_on_fatal: bool = False  # the CLI: stop instead (nothing else would work either)
    drain_s: float = 0.0  # on stop: let items in flight finish for up to this long
    breaker_failures: int = 5  # fail a job after this many failures in a row with the same cause
    quality: QualityPolicy = field(default_factory=QualityPolicy)  # for jobs that do not say (their settings)
    shared_budget: bool = True  # take the account's rate budget with the other workers of the database
    warm_cache: bool = True  # the first request of a cached prompt prefix goes alone
    size_max_tokens: bool = True  # max_tokens from the measured output sizes of each template
    sizes_every_s: float = 60.0  # how often to read the output sizes all workers measured


__all__ = ["WorkerConfig", "worker_name"]
