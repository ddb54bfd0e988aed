"""The session-state keys that several pages share (each page's own keys live in the page), and the
name of the person using the app. Keys are prefixed `br_` and hold ids, never whole tables.

Locally (no sign-in) the name is remembered in the browser, so a reload or a new tab opens with it.
A cookie, because the server reads it with the page's first request (st.context.cookies): the name is
there on the first run, with the decision buttons enabled, and no component has to send it back
after a rerun, as localStorage would need. A query parameter would not reach a new tab, and would
put a person's name into every link they share. The cookie is written by a few lines of script in
the sidebar (Streamlit has no call that sets one) and holds nothing but the name.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import streamlit as st

REVIEWER_KEY = "br_reviewer"  # the name of the person using the app, kept for the session
FILTERS_KEY = "br_filters"  # the scenario table's filters: {dimension: [ids]}
SELECTED_KEY = "br_selected"  # the scenario ids selected in the table
FOCUS_KEY = "br_focus"  # the scenario whose detail is open

NAME_COOKIE = "brightrun_reviewer"
NAME_MAX = 100  # characters of a name; the database refuses longer ones
REMEMBER_DAYS = 365


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
    value = dict(st.context.cookies).get(NAME_COOKIE)
    return unquote(value).strip()[:NAME_MAX] if isinstance(value, str) else ""


def recall_name() -> None:
    """Call before the name field is drawn: a new session (a reload, a new tab) starts with the name
    this browser remembers."""
    if REVIEWER_KEY not in st.session_state:
        st.session_state[REVIEWER_KEY] = remembered_name()


def remember_name() -> None:
    """Keep the name in use in this browser's cookie (cleared when the name is). Drawn on every run:
    the script is the same while the name is, and setting a cookie twice is harmless."""
    name = reviewer()[:NAME_MAX]
    age = REMEMBER_DAYS * 86400 if name else 0
    # json.dumps makes the name a JS string literal; "<" escaped so it cannot close the script tag
    value = json.dumps(name).replace("<", "\\u003c")
    st.html(
        f"<script>document.cookie = '{NAME_COOKIE}=' + encodeURIComponent({value}) + "
        f"'; path=/; max-age={age}; SameSite=Strict';</script>",
        unsafe_allow_javascript=True,
    )
