"""The app around the pages: a shared link to a page opens inside app.py's navigation, and the
sidebar app.py draws (identity, where the data lives, the model).

Why the hand-over: while no session has run st.navigation yet, Streamlit treats an app with a
pages/ folder as a legacy multipage app, so the first visitor of a fresh server who opens a page's
own URL gets that page script alone (file names in the sidebar, no app.py). As soon as any session
runs st.navigation, Streamlit ignores pages/ for every session (documented with st.navigation).
So a page that finds app.py has not run in its session switches to app.py, which calls
st.navigation and opens the page asked for, with the link's query parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lib.config import ConfigError
from lib.core import limits
from lib.ui import auth
from lib.ui.display import error_text, escape_markdown
from lib.ui.resources import hosted, settings, store_info
from lib.ui.session import REVIEWER_KEY, recall_name, remember_name

APP_KEY = "br_app"  # set by app.py in every session it runs in
GOTO_KEY = "br_goto"  # the page (url path, query parameters) a link asked for before app.py had run


def open_in_app(url_path: str) -> None:
    """Call first in every page script: hand a page opened without app.py over to app.py."""
    if st.session_state.get(APP_KEY):
        return
    st.session_state[GOTO_KEY] = (url_path, st.query_params.to_dict())
    try:
        st.switch_page("app.py")
    except StreamlitAPIException:  # the page runs as the main script itself (a test, `streamlit run pages/x.py`)
        st.session_state.pop(GOTO_KEY, None)


def alias(target: Any) -> Callable[[], None]:
    """A page body that opens `target` (an st.Page) with the link's query parameters."""

    def forward() -> None:
        st.switch_page(target, query_params=st.query_params.to_dict())

    return forward


def app_started(pages: Sequence[Any]) -> None:
    """Call in app.py right after st.navigation: marks the session, and opens the page a shared link
    asked for (see open_in_app). pages: the st.Page objects given to st.navigation."""
    st.session_state[APP_KEY] = True
    goto = st.session_state.pop(GOTO_KEY, None)
    if goto:
        path, params = goto
        st.switch_page(next((p for p in pages if p.url_path == path), pages[0]), query_params=params)


def sidebar() -> None:
    """Who is using the app (a name field, or the signed-in account), where the data lives with its
    row counts, the model, and whether an API key is set (never the key)."""
    st.markdown("### Bright Run Studio")
    try:
        config = settings()
    except ConfigError as exc:
        st.error(f"A setting is wrong: {error_text(exc)}")
        return
    if hosted():  # decisions are recorded under the signed-in account
        user = auth.current()
        if user is not None:
            st.session_state[REVIEWER_KEY] = user.email
        auth.sidebar_account()
        if user is None:
            return
    else:
        recall_name()
        st.text_input(
            "Your name",
            key=REVIEWER_KEY,
            max_chars=limits.NAME.max_chars,
            placeholder="e.g. Dana Reyes, CFP",
            help="Recorded with every review decision and label correction. This browser remembers it, "
            "so a reload or a new tab keeps it; change it here, or empty the field to forget it.",
        )
        remember_name()
    info = store_info()
    if isinstance(info, str):
        st.error(f"Database unavailable: {error_text(info)}")
        return
    c = info.counts
    st.caption(
        f"**Data:** {escape_markdown(info.label)}  \n"
        f"{c.get('scenarios', 0):,} scenarios · {c.get('conversations', 0):,} conversations · "
        f"{c.get('conversation_turns', 0):,} turns"
    )
    key = "set" if config.has_api_key else "not set (generation runs as a demo replay of recorded conversations)"
    st.caption(f"**Model:** {escape_markdown(config.model)}  \n**API key:** {key}")
