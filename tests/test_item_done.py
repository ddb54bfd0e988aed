"""How a worker's item ends after fail_item, and what happens to an item whose result the store refused
(lib.generation.rating.ItemDone.failed_as and not_saved, shared by the rating, contrastive and batch paths)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from lib.generation.rating import ItemDone, not_saved
from lib.store.protocol import JobItem, StoreError


def test_an_item_queued_again_is_a_retry_and_otherwise_failed() -> None:
    assert ItemDone.failed_as("pending", "busy") == ItemDone("retry", "busy")
    assert ItemDone.failed_as("failed", "no attempts left", 0.25) == ItemDone("failed", "no attempts left", 0.25)


class RefusingStore:
    def __init__(self, status: str) -> None:
        self.status = status
        self.calls: list[dict[str, Any]] = []

    def fail_item(self, item_id: int, reason: str, *, worker: str, retry: bool) -> str:
        self.calls.append({"item_id": item_id, "reason": reason, "worker": worker, "retry": retry})
        return self.status


def test_a_result_the_store_refused_fails_the_item_for_a_retry_and_says_what_was_lost() -> None:
    item = JobItem(id=7, job_id=3, scenario_id=11, status="claimed", attempts=1, max_attempts=3)
    for status, outcome in [("pending", "retry"), ("failed", "failed")]:
        store = RefusingStore(status)
        w = SimpleNamespace(store=store, name="w1")
        done = asyncio.run(not_saved(w, item, "the ratings", StoreError("connection reset")))  # type: ignore[arg-type]
        assert done == ItemDone(outcome, "the ratings could not be saved: connection reset")
        assert store.calls == [{"item_id": 7, "reason": done.reason, "worker": "w1", "retry": True}]
