"""Overview: what the studio does, and the seed dataset it starts from."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lib.core.seeds import SeedLoad, emotion_counts, load_seeds, seed_rows
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.ui import intro, nav
from lib.ui.display import error_text

nav.open_in_app("about")


@st.cache_data(show_spinner=False)
def _load() -> tuple[Taxonomy, SeedLoad]:
    return load_taxonomy(), load_seeds()


st.title("Bright Run Training Data Studio")
st.markdown(
    "Plan, generate, review and export **emotionally-aware multi-turn conversations** for LoRA "
    "fine-tuning. Every user turn carries its emotion, every assistant turn the response strategy "
    "behind it, and every label correction is kept as history."
)
try:
    tax, seeds = _load()
except TaxonomyError as exc:
    st.error(f"The taxonomy could not be loaded: {error_text(exc)}. Fix that file and reload the page.")
    st.stop()

intro.steps()

st.subheader("The seed dataset")
voice = tax.vertical.brand_voice
st.caption(
    f"Vertical: {tax.vertical.name} · assistant voice: {voice.name}, {voice.title} · taxonomy v{tax.vertical.version}"
)
if seeds.errors:
    st.warning("Some seed files were skipped:\n\n" + "\n".join(f"- {error_text(e)}" for e in seeds.errors))
convs = seeds.conversations
if not convs:
    st.info("There are no seed conversations in `seeds/` yet. Add JSON files in the dataset format.")
    st.stop()

counts = tax.counts()
m = st.columns(5)
m[0].metric("Seed conversations", len(convs))
m[1].metric("Turns", sum(len(c.turns) for c in convs))
m[2].metric("Emotion families", counts["emotions"])
m[3].metric("Personas", counts["personas"])
m[4].metric("Response strategies", counts["strategies"])

left, right = st.columns([3, 2])
with left:
    st.dataframe(pd.DataFrame(seed_rows(convs, tax)), hide_index=True, width="stretch")
with right:
    emotions = tax.by_id("emotions")
    found = emotion_counts(convs)
    order = [e for e in emotions if e in found]
    fig = go.Figure(
        go.Bar(
            x=[emotions[e].name for e in order],
            y=[found[e] for e in order],
            marker_color=[emotions[e].color for e in order],
            hovertemplate="%{x}: %{y} user turns<extra></extra>",
        )
    )
    fig.update_layout(
        title="Primary emotion of user turns in the seeds",
        height=340,
        margin=dict(l=10, r=10, t=40, b=10),
        yaxis_title="User turns",
    )
    st.plotly_chart(fig, width="stretch")
