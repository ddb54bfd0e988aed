"""The generation runner's part of the Store protocol: jobs and their items, Message Batches, the
account's shared rate budget and prompt cache, the worker's liveness, and the judge's rating jobs.
lib/store/protocol.py composes it into the Store; the calls (lib/store/calls/) make its methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lib.core.vocabulary import JobTask
from lib.store.types import JobItem, JobKind


class WorkerSession(Protocol):
    """A worker's liveness in the database (Store.worker_session)."""

    @property
    def alive(self) -> bool:
        """Is the connection holding the lock still open? When not, the worker opens a new one."""
        ...

    def close(self) -> None: ...


class JobStore(Protocol):
    """What the runner, the worker and the judge ask of the database; claims and leases are atomic."""

    # -- generation jobs ----------------------------------------------------------------------
    def create_job(
        self,
        scenario_ids: Sequence[int],
        *,
        kind: JobKind = "realtime",
        model: str | None = None,
        settings: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        feedback: str | None = None,
        max_attempts: int = 3,
    ) -> int: ...

    def claim_items(
        self, worker: str, *, limit: int = 1, lease_seconds: int = 300, job_id: int | None = None
    ) -> list[JobItem]: ...

    def heartbeat(self, worker: str, item_ids: Sequence[int], *, lease_seconds: int = 300) -> list[int]:
        """Extend the leases; returns the item ids the worker still holds."""
        ...

    def fail_item(
        self,
        item_id: int,
        error: str,
        *,
        worker: str | None = None,
        retry: bool = False,
        cost_usd: float = 0.0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cause: str | None = None,
    ) -> str:
        """Returns the item's new status (failed; pending when retried; cancelled when retried after its
        job stopped). cause: a short key for grouping failures (lib.generation.causes)."""
        ...

    def requeue_expired(self) -> int: ...

    def stop_job(self, job_id: int) -> int: ...

    def resume_job(self, job_id: int, *, failed: bool = False) -> int: ...

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        """v_generation_jobs row: the job with its item counts, tokens and cost."""
        ...

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]: ...

    def job_items(self, job_id: int) -> list[dict[str, Any]]: ...

    def log_generation(self, row: Mapping[str, Any]) -> int:
        """Insert one generation_logs row (column -> value); returns its id."""
        ...

    # -- the generation runner (lib/worker.py, lib/runner.py) -----------------------------------
    def release_items(self, worker: str, item_ids: Sequence[int]) -> int:
        """Give back items the worker holds without using up an attempt: pending again (cancelled
        when the job was stopped meanwhile). Returns how many."""
        ...

    def fail_job(self, job_id: int, error: str) -> int:
        """Stop a job because of an error every item would hit (status failed, error kept); its
        pending items are cancelled (Resume queues them again). Returns how many were cancelled."""
        ...

    def claim_batch_jobs(
        self, worker: str, *, lease_seconds: int = 120, job_id: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Lease the batch jobs with work (or extend this worker's leases): generation_jobs rows."""
        ...

    def record_job_batch(
        self,
        job_id: int,
        worker: str,
        *,
        batch_id: str | None = None,
        batch_status: str | None = None,
        item_ids: Sequence[int] = (),
        request_ids: Sequence[str | None] = (),
    ) -> bool:
        """The job's Message Batch (id, processing status) and each item's request in it ('<batch
        id>:<custom id>', None once its result was read). False: the worker lost the job lease."""
        ...

    def claim_batch_items(
        self, worker: str, job_id: int, batch_id: str, *, limit: int = 1000, lease_seconds: int = 300
    ) -> list[JobItem]:
        """Claim the items of the job's batch whose result has not been read yet."""
        ...

    def release_batch_job(self, job_id: int, worker: str) -> bool: ...

    def job_items_with_status(self, job_id: int, statuses: Sequence[str], *, limit: int = 200) -> list[dict[str, Any]]:
        """job_items rows in `statuses`, the most recently changed first."""
        ...

    def job_failure_causes(self, job_id: int) -> list[dict[str, Any]]:
        """The job's failed items grouped by cause: cause, failures, example (the latest reason),
        example_scenario_id, last_at; the most frequent first."""
        ...

    def last_failure(self, scenario_id: int, *, limit: int = 1) -> dict[str, Any] | None:
        """The scenario's latest failed job item (error, error_cause, finished_at, job_id), or None."""
        ...

    def generation_stats(self, model: str | None = None, *, recent: int = 200) -> dict[str, Any]:
        """Averages of the latest generations, for estimates: conversations, input_tokens,
        output_tokens, cache_read_tokens, cache_write_tokens, cost_usd (per conversation), calls,
        successes, call_seconds, call_output_tokens, failure_rate, rate_limits (the last headers)."""
        ...

    def register_prompt_template(
        self, name: str, version: str, sha256: str, body: str, tier: str | None = None
    ) -> int: ...

    # -- the runner at the account's limits (public.take_rate_budget and friends) -----------------
    def take_rate_budget(
        self,
        account: str,
        amounts: Mapping[str, float],
        limits: Mapping[str, float],
        remaining: Mapping[str, float] | None = None,
    ) -> float | None:
        """Take `amounts` (requests, input_tokens, output_tokens) from the account's shared buckets,
        refilled at `limits` a minute (empty: the buckets other workers made): 0.0 when taken, else
        the seconds until all of it would fit (then nothing is taken), None when there is no bucket.
        A new bucket starts at `remaining` (the API's headers) or full."""
        ...

    def settle_rate_budget(
        self,
        account: str,
        amounts: Mapping[str, float] | None = None,
        remaining: Mapping[str, float] | None = None,
        tolerance: Mapping[str, float] | None = None,
    ) -> bool:
        """Lower the buckets to the API's `remaining` plus `tolerance` (per resource), learn their
        size from the largest `remaining`, then give back `amounts` (negative: take more). False
        when the account has no bucket yet."""
        ...

    def enter_prompt_prefix(
        self, account: str, prefix: str, wait_cap_s: float = 120.0, worker: str | None = None
    ) -> str:
        """'warm' (the cache holds the prefix), 'first' (this request warms it: report its answer
        with leave_prompt_prefix) or 'wait' (a request of a live worker warms it now: ask again)."""
        ...

    def leave_prompt_prefix(self, account: str, prefix: str, ok: bool, ttl_s: float = 270.0) -> bool:
        """The first request of the prefix was answered; ok (a 200) makes it warm for ttl_s. False
        when the prefix was not known."""
        ...

    def output_quantiles(
        self, model: str | None = None, *, quantile: float = 0.99, recent: int = 200
    ) -> list[dict[str, Any]]:
        """Per template: calls, quantile_tokens and max_tokens of the output tokens of its latest
        `recent` answered generate and repair calls."""
        ...

    def worker_session(self, worker: str) -> WorkerSession | None:
        """A connection of its own that holds the worker's liveness lock while it lives: when it
        ends (the process is killed), the items the worker held are claimable at once. None where the
        transport has no session (Supabase's REST API): then the leases alone bring items back."""
        ...

    # -- the quality judge (lib/generation/judge.py), and the rating jobs the worker runs it in -------------
    def conversations_to_judge(self, limit: int = 100, *, rubric_version: str | None = None) -> list[str]:
        """Current conversations no judge has rated under rubric_version (None: under any) and not queued
        in a rating job, oldest first."""
        ...

    def judge_backlog(self, *, rubric_version: str | None = None) -> int:
        """How many conversations_to_judge there are."""
        ...

    def save_judge_result(self, record: Mapping[str, Any], *, item_id: int | None = None) -> dict[str, Any]:
        """A judge's run (lib.generation.judge.JudgeResult.to_record()) in one transaction: its log rows,
        and with a verdict its ratings and label findings. item_id: the job item it belongs to, whose cost
        it adds to; a rating job's item succeeds with a verdict. Idempotent per run and per rating item.
        Returns {run_id, log_ids, ratings, findings, created}."""
        ...

    def create_judge_job(
        self,
        *,
        kind: JobKind = "realtime",
        limit: int | None = None,
        conversation_ids: Sequence[str] | None = None,
        rubric_version: str | None = None,
        model: str | None = None,
        settings: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        max_attempts: int = 3,
    ) -> int | None:
        """A rating job for conversation_ids, or else for up to `limit` conversations_to_judge; the
        scenarios' statuses stay as they are. Returns the job id, or None when there is nothing to rate."""
        ...

    def queue_follow_up(
        self, job_id: int, task: JobTask, conversation_id: str, *, feedback: str | None = None
    ) -> int | None:
        """Add the conversation to the follow-up job of `task` of job_id: 'judge' to rate it, 'generate'
        to write its scenario once more with `feedback` (once per scenario at most). Returns the item
        id, or None when the database refuses it (not current, already queued, regenerated before)."""
        ...
