"""A message shown once, at a named place of the page, on the next run: what a button's callback says
about what it did (callbacks run before the script, so they cannot draw it themselves)."""

from __future__ import annotations

import time

import streamlit as st

from lib.ui.display import error_text

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
    show(error_text(note["message"]), icon=ICONS.get(note["kind"]))  # a message may quote an error: no secret


def timed_flash(key: str, kind: str, message: str) -> None:
    """Keep the message under `key` until show_timed_flash(key, seconds) has shown it for that long."""
    st.session_state[key] = (kind, message, time.time())


def show_timed_flash(key: str, seconds: float) -> None:
    """The message for as long as `seconds` after it was set: a panel that refreshes every second (a live
    job) would otherwise show it for one run and hide it before anyone reads it."""
    note = st.session_state.get(key)
    if not note:
        return
    if time.time() - note[2] < seconds:
        (st.error if note[0] == "error" else st.success)(note[1])
    else:
        del st.session_state[key]
