"""The session-state keys that several pages share (each page's own keys live in the page), and the
name of the person using the app. Keys are prefixed `br_` and hold ids, never whole tables.

Locally (no sign-in) the name is remembered in the browser, so a reload or a new tab opens with it.
A cookie (lib/ui/cookies.py), because the server reads it with the page's first request: the name is
there on the first run, with the decision buttons enabled, and no component has to send it back
after a rerun, as localStorage would need. A query parameter would not reach a new tab, and would
put a person's name into every link they share.
"""

from __future__ import annotations

import streamlit as st

from lib.core import limits
from lib.ui import cookies

REVIEWER_KEY = "br_reviewer"  # the name of the person using the app, kept for the session
FILTERS_KEY = "br_filters"  # the scenario table's filters: {dimension: [ids]}
SELECTED_KEY = "br_selected"  # the scenario ids selected in the table
FOCUS_KEY = "br_focus"  # the scenario whose detail is open

NAME_COOKIE = "brightrun_reviewer"


def reviewer() -> str:
    """The name entered in the sidebar, or the signed-in account in hosted mode ('' when none yet);
    before the sidebar has run in this session, the name this browser remembers (locally only: signed
    in, the account is the name)."""
    if REVIEWER_KEY not in st.session_state:
        from lib.ui.resources import hosted  # resources reaches the store, which this module's users need not

        return "" if hosted() else remembered_name()
    return str(st.session_state[REVIEWER_KEY]).strip()


def remembered_name() -> str:
    """The name this browser remembers ('' when none): sent with the request that opened the session."""
    return cookies.read(NAME_COOKIE).strip()[: limits.NAME.max_chars]


def recall_name() -> None:
    """Call before the name field is drawn: a new session (a reload, a new tab) starts with the name
    this browser remembers."""
    if REVIEWER_KEY not in st.session_state:
        st.session_state[REVIEWER_KEY] = remembered_name()


def remember_name() -> None:
    """Keep the name in use in this browser (forgotten when the field is emptied)."""
    cookies.write(NAME_COOKIE, reviewer()[: limits.NAME.max_chars])
