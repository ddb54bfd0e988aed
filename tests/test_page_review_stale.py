"""Two reviewers on one conversation: a decision made on what the page showed, after someone else decided,
is refused with who and when, the page offers the reload, and the decision made after it is recorded."""

from __future__ import annotations

from lib.store.postgres import PostgresStore
from tests.test_page_review import generate, open_page, store  # noqa: F401  (store: the page's database)


def test_a_stale_decision_is_refused_with_who_and_when_and_the_page_offers_the_reload(store: PostgresStore) -> None:  # noqa: F811
    [conv] = generate(store, 1)
    at = open_page()
    assert at.session_state["br_review_current"] == conv.id
    # Ben decides while this page is open
    store.record_review(conv.id, "rejected", reviewer="Ben", reason_code="off_voice", notes="a pitch")
    at.button(key="rv_approve").click().run()
    assert not at.exception, at.exception
    message = at.error[0].value
    assert "changed by Ben at " in message and "reload" in message and "not recorded" in message
    assert [r["decision"] for r in store.reviews_for(conv.id)] == ["rejected"]
    assert [b.key for b in at.button if b.key == "rv_reload"] == ["rv_reload"]
    at.button(key="rv_reload").click().run()
    assert not at.exception and not [b for b in at.button if b.key == "rv_reload"]
    # decided again on what is there now: recorded
    at.toggle(key="rv_advance").set_value(False).run()
    at.button(key="rv_approve").click().run()
    assert [r["decision"] for r in store.reviews_for(conv.id)] == ["rejected", "approved"]
    assert not at.error
