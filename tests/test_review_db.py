"""The review SQL (supabase/migrations/) and its store methods: the queue view,
sub-emotion corrections, seed examples and the label analytics, on a real PostgreSQL."""
from __future__ import annotations

from typing import Any

import psycopg
import pytest

from lib.store import InvalidInput, NotFound
from lib.store.postgres import PostgresStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import add_member, as_role, make_conversation, scenario_rows


def saved(store: PostgresStore, tax: Taxonomy, n: int, *, prefix: str = "conv") -> list[dict[str, Any]]:
    """n scenarios, each with a saved generated conversation <prefix>-<i>; their v_scenarios rows."""
    ids = store.add_scenarios(scenario_rows(tax, n))
    out = []
    for i, sid in enumerate(ids):
        scn = store.get_scenario(sid)
        assert scn is not None
        store.save_generated(make_conversation(scn, f"{prefix}-{i}"), scenario_id=sid)
        out.append(scn)
    return out


def with_sub_emotion(scn: dict[str, Any], conv_id: str, tax: Taxonomy) -> Any:
    conv = make_conversation(scn, conv_id)
    doc = conv.model_dump(mode="json")
    family = tax.by_id("emotions")[doc["turns"][0]["emotion"]["primary"]]
    doc["turns"][0]["emotion"]["sub_emotion"] = family.sub_emotions[0]
    return type(conv).model_validate(doc)


# -- the queue ----------------------------------------------------------------------------------
def test_review_queue_filters_by_status_dimensions_reviewer_and_quality(store: PostgresStore,
                                                                        db_tax: Taxonomy) -> None:
    scns = saved(store, db_tax, 4)
    store.record_review("conv-0", "approved", reviewer="Ana")
    store.record_review("conv-1", "rejected", reviewer="Ben", reason_code="off_voice", notes="salesy")
    store.record_review("conv-1", "needs_edit", reviewer="Ana")

    assert [r["id"] for r in store.review_queue()] == ["conv-0", "conv-1", "conv-2", "conv-3"]
    assert [r["id"] for r in store.review_queue({"status": ["unreviewed"]})] == ["conv-2", "conv-3"]
    assert [r["id"] for r in store.review_queue({"status": ["needs_edit", "approved"]})] == ["conv-0", "conv-1"]
    assert [r["id"] for r in store.review_queue({"reviewer": ["Ben"]})] == ["conv-1"]
    assert [r["id"] for r in store.review_queue({"reviewer": ["Ana", "Ben"]})] == ["conv-0", "conv-1"]
    assert [r["id"] for r in store.review_queue({"persona": [scns[2]["persona"]]})] == ["conv-2"]
    assert [r["id"] for r in store.review_queue({"ids": ["conv-3"], "status": []})] == ["conv-3"]

    row = store.review_queue({"ids": ["conv-1"]})[0]
    assert (row["review_status"], row["last_reviewer"], row["review_count"]) == ("needs_edit", "Ana", 2)
    assert sorted(row["reviewers"]) == ["Ana", "Ben"]
    assert (row["scenario_status"], row["source"], row["model"], row["input_tokens"]) == (
        "needs_edit", "generated", "claude-test", 100)
    assert row["start_emotion"] == scns[1]["start_emotion"]

    # quality: every test conversation scores 8; a score range leaves out what has none
    assert len(store.review_queue(quality=(8, 10))) == 4
    assert store.review_queue(quality=(9, 10)) == []
    assert sorted(store.reviewer_names()) == ["Ana", "Ben"]
    assert store.review_queue_ids({"status": ["unreviewed"]}) == ["conv-2", "conv-3"]
    assert store.review_queue_ids({"reviewer": ["Ana"]}, quality=(8, 8)) == ["conv-0", "conv-1"]
    with pytest.raises(InvalidInput, match="unknown review queue filter 'colour'"):
        store.review_queue({"colour": ["red"]})


def test_a_regenerated_version_replaces_the_old_one_in_the_queue_and_links_to_it(store: PostgresStore,
                                                                                 db_tax: Taxonomy) -> None:
    scn = saved(store, db_tax, 1)[0]
    job = store.create_job([scn["id"]], feedback="warmer please", created_by="Ana")
    item = store.claim_items("w1", job_id=job)[0]
    assert (item.feedback, item.previous_conversation_id) == ("warmer please", "conv-0")
    store.save_generated(make_conversation(scn, "conv-0b"), item_id=item.id)

    assert [r["id"] for r in store.review_queue()] == ["conv-0b"]
    rows = {r["id"]: r for r in store.review_queue({"scenario_id": [scn["id"]]}, current_only=False)}
    assert rows["conv-0b"]["previous_version_id"] == "conv-0" and rows["conv-0b"]["version"] == 2
    assert rows["conv-0"]["next_version_id"] == "conv-0b" and not rows["conv-0"]["is_current"]


# -- sub-emotion corrections --------------------------------------------------------------------
def test_sub_emotion_is_a_label_in_force_and_can_be_revised(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = store.get_scenario(store.add_scenarios(scenario_rows(db_tax, 1))[0])
    assert scn is not None
    store.save_generated(with_sub_emotion(scn, "conv-s", db_tax), scenario_id=scn["id"])
    family = db_tax.by_id("emotions")[scn["start_emotion"]]
    first, other = family.sub_emotions[0], family.sub_emotions[1]
    assert store.conversation_turn_rows("conv-s")[0]["emotion_sub_emotion"] == first  # filled from the labels

    rid = store.revise_label("conv-s", 0, "emotion.sub_emotion", other, author="Ana", reason="closer")
    assert rid is not None
    assert store.revise_label("conv-s", 0, "emotion.sub_emotion", other, author="Ana") is None  # in force already
    assert store.conversation_turn_rows("conv-s")[0]["emotion_sub_emotion"] == other
    rev = store.label_revisions_for("conv-s")[-1]
    assert (rev["field"], rev["old_value"], rev["new_value"], rev["source"]) == (
        "emotion.sub_emotion", first, other, "human_review")
    doc = store.get_conversation("conv-s")
    assert doc is not None and doc.current_value(0, "emotion.sub_emotion") == other
    assert doc.turns[0].emotion.sub_emotion == first  # type: ignore[union-attr]

    assert store.revise_label("conv-s", 0, "emotion.sub_emotion", None, author="Ana") is not None  # optional
    with pytest.raises(InvalidInput, match="unknown sub-emotion 'glee'"):
        store.revise_label("conv-s", 0, "emotion.sub_emotion", "glee", author="Ana")
    with pytest.raises(InvalidInput, match="not a label of an assistant turn"):
        store.revise_label("conv-s", 1, "emotion.sub_emotion", first, author="Ana")
    with pytest.raises(NotFound, match="has no turn 42"):
        store.revise_label("conv-s", 42, "emotion.sub_emotion", first, author="Ana")
    # the other fields still go through the original checks
    with pytest.raises(InvalidInput, match="unknown emotion 'glee'"):
        store.revise_label("conv-s", 0, "emotion.primary", "glee", author="Ana")


def test_a_sub_emotion_must_belong_to_the_primary_in_force(store: PostgresStore, db_tax: Taxonomy) -> None:
    scn = saved(store, db_tax, 1)[0]
    emotions = db_tax.by_id("emotions")
    other = next(e for e in emotions if e != scn["start_emotion"])
    with pytest.raises(InvalidInput, match="unknown sub-emotion"):
        store.revise_label("conv-0", 0, "emotion.sub_emotion", emotions[other].sub_emotions[0], author="Ana")
    store.revise_label("conv-0", 0, "emotion.primary", other, author="Ana")
    assert store.revise_label("conv-0", 0, "emotion.sub_emotion", emotions[other].sub_emotions[0], author="Ana")


# -- seed examples ------------------------------------------------------------------------------
def test_mark_as_seed_example_needs_an_approved_conversation_and_changes_column_and_document(
        store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 1)
    with pytest.raises(InvalidInput, match="only an approved conversation can be a seed example"):
        store.set_seed_example("conv-0", True, by="Ana")
    store.record_review("conv-0", "approved", reviewer="Ana")
    assert store.set_seed_example("conv-0", True, by="Ana") is True
    doc = store.get_conversation("conv-0")
    assert doc is not None and doc.training.use_as_seed_example
    assert [c.id for c in store.seed_examples()] == ["conv-0"]
    assert store.review_queue({"ids": ["conv-0"]})[0]["use_as_seed_example"]
    meta = store.conversation_metadata("conv-0")["review.seed_example"]
    assert (meta["value"], meta["by"]) == (True, "Ana")

    assert store.set_seed_example("conv-0", False, by="Ben") is False
    assert store.seed_examples() == []
    with pytest.raises(InvalidInput, match="say who marks"):
        store.set_seed_example("conv-0", False, by=" ")
    with pytest.raises(NotFound, match="conversation nope does not exist"):
        store.set_seed_example("nope", False, by="Ana")


# -- label analytics ----------------------------------------------------------------------------
def test_label_correction_stats_counts_from_to_overall_and_by_topic_and_persona(store: PostgresStore,
                                                                                db_tax: Taxonomy) -> None:
    scns = saved(store, db_tax, 3)
    emotions = db_tax.ids("emotions")
    for i, scn in enumerate(scns):
        to = next(e for e in emotions if e != scn["start_emotion"])
        store.revise_label(f"conv-{i}", 0, "emotion.primary", to, author="Ana" if i else "Ben")
    store.revise_label("conv-0", 0, "emotion.intensity", 0.35, author="Ana")
    store.revise_label("conv-0", 1, "strategies.supporting", ["reframing", "action_planning"], author="Ana")

    overall = store.label_correction_stats()
    assert sum(r["corrections"] for r in overall) == 5
    assert all(r["group_id"] is None for r in overall)
    by_text = {(r["field"], r["from_value"], r["to_value"]): r for r in overall}
    assert ("emotion.intensity", "0.7", "0.35") in by_text
    assert ("strategies.supporting", "normalizing", "action_planning, reframing") in by_text  # sorted
    top = overall[0]
    assert top["corrections"] == max(r["corrections"] for r in overall)

    by_topic = store.label_correction_stats("topic")
    assert {r["group_id"] for r in by_topic} == {s["topic"] for s in scns}
    assert sum(r["corrections"] for r in by_topic) == 5
    by_persona = store.label_correction_stats("persona")
    assert {r["group_id"] for r in by_persona} == {s["persona"] for s in scns}
    assert store.label_correction_stats(source="automated") == []
    with pytest.raises(InvalidInput, match="grouped by"):
        store.label_correction_stats("colour")


# -- roles ----------------------------------------------------------------------------------------
def test_reviewers_mark_seed_examples_viewers_read_analytics_anon_nothing(
        conn: psycopg.Connection[dict[str, Any]], store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 1)
    store.record_review("conv-0", "approved", reviewer="Ana")
    viewer, reviewer = add_member(conn, "viewer"), add_member(conn, "reviewer")
    mark = "select public.set_seed_example(p_conversation_id => 'conv-0', p_value => true, p_by => 'R') as v"
    stats = "select * from public.label_correction_stats(p_by => 'topic')"
    queue = "select id from public.v_review_queue"

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="mark a seed example you need the reviewer role"):
        with as_role(conn, "authenticated", viewer):
            conn.execute(mark)
    with as_role(conn, "authenticated", viewer):
        assert conn.execute(stats).fetchall() == []
        assert [r["id"] for r in conn.execute(queue)] == ["conv-0"]
    with as_role(conn, "authenticated", reviewer):
        assert conn.execute(mark).fetchone() == {"v": True}
    for statement in (mark, stats, queue):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with as_role(conn, "anon"):
                conn.execute(statement)
