"""The quality judge in the runner: rating a job item's conversation, the step a worker runs after a
conversation is stored, and the one regeneration a low rating may trigger.

- A rating job (generation_jobs.task 'judge': lib.generation.jobs.start_judge_job, `python -m lib judge`)
  has one item per conversation. The worker rates it through its own LLMClient, so the judge's requests
  share the generator's rate-limit budget (AdaptiveLimiter), or, for a batch job, through the Message
  Batches API at half the price (lib.generation.batch asks this module for the requests and answers).
  The run is saved with its item in one transaction (save_judge_result: ratings, log rows, item); a run
  without a verdict is logged and the item retried or failed like a generation. Claiming a rating
  item leaves its scenario's status as it is.
- After a generation item stored its conversation, with the judge on (QualityPolicy, from
  BRIGHTRUN_JUDGE): a realtime job rates it in the same item run; a batch job queues it for its
  follow-up rating job, which goes as one Message Batch once the batch job has ended. A judge failure
  never touches the stored conversation: it is logged, and the conversation stays unrated until a
  later rating job rates it.
- A rating below a pass mark, with BRIGHTRUN_REGENERATE_ON_LOW_RATING on, queues one regeneration of
  the scenario, with the judge's reasons as feedback, in the job's follow-up generation job. The
  database allows one automatic regeneration per scenario (queue_follow_up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.config import Settings
from lib.core.models import Conversation
from lib.core.rubric import Rubric, default_rubric, flag_reason
from lib.generation.judge import (
    JudgeResult,
    ajudge_conversation,
    judge_batch_request,
    judge_batch_response,
    judge_templates,
)
from lib.generation.response import LLMResponse
from lib.store.protocol import JobItem, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from lib.generation.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityPolicy:
    """What follows a stored conversation: rate it (judge), and write it once more when it is rated
    below a pass mark (regenerate_on_low_rating)."""

    judge: bool = False
    regenerate_on_low_rating: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityPolicy:
        """From lib.config.Settings (judge_on, regenerate_on_low_rating_on)."""
        return cls(judge=settings.judge_on, regenerate_on_low_rating=settings.regenerate_on_low_rating_on)

    def for_job(self, job_settings: Mapping[str, Any] | None) -> QualityPolicy:
        """The policy a job was started with (kept in its settings, so the estimate shown then holds
        whichever worker runs it), else this worker's."""
        s = job_settings or {}
        return QualityPolicy(
            judge=bool(s.get("judge", self.judge)),
            regenerate_on_low_rating=bool(s.get("regenerate_on_low_rating", self.regenerate_on_low_rating)),
        )

    def as_settings(self) -> dict[str, bool]:
        """The keys a job's settings keep it under."""
        return {"judge": self.judge, "regenerate_on_low_rating": self.regenerate_on_low_rating}


def policy_in_force(settings: Settings | None = None) -> QualityPolicy:
    """The policy of the app's settings (Settings.load() when None); all off when they cannot be read."""
    if settings is None:
        from lib.config import ConfigError, Settings

        try:
            settings = Settings.load()
        except ConfigError:
            return QualityPolicy()
    return QualityPolicy.from_settings(settings)


def low_rating_feedback(result: JudgeResult) -> str:
    """The notes of the regeneration a low rating queues: each rating below its pass mark, in the
    order the review queue shows them, with the judge's reason and the turns it cites."""
    failing = sorted(
        (r for r in result.ratings if r.score < r.pass_at), key=lambda r: (not r.hard, r.score, r.criterion)
    )
    lines = ["The quality judge rated the previous version below the pass mark:"]
    for r in failing:
        cited = f" (turns {', '.join(map(str, r.cited_turns))})" if r.cited_turns else ""
        lines.append(f"- {flag_reason(r.criterion, r.score, r.pass_at, r.hard)}: {r.reason}{cited}")
    lines.append("Write a new version that fixes these points and keeps what already works.")
    return "\n".join(lines)


@dataclass(frozen=True)
class ItemDone:
    """How a worker's run of one item ended, for its event: ok | failed | retry, and what it cost."""

    outcome: str
    reason: str | None = None
    cost_usd: float = 0.0
    note: str | None = None

    @classmethod
    def failed_as(cls, status: str, reason: str, cost_usd: float = 0.0) -> ItemDone:
        """After fail_item: a retry when it queued the item again (its status 'pending'), else failed."""
        return cls("retry" if status == "pending" else "failed", reason, cost_usd)


async def not_saved(w: Worker, item: JobItem, what: str, exc: StoreError) -> ItemDone:
    """A result the store refused: the item fails and is queued again while it has attempts left."""
    reason = f"{what} could not be saved: {exc}"
    status = await asyncio.to_thread(w.store.fail_item, item.id, reason, worker=w.name, retry=True)
    return ItemDone.failed_as(status, reason)


class Rater:
    """The judge's part of one worker (see the module docstring)."""

    def __init__(self, worker: Worker, policy: QualityPolicy, rubric: Rubric | None = None) -> None:
        self.worker = worker
        self.policy = policy
        self._rubric = rubric  # None: the taxonomy's rubric.yaml
        self._jobs: dict[int, dict[str, Any]] = {}
        self._registered = False

    @property
    def rubric(self) -> Rubric:
        if self._rubric is None:
            tax = self.worker.tax
            self._rubric = default_rubric(getattr(tax, "path", None))
        return self._rubric

    async def job(self, job_id: int) -> dict[str, Any]:
        """A job's task, kind and settings, read once: they never change after it is created."""
        job = self._jobs.get(job_id)
        if job is None:
            row = await asyncio.to_thread(self.worker.store.get_job, job_id)
            if row is None:
                raise LookupError(f"job #{job_id} does not exist any more")
            job = {
                "task": row.get("task") or "generate",
                "kind": row.get("kind") or "realtime",
                "settings": dict(row.get("settings") or {}),
            }
            self._jobs[job_id] = job
        return job

    async def policy_of(self, job_id: int) -> QualityPolicy:
        return self.policy.for_job((await self.job(job_id))["settings"])

    # -- after a generation ------------------------------------------------------------------------
    async def after_generation(self, item: JobItem, conversation_id: str) -> JudgeResult | None:
        """Rate (realtime) or queue for rating (batch) the conversation a generation item stored. Never
        raises but for a cancellation: the conversation is stored, whatever happens here."""
        w = self.worker
        try:
            job = await self.job(item.job_id)
            policy = self.policy.for_job(job["settings"])
            if not policy.judge:
                return None
            if job["kind"] == "batch":
                await asyncio.to_thread(w.store.queue_follow_up, item.job_id, "judge", conversation_id)
                return None
            result, _ = await self.rate(item, conversation_id, policy=policy)
            if not result.ok:
                log.warning(
                    "worker %s: conversation %s is stored but got no rating (%s); a later rating job rates it",
                    w.name,
                    conversation_id,
                    result.reason,
                )
            return result
        except Exception as exc:  # the conversation stays stored and unrated
            log.warning(
                "worker %s: conversation %s is stored but could not be rated (%s: %s); a later rating job rates it",
                w.name,
                conversation_id,
                type(exc).__name__,
                str(exc)[:300],
            )
            return None

    # -- a rating job's item -----------------------------------------------------------------------
    async def rate_item(self, item: JobItem, initial: LLMResponse | None = None) -> ItemDone:
        """Rate a rating job's item; `initial` is its Message Batches answer, when there is one."""
        w = self.worker
        if not item.conversation_id:
            raise LookupError(f"job item {item.id} names no conversation to rate")
        policy = await self.policy_of(item.job_id)
        try:
            result, queued = await self.rate(item, item.conversation_id, policy=policy, initial=initial)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            return await not_saved(w, item, "the ratings", exc)
        if result.ok:
            again = "; queued to be generated once more" if queued else ""
            note = f"{item.conversation_id}  {result.summary()}{again}"
            return ItemDone("ok", None, result.cost_usd, note)
        reason = result.reason or "the judge gave no verdict"
        status = await asyncio.to_thread(
            w.store.fail_item, item.id, reason, worker=w.name, retry=result.retryable or result.fatal
        )
        if result.fatal:
            w.on_fatal(item, reason)
        return ItemDone.failed_as(status, reason, result.cost_usd)

    # -- rating ------------------------------------------------------------------------------------
    async def rate(
        self, item: JobItem, conversation_id: str, *, policy: QualityPolicy, initial: LLMResponse | None = None
    ) -> tuple[JudgeResult, int | None]:
        """Rate the conversation, save the run with the item, and queue the regeneration a low rating
        calls for. Returns the result and the regeneration's item id (None: none queued)."""
        w = self.worker
        conv = await asyncio.to_thread(w.store.get_conversation, conversation_id)
        if conv is None:
            raise LookupError(f"conversation {conversation_id} does not exist any more; nothing to rate")
        await self._register_templates()
        result = await ajudge_conversation(conv, llm=w.llm, tax=w.taxonomy, rubric=self.rubric, initial=initial)
        w.learn(result.attempts)
        if result.attempts:
            await asyncio.to_thread(
                w.store.save_judge_result, result.to_record([w.llm_settings.api_key or ""]), item_id=item.id
            )
        queued = None
        if result.ok and result.flagged and policy.regenerate_on_low_rating:
            queued = await asyncio.to_thread(
                w.store.queue_follow_up, item.job_id, "generate", conversation_id, feedback=low_rating_feedback(result)
            )
        return result, queued

    async def _register_templates(self) -> None:
        """Record the judge's template versions (prompt_templates), once per worker."""
        if self._registered:
            return
        for t in judge_templates():
            await asyncio.to_thread(
                self.worker.store.register_prompt_template,
                t.name,
                t.version,
                t.sha256,
                t.path.read_text(encoding="utf-8"),
                None,
            )
        self._registered = True

    # -- Message Batches (for lib.generation.batch) --------------------------------------------------
    def batch_params(self, conv: Conversation) -> dict[str, Any]:
        """The body of the request that rates `conv`, for a Message Batch."""
        w = self.worker
        return judge_batch_request(conv, llm=w.llm, tax=w.taxonomy, rubric=self.rubric)["params"]

    def batch_answer(self, message: Mapping[str, Any]) -> LLMResponse:
        """A succeeded batch result as the first answer of the item's run."""
        return judge_batch_response(message, llm=self.worker.llm, rubric=self.rubric)
