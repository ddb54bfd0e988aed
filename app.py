"""Bright Run Training Data Studio: navigation and the shared sidebar. Nothing else lives here."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Bright Run Training Data Studio", page_icon="💬", layout="wide")

pages = [
    st.Page("pages/home.py", title="Overview", icon=":material/home:", default=True),
]
nav = st.navigation(pages)
with st.sidebar:
    st.caption("Bright Run Training Data Studio")
nav.run()
