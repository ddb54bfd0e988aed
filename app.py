"""Bright Run Training Data Studio: navigation and the shared sidebar. Nothing else lives here."""

from __future__ import annotations

import streamlit as st

from lib.ui import auth, intro, nav, resources

st.set_page_config(page_title="Bright Run Training Data Studio", page_icon="💬", layout="wide")

hosted = resources.hosted()  # Supabase: people sign in and their role decides what they see
user = auth.current() if hosted else None
about = st.Page("pages/home.py", title="About", icon=":material/info:", url_path="about")
signin = st.Page(
    "pages/signin.py",
    title="Sign in" if user is None else "Account",
    icon=":material/login:",
    url_path="signin",
    default=hosted and user is None,
)
if hosted and user is None:
    pages = [signin, about]
else:
    # The default page is served at "/", so a link to its own name (/scenarios) needs a hidden alias.
    scenarios = st.Page(
        "pages/scenarios.py", title="Scenarios", icon=":material/table_rows:", url_path="scenario-table", default=True
    )
    pages = [
        scenarios,
        st.Page(nav.alias(scenarios), title="Scenarios", url_path="scenarios", visibility="hidden"),
        *(
            [st.Page("pages/generate.py", title="Generate", icon=":material/play_circle:", url_path="generate")]
            if auth.can("generate")
            else []
        ),
        st.Page("pages/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
        st.Page("pages/coverage.py", title="Coverage", icon=":material/insights:", url_path="coverage"),
        st.Page("pages/quality.py", title="Quality", icon=":material/handshake:", url_path="quality"),
        st.Page("pages/export.py", title="Export", icon=":material/download:", url_path="export"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings"),
        about,
        *([signin] if hosted else []),
    ]
page = st.navigation(pages)
nav.app_started(pages)

with st.sidebar:
    nav.sidebar()

resources.worker()  # this server's generation worker, whichever page is opened first (None without an API key)
if page.url_path != "about" and (user is not None or not hosted):
    intro.first_visit()  # a new visitor's overview, above whichever page they open first
page.run()
