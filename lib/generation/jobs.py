"""Generation jobs as the app sees them: starting, stopping and resuming a job (how a job reads, its
progress, title and outcome, is lib.generation.job_progress). A job generates its scenarios' conversations
(task 'generate') or rates conversations with the quality judge (task 'judge', a rating job).

The worker that runs the jobs is lib.generation.worker; this module has no thread and no event loop
of its own, so the pages (and their tests) can use it directly. What a job will cost and take is
lib.generation.estimate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lib.config import Settings
from lib.core.vocabulary import DEMO_MODEL
from lib.generation.causes import cause_of, explain
from lib.generation.estimate import BATCH_TIME, Estimate
from lib.generation.job_progress import VARIATIONS_OF, as_demo, is_live, note_job_state
from lib.generation.llm import LLMSettings, cancel_message_batch, preflight
from lib.generation.rating import QualityPolicy, policy_in_force
from lib.store.protocol import JobKind, Store, StoreError

BATCH_NOTE = "economy: about half the cost, results " + BATCH_TIME
MODES: dict[JobKind, str] = {
    "realtime": "Realtime: results as they come, full price",
    "batch": "Economy (Message Batches API): about half the cost, results within 24 h",
}


log = logging.getLogger(__name__)


class RunnerError(ValueError):
    """A job action that cannot be done as asked; the message says what to do."""


def endpoint_problem(llm_settings: LLMSettings) -> str | None:
    """What stops a job before it starts (the preflight: lib.generation.llm.preflight), in words that name
    the setting to change; None when the endpoint, the key and the model are fine, or when what it found
    passes by itself (rate limiting, an overloaded API: the worker waits those out)."""
    found = preflight(llm_settings)
    if found.ok:
        return None
    detail = found.detail
    if found.cause in ("unreachable", "timeout") and llm_settings.base_url:
        detail += f"; ANTHROPIC_BASE_URL is {llm_settings.base_url}"
    text = explain(found.cause, detail)
    log.warning("preflight before a job: %s", text)
    return text if cause_of(found.cause).blocks_start else None


# ---- starting and steering jobs ---------------------------------------------------------------
def generation_off_reason(settings: Settings | None) -> str | None:
    """Why generation is off (no key), or None when it can run."""
    if settings is not None and getattr(settings, "has_api_key", False):
        return None
    return (
        "Generation needs an Anthropic API key: set ANTHROPIC_API_KEY in the environment or in "
        ".streamlit/secrets.toml and restart the app. Everything else (the seed conversations, review, "
        "coverage and export) works without one."
    )


def ids_with_status(rows: Iterable[Mapping[str, Any]], statuses: Iterable[str]) -> list[int]:
    wanted = set(statuses)
    return [int(r["id"]) for r in rows if r.get("status") in wanted]


def job_settings(
    mode: str, requested_from: str, quality: QualityPolicy, concurrency: int | None, estimate: Estimate | None
) -> dict[str, Any]:
    """What a job keeps of how it was started: where, the mode, the quality policy it runs under (so
    the estimate shown holds whichever worker runs it), and the estimate."""
    settings: dict[str, Any] = {"requested_from": requested_from, "mode": mode, **quality.as_settings()}
    if concurrency:
        settings["concurrency"] = int(concurrency)
    if estimate is not None:
        settings["estimate"] = estimate_settings(estimate)
    return settings


def estimate_settings(estimate: Estimate) -> dict[str, Any]:
    """The estimate shown before a job started, as its settings keep it (its ETA starts from it)."""
    return {
        "cost_usd": round(estimate.cost_usd, 4),
        "seconds": estimate.seconds,
        "basis": estimate.basis,
        "judge_cost_usd": round(estimate.judge_cost_usd, 4),
    }


def job_kind(mode: str, unknown: str) -> JobKind:
    """mode as a job kind; RunnerError(unknown) for any other text."""
    for kind in MODES:
        if kind == mode:
            return kind
    raise RunnerError(unknown)


def start_job(
    store: Store,
    scenario_ids: Sequence[int],
    *,
    mode: str = "realtime",
    model: str | None = None,
    created_by: str | None = None,
    requested_from: str = "scenarios",
    concurrency: int | None = None,
    estimate: Estimate | None = None,
    quality: QualityPolicy | None = None,
    check: LLMSettings | None = None,
    variations_of: Sequence[str] = (),
) -> tuple[int, int]:
    """Create a job for the scenarios; returns (job id, items queued). Scenarios already queued or
    generating in another job are left out (the store does it). quality: None = the app's settings.
    check: ask this endpoint first (endpoint_problem), and start nothing when it cannot work.
    variations_of: the conversations the scenarios vary (a variation set), which the job's title names."""
    ids = sorted({int(i) for i in scenario_ids})
    if not ids:
        raise RunnerError("Nothing to generate: choose at least one scenario.")
    kind = job_kind(mode, f"Unknown generation mode {mode!r}; choose realtime or batch.")
    problem = endpoint_problem(check) if check is not None else None
    if problem:
        raise RunnerError("Nothing was started: " + problem)
    settings = job_settings(mode, requested_from, quality or policy_in_force(), concurrency, estimate)
    if variations_of:
        settings[VARIATIONS_OF] = list(dict.fromkeys(variations_of))
    try:
        job_id = store.create_job(ids, kind=kind, model=model, settings=settings, created_by=created_by or None)
    except StoreError as exc:
        if "already in a running job" in str(exc):
            raise RunnerError(
                "Nothing to generate: every chosen scenario is already queued or being generated "
                "(see the Generate page)."
            ) from None
        raise
    return job_id, int(_note_now(store, job_id).get("total_items") or len(ids))


def start_demo_job(store: Store, count: int, *, created_by: str | None = None) -> tuple[int, int]:
    """A demo replay job (lib.generation.replay) for the first `count` scenarios not generated yet; returns
    (job id, items queued). Its conversations are marked as replayed; lib.generation.app_worker
    .start_demo_worker runs it."""
    if count < 1:
        raise RunnerError(f"Replay at least one scenario, not {count}.")
    rows = store.list_scenarios({"status": ["not_generated"]}, limit=count)
    if not rows:
        raise RunnerError("Nothing to replay: every scenario has a conversation or is queued already.")
    settings = as_demo(job_settings("realtime", "generate", QualityPolicy(), None, None))
    job_id = store.create_job(
        [int(r["id"]) for r in rows],
        kind="realtime",
        model=DEMO_MODEL,
        settings=settings,
        created_by=created_by or None,
    )
    return job_id, int(_note_now(store, job_id).get("total_items") or len(rows))


def start_judge_job(
    store: Store,
    *,
    mode: str = "realtime",
    limit: int | None = None,
    conversation_ids: Sequence[str] | None = None,
    rubric_version: str | None = None,
    model: str | None = None,
    created_by: str | None = None,
    requested_from: str = "generate",
    concurrency: int | None = None,
    estimate: Estimate | None = None,
    quality: QualityPolicy | None = None,
) -> tuple[int, int]:
    """Create a rating job for the conversations not rated yet (under rubric_version; at most `limit`),
    or for conversation_ids; returns (job id, conversations queued)."""
    kind = job_kind(mode, f"Unknown mode {mode!r}; choose realtime or batch.")
    if limit is not None and limit < 1:
        raise RunnerError(f"Rate at least one conversation, not {limit}.")
    settings = job_settings(mode, requested_from, quality or policy_in_force(), concurrency, estimate)
    job_id = store.create_judge_job(
        kind=kind,
        limit=limit,
        conversation_ids=conversation_ids,
        rubric_version=rubric_version,
        model=model,
        settings=settings,
        created_by=created_by or None,
    )
    if job_id is None:
        raise RunnerError(
            "Nothing to rate: every current conversation has a rating under this rubric, or is queued "
            "in a rating job already."
        )
    job = store.get_job(job_id) or {}
    return job_id, int(job.get("total_items") or 0)


def stop_job(store: Store, job_id: int, *, llm_settings: LLMSettings | None = None) -> str:
    """Stop: nothing new starts, items in flight finish. A batch job's Message Batch is cancelled
    too (its finished results are kept and used on Resume). Returns a message for the person."""
    job = store.get_job(job_id)
    if job is None:
        raise RunnerError(f"Job #{job_id} does not exist any more; refresh the page.")
    cancelled = store.stop_job(job_id)
    note = ""
    if (
        job.get("kind") == "batch"
        and job.get("batch_id")
        and job.get("batch_status") == "in_progress"
        and llm_settings is not None
        and llm_settings.api_key
    ):
        try:
            cancel_message_batch(llm_settings, job["batch_id"])
            note = " Its Message Batch is being cancelled; results it already has are kept for Resume."
        except Exception as exc:  # the job is stopped anyway; the batch just runs to its end
            note = f" Its Message Batch could not be cancelled ({str(exc)[:120]}); it will run to its end."
    in_flight = int(job.get("claimed_items") or 0)
    flight = f" {in_flight} in flight will finish." if in_flight else ""
    _note_now(store, job_id)
    return f"Job #{job_id} stopped: {cancelled} not started were cancelled.{flight}{note}"


def resume_job(store: Store, job_id: int, *, failed: bool = False) -> str:
    n = store.resume_job(job_id, failed=failed)
    _note_now(store, job_id)
    if failed:
        return (
            f"Job #{job_id}: {n} failed item(s) queued again." if n else f"Job #{job_id} has no failed item to retry."
        )
    return f"Job #{job_id} resumed: {n} item(s) queued again." if n else f"Job #{job_id} has nothing left to resume."


def active_jobs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The jobs that still change by themselves (is_live: a stopped one with items in flight too), for the
    pages that follow them on a timer."""
    return [j for j in store.list_jobs(limit) if is_live(j)]


def _note_now(store: Store, job_id: int) -> Mapping[str, Any]:
    """The job as it is now ({} when it is gone), its state noted in the server log (note_job_state)."""
    job = store.get_job(job_id)
    if job is not None:
        note_job_state(job)
    return job or {}


__all__ = [
    "BATCH_NOTE",
    "MODES",
    "RunnerError",
    "active_jobs",
    "endpoint_problem",
    "generation_off_reason",
    "ids_with_status",
    "job_kind",
    "job_settings",
    "resume_job",
    "start_demo_job",
    "start_job",
    "start_judge_job",
    "stop_job",
]
