"""The session-state keys that several pages share (each page's own keys live in the page), and the
name of the person using the app. Keys are prefixed `br_` and hold ids, never whole tables."""

from __future__ import annotations

import streamlit as st

REVIEWER_KEY = "br_reviewer"  # the name of the person using the app, kept for the session
FILTERS_KEY = "br_filters"  # the scenario table's filters: {dimension: [ids]}
SELECTED_KEY = "br_selected"  # the scenario ids selected in the table
FOCUS_KEY = "br_focus"  # the scenario whose detail is open


def reviewer() -> str:
    """The name entered in the sidebar, or the signed-in account in hosted mode ('' when none yet)."""
    return str(st.session_state.get(REVIEWER_KEY, "")).strip()
