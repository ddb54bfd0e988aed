"""How a job reads: its outcome, its progress and ETA, its title, the worker's line, and the line in the
server log when its outcome changes. Reads job rows (v_generation_jobs) only; starting and steering
jobs is lib.generation.jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.core.vocabulary import DEMO_LABEL, JOB_OUTCOMES, JOB_TASKS

# the job settings' key naming the conversations a variation set's job varies (its title names them)
VARIATIONS_OF = "variations_of"
DEMO_MARK = "demo"  # a demo replay job's settings carry it (as_demo)
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


def is_demo_job(job: Mapping[str, Any]) -> bool:
    return bool((job.get("settings") or {}).get(DEMO_MARK))


def as_demo(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A job's settings marked as a demo replay's (lib.generation.app_worker.start_demo_worker runs it; its
    model is lib.core.vocabulary.DEMO_MODEL)."""
    return {**settings, DEMO_MARK: True}


def item_title(item: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> str:
    """'#47: Anxious first-time investor · Retirement planning' for a job item row."""
    persona = names.get("personas", {}).get(item.get("persona", ""), item.get("persona", ""))
    topic = names.get("topics", {}).get(item.get("topic", ""), item.get("topic", ""))
    return f"#{item['scenario_id']}: {persona} · {topic}"


# ---- what the server log says about jobs ---------------------------------------------------------
log = logging.getLogger(__name__)
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


__all__ = [
    "ACTIVE_JOB_STATUSES",
    "LIVE_OUTCOMES",
    "VARIATIONS_OF",
    "Progress",
    "as_demo",
    "is_demo_job",
    "is_live",
    "item_title",
    "job_outcome",
    "job_title",
    "note_job_state",
    "progress",
    "run_seconds",
    "worker_line",
]
