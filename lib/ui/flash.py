"""A message shown once, at a named place of the page, on the next run: what a button's callback says
about what it did (callbacks run before the script, so they cannot draw it themselves)."""

from __future__ import annotations

import streamlit as st

from lib.ui.display import escape_markdown

ICONS = {"success": ":material/check_circle:", "error": ":material/error:", "info": ":material/info:"}


def flash(key: str, kind: str, message: str, where: str = "top") -> None:
    """Keep the message under the session key `key` until show_flash(key, where) draws it."""
    st.session_state[key] = {"kind": kind, "message": message, "where": where}


def show_flash(key: str, where: str) -> None:
    """The message for this place, once. Always one container here, message or not: an element that
    comes and goes would shift the ones after it, and Streamlit would redraw them (closing an open
    popover)."""
    slot = st.container()
    note = st.session_state.get(key)
    if not note or note["where"] != where:
        return
    st.session_state.pop(key)
    show = {"success": slot.success, "error": slot.error, "info": slot.info, "warning": slot.warning}[note["kind"]]
    show(escape_markdown(note["message"]), icon=ICONS.get(note["kind"]))
