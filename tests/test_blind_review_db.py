"""The blind second review in the database (supabase/migrations/20261203000700_blind_review.sql): a second
reviewer who makes the correction the first reviewer made records it as theirs, so agreement counts it as
agreement; otherwise a value already in force still writes nothing."""

from __future__ import annotations

from lib.core.taxonomy import Taxonomy
from lib.review import agreement as ag
from lib.store.postgres import PostgresStore
from tests.test_review_db import saved


def other_emotion(store: PostgresStore, tax: Taxonomy, cid: str) -> str:
    generated = store.get_conversation(cid).turns[0].emotion.primary  # type: ignore[union-attr]
    return next(e for e in tax.ids("emotions") if e != generated)


def test_the_same_correction_by_a_second_author_is_recorded_once(store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 1)
    generated = store.get_conversation("conv-0").turns[0].emotion.primary  # type: ignore[union-attr]
    other = other_emotion(store, db_tax, "conv-0")
    assert store.revise_label("conv-0", 0, "emotion.primary", generated, author="Ana") is None  # nothing changes
    assert store.revise_label("conv-0", 0, "emotion.primary", other, author="Ana") is not None
    assert store.revise_label("conv-0", 0, "emotion.primary", other, author="Ana") is None  # hers already
    ben = store.revise_label("conv-0", 0, "emotion.primary", other, author="Ben", reason="reads so to me too")
    assert ben is not None
    assert store.revise_label("conv-0", 0, "emotion.primary", other, author="Ben") is None  # his already
    # an operator's or an automated value already in force is no reviewer's judgement: nothing is written
    assert store.revise_label("conv-0", 0, "emotion.primary", other, author="Olga", source="operator_realtime") is None
    # a label no one revised stays unrevised when a second author saves it as it is
    intensity = store.get_conversation("conv-0").current_value(0, "emotion.intensity")  # type: ignore[union-attr]
    assert store.revise_label("conv-0", 0, "emotion.intensity", intensity, author="Ben") is None

    rows = store.label_revisions_for("conv-0")
    assert [(r["author"], r["old_value"], r["new_value"]) for r in rows] == [
        ("Ana", generated, other),
        ("Ben", other, other),
    ]
    conv = store.get_conversation("conv-0")
    assert conv is not None and [r.author for r in conv.label_history] == ["Ana", "Ben"]
    assert conv.current_value(0, "emotion.primary") == other


def test_two_reviewers_making_the_same_correction_agree(store: PostgresStore, db_tax: Taxonomy) -> None:
    saved(store, db_tax, 2)
    store.set_double_review_share(1.0)
    for cid in ("conv-0", "conv-1"):
        other = other_emotion(store, db_tax, cid)
        store.revise_label(cid, 0, "emotion.primary", other, author="Ana")
        store.record_review(cid, "needs_edit", reviewer="Ana")
        store.revise_label(cid, 0, "emotion.primary", other, author="Ben")  # blind: he does not see hers
        store.record_review(cid, "needs_edit", reviewer="Ben", review_count=1)

    result = ag.load_agreement(store, db_tax)
    fields = ag.by_field(result.ratings).set_index("field")
    assert fields.loc["emotion.primary", "Agreed"] == 1.0
    assert ag.disagreements(result.ratings, db_tax).empty


def test_a_blind_confirmation_is_no_second_correction(store: PostgresStore, db_tax: Taxonomy) -> None:
    """Ana corrects turn 3 X -> Y, Ben blind picks Y too: one correction wherever corrections are counted,
    both revisions in the history, and agreement."""
    saved(store, db_tax, 1)
    store.set_double_review_share(1.0)
    generated = store.get_conversation("conv-0").current_value(3, "strategies.primary")  # type: ignore[union-attr]
    other = next(s for s in db_tax.ids("strategies") if s != generated)
    store.revise_label("conv-0", 3, "strategies.primary", other, author="Ana")
    store.record_review("conv-0", "approved", reviewer="Ana")
    store.revise_label("conv-0", 3, "strategies.primary", other, author="Ben")
    store.record_review("conv-0", "approved", reviewer="Ben", review_count=1)

    assert [(r["author"], r["new_value"]) for r in store.label_revisions_for("conv-0")] == [
        ("Ana", other),
        ("Ben", other),
    ]
    conv = store.get_conversation("conv-0")
    assert conv is not None and [r.author for r in conv.label_history] == ["Ana", "Ben"]
    stats = store.label_correction_stats()
    assert [(r["field"], r["corrections"], r["authors"]) for r in stats] == [("strategies.primary", 1, 1)]
    assert [(r["field"], r["corrections"]) for r in store.label_drift()] == [("strategies.primary", 1)]
    for scope in ("generated", "approved"):
        corrections = [r for r in store.coverage_counts([scope]) if r["section"] == "correction"]
        assert [(r["a"], r["b"], r["c"], r["n"]) for r in corrections] == [("strategies.primary", generated, other, 1)]
    labels = {(r["reviewer"], r["turn_idx"]): r["strategy_primary"] for r in store.agreement_labels()}
    assert labels["Ana", 3] == labels["Ben", 3] == other
    fields = ag.by_field(ag.load_agreement(store, db_tax).ratings).set_index("field")
    assert fields.loc["strategies.primary", "Agreed"] == 1.0


def imported(store: PostgresStore, cid: str, turn: int, field: str, value: object, author: str) -> None:
    row = {
        "line": 1,
        "conversation_id": cid,
        "turn": turn,
        "field": field,
        "new_value": value,
        "author": author,
        "reason": "",
        "observed_at": None,
    }
    assert store.import_label_revisions([row])["written"] == 1


def test_an_import_naming_a_reviewer_is_not_their_label(store: PostgresStore, db_tax: Taxonomy) -> None:
    """Operators' imports may name any author: one naming a reviewer changes none of that reviewer's values
    for agreement, and does not stop them recording a correction they make blind."""
    saved(store, db_tax, 1)
    store.set_double_review_share(1.0)
    store.record_review("conv-0", "approved", reviewer="Ana")
    store.record_review("conv-0", "approved", reviewer="Ben", review_count=1)
    before = store.agreement_labels()
    generated = before[0]["emotion_primary"]
    imported(store, "conv-0", 0, "emotion.primary", other_emotion(store, db_tax, "conv-0"), author="Ana")
    assert store.agreement_labels() == before

    # an import naming Ben corrects turn 3 to Z, Ana to Y, and Ben, blind, picks Y too
    strategies = [s for s in db_tax.ids("strategies") if s != before[3]["strategy_primary"]]
    imported(store, "conv-0", 3, "strategies.primary", strategies[0], author="Ben")
    store.revise_label("conv-0", 3, "strategies.primary", strategies[1], author="Ana")
    assert store.revise_label("conv-0", 3, "strategies.primary", strategies[1], author="Ben") is not None
    labels = {(r["reviewer"], r["turn_idx"]): r for r in store.agreement_labels()}
    assert labels["Ana", 3]["strategy_primary"] == labels["Ben", 3]["strategy_primary"] == strategies[1]
    assert labels["Ana", 0]["emotion_primary"] == labels["Ben", 0]["emotion_primary"] == generated
