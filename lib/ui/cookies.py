"""Small facts this browser keeps for the app across reloads and tabs (the reviewer's name, that the
overview was seen). The server reads them with the session's first request (st.context.cookies), so
a page knows them on its first run; Streamlit has no call that sets one, so a few lines of script
drawn with st.html do. A cookie holds a short plain value, never anything secret."""

from __future__ import annotations

import json
from urllib.parse import unquote

import streamlit as st

KEEP_DAYS = 365


def read(name: str) -> str:
    """The cookie's value ('' when the browser sent none)."""
    value = dict(st.context.cookies).get(name)
    return unquote(value) if isinstance(value, str) else ""


def write(name: str, value: str) -> None:
    """Set (or, with '', delete) the cookie for the whole app. The script is the same while the value
    is, so drawing it on every run is harmless."""
    age = KEEP_DAYS * 86400 if value else 0
    literal = json.dumps(value).replace("<", "\\u003c")  # a JS string; "<" escaped so it cannot end the script
    st.html(
        f"<script>document.cookie = {json.dumps(name)} + '=' + encodeURIComponent({literal}) + "
        f"'; path=/; max-age={age}; SameSite=Strict';</script>",
        unsafe_allow_javascript=True,
    )
