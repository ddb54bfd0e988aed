"""The SQL functions through PostgresStore: scenarios, saving, reviews, label revisions, jobs."""
from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from lib.core.models import Conversation
from lib.store.protocol import InvalidInput, NotFound, StoreError
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import make_conversation, scenario_rows


def add(store: PostgresStore, tax: Taxonomy, n: int) -> list[dict[str, Any]]:
    ids = store.add_scenarios(scenario_rows(tax, n), plan_batch="test")
    return store.list_scenarios({"ids": ids})


# -- scenarios ------------------------------------------------------------------------------------
def test_add_scenarios_returns_ids_in_order_and_v_scenarios_joins_the_arc_and_cluster(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = scenario_rows(db_tax, 5)
    ids = store.add_scenarios(rows, plan_batch="b1", plan_seed=7)
    assert ids == sorted(ids) and len(ids) == 5
    got = store.get_scenario(ids[2])
    assert got is not None
    assert {k: got[k] for k in rows[2]} == rows[2]
    arc = db_tax.by_id("arcs")[rows[2]["emotional_arc"]]
    assert (got["start_emotion"], got["end_emotion"]) == (arc.start_emotion, arc.end_emotion)
    assert got["topic_cluster"] == db_tax.cluster_of[rows[2]["topic"]]
    assert (got["status"], got["plan_batch"], got["plan_seed"], got["conversation_id"]) == ("not_generated", "b1", 7, None)


def test_add_scenarios_names_the_row_and_the_unknown_value(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = scenario_rows(db_tax, 3)
    rows[1]["persona"] = "space_pirate"
    with pytest.raises(InvalidInput, match="row 2: unknown persona 'space_pirate'"):
        store.add_scenarios(rows)
    assert store.counts()["scenarios"] == 0  # all or nothing


def test_a_tier_2_scenario_needs_its_context(store: PostgresStore, db_tax: Taxonomy) -> None:
    row = scenario_rows(db_tax, 1)[0] | {"tier": "scenario", "context_id": db_tax.scenario_contexts[0].id}
    with pytest.raises(InvalidInput, match="scenarios_context_for_tiers_2_and_3"):
        store.add_scenarios([row])


def test_list_scenarios_filters(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 30)
    persona = rows[0]["persona"]
    got = store.list_scenarios({"persona": [persona], "status": ["not_generated"]})
    assert got and all(r["persona"] == persona for r in got)
    assert {r["id"] for r in got} == {r["id"] for r in rows if r["persona"] == persona}
    emotion, cluster = rows[3]["start_emotion"], rows[3]["topic_cluster"]
    got = store.list_scenarios({"start_emotion": [emotion], "topic_cluster": [cluster]})
    assert {r["id"] for r in got} == {r["id"] for r in rows
                                      if r["start_emotion"] == emotion and r["topic_cluster"] == cluster}
    assert len(store.list_scenarios({"persona": []})) == 30  # an empty list filters nothing
    assert len(store.list_scenarios(limit=7)) == 7
    with pytest.raises(InvalidInput, match="unknown scenario filter 'colour'"):
        store.list_scenarios({"colour": ["red"]})


def test_scenario_page_filters_counts_sorts_and_pages_in_the_database(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 30)
    persona = rows[0]["persona"]
    mine = sorted(r["id"] for r in rows if r["persona"] == persona)
    store.set_scenario_status(mine[0], "failed")
    page = store.scenario_page({"persona": [persona]}, limit=2)
    assert page.total == len(mine) and [r["id"] for r in page.rows] == mine[:2]
    assert page.by_status == {"failed": 1, "not_generated": len(mine) - 1} if len(mine) > 1 else {"failed": 1}
    assert page.rows[0]["updated_at"].tzinfo is not None  # times as datetimes, like every other read
    second = store.scenario_page({"persona": [persona]}, limit=2, offset=2)
    assert [r["id"] for r in second.rows] == mine[2:4]
    newest_first = store.scenario_page(sort="id", descending=True, limit=3)
    assert [r["id"] for r in newest_first.rows] == sorted((r["id"] for r in rows), reverse=True)[:3]
    by_persona = store.scenario_page(sort="persona", limit=30).rows
    assert [r["persona"] for r in by_persona] == sorted(r["persona"] for r in rows)
    ties = [r["id"] for r in by_persona if r["persona"] == persona]
    assert ties == mine  # id breaks ties, so pages never repeat or skip a row
    assert store.scenario_page({"ids": [mine[0]], "status": ["failed"]}).total == 1
    assert store.scenario_page({"persona": []}).total == 30  # an empty list filters nothing
    assert store.scenario_page({"status": ["approved"]}).rows == []
    with pytest.raises(InvalidInput, match="unknown scenario filter 'colour'"):
        store.scenario_page({"colour": ["red"]})
    with pytest.raises(InvalidInput, match="cannot sort scenarios by context; sort by one of"):
        store.scenario_page(sort="context")
    with pytest.raises(InvalidInput, match="1 to 1000 rows"):
        store.scenario_page(limit=100_000)


def test_scenario_page_takes_values_as_data_not_sql(store: PostgresStore, db_dsn: str, db_tax: Taxonomy) -> None:
    add(store, db_tax, 3)
    hostile = "x') or true or ('"
    assert store.scenario_page({"persona": [hostile]}).total == 0
    with psycopg.connect(db_dsn) as conn, pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("select public.scenario_page(%s::jsonb)", ['{"persona) or true --": ["a"]}'])


# -- saving conversations -------------------------------------------------------------------------
def test_save_generated_makes_versions_and_keeps_the_old_one(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    conv_a = make_conversation(scn, "conv-a")
    first = store.save_generated(conv_a, scenario_id=scn["id"])
    second = store.save_generated(make_conversation(scn, "conv-b", turns=6), scenario_id=scn["id"])
    assert (first, second) == ("conv-a", "conv-b")
    versions = store.conversation_versions(scn["id"])
    assert [c.id for c in versions] == ["conv-b", "conv-a"]  # newest first
    row = store.get_scenario(scn["id"])
    assert row is not None
    assert (row["status"], row["conversation_id"], row["conversation_version"], row["quality_score"]) == (
        "generated", "conv-b", 2, 8.0)
    turns = store.conversation_turn_rows("conv-b")
    assert [t["idx"] for t in turns] == list(range(6))
    assert turns[0]["emotion_primary"] == scn["start_emotion"] and turns[1]["strategy_primary"] == "empathic_validation"
    assert turns[1]["strategies_supporting"] == ["normalizing"]
    got = store.get_conversation("conv-a")
    assert got == conv_a  # the document comes back as it was saved


def test_only_one_current_version_per_scenario(conn: psycopg.Connection, store: PostgresStore,
                                               db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    store.save_generated(make_conversation(scn, "conv-b"), scenario_id=scn["id"])
    with pytest.raises(psycopg.errors.UniqueViolation, match="conversations_one_current_per_scenario"):
        conn.execute("update public.conversations set is_current = true where id = 'conv-a'")


def test_save_generated_refuses_a_conversation_of_another_scenario(store: PostgresStore, db_tax: Taxonomy) -> None:
    a, b = add(store, db_tax, 2)
    with pytest.raises(InvalidInput, match=rf"does not match scenario #{b['id']}: persona"):
        store.save_generated(make_conversation(a, "conv-a"), scenario_id=b["id"])
    with pytest.raises(NotFound, match="scenario #999999 does not exist"):
        store.save_generated(make_conversation(a, "conv-x"), scenario_id=999999)


def test_saving_the_same_job_item_twice_stores_one_conversation(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    job = store.create_job([scn["id"]], model="claude-test")
    [item] = store.claim_items("w1")
    first = store.save_generated(make_conversation(scn, "conv-1"), item_id=item.id, worker="w1")
    # a retry after a lost reply, even with a freshly generated document, returns the first one
    again = store.save_generated(make_conversation(scn, "conv-2"), item_id=item.id, worker="w1")
    assert first == again == "conv-1"
    assert store.counts()["conversations"] == 1
    assert len(store.conversation_versions(scn["id"])) == 1
    done = store.get_job(job)
    assert done is not None
    assert (done["status"], done["succeeded_items"], done["cost_usd"], done["input_tokens"]) == (
        "completed", 1, 0.01, 100)


def test_two_workers_saving_one_item_at_once_store_one_conversation(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.create_job([scn["id"]])
    [item] = store.claim_items("w1")
    barrier = threading.Barrier(2)
    results: list[str] = []

    def save(conv_id: str) -> None:
        barrier.wait()
        results.append(store.save_generated(make_conversation(scn, conv_id), item_id=item.id))

    threads = [threading.Thread(target=save, args=(f"conv-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert store.counts()["conversations"] == 1


# -- review and labels ----------------------------------------------------------------------------
def test_record_review_latest_decision_wins_and_every_decision_is_kept(store: PostgresStore,
                                                                        db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    store.record_review("conv-a", "needs_edit", reviewer="Ana", notes="turn 3 is stiff")
    store.record_review("conv-a", "rejected", reviewer="Ben", reason_code="off_voice", notes="too salesy")
    reviews = store.reviews_for("conv-a")
    assert [(r["decision"], r["reviewer"], r["reason_code"]) for r in reviews] == [
        ("needs_edit", "Ana", None), ("rejected", "Ben", "off_voice")]
    assert store.get_scenario(scn["id"])["status"] == "rejected"  # type: ignore[index]
    doc = store.get_conversation("conv-a")
    assert doc is not None
    assert (doc.review.status, doc.review.reviewer, doc.review.notes) == ("rejected", "Ben", "too salesy")
    assert doc.review.reviewed_at is not None
    store.record_review("conv-a", "approved", reviewer="Ana")
    assert store.get_scenario(scn["id"])["status"] == "approved"  # type: ignore[index]


def test_record_review_refuses_bad_input(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    with pytest.raises(InvalidInput, match="a rejection needs a reason"):
        store.record_review("conv-a", "rejected", reviewer="Ana")
    with pytest.raises(InvalidInput, match="unknown decision 'maybe'"):
        store.record_review("conv-a", "maybe", reviewer="Ana")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="say who is reviewing"):
        store.record_review("conv-a", "approved", reviewer=" ")
    with pytest.raises(NotFound, match="conversation nope does not exist"):
        store.record_review("nope", "approved", reviewer="Ana")
    assert store.reviews_for("conv-a") == []


def test_reviewing_an_older_version_leaves_the_scenario_status(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    store.save_generated(make_conversation(scn, "conv-b"), scenario_id=scn["id"])
    store.record_review("conv-a", "approved", reviewer="Ana")
    assert store.get_scenario(scn["id"])["status"] == "generated"  # type: ignore[index]


def test_revise_label_keeps_history_updates_labels_in_force_and_the_document(store: PostgresStore,
                                                                             db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    original = store.conversation_turn_rows("conv-a")[0]
    new_emotion = next(e for e in db_tax.ids("emotions") if e != original["emotion_primary"])
    rev1 = store.revise_label("conv-a", 0, "emotion.primary", new_emotion, author="Ana", reason="reads as shame")
    rev2 = store.revise_label("conv-a", 0, "emotion.intensity", 0.4, author="Ana")
    rev3 = store.revise_label("conv-a", 1, "strategies.supporting", ["reframing", "pacing_simplification"], author="Ben")
    assert rev1 and rev2 and rev3
    assert store.revise_label("conv-a", 0, "emotion.intensity", 0.4, author="Ana") is None  # already in force

    turns = store.conversation_turn_rows("conv-a")
    assert (turns[0]["emotion_primary"], turns[0]["emotion_intensity"]) == (new_emotion, 0.4)
    assert turns[1]["strategies_supporting"] == ["reframing", "pacing_simplification"]
    assert turns[0]["labels"]["emotion"]["primary"] == original["emotion_primary"]  # first pass kept

    revisions = store.label_revisions_for("conv-a")
    assert [(r["turn_idx"], r["field"], r["old_value"], r["new_value"]) for r in revisions] == [
        (0, "emotion.primary", original["emotion_primary"], new_emotion),
        (0, "emotion.intensity", 0.7, 0.4),
        (1, "strategies.supporting", ["normalizing"], ["reframing", "pacing_simplification"])]

    doc = store.get_conversation("conv-a")
    assert doc is not None
    assert len(doc.label_history) == 3
    assert doc.current_value(0, "emotion.primary") == new_emotion
    assert doc.turns[0].emotion.primary == original["emotion_primary"]  # type: ignore[union-attr]
    assert doc.label_history[0].author == "Ana" and doc.label_history[0].reason == "reads as shame"


def test_a_stored_history_leaves_the_labels_in_force_that_the_document_has(store: PostgresStore,
                                                                          db_tax: Taxonomy, conn: Any) -> None:
    """The turn columns SQL counts follow lib/core/labels.py: the latest by time, a tie to the last written.
    (A seed's history: save_generated drops the history a generated document claims.)"""
    [scn] = add(store, db_tax, 1)
    data = make_conversation(scn, "conv-h").model_dump(mode="json")
    data["provenance"]["source"] = "seed"
    base = {"turn": 0, "field": "emotion.primary", "source": "human_review", "author": "Dana"}
    data["label_history"] = [
        {**base, "new_value": "grief", "at": "2026-03-02T10:00:00Z"},
        {**base, "new_value": "shame", "at": "2026-03-01T10:00:00Z"},
        {**base, "new_value": "anxiety", "at": "2026-03-02T10:00:00Z"},
    ]
    doc = Conversation.model_validate(data)
    conn.execute("select public.import_seed(p_conversation => %(doc)s)", {"doc": Jsonb(data)})
    assert store.conversation_turn_rows("conv-h")[0]["emotion_primary"] == "anxiety"
    assert doc.current_value(0, "emotion.primary") == "anxiety"
    # a revision recorded now is the latest, in the columns and in the stored document alike
    store.revise_label("conv-h", 0, "emotion.primary", "shame", author="Dana")
    stored = store.get_conversation("conv-h")
    assert stored is not None and stored.current_value(0, "emotion.primary") == "shame"
    assert store.conversation_turn_rows("conv-h")[0]["emotion_primary"] == "shame"


def test_revise_label_refuses_unknown_values_and_wrong_turns(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    with pytest.raises(InvalidInput, match="unknown emotion 'glee'"):
        store.revise_label("conv-a", 0, "emotion.primary", "glee", author="Ana")
    with pytest.raises(InvalidInput, match="strategies.primary is not a label of a user turn"):
        store.revise_label("conv-a", 0, "strategies.primary", "reframing", author="Ana")
    with pytest.raises(InvalidInput, match="emotion.intensity must be between 0 and 1"):
        store.revise_label("conv-a", 0, "emotion.intensity", 1.5, author="Ana")
    with pytest.raises(InvalidInput, match="unknown strategy 'magic'"):
        store.revise_label("conv-a", 1, "strategies.supporting", ["reframing", "magic"], author="Ana")
    with pytest.raises(NotFound, match="has no turn 99"):
        store.revise_label("conv-a", 99, "emotion.primary", "shame", author="Ana")
    assert store.label_revisions_for("conv-a") == []


def test_history_rows_are_never_updated_or_deleted(conn: psycopg.Connection, store: PostgresStore,
                                                   db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    store.record_review("conv-a", "approved", reviewer="Ana")
    store.revise_label("conv-a", 0, "emotion.intensity", 0.2, author="Ana")
    for statement in ("update public.reviews set notes = 'x'", "delete from public.reviews",
                      "update public.label_revisions set author = 'x'", "delete from public.label_revisions"):
        with pytest.raises(psycopg.errors.RestrictViolation, match="never updated or deleted"):
            conn.execute(statement)


# -- jobs -----------------------------------------------------------------------------------------
def test_create_job_queues_scenarios_and_skips_ones_already_running(store: PostgresStore, db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 4)
    ids = [r["id"] for r in rows]
    job1 = store.create_job(ids[:3], model="m", settings={"temperature": 1}, created_by="op")
    assert {r["status"] for r in store.list_scenarios({"ids": ids[:3]})} == {"queued"}
    job2 = store.create_job(ids)  # only the fourth is new
    assert [i["scenario_id"] for i in store.job_items(job2)] == [ids[3]]
    assert store.get_job(job1)["total_items"] == 3  # type: ignore[index]
    with pytest.raises(InvalidInput, match="already in a running job"):
        store.create_job(ids[:2])
    with pytest.raises(NotFound, match="#424242"):
        store.create_job([424242])


def test_two_workers_claiming_at_once_never_get_the_same_item(store: PostgresStore, db_tax: Taxonomy) -> None:
    ids = [r["id"] for r in add(store, db_tax, 60)]
    store.create_job(ids)
    claimed: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    barrier = threading.Barrier(len(claimed))

    def work(name: str) -> None:
        barrier.wait()
        while True:
            got = store.claim_items(name, limit=2)
            if not got:
                return
            claimed[name].extend(i.id for i in got)

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for items in claimed.values() for i in items]
    assert len(every) == len(set(every)) == 60
    assert sum(1 for items in claimed.values() if items) >= 2  # they really ran side by side


def test_an_expired_lease_is_claimed_again(conn: psycopg.Connection, store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    job = store.create_job([scn["id"]])
    [first] = store.claim_items("worker-a", lease_seconds=300)
    assert (first.attempts, first.lease_owner) == (1, "worker-a")
    assert store.get_scenario(scn["id"])["status"] == "generating"  # type: ignore[index]
    assert store.claim_items("worker-b") == []  # leased
    assert store.heartbeat("worker-a", [first.id]) == [first.id]
    conn.execute("update public.generation_job_items set lease_expires_at = now() - interval '1 second'")
    [again] = store.claim_items("worker-b")
    assert (again.id, again.attempts, again.lease_owner) == (first.id, 2, "worker-b")
    assert store.heartbeat("worker-a", [first.id]) == []  # worker-a learns it lost the item
    # worker-a finishes anyway, then worker-b: still one conversation
    store.save_generated(make_conversation(scn, "conv-a"), item_id=first.id, worker="worker-a")
    assert store.save_generated(make_conversation(scn, "conv-b"), item_id=first.id, worker="worker-b") == "conv-a"
    assert store.counts()["conversations"] == 1
    assert store.get_job(job)["status"] == "completed"  # type: ignore[index]


def test_requeue_expired_puts_items_back_or_fails_them_when_attempts_are_used(
        conn: psycopg.Connection, store: PostgresStore, db_tax: Taxonomy) -> None:
    a, b = add(store, db_tax, 2)
    job = store.create_job([a["id"], b["id"]], max_attempts=1)
    items = store.claim_items("w", limit=2)
    conn.execute("update public.generation_job_items set max_attempts = 2 where scenario_id = %(id)s", {"id": a["id"]})
    conn.execute("update public.generation_job_items set lease_expires_at = now() - interval '1 second'")
    assert store.requeue_expired() == 2
    by_scenario = {i["scenario_id"]: i for i in store.job_items(job)}
    assert by_scenario[a["id"]]["status"] == "pending"
    assert by_scenario[b["id"]]["status"] == "failed"
    assert "lease expired after 1 attempts" in by_scenario[b["id"]]["error"]
    assert store.get_scenario(a["id"])["status"] == "queued"  # type: ignore[index]
    assert store.get_scenario(b["id"])["status"] == "failed"  # type: ignore[index]
    assert store.requeue_expired() == 0
    assert {i.id for i in items} == {i["id"] for i in store.job_items(job)}


def test_fail_item_retries_then_fails_with_its_reason(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    job = store.create_job([scn["id"]], max_attempts=2)
    [item] = store.claim_items("w")
    assert store.fail_item(item.id, "429 rate limited", retry=True, cost_usd=0.002, input_tokens=10) == "pending"
    [item] = store.claim_items("w")
    assert store.fail_item(item.id, "invalid output after 2 repairs", retry=True, cost_usd=0.003) == "failed"
    row = store.job_items(job)[0]
    assert (row["status"], row["error"], row["attempts"], row["cost_usd"]) == (
        "failed", "invalid output after 2 repairs", 2, 0.005)
    assert store.get_scenario(scn["id"])["status"] == "failed"  # type: ignore[index]
    # its only item failed: the job failed, it did not "complete"
    assert store.get_job(job)["status"] == "failed"  # type: ignore[index]
    # Retry failed: attempts start over
    assert store.resume_job(job, failed=True) == 1
    [item] = store.claim_items("w")
    assert item.attempts == 1
    with pytest.raises(NotFound, match="job item 987654 does not exist"):
        store.fail_item(987654, "x")


def test_a_failed_regeneration_keeps_the_scenario_status_of_its_conversation(store: PostgresStore,
                                                                               db_tax: Taxonomy) -> None:
    scn = add(store, db_tax, 1)[0]
    store.save_generated(make_conversation(scn, "conv-a"), scenario_id=scn["id"])
    store.record_review("conv-a", "approved", reviewer="Ana")
    job = store.create_job([scn["id"]], feedback="warmer please")
    [item] = store.claim_items("w")
    assert (item.feedback, item.previous_conversation_id) == ("warmer please", "conv-a")
    store.fail_item(item.id, "boom")
    assert store.get_scenario(scn["id"])["status"] == "approved"  # type: ignore[index]
    assert store.get_job(job)["failed_items"] == 1  # type: ignore[index]


def test_stop_cancels_what_has_not_started_and_resume_finishes_the_rest(store: PostgresStore,
                                                                        db_tax: Taxonomy) -> None:
    rows = add(store, db_tax, 5)
    job = store.create_job([r["id"] for r in rows])
    [in_flight] = store.claim_items("w")
    assert store.stop_job(job) == 4
    assert store.claim_items("w") == []  # nothing new starts
    stopped = store.get_job(job)
    assert stopped is not None
    assert (stopped["status"], stopped["cancelled_items"], stopped["claimed_items"]) == ("stopped", 4, 1)
    statuses = {r["id"]: r["status"] for r in store.list_scenarios()}
    assert sorted(statuses.values()) == ["generating"] + ["not_generated"] * 4
    # the item in flight finishes cleanly
    scn = next(r for r in rows if r["id"] == in_flight.scenario_id)
    store.save_generated(make_conversation(scn, "conv-0"), item_id=in_flight.id)
    assert store.get_job(job)["status"] == "stopped"  # type: ignore[index]
    # resume: the cancelled ones come back and the job completes
    assert store.resume_job(job) == 4
    assert store.get_job(job)["status"] == "running"  # type: ignore[index]
    n = 1
    while items := store.claim_items("w", limit=3):
        for item in items:
            scn = next(r for r in rows if r["id"] == item.scenario_id)
            store.save_generated(make_conversation(scn, f"conv-{n}"), item_id=item.id)
            n += 1
    done = store.get_job(job)
    assert done is not None
    assert (done["status"], done["succeeded_items"], done["cancelled_items"]) == ("completed", 5, 0)
    assert store.counts()["conversations"] == 5
    with pytest.raises(NotFound):
        store.stop_job(31337)


def test_claim_only_from_the_job_asked_for(store: PostgresStore, db_tax: Taxonomy) -> None:
    a, b = add(store, db_tax, 2)
    store.create_job([a["id"]])
    job_b = store.create_job([b["id"]])
    [item] = store.claim_items("w", job_id=job_b)
    assert item.scenario_id == b["id"]


def test_logs_and_prompt_templates(store: PostgresStore, db_tax: Taxonomy) -> None:
    sha = "a" * 64
    t1 = store.register_prompt_template("template_tier", "1.0", sha, "body $persona", tier="template")
    assert store.register_prompt_template("template_tier", "1.0", sha, "body $persona") == t1
    log_id = store.log_generation({"outcome": "ok", "model": "m", "parameters": {"persona": "x"}, "input_tokens": 5,
                                   "cost_usd": 0.001, "duration_ms": 1200, "template_sha256": sha})
    assert log_id > 0
    with pytest.raises(InvalidInput, match="unknown column 'api_key'"):
        store.log_generation({"outcome": "ok", "api_key": "fake-ak-secret"})
    with pytest.raises(InvalidInput, match="generation_logs_outcome_check"):
        store.log_generation({"outcome": "meh"})
    assert store.counts()["generation_logs"] == 1


def test_errors_are_store_errors_with_one_line(store: PostgresStore) -> None:
    with pytest.raises(StoreError) as err:
        store.record_review("missing", "approved", reviewer="Ana")
    assert "\n" not in str(err.value)
