"""Quality: how far reviewers agree. The share of conversations sent to a second reviewer, agreement on
the decision and on each label per field, per reviewer pair and over time, and the disagreements, each a
link into Review."""

from __future__ import annotations

import streamlit as st

from lib.ui import agreement, nav, resources

nav.open_in_app("quality")
store = resources.store()
tax = resources.taxonomy()

st.title("Quality")
st.caption(
    "Per-turn labels can be trusted at scale only as far as reviewers agree on them. A share of "
    "conversations is reviewed twice, blind; here is how far the two reviews agree."
)

agreement.share_setting(store)
result = agreement.load(store, tax)
if result is None:
    st.stop()
if result.empty:
    st.info(agreement.EMPTY, icon=":material/group:")
    st.stop()

agreement.summary(result)
agreement.by_field(result)
agreement.by_pair(result)
agreement.over_time(result)
agreement.disagreements(result, tax)
