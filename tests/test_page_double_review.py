"""Double review on the Review page under AppTest: the first reviewer decides, the conversation is offered
blind to a second reviewer (the first decision and label corrections hidden) and never again to the first;
after the second decision both show."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.store.postgres import PostgresStore
from tests.test_page_review import PAGE, click, current, generate, open_labels, store, texts
from tests.test_review_quality import ids_with

__all__ = ["store"]  # the page's database, as the Review page's tests use it


def open_as(name: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["br_reviewer"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def decisions_tab(at: AppTest) -> str:
    return next(t.label for t in at.tabs if t.label.startswith("Decisions"))


def test_the_second_reviewer_decides_blind_and_then_sees_both(store: PostgresStore) -> None:
    store.set_double_review_share(1.0)
    first, other = generate(store, 2)
    store.revise_label(first.id, 0, "emotion.primary", "shame", author="Ana", reason="reads as shame")

    ana = open_as("Ana")
    assert current(ana) == first.id
    assert "Emotion: Anxiety → Shame · Ana" in texts(ana).replace("\\", "")
    ana.button(key="rv_needs_edit").click().run()
    assert not ana.exception
    click(ana, "Refresh queue")
    assert current(ana) == other.id and first.id not in ana.session_state["br_review_queue"]["ids"]

    ben = open_as("Ben")
    assert ben.session_state["br_review_queue"]["ids"][:1] == [first.id]  # the second review comes first
    assert current(ben) == first.id
    page = texts(ben).replace("\\", "")
    assert "Second review" in page and any("second reviewer" in i.value for i in ben.info)
    assert "-badge[Anxiety]" in page and "Shame" not in page  # the labels as generated
    assert "-badge[Needs edit]" not in page and "Ana" not in page  # neither the status nor who decided
    assert "not in shame" not in page and "Check suggests" not in page  # no suggestion made on the hidden label
    assert "0 hard checks failed" not in page
    assert decisions_tab(ben) == "Decisions (0)"
    approve = ben.button(key="rv_approve")  # Ana's hidden correction fails a hard check: in force, no approval
    assert approve.disabled and "correction made in the first review" in approve.help

    ben.toggle(key="rv_advance").set_value(False).run()
    ben.selectbox(key=f"rv_reason_{first.id}").set_value("emotion_not_realistic")
    ben.text_area(key=f"rv_notes_{first.id}").input("The user reads anxious to me, not ashamed.")
    ben.button(key="rv_reject").click().run()
    assert not ben.exception, ben.exception
    assert [(r["reviewer"], r["decision"]) for r in store.reviews_for(first.id)] == [
        ("Ana", "needs_edit"),
        ("Ben", "rejected"),
    ]
    page = texts(ben).replace("\\", "")
    assert decisions_tab(ben) == "Decisions (2)" and "Second review" not in page
    assert "Emotion: Anxiety → Shame · Ana" in page and "-badge[Shame]" in page

    cleo = open_as("Cleo")  # the second review is done: no one else is offered it
    assert first.id not in cleo.session_state["br_review_queue"]["ids"]


def suggest(store: PostgresStore, cid: str, turn: int, value: str) -> int:
    """A check's suggestion of a primary emotion for the label in force; its id."""
    row = {"turn": turn, "field": "emotion.primary", "suggested_value": value, "reason": "", "check": "c"}
    store.propose_label_suggestions(cid, [row])
    return max(s["id"] for s in store.label_suggestions(cid) if s["turn_idx"] == turn and s["suggested_value"] == value)


def first_review(store: PostgresStore) -> str:
    """Ana corrects turn 0, accepts one suggestion and dismisses another, rates a criterion and decides;
    suggestions were made before and after her correction, one on a label nobody touches. Ben then corrects
    turn 0 over her correction. The conversation; Ben owes its second review."""
    store.set_double_review_share(1.0)
    first, _ = generate(store, 2)
    cid = first.id
    suggest(store, cid, 0, "distress")  # stale once Ana corrects turn 0
    store.decide_label_suggestions([suggest(store, cid, 2, "overwhelm")], "accepted", by="Ana")
    suggest(store, cid, 6, "frustration")
    store.revise_label(cid, 0, "emotion.primary", "shame", author="Ana", reason="reads as shame")
    store.decide_label_suggestions([suggest(store, cid, 4, "hope")], "dismissed", by="Ana")
    suggest(store, cid, 0, "grief")  # made for Ana's value
    store.record_human_rating(cid, "empathy", 2, rater="Ana", pass_at=3, reason="cold in the middle")
    store.record_review(cid, "needs_edit", reviewer="Ana")
    store.revise_label(cid, 0, "emotion.primary", "frustration", author="Ben", reason="more like it")
    return cid


def blind_page(store: PostgresStore) -> tuple[str, AppTest, str]:
    cid = first_review(store)
    ben = open_as("Ben")
    assert current(ben) == cid and "Second review" in texts(ben)
    return cid, ben, texts(ben).replace("\\", "")


def test_the_blind_reviewers_own_correction_reads_from_the_label_they_saw(store: PostgresStore) -> None:
    _, _, page = blind_page(store)
    assert "Emotion: Anxiety → Frustration · Ben" in page and "Shame" not in page


def test_suggestions_decided_or_made_around_the_first_review_are_hidden(store: PostgresStore) -> None:
    _, ben, page = blind_page(store)
    assert "Check suggests] Emotion: Anxiety → Frustration" in page  # the open one on turn 6 stays
    for hidden in ("Overwhelm", "Hope", "Distress", "Grief", "Shame", "Ana"):  # decided, stale, made for hers
        assert hidden not in page, hidden
    assert not [e.label for e in ben.expander if e.label.startswith("Decided")]


def test_the_first_reviewers_ratings_are_hidden(store: PostgresStore) -> None:
    _, _, page = blind_page(store)
    assert "cold in the middle" not in page and "Flagged" not in page
    assert "Ratings: see the Ratings tab" in page


def test_the_status_and_reviewer_filters_do_not_find_it_by_the_first_decision(store: PostgresStore) -> None:
    cid, ben, _ = blind_page(store)
    assert cid not in ids_with(ben, rv_f_status=["needs_edit"])
    assert cid not in ids_with(ben, rv_f_status=[], rv_f_reviewer=["Ana"])
    assert cid in ids_with(ben, rv_f_status=[], rv_f_reviewer=[])
    assert ids_with(ben, rv_f_status=["unreviewed"])[0] == cid


def test_after_the_second_decision_everything_shows(store: PostgresStore) -> None:
    cid, ben, _ = blind_page(store)
    ben.toggle(key="rv_advance").set_value(False).run()
    ben.button(key="rv_needs_edit").click().run()
    assert not ben.exception, ben.exception
    page = texts(ben).replace("\\", "")
    for shown in ("Emotion: Anxiety → Shame · Ana", "Emotion: Shame → Frustration · Ben", "Overwhelm", "Hope"):
        assert shown in page, shown
    assert "Decided (2)" in [e.label for e in ben.expander]
    assert "cold in the middle" in page and "-badge[:material/gavel: Flagged]" in page
    assert cid in ids_with(ben, rv_f_status=["needs_edit"])


def test_the_same_correction_made_blind_stays_shown_as_the_second_reviewers(store: PostgresStore) -> None:
    store.set_double_review_share(1.0)
    first, _ = generate(store, 2)
    store.revise_label(first.id, 0, "emotion.primary", "shame", author="Ana", reason="reads as shame")
    store.record_review(first.id, "needs_edit", reviewer="Ana")
    ben = open_as("Ben")
    assert current(ben) == first.id and "-badge[Anxiety]" in texts(ben)
    open_labels(ben, first.id, 0)
    k = f"rv_{first.id}_0"
    ben.selectbox(key=f"{k}_emotion").set_value("shame").run()
    ben.selectbox(key=f"{k}_sub_shame").set_value("embarrassment").run()
    ben.button(key=f"{k}_save").click().run()
    assert not ben.exception, ben.exception
    assert ("Ben", "shame") in [(r["author"], r["new_value"]) for r in store.label_revisions_for(first.id)]
    page = texts(ben).replace("\\", "")
    assert "Second review" in page and "-badge[Shame]" in page and "Emotion: Anxiety → Shame · Ben" in page


def test_a_name_entered_without_a_link_starts_at_the_second_reviews(store: PostgresStore) -> None:
    store.set_double_review_share(1.0)
    first, other = generate(store, 3)[:2]
    store.record_review(first.id, "approved", reviewer="Ana")
    ben = AppTest.from_file(PAGE, default_timeout=60)
    ben.run()
    assert current(ben) == other.id  # nobody named: the conversations not reviewed yet
    ben.text_input(key="rv_name_input").input("Ben")
    click(ben, "Start reviewing")
    assert current(ben) == first.id  # the second review waiting for Ben comes first
