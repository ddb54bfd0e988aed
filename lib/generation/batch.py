"""Batch jobs: the Message Batches API (half the price) as one worker drives it.

One worker at a time drives a batch job, under a job lease: it submits the job's pending items as
one batch (custom_id item-<id>), records the batch id on the job, polls it, and when it has ended
reads the results through the same validation and repair path as a live answer (repairs use the
normal API). Any worker takes the job over when the lease expires, so a batch survives an app
restart. The items a batch result starts run in the worker (lib.generation.worker) like any other.
A rating job's batch carries the judge's requests (lib.generation.rating) for the items' conversations, a
contrastive job's the requests for their failed responses (lib.generation.contrast_jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from lib.generation.attempts import AttemptLog
from lib.generation.engine import feedback_for, scenario_from_row
from lib.generation.llm import BatchResult, MessageBatches
from lib.generation.prompting import build_prompt
from lib.generation.rating import ItemDone
from lib.generation.response import response_from_body
from lib.generation.templates import PromptError
from lib.generation.variation_prompt import source_for
from lib.store.protocol import JobItem, StoreError

if TYPE_CHECKING:
    from lib.generation.worker import Worker

log = logging.getLogger(__name__)


class BatchDriver:
    """The batch jobs of one worker: which it holds, what it submitted, and one step of each."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.jobs: set[int] = set()  # the batch jobs whose lease this worker holds
        self.submitted: list[str] = []  # the Message Batches this worker created
        self._api: MessageBatches | None = None

    @property
    def api(self) -> MessageBatches:
        if self._api is None:
            self._api = MessageBatches(self.worker.llm_settings)
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()

    # -- leases ----------------------------------------------------------------------------------
    async def renew_leases(self) -> None:
        """The heartbeat of the batch jobs held: a job whose lease another worker took is let go."""
        w = self.worker
        for job_id in list(self.jobs):
            kept = await asyncio.to_thread(
                w.store.claim_batch_jobs, w.name, lease_seconds=w.config.batch_lease_s, job_id=job_id
            )
            if not kept:
                self.jobs.discard(job_id)

    async def release_leases(self) -> None:
        """On shutdown: another worker may take the batch jobs over at once."""
        w = self.worker
        for job_id in list(self.jobs):
            with contextlib.suppress(StoreError):  # the lease expires instead
                await asyncio.to_thread(w.store.release_batch_job, job_id, w.name)
        self.jobs.clear()

    # -- one step --------------------------------------------------------------------------------
    async def step(self) -> tuple[bool, bool]:
        """One step for every batch job this worker may drive. Returns (any batch job has work,
        something to do soon, e.g. results to read or items to submit)."""
        w = self.worker
        jobs = await asyncio.to_thread(
            w.store.claim_batch_jobs, w.name, lease_seconds=w.config.batch_lease_s, job_id=w.config.job_id
        )
        self.jobs = {int(j["id"]) for j in jobs}
        soon = False
        for job in jobs:
            if w.stopping:
                break
            try:
                soon = await self._drive(job) or soon
            except StoreError:
                raise
            except Exception as exc:  # the API is unreachable or refused: try again at the next poll
                log.warning("worker %s: batch job %s: %s: %s", w.name, job["id"], type(exc).__name__, str(exc)[:300])
        return bool(jobs), soon

    async def _drive(self, job: dict[str, Any]) -> bool:
        w = self.worker
        job_id = int(job["id"])
        if job.get("follows_job_id") and w.working_on(int(job["follows_job_id"])):
            # the items this worker still finishes may add to it: submit once they are done, as one batch
            return True
        batch_id: str | None = job.get("batch_id")
        status: str | None = job.get("batch_status")
        if batch_id and status != "ended":
            status = await self.api.status(batch_id)
            await asyncio.to_thread(w.store.record_job_batch, job_id, w.name, batch_status=status)
            if status != "ended":
                return False
        items = await asyncio.to_thread(w.store.job_items, job_id)
        prefix = (batch_id + ":") if batch_id else None
        unread = [
            i
            for i in items
            if prefix and (i.get("batch_request_id") or "").startswith(prefix) and i["status"] in ("pending", "claimed")
        ]
        if unread:
            if any(i["status"] == "pending" for i in unread) or any(
                i["status"] == "claimed" and i.get("lease_owner") != w.name for i in unread
            ):
                await self._read_results(job_id, str(batch_id), str(job.get("task") or "generate"))
            return True
        unsent = [
            i
            for i in items
            if i["status"] == "pending" and not (prefix and (i.get("batch_request_id") or "").startswith(prefix))
        ]
        if unsent:
            await self._submit(job_id, unsent[: w.config.batch_max_requests], str(job.get("task") or "generate"))
            return False
        return False

    async def _submit(self, job_id: int, items: list[dict[str, Any]], task: str) -> None:
        w = self.worker
        rows = (
            {}
            if task in ("judge", "contrast")
            else {
                r["id"]: r
                for r in await asyncio.to_thread(w.store.list_scenarios, {"ids": [i["scenario_id"] for i in items]})
            }
        )
        requests: list[dict[str, Any]] = []
        sent: list[int] = []
        for item in items:
            try:
                params = await self._request(item, task, rows)
            except (LookupError, PromptError, ValueError) as exc:
                await asyncio.to_thread(w.store.fail_item, item["id"], str(exc), worker=w.name)
                continue
            requests.append({"custom_id": f"item-{item['id']}", "params": params})
            sent.append(int(item["id"]))
        if not requests:
            return
        batch_id, status = await self.api.create(requests)
        ok = await asyncio.to_thread(
            w.store.record_job_batch,
            job_id,
            w.name,
            batch_id=batch_id,
            batch_status=status,
            item_ids=sent,
            request_ids=[f"{batch_id}:item-{i}" for i in sent],
        )
        if not ok:  # another worker took the job over meanwhile: do not pay twice
            log.warning("worker %s lost batch job %s while submitting; cancelling batch %s", w.name, job_id, batch_id)
            await self.api.cancel(batch_id)
            return
        self.submitted.append(batch_id)
        log.info("worker %s: job %s: submitted %d requests as Message Batch %s", w.name, job_id, len(sent), batch_id)

    async def _request(self, item: dict[str, Any], task: str, rows: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """The body of an item's request: the judge's on its conversation (task judge), else the
        generator's on its scenario. LookupError, PromptError or ValueError: the item cannot be sent."""
        w = self.worker
        if task == "judge":
            cid = item.get("conversation_id") or ""
            conv = await asyncio.to_thread(w.store.get_conversation, cid)
            if conv is None:
                raise LookupError(f"conversation {cid or '(none)'} does not exist any more; nothing to rate")
            return w.rater.batch_params(conv)
        if task == "contrast":
            return await w.contraster.batch_params(item)
        row = rows.get(item["scenario_id"])
        if row is None:
            raise LookupError(f"scenario #{item['scenario_id']} does not exist any more")
        scenario = scenario_from_row(row)
        fb = feedback_for(w.store, item["scenario_id"], item["feedback"], w.taxonomy) if item.get("feedback") else None
        source = await asyncio.to_thread(source_for, row, w.store.get_conversation)
        plan = build_prompt(
            scenario, w.taxonomy, w.seeds or [], feedback=fb, variation_seed=int(item["id"]), source=source
        )
        return w.llm.request_params(plan.system, [{"role": "user", "content": plan.user}])

    async def _read_results(self, job_id: int, batch_id: str, task: str) -> None:
        w = self.worker
        claimed = await asyncio.to_thread(
            w.store.claim_batch_items, w.name, job_id, batch_id, limit=100_000, lease_seconds=w.config.lease_s
        )
        if not claimed:
            return
        waiting = {f"item-{i.id}": i for i in claimed}
        for i in claimed:
            w.hold(i)
        read_all = False
        try:
            async for entry in self.api.results(batch_id):
                item = waiting.pop(entry.custom_id, None)
                if item is None:
                    continue
                # read: a retry of this item goes into a new batch
                await asyncio.to_thread(
                    w.store.record_job_batch, job_id, w.name, item_ids=[item.id], request_ids=[None]
                )
                await self._take_result(item, entry, batch_id, task)
                if w.stopping:
                    break
            else:
                read_all = True
        finally:
            if waiting and read_all:  # the batch has no result for them: send them again
                ids = [i.id for i in waiting.values()]
                await asyncio.to_thread(
                    w.store.record_job_batch, job_id, w.name, item_ids=ids, request_ids=[None] * len(ids)
                )
                for item in waiting.values():
                    await asyncio.to_thread(
                        w.store.fail_item,
                        item.id,
                        f"Message Batch {batch_id} had no result for this item; it goes into the next batch",
                        worker=w.name,
                        retry=True,
                    )
                    w.drop(item.id)
            elif waiting:  # not read (an error, or stopping): back in the queue, still in this batch
                w.release([i.id for i in waiting.values()])

    async def _take_result(self, item: JobItem, result: BatchResult, batch_id: str, task: str) -> None:
        w = self.worker
        settings = w.llm_settings
        if result.kind == "succeeded" and result.message is not None:
            initial = (
                w.rater.batch_answer(result.message)
                if task == "judge"
                else w.contraster.batch_answer(result.message)
                if task == "contrast"
                else response_from_body(
                    result.message,
                    settings=settings,
                    requested_model=settings.model,
                    batch=True,
                    max_tokens=settings.max_tokens,
                )
            )
            await w.wait_for_room()
            w.start_item(item, initial)
            return
        started = time.monotonic()
        if result.kind in ("canceled", "expired"):
            w.release([item.id])
            w.record_event(
                item, "released", f"the batch request was {result.kind}; it goes into the next batch", started
            )
            return
        reason = (
            f"the Message Batches request failed ({result.error or result.kind}); it is retried in the next "
            "batch while it has attempts left"
        )
        await asyncio.to_thread(
            w.store.log_generation,
            AttemptLog(
                attempt=1,
                purpose=task if task in ("judge", "contrast") else "generate",
                outcome="error",
                model=settings.model,
                template=None,
                parameters={"source": "batch", "batch_id": batch_id, "result": result.kind},
                error=reason,
            ).as_row(
                scenario_id=item.scenario_id, item_id=item.id, job_id=item.job_id, secrets=[settings.api_key or ""]
            ),
        )
        status = await asyncio.to_thread(w.store.fail_item, item.id, reason, worker=w.name, retry=True)
        w.drop(item.id)
        w.record_event(item, ItemDone.failed_as(status, reason).outcome, reason, started)
        if status != "pending":
            w.processed.append(item.id)
