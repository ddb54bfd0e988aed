"""Double review in the database (supabase/migrations/20261203000600_double_review.sql): the share, the
assignment at a conversation's first decision, the second reviews a reviewer is offered, the stale-decision
guard on both reviews, and the reads agreement is measured on."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from lib.core.taxonomy import Taxonomy
from lib.store.protocol import InvalidInput, Stale
from lib.store.postgres import PostgresStore
from tests.conftest import add_member, as_role
from tests.test_review_db import saved


def assigned(store: PostgresStore, ids: list[str]) -> list[str]:
    rows = store.review_queue({"ids": ids, "status": []})
    return sorted(r["id"] for r in rows if r["double_review"])


def test_the_share_is_honoured_exactly_and_deterministically(store: PostgresStore, db_tax: Taxonomy) -> None:
    """With 10%, the 10th and 20th first decisions go to a second reviewer: 2 of 20, and the same 2 again."""
    assert store.double_review_share() == pytest.approx(0.10)
    saved(store, db_tax, 20)
    ids = [f"conv-{i}" for i in range(20)]
    for cid in ids:
        store.record_review(cid, "approved", reviewer="Ana")
    assert assigned(store, ids) == ["conv-19", "conv-9"]
    # a later decision by the same reviewer is no new first decision: the count stays
    store.record_review("conv-0", "needs_edit", reviewer="Ana")
    assert assigned(store, ids) == ["conv-19", "conv-9"]


def test_a_new_share_applies_to_later_first_decisions_only(store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 6)
    store.set_double_review_share(0.5)
    assert store.double_review_share() == 0.5
    for i in range(4):
        store.record_review(f"conv-{i}", "approved", reviewer="Ana")
    assert assigned(store, [f"conv-{i}" for i in range(6)]) == ["conv-1", "conv-3"]
    store.set_double_review_share(0.0)
    for i in (4, 5):
        store.record_review(f"conv-{i}", "approved", reviewer="Ana")
    assert assigned(store, [f"conv-{i}" for i in range(6)]) == ["conv-1", "conv-3"]
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        store.set_double_review_share(1.5)


def test_the_second_review_goes_to_others_never_to_the_first_reviewer(store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 3)
    store.set_double_review_share(1.0)
    store.record_review("conv-0", "approved", reviewer="Ana")
    store.record_review("conv-1", "rejected", reviewer="Ben", reason_code="off_voice")
    assert store.second_review_ids("Ana") == ["conv-1"]
    assert store.second_review_ids("Ben") == ["conv-0"]
    assert store.second_review_ids("Cleo") == ["conv-0", "conv-1"]
    # the first reviewer deciding again does not take the second review
    store.record_review("conv-0", "needs_edit", reviewer="Ana")
    assert store.second_review_ids("Ana") == ["conv-1"]
    row = store.review_queue({"ids": ["conv-0"], "status": []})[0]
    assert (row["double_review"], row["first_reviewer"], row["second_review_due"]) == (True, "Ana", True)

    store.record_review("conv-0", "approved", reviewer="Cleo", review_count=2)
    assert store.second_review_ids("Ben") == []
    assert store.second_review_ids("Cleo") == ["conv-1"]
    assert store.review_queue({"ids": ["conv-0"], "status": []})[0]["second_review_due"] is False


def test_the_stale_decision_guard_holds_for_the_second_review(store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 1)
    store.set_double_review_share(1.0)
    store.record_review("conv-0", "approved", reviewer="Ana", review_count=0)
    with pytest.raises(Stale):  # the second reviewer opened it before the first decided
        store.record_review("conv-0", "rejected", reviewer="Ben", reason_code="other", review_count=0)
    store.record_review("conv-0", "needs_edit", reviewer="Ana", review_count=1)
    with pytest.raises(Stale, match="decided again in its first review") as refused:  # Ben is blind: no decision named
        store.record_review("conv-0", "rejected", reviewer="Ben", reason_code="other", review_count=1)
    assert "Ana" not in str(refused.value) and "needs edit" not in str(refused.value)
    store.record_review("conv-0", "rejected", reviewer="Ben", reason_code="other", review_count=2)
    with pytest.raises(Stale, match="changed by Ben .*rejected"):  # Ana has decided: she is told who and what
        store.record_review("conv-0", "approved", reviewer="Ana", review_count=2)
    assert store.second_review_ids("Cleo") == []


def test_signed_in_the_offer_is_for_the_session_not_the_name_passed(
    conn: psycopg.Connection[dict[str, Any]], store: PostgresStore, db_tax: Taxonomy
) -> None:
    saved(store, db_tax, 1)
    me = add_member(conn, "reviewer")
    email = conn.execute("select email from public.members where user_id = %(u)s", {"u": me}).fetchone()["email"]
    store.set_double_review_share(1.0)
    store.record_review("conv-0", "approved", reviewer=email)
    with as_role(conn, "authenticated", me):
        ids = [r["second_review_ids"] for r in conn.execute("select * from public.second_review_ids('someone else')")]
    assert ids == []
    with as_role(conn, "authenticated", me):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="admin"):
            conn.execute("select public.set_double_review_share(0.5)")


def test_agreement_reads_each_reviewers_last_decision_and_labels(store: PostgresStore, db_tax: Taxonomy) -> None:
    """A reviewer's label is their last revision of the turn and field, else the value as generated."""
    saved(store, db_tax, 2)
    store.record_review("conv-0", "rejected", reviewer="Ana", reason_code="other")
    store.record_review("conv-0", "approved", reviewer="Ana")
    store.record_review("conv-0", "needs_edit", reviewer="Ben")
    store.record_review("conv-1", "approved", reviewer="Ana")  # one reviewer: not measured
    generated = store.agreement_labels()[0]["emotion_primary"]
    other = next(e for e in db_tax.ids("emotions") if e != generated)
    store.revise_label("conv-0", 0, "emotion.primary", other, author="Ben")
    store.revise_label("conv-0", 0, "emotion.intensity", 0.2, author="Ben")
    store.revise_label("conv-0", 1, "strategies.primary", "reframing", author="Someone")  # not a reviewer here

    decisions = {(r["conversation_id"], r["reviewer"]): r["decision"] for r in store.agreement_decisions()}
    assert decisions == {("conv-0", "Ana"): "approved", ("conv-0", "Ben"): "needs_edit"}
    labels = {(r["reviewer"], r["turn_idx"]): r for r in store.agreement_labels()}
    assert len(labels) == 8  # two reviewers x four turns
    assert (labels["Ana", 0]["emotion_primary"], labels["Ana", 0]["emotion_intensity"]) == (generated, 0.7)
    assert (labels["Ben", 0]["emotion_primary"], labels["Ben", 0]["emotion_intensity"]) == (other, 0.2)
    assert labels["Ana", 1]["strategy_primary"] == labels["Ben", 1]["strategy_primary"] == "empathic_validation"
    assert labels["Ben", 1]["emotion_primary"] is None and labels["Ben", 0]["strategy_primary"] is None


def test_the_quota_counts_from_when_the_share_was_set(store: PostgresStore, db_tax: Taxonomy) -> None:
    """50 first decisions at 0, then 0.2: the next 10 send exactly 2 to a second review (not all of them, as a
    quota over every decision ever would, to catch up on the 50), and lowering the share stops at once."""
    saved(store, db_tax, 70)
    ids = [f"conv-{i}" for i in range(70)]
    store.set_double_review_share(0.0)
    for cid in ids[:50]:
        store.record_review(cid, "approved", reviewer="Ana")
    store.set_double_review_share(0.2)
    for cid in ids[50:60]:
        store.record_review(cid, "approved", reviewer="Ana")
    assert assigned(store, ids) == ["conv-54", "conv-59"]
    store.set_double_review_share(0.1)
    for cid in ids[60:70]:
        store.record_review(cid, "approved", reviewer="Ana")
    assert assigned(store, ids) == ["conv-54", "conv-59", "conv-69"]
