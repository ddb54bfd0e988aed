"""The Quality page under AppTest: the empty state, the double-review share an admin sets, and agreement
per field, per reviewer pair, over time and the disagreements linked to Review."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.review import agreement as ag
from lib.store.postgres import PostgresStore
from tests.test_page_review import ROOT, generate, store

__all__ = ["store"]  # the page's database, as the Review page's tests use it

PAGE = str(ROOT / "pages" / "quality.py")


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_with_nothing_reviewed_twice_it_says_what_to_do_and_an_admin_sets_the_share(store: PostgresStore) -> None:
    at = open_page()
    assert any("No conversation has been reviewed by two people yet" in i.value for i in at.info)
    assert any("10% of conversations go to a second reviewer" in m.value for m in at.markdown)
    at.number_input(key="ql_share").set_value(25)
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert store.double_review_share() == 0.25
    assert any("25% of conversations" in m.value for m in at.markdown)


def test_agreement_per_field_and_pair_over_time_and_the_disagreements(store: PostgresStore) -> None:
    convs = generate(store, 4)
    for i, conv in enumerate(convs):
        store.record_review(conv.id, "approved", reviewer="Ana")
        store.record_review(conv.id, "needs_edit" if i == 0 else "approved", reviewer="Ben")
    at = open_page()
    assert not at.info
    metrics = {m.label: m.value for m in at.metric}
    assert (
        metrics["Conversations reviewed twice"] == "4"
        and metrics["Reviewers"] == "2"
        and metrics["Pairs of reviewers"] == "1"
    )

    fields = next(df.value for df in at.dataframe if "Reading" in df.value.columns and "Reviewers" not in df.value)
    decision = fields[fields["field"] == "decision"].iloc[0]
    assert (decision["Statistic"], decision["Items"], decision["Agreed"]) == (ag.KAPPA, 4, 0.75)
    pairs = next(df.value for df in at.dataframe if "Reviewers" in df.value.columns)
    assert set(pairs["Reviewers"]) == {"Ana · Ben"}
    assert len(at.get("plotly_chart")) == 1  # agreement over time

    listed = next(df.value for df in at.dataframe if "Open" in df.value.columns)
    assert list(listed["Open"]) == [f"review?conversation={convs[0].id}"]
    assert list(listed["Values"]) == ["Ana: Approved · Ben: Needs edit"]
