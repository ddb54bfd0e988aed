"""The Review page's "Label analytics" tab: the label corrections from every source (reviewers, operators in
a live product, accepted automated suggestions) counted, overall or by a taxonomy dimension, and the label
drift: over time, the most frequent corrections, and by model and prompt version. The figures are lib/review's."""

from __future__ import annotations

import streamlit as st

import lib.review as rv
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import REVISION_SOURCES
from lib.coverage.charts import config
from lib.review import drift
from lib.store import Store, StoreError
from lib.ui.display import error_text, table_height

SOURCES: dict[str, str] = {"all": "Every source", **REVISION_SOURCES}


def analytics_view(store: Store, tax: Taxonomy) -> None:
    st.markdown("#### Label analytics")
    st.caption(
        "Every correction is kept next to the label it replaces, with where it came from: a reviewer here, an "
        "operator in a live conversation (imported with `python -m lib import-revisions`), or an automated "
        "suggestion a reviewer accepted. Counted here, they show where labelling drifts (which emotions are "
        "mistaken for which, by topic, persona, model and prompt), so prompts and the taxonomy can be tuned: "
        "the dataset's self-healing labels."
    )
    bar = st.columns([3, 2], vertical_alignment="bottom")
    with bar[0]:
        groups = {"overall": "Overall", **rv.GROUP_LABELS}
        by = (
            st.segmented_control(
                "Group by", list(groups), format_func=groups.__getitem__, default="overall", key="rv_an_by"
            )
            or "overall"
        )
    picked = bar[1].selectbox(
        "Source",
        list(SOURCES),
        format_func=SOURCES.__getitem__,
        key="rv_an_source",
        help="Only the corrections from this source, in the table and the charts.",
    )
    group = None if by == "overall" else by
    source = None if picked == "all" else picked
    try:
        stats = rv.label_analytics(store, tax, group, source=source)
        moves = drift.drift_frame(store, tax, source)
    except (StoreError, rv.ReviewError) as exc:
        st.error(f"The label analytics could not be read: {error_text(exc)}")
        return
    if stats.empty:
        st.info(
            (
                "No label corrections yet. Correct a turn's emotion or strategies in the queue (Correct labels, "
                "under each turn), accept a suggested correction, or import operators' corrections, and it is "
                "counted here."
            )
            if source is None
            else f"No corrections from this source yet ({SOURCES[picked].lower()}).",
            icon=":material/insights:",
        )
        return
    totals = rv.totals(stats)
    m = st.columns(3)
    m[0].metric("Corrections", f"{totals.corrections:,}")
    m[1].metric("Distinct corrections", f"{totals.distinct:,}")
    m[2].metric("Most corrected label", totals.most_corrected)
    st.plotly_chart(
        rv.corrections_chart(stats, group), width="stretch", config={"displayModeBar": False}, key=f"rv_an_chart_{by}"
    )
    st.dataframe(stats, hide_index=True, width="stretch", height=table_height(len(stats), 560))

    st.markdown("#### Label drift")
    st.caption("How corrections move over time, what they change most, and for which model and prompt version.")
    st.plotly_chart(
        drift.over_time_chart(moves), width="stretch", config=config("label-drift-over-time"), key="rv_drift_time"
    )
    st.plotly_chart(
        drift.top_corrections_chart(moves), width="stretch", config=config("label-drift-top"), key="rv_drift_top"
    )
    st.plotly_chart(
        drift.by_version_chart(moves), width="stretch", config=config("label-drift-by-version"), key="rv_drift_version"
    )
