"""Contrastive turns in the runner: starting a contrastive job (task 'contrast': the Review page, `python -m lib
contrast`) and the worker's part, which writes one item's failed responses (lib.generation.contrast).

A job has one item per approved conversation version (item.conversation_id). What to write is the job's
settings: `turns` (None: every assistant turn), `kinds` (None: the kinds that suit each turn's emotion) and
`n` per kind. The worker writes them through its own LLMClient, so the requests share the generator's
rate-limit budget, and saves the run with its item in one transaction (save_contrast_result: log rows,
responses, item); a run that kept nothing is logged and the item retried or failed like a generation.
A batch job sends the same requests through the Message Batches API (lib.generation.batch asks this module).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import DEMO_MODEL
from lib.generation.contrast import (
    ContrastResult,
    acontrast_conversation,
    contrast_batch_params,
    contrast_batch_response,
)
from lib.generation.contrast_prompt import Asks, ContrastError, check_count, contrast_templates, plan_asks
from lib.generation.estimate import Estimate
from lib.generation.job_progress import as_demo
from lib.generation.jobs import RunnerError, estimate_settings, job_kind
from lib.generation.rating import ItemDone, not_saved
from lib.generation.response import LLMResponse
from lib.store.protocol import JobItem, Store, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from lib.generation.worker import Worker


@dataclass(frozen=True)
class ContrastAsk:
    """What a contrastive job writes for each conversation (kept in the job's settings)."""

    turns: tuple[int, ...] | None = None
    kinds: tuple[str, ...] | None = None
    n: int = 1

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ContrastAsk:
        turns, kinds = settings.get("turns"), settings.get("kinds")
        return cls(
            turns=tuple(int(t) for t in turns) if turns else None,
            kinds=tuple(str(k) for k in kinds) if kinds else None,
            n=int(settings.get("n") or 1),
        )

    def as_settings(self) -> dict[str, Any]:
        return {
            "turns": list(self.turns) if self.turns else None,
            "kinds": list(self.kinds) if self.kinds else None,
            "n": self.n,
        }

    def asks_for(self, conv: Conversation, tax: Taxonomy) -> Asks:
        """The failure kinds per assistant turn for one conversation; ContrastError when nothing fits."""
        asks = plan_asks(conv, tax, turns=self.turns, kinds=self.kinds)
        check_count(asks, self.n)
        return asks


def start_contrast_job(
    store: Store,
    conversation_ids: Sequence[str],
    ask: ContrastAsk,
    tax: Taxonomy,
    *,
    mode: str = "realtime",
    model: str | None = None,
    created_by: str | None = None,
    requested_from: str = "review",
    estimate: Estimate | None = None,
    demo: bool = False,
) -> tuple[int, int]:
    """Queue a contrastive job for the conversations; returns (job id, conversations queued). What is asked
    is checked against each conversation first, so a job never starts that could only fail. estimate: the
    one shown before it started (estimate_contrast), kept in its settings. demo: the job is a demo replay
    (lib.generation.app_worker.start_demo_worker runs it), for a machine without an API key; what it writes
    carries the replay's model, and exports leave it out unless asked."""
    kind = job_kind(mode, f"Unknown mode {mode!r}; choose realtime or batch.")
    if demo and kind != "realtime":
        raise RunnerError("A demo replay answers in realtime only; choose realtime, or configure an API key.")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise RunnerError("Nothing to contrast: choose at least one approved conversation.")
    for cid in ids:
        conv = store.get_conversation(cid)
        if conv is None:
            raise RunnerError(f"Conversation {cid} does not exist; check the id.")
        if conv.review.status != "approved":
            raise RunnerError(
                f"Conversation {cid} is {conv.review.status}: only approved conversations get contrastive turns."
            )
        try:
            ask.asks_for(conv, tax)
        except ContrastError as exc:
            raise RunnerError(str(exc)) from None
    settings = {"requested_from": requested_from, "mode": mode, **ask.as_settings()}
    if estimate is not None:
        settings["estimate"] = estimate_settings(estimate)
    if demo:
        model, settings = DEMO_MODEL, as_demo(settings)
    job_id = store.create_contrast_job(ids, kind=kind, model=model, settings=settings, created_by=created_by or None)
    if job_id is None:
        raise RunnerError(
            "Nothing to contrast: every chosen conversation is queued in a contrastive job already, or a newer "
            "version has replaced it (open the current version and contrast that)."
        )
    job = store.get_job(job_id) or {}
    return job_id, int(job.get("total_items") or 0)


class Contraster:
    """The contrastive part of one worker: runs a 'contrast' job's items."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._registered = False

    async def run_item(self, item: JobItem, initial: LLMResponse | None = None) -> ItemDone:
        """Write and save one item's failed responses; `initial` is its Message Batches answer."""
        w = self.worker
        conv, ask = await self._inputs(item.job_id, item.conversation_id)
        try:
            asks = ask.asks_for(conv, w.taxonomy)
        except ContrastError as exc:
            reason = str(exc)
            await asyncio.to_thread(w.store.fail_item, item.id, reason, worker=w.name, cause="prompt")
            return ItemDone("failed", reason)
        await self._register_templates()
        result = await acontrast_conversation(conv, asks, llm=w.llm, tax=w.taxonomy, n=ask.n, initial=initial)
        w.learn(result.attempts)
        try:
            await asyncio.to_thread(
                w.store.save_contrast_result, result.to_record([w.llm_settings.api_key or ""]), item_id=item.id
            )
        except StoreUnavailable:
            raise
        except StoreError as exc:
            return await not_saved(w, item, "the contrastive responses", exc)
        return await self._outcome(item, result)

    async def _outcome(self, item: JobItem, result: ContrastResult) -> ItemDone:
        w = self.worker
        if result.ok:
            w.report.breaker.success(item.job_id)
            return ItemDone("ok", None, result.cost_usd, f"{item.conversation_id}  {result.summary()}")
        reason = result.reason or "no failed response was written"
        retry = result.retryable or result.fatal
        status = await asyncio.to_thread(w.store.fail_item, item.id, reason, worker=w.name, retry=retry)
        if result.fatal:
            w.on_fatal(item, reason)
        elif not retry:  # the model keeps answering what the checks refuse: the breaker stops the job
            w.report.count_failure(item, "schema", reason)
        return ItemDone.failed_as(status, reason, result.cost_usd)

    async def _inputs(self, job_id: int, conversation_id: str | None) -> tuple[Conversation, ContrastAsk]:
        w = self.worker
        if not conversation_id:
            raise LookupError(f"a contrastive item of job #{job_id} names no conversation")
        conv = await asyncio.to_thread(w.store.get_conversation, conversation_id)
        if conv is None:
            raise LookupError(f"conversation {conversation_id} does not exist any more; nothing to contrast")
        return conv, ContrastAsk.from_settings((await w.rater.job(job_id))["settings"])

    async def _register_templates(self) -> None:
        """Record the templates' versions (prompt_templates), once per worker."""
        if self._registered:
            return
        for t in contrast_templates():
            await asyncio.to_thread(
                self.worker.store.register_prompt_template, t.name, t.version, t.sha256, t.path.read_text("utf-8"), None
            )
        self._registered = True

    # -- Message Batches (for lib.generation.batch) --------------------------------------------------
    async def batch_params(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The body of the request that writes the item's failed responses; ValueError when nothing fits."""
        w = self.worker
        conv, ask = await self._inputs(int(item["job_id"]), item.get("conversation_id"))
        return contrast_batch_params(conv, ask.asks_for(conv, w.taxonomy), llm=w.llm, tax=w.taxonomy, n=ask.n)

    def batch_answer(self, message: Mapping[str, Any]) -> LLMResponse:
        return contrast_batch_response(message, llm=self.worker.llm)
