"""The runner's SQL at the account's limits, on a real PostgreSQL: the shared rate budget, worker
liveness that ends with the connection, and the output sizes max_tokens is sized from."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import pytest

from lib.core.taxonomy import Taxonomy
from lib.store.postgres import PostgresStore
from lib.store.protocol import InvalidInput
from tests.conftest import scenario_rows

T = TypeVar("T")

LIMITS = {"requests": 60.0, "output_tokens": 6000.0}  # 1 request and 100 tokens a second


def account() -> str:
    """An account of its own: the budget lives outside the tables each test gets back fresh."""
    return "acct-" + uuid.uuid4().hex


def test_the_budget_takes_all_or_nothing_and_says_how_long_until_it_fits(store: PostgresStore) -> None:
    acct = account()
    assert store.take_rate_budget(acct, {"requests": 1, "output_tokens": 5000}, LIMITS) == 0.0
    # 1,000 tokens left: 3,000 more fit in about 20 s at 100 a second, and nothing was taken
    wait = store.take_rate_budget(acct, {"requests": 1, "output_tokens": 3000}, LIMITS)
    assert 19.0 < wait <= 20.0
    # a request that fits goes while the bigger one waits
    assert store.take_rate_budget(acct, {"requests": 1, "output_tokens": 900}, LIMITS) == 0.0
    # another account has buckets of its own
    assert store.take_rate_budget(account(), {"requests": 1, "output_tokens": 5000}, LIMITS) == 0.0


def test_a_new_bucket_starts_at_what_the_api_reports_and_settling_gives_back_what_was_not_used(
    store: PostgresStore,
) -> None:
    acct = account()
    assert store.take_rate_budget(acct, {"output_tokens": 2000}, LIMITS, {"output_tokens": 2500}) == 0.0
    assert store.take_rate_budget(acct, {"output_tokens": 2000}, LIMITS) > 10  # 500 left
    store.settle_rate_budget(acct, {"output_tokens": 1500})  # the answer used 500 of the 2,000
    assert store.take_rate_budget(acct, {"output_tokens": 2000}, LIMITS) == 0.0
    # the API says the bucket is empty (another client of the account): the mirror follows it
    store.settle_rate_budget(acct, {}, {"output_tokens": 0.0})
    assert store.take_rate_budget(acct, {"output_tokens": 1000}, LIMITS) > 9


def test_budget_amounts_are_checked(store: PostgresStore) -> None:
    with pytest.raises(InvalidInput, match="account"):
        store.take_rate_budget(" ", {"requests": 1}, LIMITS)


def _job(store: PostgresStore, tax: Taxonomy, n: int) -> int:
    ids = store.add_scenarios(scenario_rows(tax, n), plan_batch="liveness")
    return store.create_job(ids)


def test_a_dead_workers_items_are_claimable_at_once_and_a_live_ones_are_not(
    store: PostgresStore, db_tax: Taxonomy
) -> None:
    job = _job(store, db_tax, 4)
    dead = store.worker_session("dead")
    live = store.worker_session("live")
    assert dead is not None and live is not None and dead.alive
    assert len(store.claim_items("dead", limit=2, lease_seconds=600, job_id=job)) == 2
    assert len(store.claim_items("live", limit=2, lease_seconds=600, job_id=job)) == 2
    assert store.claim_items("other", limit=4, lease_seconds=600, job_id=job) == []  # leases hold
    dead.close()  # as when its process is killed: the connection ends, and the lock with it
    assert not dead.alive
    taken = store.claim_items("other", limit=4, lease_seconds=600, job_id=job)
    assert [i.attempts for i in taken] == [2, 2] and len(taken) == 2  # the dead one's two, not the live one's
    assert store.heartbeat("dead", [i.id for i in taken]) == []  # it lost them
    # a worker without a session (the REST transport) keeps its items until the lease expires
    job2 = _job(store, db_tax, 1)
    store.claim_items("rest", limit=1, lease_seconds=600, job_id=job2)
    assert store.claim_items("other", limit=1, lease_seconds=600, job_id=job2) == []
    live.close()


def eventually(read: Callable[[], T], refused: type[Exception] | None = None) -> T:
    """What `read` gives once the server has ended a closed session: its backend exits a moment after the
    client closes, so a read in that moment still sees the session (nothing requeued, or `refused`)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            value = read()
        except Exception as exc:
            if refused is None or not isinstance(exc, refused) or time.monotonic() > deadline:
                raise
        else:
            if value or time.monotonic() > deadline:
                return value
        time.sleep(0.05)

def test_requeue_sends_a_dead_workers_items_back_to_the_queue(store: PostgresStore, db_tax: Taxonomy) -> None:
    job = _job(store, db_tax, 2)
    session = store.worker_session("gone")
    assert session is not None
    store.claim_items("gone", limit=2, lease_seconds=600, job_id=job)
    assert store.requeue_expired() == 0
    session.close()
    assert eventually(store.requeue_expired) == 2
    assert (store.get_job(job) or {})["pending_items"] == 2


def test_a_worker_name_is_held_by_one_live_session(store: PostgresStore) -> None:
    first = store.worker_session("twin")
    assert first is not None
    with pytest.raises(InvalidInput, match="another live worker"):
        store.worker_session("twin")
    first.close()
    again = eventually(lambda: store.worker_session("twin"), InvalidInput)  # the name is free once it ended
    assert again is not None and again.alive
    again.close()


def test_output_sizes_are_a_quantile_per_template(store: PostgresStore) -> None:
    for tokens in range(100, 2100, 100):  # 100 .. 2000
        store.log_generation(
            {
                "outcome": "ok",
                "purpose": "generate",
                "template_name": "t1",
                "model": "m",
                "output_tokens": tokens,
                "http_status": 200,
            }
        )
    store.log_generation(
        {"outcome": "rate_limited", "template_name": "t1", "model": "m", "output_tokens": 0, "http_status": 429}
    )
    store.log_generation(
        {
            "outcome": "ok",
            "purpose": "judge",
            "template_name": "j",
            "model": "m",
            "output_tokens": 900,
            "http_status": 200,
        }
    )
    rows = store.output_quantiles("m", quantile=0.9)
    assert [(r["template_name"], r["calls"], r["max_tokens"]) for r in rows] == [("t1", 20, 2000)]
    assert rows[0]["quantile_tokens"] == pytest.approx(1810)
    assert store.output_quantiles("m", quantile=0.5, recent=5)[0]["quantile_tokens"] == pytest.approx(1800)
    assert store.output_quantiles("other-model") == []


def test_one_worker_warms_a_prompt_prefix_and_the_others_wait_for_its_answer(store: PostgresStore) -> None:
    acct = account()
    assert store.enter_prompt_prefix(acct, "p1") == "first"
    assert store.enter_prompt_prefix(acct, "p1") == "wait"  # another worker: the first is in flight
    assert store.enter_prompt_prefix(acct, "p2") == "first"  # another prefix does not wait
    assert store.leave_prompt_prefix(acct, "p1", True)
    assert store.enter_prompt_prefix(acct, "p1") == "warm"
    store.leave_prompt_prefix(acct, "p2", False)  # its first request failed: the next one goes first
    assert store.enter_prompt_prefix(acct, "p2") == "first"
    # a first request that never reports back holds the others for the cap at most
    assert store.enter_prompt_prefix(acct, "p3", wait_cap_s=1) == "first"
    assert store.enter_prompt_prefix(acct, "p3", wait_cap_s=1) == "wait"
    time.sleep(1.1)
    assert store.enter_prompt_prefix(acct, "p3", wait_cap_s=1) == "first"


def test_a_prefix_warmed_by_a_killed_worker_holds_no_one_up(store: PostgresStore) -> None:
    acct = account()
    session = store.worker_session("warmer-" + acct)
    assert session is not None
    assert store.enter_prompt_prefix(acct, "p", worker="warmer-" + acct) == "first"
    assert store.enter_prompt_prefix(acct, "p", worker="other") == "wait"
    session.close()  # killed before its answer came
    assert store.enter_prompt_prefix(acct, "p", worker="other") == "first"
