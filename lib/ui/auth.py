"""Sign-in for hosted mode (Supabase Auth, email and password), and what a role may do.

In hosted mode (SUPABASE_URL and SUPABASE_KEY set, DATABASE_URL not) each browser session signs
in; lib.ui.resources.store() puts its access token on every request (lib/store/supabase.py), so
the database's RLS policies and the functions' role checks apply to that person. The tokens live
in the session's server-side state (`br_auth`) only: the browser never sees them, nor any key.

Roles rank viewer < reviewer < operator < admin (the members table). Pages ask `can(action)` to
hide what a role cannot do; the database is what enforces it. In embedded / DATABASE_URL mode
there is one trusted user and everything is allowed.

The functions without Streamlit in their name (sign_in_with_password, refresh_session,
allowed, role_message) are plain and testable; the rest use st.session_state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from pydantic import BaseModel, ConfigDict

from lib.config import Settings
from lib.store.protocol import PermissionDenied, StoreError

AUTH_KEY = "br_auth"  # session state: the signed-in session (AuthSession as a dict)
ROLES: tuple[str, ...] = ("viewer", "reviewer", "operator", "admin")
RANK: dict[str, int] = {"viewer": 1, "reviewer": 2, "operator": 3, "admin": 4, "service": 5}

# action -> the least role that may do it (the same as the functions' require_role checks)
ACTIONS: dict[str, str] = {
    "read": "viewer",
    "export": "viewer",
    "review": "reviewer",  # record a decision
    "revise_labels": "reviewer",
    "mark_seed_example": "reviewer",
    "plan": "operator",  # add scenarios
    "generate": "operator",  # create, stop, resume jobs
    "manage_members": "admin",
    "sync_taxonomy": "admin",
    "set_double_review": "admin",  # the share of conversations sent to a second reviewer
}
REFRESH_MARGIN_S = 60


class AuthError(Exception):
    """Sign-in failed, with one line a person can act on."""


class AuthSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_token: str
    refresh_token: str = ""
    expires_at: float = 0.0
    user_id: str = ""
    email: str = ""
    role: str | None = None  # None: signed in, but not in the members table


# -- plain functions ------------------------------------------------------------------------------
def allowed(role: str | None, action: str) -> bool:
    """May `role` do `action`? Unknown actions are refused (a typo must not open a door)."""
    need = ACTIONS.get(action)
    return need is not None and RANK.get(role or "", 0) >= RANK[need]


def _auth_client(settings: Settings) -> Any:
    from supabase import ClientOptions, create_client

    key = settings.supabase_key.get_secret_value() if settings.supabase_key is not None else ""
    if not settings.supabase_url or not key:
        raise AuthError("sign-in needs SUPABASE_URL and SUPABASE_KEY (the anon key) in the server's secrets")
    return create_client(
        settings.supabase_url, key, options=ClientOptions(auto_refresh_token=False, persist_session=False)
    )


def _session_from(settings: Settings, session: Any, fallback_email: str = "") -> AuthSession:
    from lib.store.supabase import SupabaseStore

    user = getattr(session, "user", None)
    out = AuthSession(
        access_token=session.access_token,
        refresh_token=session.refresh_token or "",
        expires_at=float(session.expires_at or time.time() + (session.expires_in or 3600)),
        user_id=str(getattr(user, "id", "") or ""),
        email=str(getattr(user, "email", "") or fallback_email),
    )
    key = settings.supabase_key.get_secret_value() if settings.supabase_key is not None else ""
    # its methods are made from CALLS at import (lib/store/transport.py), which mypy cannot see
    store = SupabaseStore(str(settings.supabase_url), key, access_token=out.access_token)  # type: ignore[abstract]
    me = store.whoami()
    return out.model_copy(update={"role": me.get("role"), "email": me.get("email") or out.email})


def sign_in_with_password(settings: Settings, email: str, password: str) -> AuthSession:
    """Sign in with Supabase Auth; returns the session with the member's role."""
    from supabase_auth.errors import AuthApiError
    from supabase_auth.errors import AuthError as GoTrueError

    email = email.strip()
    if not email or not password:
        raise AuthError("enter your email and your password")
    client = _auth_client(settings)
    try:
        res = client.auth.sign_in_with_password({"email": email, "password": password})
    except AuthApiError as exc:
        if "invalid" in str(exc).lower() and "credential" in str(exc).lower():
            raise AuthError("wrong email or password; try again, or ask an admin to reset it") from None
        raise AuthError(f"Supabase refused the sign-in: {exc}") from None
    except GoTrueError as exc:
        raise AuthError(f"cannot reach Supabase Auth to sign in ({exc}); check SUPABASE_URL and try again") from None
    except Exception as exc:  # httpx errors from the auth client
        raise AuthError(f"cannot reach Supabase Auth to sign in ({type(exc).__name__}); check SUPABASE_URL") from None
    if res.session is None:
        raise AuthError("this account has not confirmed its email yet; follow the link in the invitation")
    try:
        return _session_from(settings, res.session, email)
    except StoreError as exc:
        raise AuthError(f"signed in, but cannot read your membership: {exc}") from None


def refresh_session(settings: Settings, auth: AuthSession) -> AuthSession:
    """A new access token from the refresh token (Supabase's expire after an hour)."""
    client = _auth_client(settings)
    try:
        res = client.auth.refresh_session(auth.refresh_token)
    except Exception:
        raise AuthError("your sign-in has expired; sign in again") from None
    if res.session is None:
        raise AuthError("your sign-in has expired; sign in again")
    return _session_from(settings, res.session, auth.email)


def sign_out_token(settings: Settings, access_token: str) -> None:
    """End the session at Supabase too (best effort: the local sign-out happens anyway)."""
    with suppress(Exception):
        _auth_client(settings).auth.admin.sign_out(access_token)


def role_message(exc: PermissionDenied | str, role: str | None = None) -> str:
    """'Your role cannot do this' in words, from the database's refusal."""
    detail = str(exc).strip()
    who = f"the **{role}** role" if role else "**no role** (you are not in the members table)"
    return (
        f"**Your role cannot do this.** You have {who}. {detail[:1].upper() + detail[1:]}"
        + ("" if detail.endswith(".") else ".")
        + " Ask an admin if you need more."
    )


# -- Streamlit -----------------------------------------------------------------------------------------
def _settings() -> Settings:
    from lib.ui.resources import settings

    return settings()


def current() -> AuthSession | None:
    """The signed-in session of this browser tab, or None."""
    import streamlit as st

    data = st.session_state.get(AUTH_KEY)
    return AuthSession.model_validate(data) if data else None


def _hosted() -> bool:
    from lib.ui.resources import hosted as hosted_now

    return hosted_now()


def remember(session: AuthSession) -> None:
    import streamlit as st

    st.session_state[AUTH_KEY] = session.model_dump()


def forget() -> None:
    import streamlit as st

    st.session_state.pop(AUTH_KEY, None)


def role() -> str | None:
    """The role in force: the member's role in hosted mode, 'admin' otherwise (one trusted user)."""
    if not _hosted():
        return "admin"
    auth = current()
    return auth.role if auth else None


def can(action: str) -> bool:
    """May the person using this session do `action` (a key of ACTIONS)? Pages hide what is not allowed;
    the database enforces it anyway. Everything is allowed outside hosted mode."""
    if not _hosted():
        return action in ACTIONS
    return allowed(role(), action)


def sign_in(email: str, password: str) -> AuthSession:
    auth = sign_in_with_password(_settings(), email, password)
    remember(auth)
    return auth


def sign_out() -> None:
    auth = current()
    forget()
    if auth is not None:
        sign_out_token(_settings(), auth.access_token)


def not_signed_in() -> None:
    """The 'not signed in' page, then stop."""
    import streamlit as st

    st.title("Sign in to continue")
    st.info(
        "**You are not signed in.** This studio keeps its data in a Supabase project, and every "
        "page needs you to sign in with your email and password first."
    )
    try:
        st.page_link("pages/signin.py", label="Go to the sign-in page", icon=":material/login:")
    except Exception:  # the page is not registered in this app (a test runs the page alone)
        st.caption("Open **Sign in** in the navigation.")
    st.stop()


def show_denied(exc: PermissionDenied | str) -> None:
    import streamlit as st

    st.error(role_message(exc, role()))


@contextmanager
def guard() -> Iterator[None]:
    """Around a write on a page: a refusal by the database becomes the 'your role cannot do this'
    message (and the script stops), never a traceback."""
    import streamlit as st

    try:
        yield
    except PermissionDenied as exc:
        show_denied(exc)
        st.stop()


def require(action: str) -> None:
    """Stop the page with the 'your role cannot do this' message unless can(action)."""
    import streamlit as st

    if not can(action):
        need = ACTIONS.get(action, "admin")
        show_denied(f"to {action.replace('_', ' ')} you need the {need} role")
        st.stop()


def sidebar_account() -> None:
    """The signed-in person and their role, or a link to sign in (hosted mode's sidebar block)."""
    import streamlit as st

    from lib.ui.display import escape_markdown

    auth = current()
    if auth is None:
        st.caption("**Not signed in.** Sign in to see the data.")
        return
    shown = auth.role or "not a member"
    st.caption(f"**Signed in:** {escape_markdown(auth.email)}  \n**Role:** {shown}")
    if st.button("Sign out", key="br_sign_out", icon=":material/logout:"):
        sign_out()
        st.rerun()
