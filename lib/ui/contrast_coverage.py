"""Coverage's section on contrastive pairs: accepted pairs per emotion x failure kind against the
taxonomy's target, the chart and the cells still short."""

from __future__ import annotations

import streamlit as st

import lib.coverage as coverage
from lib.core.taxonomy import Taxonomy
from lib.coverage.charts import config, fmt
from lib.store import StoreError
from lib.store.protocol import Store
from lib.ui.display import error_text, table_height

SCOPE_TEXT = {
    "approved": "Accepted pairs of approved conversations (what an export takes by default)",
    "generated": "Accepted pairs of every current conversation not rejected",
    "planned": "Accepted pairs of every current conversation not rejected (pairs are not estimated for plans)",
}


def section(store: Store, tax: Taxonomy, scope: str) -> None:
    st.subheader("Contrastive pairs", anchor="pairs")
    failures = tax.failures
    if not failures.kinds:
        st.info(
            "The taxonomy has no failure kinds (taxonomy/failures.yaml), so there are no contrastive pair targets.",
            icon=":material/info:",
        )
        return
    try:
        rows = store.contrastive_pair_counts(approved_only=scope == "approved")
    except StoreError as exc:
        st.error(f"**The contrastive pairs could not be counted.** {error_text(exc)}")
        return
    frame = coverage.pair_frame(rows, tax)
    met, total = coverage.pair_summary(frame)
    cols = st.columns(3)
    cols[0].metric("Accepted pairs", fmt(int(frame["count"].sum())))
    cols[1].metric(
        "Cells at target",
        f"{met} of {total}",
        help="Emotion x failure kind cells where the failure suits the emotion (taxonomy/failures.yaml).",
    )
    cols[2].metric("Target per cell", failures.target_pairs_per_emotion)
    subtitle = f"{SCOPE_TEXT[scope]}\ncount/target where the failure suits the emotion · blank: not a target"
    st.plotly_chart(
        coverage.pair_figure(frame, subtitle=subtitle),
        config=config(f"coverage-pairs-{scope}"),
        key="br_coverage_chart_pairs",
    )
    short = coverage.pair_gaps(frame)
    if short.empty:
        st.success("Every emotion x failure kind cell has its accepted pairs.", icon=":material/check_circle:")
        return
    st.caption(
        f"**{len(short)} cells short of {failures.target_pairs_per_emotion} accepted pairs**, biggest shortfall "
        "first. Planning scenarios does not fill them: contrastive responses for such turns, accepted on Review, do."
    )
    st.dataframe(
        short[["name", "target", "count", "short_by", "progress", "how"]],
        hide_index=True,
        width="stretch",
        height=table_height(len(short), 320),
        column_config={
            "name": st.column_config.TextColumn("Emotion · failure kind", width="medium"),
            "target": st.column_config.NumberColumn("Target", format="%.0f", width="small"),
            "count": st.column_config.NumberColumn("Have", format="%.0f", width="small"),
            "short_by": st.column_config.NumberColumn("Short by", format="%.0f", width="small"),
            "progress": st.column_config.ProgressColumn(
                "Progress", min_value=0.0, max_value=1.0, format="percent", width="small"
            ),
            "how": st.column_config.TextColumn("How to fill it", width="large"),
        },
        key="br_coverage_pair_gaps",
    )
