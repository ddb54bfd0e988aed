"""Double review on the Review page under AppTest: the first reviewer decides, the conversation is offered
blind to a second reviewer (the first decision and label corrections hidden) and never again to the first;
after the second decision both show."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.store.postgres import PostgresStore
from tests.test_page_review import PAGE, click, current, generate, store, texts

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
