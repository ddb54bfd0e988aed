"""Generation jobs as the app sees them: starting, stopping and resuming a job, its progress and its
items, and the job statuses the pages and the worker share. A job generates its scenarios' conversations
(task 'generate') or rates conversations with the quality judge (task 'judge', a rating job).

The worker that runs the jobs is lib.generation.worker; this module has no thread and no event loop
of its own, so the pages (and their tests) can use it directly. What a job will cost and take is
lib.generation.estimate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.config import Settings
from lib.core.vocabulary import DEMO_LABEL, DEMO_MODEL, JOB_OUTCOMES, JOB_TASKS
from lib.generation.causes import cause_of, explain
from lib.generation.estimate import BATCH_TIME, Estimate
from lib.generation.llm import LLMSettings, cancel_message_batch, preflight
from lib.generation.rating import QualityPolicy, policy_in_force
from lib.store.protocol import JobKind, Store, StoreError

BATCH_NOTE = "economy: about half the cost, results " + BATCH_TIME
# the job settings' key naming the conversations a variation set's job varies (its title names them)
VARIATIONS_OF = "variations_of"
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


def _job_kind(mode: str, unknown: str) -> JobKind:
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
    kind = _job_kind(mode, f"Unknown generation mode {mode!r}; choose realtime or batch.")
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
    job = store.get_job(job_id) or {}
    if job:
        note_job_state(job)
    return job_id, int(job.get("total_items") or len(ids))


def start_demo_job(store: Store, count: int, *, created_by: str | None = None) -> tuple[int, int]:
    """A demo replay job (lib.generation.replay) for the first `count` scenarios not generated yet; returns
    (job id, items queued). Its conversations are marked as replayed; lib.generation.app_worker
    .start_demo_worker runs it."""
    if count < 1:
        raise RunnerError(f"Replay at least one scenario, not {count}.")
    rows = store.list_scenarios({"status": ["not_generated"]}, limit=count)
    if not rows:
        raise RunnerError("Nothing to replay: every scenario has a conversation or is queued already.")
    settings = {**job_settings("realtime", "generate", QualityPolicy(), None, None), "demo": True}
    job_id = store.create_job(
        [int(r["id"]) for r in rows],
        kind="realtime",
        model=DEMO_MODEL,
        settings=settings,
        created_by=created_by or None,
    )
    job = store.get_job(job_id) or {}
    if job:
        note_job_state(job)
    return job_id, int(job.get("total_items") or len(rows))


def is_demo_job(job: Mapping[str, Any]) -> bool:
    return bool((job.get("settings") or {}).get("demo"))


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
    kind = _job_kind(mode, f"Unknown mode {mode!r}; choose realtime or batch.")
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


# ---- progress -------------------------------------------------------------------------------
ACTIVE_JOB_STATUSES = ("queued", "running")
LIVE_OUTCOMES = ("queued", "running", "stopping")  # the page follows these on a timer


def job_outcome(job: Mapping[str, Any]) -> str:
    """How the job reads to a person: v_generation_jobs.outcome, its status on a row without one."""
    return str(job.get("outcome") or job.get("status"))


def is_live(job: Mapping[str, Any]) -> bool:
    """Does the job still change by itself: running, or stopped with items in flight (v_generation_jobs.outcome)?"""
    return job_outcome(job) in LIVE_OUTCOMES


@dataclass(frozen=True)
class Progress:
    job_id: int
    kind: str
    status: str
    outcome: str  # v_generation_jobs.outcome: how the job reads to a person (lib.core.vocabulary.JOB_OUTCOMES)
    total: int
    succeeded: int
    failed: int
    cancelled: int
    in_flight: int
    pending: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    elapsed_s: float | None
    eta_s: float | None
    error: str | None = None
    batch_id: str | None = None
    batch_status: str | None = None
    task: str = "generate"
    follows_job_id: int | None = None
    judge_cost_usd: float = 0.0  # the part of cost_usd and the tokens the judge's calls spent
    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def generation_cost_usd(self) -> float:
        return max(0.0, self.cost_usd - self.judge_cost_usd)

    @property
    def generation_tokens(self) -> int:
        return max(0, self.input_tokens + self.output_tokens - self.judge_input_tokens - self.judge_output_tokens)

    @property
    def judge_tokens(self) -> int:
        return self.judge_input_tokens + self.judge_output_tokens

    @property
    def rating(self) -> bool:
        return self.task == "judge"

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def counted(self) -> int:
        """The items that count towards "X of Y" (cancelled ones are left out until resumed)."""
        return self.total - self.cancelled

    @property
    def fraction(self) -> float:
        return self.done / self.counted if self.counted else 1.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def live(self) -> bool:
        return self.outcome in LIVE_OUTCOMES

    @property
    def outcome_label(self) -> str:
        term = JOB_OUTCOMES.get(self.outcome)
        label = term.label if term else self.outcome
        if self.outcome == "completed_with_failures":
            label += f" ({self.succeeded:,} ok, {self.failed:,} failed)"
        return label

    @property
    def label(self) -> str:
        return f"{self.done} of {self.counted}"


def run_seconds(job: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """How long the job has run: its finished runs (active_s) and the one under way, if it is running;
    the time it was stopped is left out. None before it started."""
    started = job.get("started_at")
    if started is None:
        return None
    seconds = float(job.get("active_s") or 0.0)
    if job.get("status") in ACTIVE_JOB_STATUSES:
        run_start = job.get("run_started_at") or started
        seconds += max(0.0, ((now or datetime.now(UTC)) - run_start).total_seconds())
    return seconds


def progress(job: Mapping[str, Any], *, now: datetime | None = None) -> Progress:
    """A v_generation_jobs row as progress: counts, the time it has run (stopped time left
    out: run_seconds) and the ETA (from the pace so far, else the estimate made when the job was created)."""
    elapsed = run_seconds(job, now)
    succeeded, failed = int(job.get("succeeded_items") or 0), int(job.get("failed_items") or 0)
    pending, in_flight = int(job.get("pending_items") or 0), int(job.get("claimed_items") or 0)
    left = pending + in_flight
    eta = None
    if job.get("status") in ACTIVE_JOB_STATUSES and left:
        done = succeeded + failed
        if elapsed and done:
            eta = elapsed / done * left
        else:
            est = (job.get("settings") or {}).get("estimate") or {}
            total = int(job.get("total_items") or 0)
            if est.get("seconds") and total:
                eta = float(est["seconds"]) * left / total - (elapsed or 0.0)
                eta = max(eta, 0.0)
    elif job.get("status") in ACTIVE_JOB_STATUSES:
        eta = 0.0
    return Progress(
        job_id=int(job["id"]),
        kind=str(job.get("kind") or "realtime"),
        status=str(job.get("status")),
        outcome=job_outcome(job),
        total=int(job.get("total_items") or 0),
        succeeded=succeeded,
        failed=failed,
        cancelled=int(job.get("cancelled_items") or 0),
        in_flight=in_flight,
        pending=pending,
        cost_usd=float(job.get("cost_usd") or 0),
        input_tokens=int(job.get("input_tokens") or 0),
        output_tokens=int(job.get("output_tokens") or 0),
        elapsed_s=elapsed,
        eta_s=eta,
        error=job.get("error"),
        batch_id=job.get("batch_id"),
        batch_status=job.get("batch_status"),
        task=str(job.get("task") or "generate"),
        follows_job_id=job.get("follows_job_id"),
        judge_cost_usd=float(job.get("judge_cost_usd") or 0),
        judge_input_tokens=int(job.get("judge_input_tokens") or 0),
        judge_output_tokens=int(job.get("judge_output_tokens") or 0),
    )


def job_title(job: Mapping[str, Any]) -> str:
    """'Rate 40 conversations' / 'Generate 3 conversations' / 'Variations of seed-01: 20 conversations', and
    what a follow-up job follows."""
    n = int(job.get("total_items") or 0)
    task = str(job.get("task") or "generate")
    count = f"{n:,} conversation{'' if n == 1 else 's'}"
    sources = [str(s) for s in (job.get("settings") or {}).get(VARIATIONS_OF) or []] if task == "generate" else []
    if len(sources) == 1:
        title = f"Variations of {sources[0]}: {count}"
    elif sources:
        named = ", ".join(sources[:3]) + (", …" if len(sources) > 3 else "")
        title = f"Variations of {len(sources)} conversations ({named}): {count}"
    else:
        title = f"{JOB_TASKS[task].label} {count}"
    if is_demo_job(job):
        title = f"{DEMO_LABEL}: {title[0].lower()}{title[1:]}"
    if job.get("follows_job_id"):
        title += f" after job #{job['follows_job_id']}"
    return title


def worker_line(status: Mapping[str, Any]) -> str:
    """One line on the app's worker (lib.generation.worker.Worker.status()): what runs and at what pace."""
    lim = status.get("limiter") or {}
    parts = [
        f"Worker: {len(status.get('in_flight') or [])} in flight, up to {int(lim.get('window') or 0)} at once "
        f"(at most {lim.get('max_concurrency', '?')})"
    ]
    if lim.get("gap_s"):
        parts.append(f"one request every {lim['gap_s']:.1f} s")
    limits = [
        f"{int(lim['rpm']):,} requests" if lim.get("rpm") else "",
        f"{int(lim['otpm']):,} output tokens" if lim.get("otpm") else "",
    ]
    if any(limits):
        parts.append("account limits " + " and ".join(x for x in limits if x) + " a minute")
    if lim.get("throttled"):
        parts.append(f"{lim['throttled']} rate-limited answers so far")
    if status.get("fatal"):
        parts.append("stopped by: " + str(status["fatal"]))
    return " · ".join(parts)


def active_jobs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The jobs that still change by themselves (is_live: a stopped one with items in flight too), for the
    pages that follow them on a timer."""
    return [j for j in store.list_jobs(limit) if is_live(j)]


def item_title(item: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> str:
    """'#47: Anxious first-time investor · Retirement planning' for a job item row."""
    persona = names.get("personas", {}).get(item.get("persona", ""), item.get("persona", ""))
    topic = names.get("topics", {}).get(item.get("topic", ""), item.get("topic", ""))
    return f"#{item['scenario_id']}: {persona} · {topic}"


# ---- what the server log says about jobs ---------------------------------------------------------
_seen: dict[int, str] = {}
_seen_lock = threading.Lock()


def note_job_state(job: Mapping[str, Any]) -> None:
    """One line in the server log when a job's outcome changes (as this process sees it): started,
    running, stopping, stopped, completed (with failures), failed with its reason."""
    job_id, outcome = int(job["id"]), job_outcome(job)
    with _seen_lock:
        before = _seen.get(job_id)
        if before == outcome:
            return
        _seen[job_id] = outcome
    counts = (
        f"{int(job.get('succeeded_items') or 0)} succeeded, {int(job.get('failed_items') or 0)} failed, "
        f"{int(job.get('cancelled_items') or 0)} cancelled, {int(job.get('pending_items') or 0)} pending, "
        f"{int(job.get('claimed_items') or 0)} in flight of {int(job.get('total_items') or 0)}"
    )
    why = f"; {job['error']}" if outcome in ("failed", "stopping") and job.get("error") else ""
    level = logging.ERROR if outcome == "failed" else logging.INFO
    log.log(level, "job #%s (%s): %s -> %s (%s)%s", job_id, job_title(job), before or "new", outcome, counts, why)


def _note_now(store: Store, job_id: int) -> None:
    job = store.get_job(job_id)
    if job is not None:
        note_job_state(job)


__all__ = [
    "ACTIVE_JOB_STATUSES",
    "BATCH_NOTE",
    "LIVE_OUTCOMES",
    "MODES",
    "Progress",
    "RunnerError",
    "active_jobs",
    "endpoint_problem",
    "generation_off_reason",
    "ids_with_status",
    "is_demo_job",
    "is_live",
    "item_title",
    "job_outcome",
    "job_settings",
    "job_title",
    "note_job_state",
    "progress",
    "resume_job",
    "start_demo_job",
    "start_job",
    "start_judge_job",
    "stop_job",
    "worker_line",
]
