"""What every page shares: the cached store, settings and taxonomy, the reviewer's name, and the
few display helpers that must look the same on every page (status badges, emotion colours).

This is the one module of lib/ that imports Streamlit, for the getters cached with
st.cache_resource. Session-state keys used across pages are named here, prefixed `br_`.
"""
from __future__ import annotations

import logging

import streamlit as st

from lib.config import ConfigError, Settings
from lib.store import Store, StoreError, open_store
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

REVIEWER_KEY = "br_reviewer"  # the name of the person using the app, kept for the session
FILTERS_KEY = "br_filters"  # the scenario table's filters: {dimension: [ids]}
SELECTED_KEY = "br_selected"  # the scenario ids selected in the table
FOCUS_KEY = "br_focus"  # the scenario whose detail is open

STATUS_BADGES: dict[str, tuple[str, str]] = {  # status -> (label, streamlit colour)
    "not_generated": ("Not generated", "gray"),
    "queued": ("Queued", "violet"),
    "generating": ("Generating", "blue"),
    "generated": ("Generated", "orange"),
    "approved": ("Approved", "green"),
    "needs_edit": ("Needs edit", "orange"),
    "rejected": ("Rejected", "red"),
    "failed": ("Failed", "red"),
    "unreviewed": ("Unreviewed", "gray"),
}


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    return Settings.load()


@st.cache_resource(show_spinner="Starting the database…")
def get_store() -> Store:
    # INFO for lib so the boot time ("database ready in X s") reaches the server log.
    logging.getLogger("lib").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return open_store(get_settings())


@st.cache_resource(show_spinner=False)
def get_taxonomy() -> Taxonomy:
    return load_taxonomy()


def _stop_worker(worker: object) -> None:
    if worker is not None:
        worker.stop()  # type: ignore[attr-defined]


@st.cache_resource(show_spinner=False, on_release=_stop_worker)
def get_worker() -> object | None:
    """The generation worker of this server process: one thread (lib.generation.worker.WorkerThread) that
    claims the queued job items, or None without an API key (the app then works offline)."""
    from lib.generation.worker import start_app_worker

    try:
        if _hosted():  # the worker runs as the service role, from the server's secrets (never the browser's)
            from lib.store.supabase import open_supabase_store
            settings = get_settings()
            if settings.supabase_service_key is None or not settings.has_api_key:
                return None
            return start_app_worker(open_supabase_store(settings, service=True), settings)
        return start_app_worker(get_store(), get_settings())
    except (StoreError, ConfigError, ValueError):  # the page says generation is unavailable
        return None


def store_or_stop() -> Store:
    """The store, or a clear error on the page (never a traceback) and the script stops.
    Hosted mode (Supabase): the signed-in user's store, or the "not signed in" page (lib/auth.py)."""
    if _hosted():
        from lib.ui.auth import user_store_or_stop
        return user_store_or_stop()
    try:
        return get_store()
    except (StoreError, ConfigError, TaxonomyError) as exc:
        st.error(f"**The database is not available.** {exc}")
        st.stop()
        raise  # unreachable: st.stop() ends the script


def _hosted() -> bool:
    try:
        return get_settings().store_mode == "supabase"
    except ConfigError:
        return False


def taxonomy_or_stop() -> Taxonomy:
    try:
        return get_taxonomy()
    except TaxonomyError as exc:
        st.error(f"**The taxonomy could not be loaded.** {exc}. Fix that file and reload the page.")
        st.stop()
        raise


def reviewer() -> str:
    """The name entered in the sidebar ('' when none yet)."""
    return str(st.session_state.get(REVIEWER_KEY, "")).strip()


def status_badge(status: str) -> None:
    label, colour = STATUS_BADGES.get(status, (status, "gray"))
    st.badge(label, color=colour)


def names(tax: Taxonomy, dimension: str) -> dict[str, str]:
    """id -> display name of a taxonomy dimension."""
    return {k: v.name for k, v in tax.by_id(dimension).items()}


def emotion_colours(tax: Taxonomy) -> dict[str, str]:
    """emotion id -> its colour, the same on every chart."""
    return {e.id: e.color for e in tax.emotions}


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$=:")


def escape_markdown(text: str) -> str:
    """Generated or typed text as literal markdown: links, images, HTML, LaTeX and emphasis all
    show as the characters they are (CommonMark lets any ASCII punctuation be backslash-escaped)."""
    out = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
    return out.replace("\n", "  \n")  # keep the writer's line breaks


def render_chat(turns: list, tax: Taxonomy) -> None:
    """A conversation as chat bubbles: user turns with their emotion, assistant turns with their
    strategies. `turns` are lib.core.models turns with the labels in force (Conversation.current_turns())."""
    emotions = names(tax, "emotions")
    strategies = names(tax, "strategies")
    for i, turn in enumerate(turns):
        with st.chat_message(turn.role, avatar=":material/person:" if turn.role == "user" else ":material/support_agent:"):
            if turn.role == "user":
                e = turn.emotion
                label = emotions.get(e.primary, e.primary)
                sub = f" ({e.sub_emotion.replace('_', ' ')})" if e.sub_emotion else ""
                st.caption(f"Turn {i} · {label}{sub} · intensity {e.intensity:.2f}")
            else:
                s = turn.strategies
                extra = ", ".join(strategies.get(x, x) for x in s.supporting)
                st.caption(f"Turn {i} · {strategies.get(s.primary, s.primary)}" + (f" + {extra}" if extra else ""))
            st.markdown(escape_markdown(turn.text))


STORE_KINDS = {"embedded": "Embedded PostgreSQL", "postgres": "PostgreSQL", "supabase": "Supabase"}


def sidebar_status() -> None:
    """Where the data lives (with row counts), the model, and whether an API key is set (never the key)."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        st.error(f"A setting is wrong: {exc}")
        return
    if settings.store_mode == "supabase":  # hosted: who is signed in, and the data as they see it
        from lib.ui.auth import current, sidebar_account, user_store
        sidebar_account()
        if current() is None:
            return
    try:
        info = (user_store() if settings.store_mode == "supabase" else get_store()).describe()
    except (StoreError, TaxonomyError) as exc:
        st.error(f"Database unavailable: {exc}")
        return
    c = info.counts
    st.caption(f"**Data:** {escape_markdown(info.label)}  \n"
               f"{c.get('scenarios', 0):,} scenarios · {c.get('conversations', 0):,} conversations · "
               f"{c.get('conversation_turns', 0):,} turns")
    key = "set" if settings.has_api_key else "not set (generation is off; everything else works)"
    st.caption(f"**Model:** {escape_markdown(settings.model)}  \n**API key:** {key}")


GOTO_KEY = "br_goto"  # the page a visitor asked for before app.py had run (see ensure_app_navigation)


def ensure_app_navigation(url_path: str) -> None:
    """Call first in every page script. Streamlit runs a pages/ script on its own (its legacy
    multipage mode, without app.py's navigation and sidebar) when the first visitor of a fresh
    server opens a page's own URL. Hand over to app.py, which then opens the page asked for."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what app.py's st.navigation sets, for every session
        st.session_state[GOTO_KEY] = (url_path, st.query_params.to_dict())  # the link's parameters too
        st.switch_page("app.py")
