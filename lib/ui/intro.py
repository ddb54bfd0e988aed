"""What the studio is, in six steps: on the About page, and once as an overview above the first page
a new visitor opens. The browser remembers that the overview was shown (a cookie), so a returning
visitor goes straight to work; About keeps it one click away."""

from __future__ import annotations

from contextlib import suppress

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lib.ui import cookies

SEEN_COOKIE = "brightrun_overview_seen"
HIDDEN_KEY = "br_overview_hidden"  # the visitor closed the overview in this session
SHOWN_KEY = "br_overview_shown"  # this session opened without the cookie: the overview is its to show

STEPS: tuple[tuple[str, str, str], ...] = (  # title, what happens, the page
    (
        "1 · Plan",
        "A scenario table from the taxonomy: persona × arc × topic × intent × tone × outcome × tier.",
        "pages/scenarios.py",
    ),
    (
        "2 · Generate",
        "Claude writes each conversation; it is checked and repaired before it is stored.",
        "pages/generate.py",
    ),
    ("3 · Review", "Experts decide, correct per-turn labels, and vary a good conversation.", "pages/review.py"),
    ("4 · Coverage", "Charts of what the dataset covers against its targets, and the gaps.", "pages/coverage.py"),
    ("5 · Quality", "How far reviewers agree on decisions and labels, reviewed twice.", "pages/quality.py"),
    ("6 · Export", "Approved conversations in the formats training tools load.", "pages/export.py"),
)


def steps(links: bool = False) -> None:
    """The steps side by side; links: each with a link to its page (when the page is in the menu)."""
    for col, (title, text, path) in zip(st.columns(len(STEPS)), STEPS, strict=True):
        with col.container(border=True):
            st.markdown(f"**{title}**")
            st.caption(text)
            if links:  # a page not in this person's menu (a viewer has no Generate) has no link
                with suppress(StreamlitAPIException):
                    st.page_link(path, label="Open", icon=":material/arrow_forward:")


def first_visit() -> None:
    """Call in app.py before the page runs: the overview, for a browser that has not seen it."""
    if SHOWN_KEY not in st.session_state:
        st.session_state[SHOWN_KEY] = not cookies.read(SEEN_COOKIE)
    if not st.session_state[SHOWN_KEY] or st.session_state.get(HIDDEN_KEY):
        return
    cookies.write(SEEN_COOKIE, "1")  # shown once: the next visit opens on the work
    with st.container(border=True):
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.markdown("#### :material/waving_hand: Welcome to Bright Run Training Data Studio")
        close.button("Got it", icon=":material/close:", key="br_overview_close", on_click=hide, width="stretch")
        st.markdown(
            "This studio makes **training conversations for a fine-tuned model**: multi-turn chats in which "
            "every user turn carries its emotion and every assistant turn the strategy behind its answer. "
            "It works in six steps:"
        )
        steps(links=True)
        st.caption(
            ":material/spa: **The demo data:** ten seed conversations written by experts are stored and approved, "
            "and 90 scenarios are planned around them. Read the seeds in Review, see what they cover in Coverage, "
            "export them; generating new conversations needs an Anthropic API key. This overview stays on the "
            "About page."
        )


def hide() -> None:
    st.session_state[HIDDEN_KEY] = True
