"""The Review page's "Judge calibration" tab: for conversations with both a judge rating and a
reviewer's decision, the judge's verdict per criterion against the decision, how often they agree,
and how often reviewers overrode the judge's score. The figures are lib/review/calibration's."""

from __future__ import annotations

import streamlit as st

import lib.review as rv
from lib.core.rubric import Rubric
from lib.store import Store, StoreError
from lib.ui.display import error_text
from lib.ui.display import escape_markdown as esc

EMPTY = (
    "**Nothing to compare yet.** Calibration needs conversations that the judge rated *and* a reviewer "
    "decided on (approved, needs edit or rejected). Rate conversations with the judge (**Rate conversations** "
    "on the Generate page, or `python -m lib judge`), then review them in the queue: each decision is counted "
    "here against the judge's verdict."
)


def calibration_view(store: Store, rubric: Rubric) -> None:
    st.markdown("#### Judge calibration")
    st.caption(
        "How far the judge's ratings can be trusted: its verdict on each criterion (pass: at or above the "
        "pass mark) against the reviewer's decision, and how often reviewers overrode its score. Agreement "
        "counts the judge passing what a reviewer approved and failing what a reviewer sent back (needs "
        "edit or rejected); overall, the judge passes a conversation when it passes every criterion."
    )
    try:
        cal = rv.calibration(store, rubric)
    except StoreError as exc:
        st.error(f"The calibration could not be read: {error_text(exc)}")
        return
    overall = cal.overall
    if cal.empty:
        judged = (
            f" The judge has rated {overall.judged} conversation{'s' if overall.judged != 1 else ''} so far; "
            "none of them has a decision yet."
            if overall.judged
            else ""
        )
        st.info(EMPTY + judged, icon=":material/balance:")
        return
    m = st.columns(4)
    m[0].metric(
        "Conversations compared",
        f"{overall.decided:,}",
        help="Rated by the judge and decided by a reviewer (the latest decision counts).",
    )
    m[1].metric("Agreement (overall)", "—" if overall.agreement is None else f"{overall.agreement:.0%}")
    m[2].metric("Reviewer ratings", f"{overall.human_rated:,}", help="Criteria a reviewer rated after the judge.")
    m[3].metric("Overrides", f"{overall.overridden:,}", help="Reviewer ratings with another score than the judge's.")
    st.dataframe(
        cal.agreement_table(),
        hide_index=True,
        width="stretch",
        column_config={"Criterion": st.column_config.TextColumn(width="medium")},
    )
    st.caption(
        "Pass / fail: the judge's verdict on the criterion. Sent back: a reviewer marked it needs edit or rejected it."
    )
    st.markdown("**Overrides**: the judge's ratings a reviewer rated too, and how many with another score.")
    st.dataframe(
        cal.override_table(),
        hide_index=True,
        width="stretch",
        column_config={"Criterion": st.column_config.TextColumn(width="medium")},
    )
    options = {r.criterion: r.name for r in cal.rows}
    chosen = st.selectbox("Confusion table of", list(options), format_func=options.__getitem__, key="rv_cal_criterion")
    row = cal.row(chosen or rv.OVERALL)
    st.markdown(
        f"**{esc(row.name)}**: the judge's verdict (rows) against the reviewer's decision (columns), "
        f"{row.decided} conversation{'s' if row.decided != 1 else ''}"
        + (f"; agreement {row.agreement:.0%}" if row.agreement is not None else "")
        + "."
    )
    st.dataframe(cal.confusion(row.criterion), width="stretch")
