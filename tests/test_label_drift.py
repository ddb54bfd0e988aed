"""Label drift and the label analytics by source: the corrections counted by day, source, model and prompt
version (public.label_drift), named and drawn; the Label analytics tab filtered by source, with the drift charts."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from lib.core.taxonomy import Taxonomy
from lib.core.validation import check_conversation
from lib.review import analytics, drift
from lib.review import suggestions as sg
from lib.review.errors import ReviewError
from lib.store.postgres import PostgresStore
from tests.test_label_suggestions import mislabelled
from tests.test_page_review import open_page, show_analytics
from tests.test_page_review import store as page_store  # noqa: F401  (the page's seeded database)


@pytest.fixture
def three_sources(store: PostgresStore, db_tax: Taxonomy) -> str:
    """One conversation corrected by a reviewer (twice), an operator (imported) and an accepted check."""
    conv = mislabelled(store, db_tax)
    family = conv.turns[0].emotion.primary  # type: ignore[union-attr]
    other = next(e.id for e in db_tax.emotions if e.id != family)
    store.revise_label(conv.id, 2, "emotion.primary", other, author="Ana", reason="")
    store.revise_label(conv.id, 3, "strategies.primary", "normalizing", author="Ana", reason="")
    store.import_label_revisions(
        [
            {
                "line": 1,
                "conversation_id": conv.id,
                "turn": 2,
                "field": "emotion.intensity",
                "new_value": 0.2,
                "author": "op",
                "reason": "",
                "observed_at": None,
            }
        ]
    )
    sg.propose_from_checks(store, conv.id, check_conversation(conv, db_tax))
    valence = next(s for s in sg.load(store, conv.id, db_tax) if s.field == "emotion.valence")
    sg.accept(store, [valence], reviewer="Ana")
    return conv.id


def test_the_drift_counts_every_source_with_model_and_prompt(
    store: PostgresStore, db_tax: Taxonomy, three_sources: str
) -> None:
    frame = drift.drift_frame(store, db_tax)
    assert list(frame.columns) == drift.COLUMNS
    assert frame.groupby("Source")["Corrections"].sum().to_dict() == {
        "automated": 1,
        "human_review": 2,
        "operator_realtime": 1,
    }
    assert set(frame["Model"]) == {"claude-test"} and set(frame["Prompt"]) == {"(no prompt template)"}
    assert len(set(frame["Day"])) == 1  # all made today
    only = drift.drift_frame(store, db_tax, "operator_realtime")
    assert only[["Field", "From", "To", "Source"]].values.tolist() == [["Intensity", "0.7", "0.2", "operator_realtime"]]
    with pytest.raises(ReviewError, match="one of the sources"):
        drift.drift_frame(store, db_tax, "gossip")

    by_time = drift.over_time_chart(frame)
    assert [t.name for t in by_time.data] == ["Reviewer", "Operator", "Automated"]  # the vocabulary's order
    assert by_time.layout.barmode == "stack"
    top = drift.top_corrections_chart(frame)
    assert len(top.layout.yaxis.ticktext) == 4
    version = drift.by_version_chart(frame)
    assert list(version.layout.yaxis.ticktext) == ["claude-test · (no prompt template)"]
    assert sum(sum(t.x) for t in version.data) == 4


def test_the_label_analytics_filter_by_source(store: PostgresStore, db_tax: Taxonomy, three_sources: str) -> None:
    every = analytics.label_analytics(store, db_tax)
    assert every["Times"].sum() == 4
    automated = analytics.label_analytics(store, db_tax, source="automated")
    assert automated[["Field", "Times", "Authors"]].values.tolist() == [["Valence", 1, 1]]
    with pytest.raises(ReviewError, match="one of the sources"):
        analytics.label_analytics(store, db_tax, source="gossip")


def frame_of(days: list[date], sources: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Day": d,
                "Field": "Emotion",
                "From": "Anxiety",
                "To": "Fear",
                "Source": s,
                "Model": "m",
                "Prompt": "p v1",
                "Corrections": 1,
                "Conversations": 1,
            }
            for d, s in zip(days, sources, strict=True)
        ],
        columns=drift.COLUMNS,
    )


def test_a_long_span_is_drawn_by_week_with_quiet_weeks_shown() -> None:
    start = date(2026, 9, 2)  # a Wednesday
    frame = frame_of([start, start + timedelta(days=1), start + timedelta(days=60)], ["human_review"] * 3)
    fig = drift.over_time_chart(frame)
    [trace] = fig.data
    assert trace.x[0] == "2026-08-31" and len(trace.x) == 9  # Mondays, from the first week to the last
    assert list(trace.y[:2]) == [2.0, 0.0] and trace.y[-1] == 1.0
    assert fig.layout.xaxis.title.text == "Week of"
    short = drift.over_time_chart(frame_of([start, start + timedelta(days=2)], ["automated"] * 2))
    assert list(short.data[0].x) == ["2026-09-02", "2026-09-03", "2026-09-04"]


def test_no_correction_draws_an_empty_chart_that_says_so() -> None:
    empty = frame_of([], [])
    for fig in (drift.over_time_chart(empty), drift.top_corrections_chart(empty), drift.by_version_chart(empty)):
        assert fig.data == () and fig.layout.annotations[0].text == "No corrections yet"


def test_the_analytics_tab_filters_by_source_and_draws_the_drift(page_store: PostgresStore) -> None:  # noqa: F811
    page_store.revise_label("seed-01", 0, "emotion.intensity", 0.5, author="Ana Reviewer", reason="calmer")
    page_store.import_label_revisions(
        [
            {
                "line": 1,
                "conversation_id": "seed-01",
                "turn": 1,
                "field": "strategies.primary",
                "new_value": "normalizing",
                "author": "op-jane",
                "reason": "live",
                "observed_at": None,
            }
        ]
    )
    at = show_analytics(open_page())
    table = next(df.value for df in at.dataframe if "Times" in df.value.columns)
    assert set(table["Field"]) >= {"Intensity", "Strategy"}
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # the corrections, and the three drift charts
    at.selectbox(key="rv_an_source").set_value("operator_realtime").run()
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "Times" in df.value.columns)
    assert table[["Field", "To", "Authors"]].values.tolist() == [["Strategy", "Normalizing", 1]]
    at.selectbox(key="rv_an_source").set_value("automated").run()
    assert "No corrections from this source yet (automated)" in at.info[0].value


def test_the_drift_reads_days_sent_as_text_as_dates() -> None:
    """PostgREST (hosted mode) sends a SQL date as ISO text; the call turns it into a date, so the periods of
    the chart can be counted."""
    from lib.store.calls import CALLS

    rows = CALLS["label_drift"].shape([{"day": "2026-11-02", "corrections": 1}, {"day": date(2026, 12, 3)}])
    assert [r["day"] for r in rows] == [date(2026, 11, 2), date(2026, 12, 3)]
    assert rows[0]["corrections"] == 1
