"""Sign in (hosted mode): email and password with Supabase Auth; shows who is signed in and their role."""

from __future__ import annotations

import streamlit as st

from lib.ui import auth, nav, resources
from lib.ui.display import escape_markdown

nav.open_in_app("signin")
st.title("Sign in")

if not resources.hosted():
    st.info(
        "Sign-in is used only when the studio runs on a Supabase project (hosted mode). This one runs on "
        "its own database, with one trusted user: everything is allowed."
    )
    st.stop()

me = auth.current()
if me is not None:
    st.success(f"You are signed in as **{escape_markdown(me.email)}**.")
    if me.role:
        st.markdown(
            f"Your role: **{me.role}**. "
            + {
                "viewer": "You can read everything.",
                "reviewer": "You can read, record review decisions and correct labels.",
                "operator": "You can also plan scenarios and generate conversations.",
                "admin": "You can do everything, including managing members.",
            }[me.role]
        )
    else:
        st.warning(
            "**You have no role yet.** Your account is not in the members table, so you cannot see the data. "
            "Ask an admin to add you."
        )
    if st.button("Sign out", icon=":material/logout:", key="br_signin_sign_out"):
        auth.sign_out()
        st.rerun()
    st.stop()

with st.form("br_signin_form"):
    email = st.text_input("Email", placeholder="you@example.com")
    password = st.text_input("Password", type="password")
    submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
if submitted:
    try:
        auth.sign_in(email, password)
    except auth.AuthError as exc:
        st.error(f"**Could not sign in.** {str(exc)[:1].upper() + str(exc)[1:]}.")
    else:
        st.rerun()
st.caption("No account yet? Ask an admin of this project to invite you.")
