"""The Quality page's parts: the double-review share (admins change it), agreement per field with its
plain reading, per reviewer pair, over time, and the disagreements with a link to each in Review. The
figures are lib/review/agreement's."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from lib.core.taxonomy import Taxonomy
from lib.review import agreement as ag
from lib.review.queue import QUERY_PARAM
from lib.store import Store, StoreError
from lib.ui import auth
from lib.ui.display import error_text

PERIOD_KEY = "ql_period"
SHARE_KEY = "ql_share"

EMPTY = (
    "**No conversation has been reviewed by two people yet.** Agreement is measured on conversations that "
    "two or more reviewers decided on. A share of conversations goes to a second reviewer at its first "
    "decision (set above); the Review queue then offers it to anyone but the first reviewer, who decides "
    "without seeing the first decision. Review a few, and the figures appear here."
)
_READINGS_TEXT = (
    "up to " + ", ".join(f"{bound:g} {word}" for bound, word in ag.READINGS[:-1]) + f", above that {ag.READINGS[-1][1]}"
)
ABOUT = (
    "Kappa compares how often reviewers agree with how often they would by chance: 1 is full agreement, "
    f"0 no better than chance. Readings: {_READINGS_TEXT}. Where more than two reviewers rated the same items, "
    "the overall figure is Krippendorff's alpha, read the same way. A reviewer's label is their last "
    "correction of it, else the label as generated."
)

_TABLE_COLUMNS = {
    "Value": st.column_config.NumberColumn("Agreement", format="%.2f", help="Cohen's kappa or Krippendorff's alpha"),
    "Agreed": st.column_config.ProgressColumn(
        "Same value", format="percent", min_value=0.0, max_value=1.0, help="The items rated alike"
    ),
    "Items": st.column_config.NumberColumn("Items", help="Conversations (decision) or turns (labels) rated by both"),
    "field": None,
}


def load(store: Store, tax: Taxonomy) -> ag.Agreement | None:
    """The agreement figures' data, or None after saying on the page why it could not be read."""
    try:
        return ag.load_agreement(store, tax)
    except StoreError as exc:
        st.error(f"The reviewer agreement could not be read: {error_text(exc)}. Reload the page to try again.")
        return None


def share_setting(store: Store) -> None:
    """The share of conversations sent to a second reviewer: admins change it, everyone else reads it."""
    try:
        share = store.double_review_share()
    except StoreError as exc:
        st.error(f"The double-review share could not be read: {error_text(exc)}")
        return
    with st.container(border=True):
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        left.markdown(
            f"**Double review:** {share:.0%} of conversations go to a second reviewer at their first decision."
        )
        left.caption(
            "Kept in the database, so every reviewer works to the same share. Conversations already "
            "assigned keep their assignment when it changes."
        )
        if not auth.can("set_double_review"):
            return
        with right.form("ql_share_form", border=False):
            c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
            c1.number_input(
                "Share sent to a second reviewer (%)",
                min_value=0,
                max_value=100,
                step=5,
                value=round(share * 100),
                key=SHARE_KEY,
            )
            if c2.form_submit_button("Save", width="stretch"):
                try:
                    store.set_double_review_share(st.session_state[SHARE_KEY] / 100)
                except StoreError as exc:
                    st.error(f"The share was not changed: {error_text(exc)}")
                else:
                    st.rerun()


def summary(result: ag.Agreement) -> None:
    m = st.columns(3)
    m[0].metric("Conversations reviewed twice", f"{result.conversations:,}")
    m[1].metric("Reviewers", f"{len(result.reviewers):,}")
    m[2].metric("Pairs of reviewers", f"{result.pairs:,}")


def by_field(result: ag.Agreement) -> None:
    st.markdown("##### Agreement per field")
    table = ag.by_field(result.ratings)
    st.dataframe(table, hide_index=True, width="stretch", column_config=_TABLE_COLUMNS)
    st.caption(ABOUT)


def by_pair(result: ag.Agreement) -> None:
    st.markdown("##### Per reviewer pair")
    table = ag.by_pair(result.ratings)
    st.dataframe(table, hide_index=True, width="stretch", column_config=_TABLE_COLUMNS)


def over_time(result: ag.Agreement) -> None:
    st.markdown("##### Over time")
    period = (
        st.segmented_control("By", list(ag.PERIODS), format_func=ag.PERIODS.__getitem__, default="W", key=PERIOD_KEY)
        or "W"
    )
    table = ag.over_time(result.ratings, "D" if period == "D" else "W")
    if table["Value"].isna().all():
        st.caption("Not measurable yet: in each period, every item has the same value.")
        return
    st.plotly_chart(ag.over_time_chart(table, "D" if period == "D" else "W"), width="stretch", key="ql_time")


def disagreements(result: ag.Agreement, tax: Taxonomy) -> None:
    st.markdown("##### Disagreements")
    table = ag.disagreements(result.ratings, tax)
    if table.empty:
        st.success("The reviewers gave the same value on every item.", icon=":material/handshake:")
        return
    table.insert(0, "Open", [review_link(c) for c in table["conversation_id"]])
    table["Turn"] = ["" if pd.isna(t) else str(t) for t in table["Turn"]]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Open": st.column_config.LinkColumn("Open", display_text="Review", help="Open it in Review"),
            "conversation_id": st.column_config.TextColumn("Conversation"),
            "Turn": st.column_config.TextColumn("Turn", help="Empty: the conversation's decision"),
            "Second decision": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )


def review_link(conversation_id: str) -> str:
    """The Review page's address for one conversation (relative, so it holds under any base path)."""
    return "review?" + urlencode({QUERY_PARAM: conversation_id})
