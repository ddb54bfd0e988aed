"""The Review page's "Label analytics" tab: the reviewers' label corrections counted, overall or by a
taxonomy dimension, to show where first-pass labelling drifts. The figures are lib/review's."""

from __future__ import annotations

import streamlit as st

import lib.review as rv
from lib.core.taxonomy import Taxonomy
from lib.store import Store, StoreError
from lib.ui.display import error_text


def analytics_view(store: Store, tax: Taxonomy) -> None:
    st.markdown("#### Label analytics")
    st.caption(
        "Every correction a reviewer makes is kept next to the first-pass label it replaces. Counted "
        "here, they show where labelling drifts (which emotions are mistaken for which, by topic and "
        "by persona), so prompts and the taxonomy can be tuned: the dataset's self-healing labels."
    )
    groups = {"overall": "Overall", **rv.GROUP_LABELS}
    by = (
        st.segmented_control(
            "Group by", list(groups), format_func=groups.__getitem__, default="overall", key="rv_an_by"
        )
        or "overall"
    )
    group = None if by == "overall" else by
    try:
        stats = rv.label_analytics(store, tax, group)
    except (StoreError, rv.ReviewError) as exc:
        st.error(f"The label analytics could not be read: {error_text(exc)}")
        return
    if stats.empty:
        st.info(
            "No label corrections yet. Correct a turn's emotion or strategies in the queue "
            "(Correct labels, under each turn) and it is counted here.",
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
    st.dataframe(stats, hide_index=True, width="stretch", height=min(38 + 35 * len(stats), 560))
