"""What a page runs on: the settings, the taxonomy, this server's generation worker, and store(),
the one way a page gets the database.

store() is the signed-in user's store in hosted mode (Supabase: their access token on every request,
so the database's RLS policies and role checks apply to them), and the server's cached store
otherwise (embedded PostgreSQL or DATABASE_URL: one trusted user). Either way a failure stops the
page with one clear line, never a traceback. Mutable objects cached here are never mutated.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import streamlit as st

from lib.config import ConfigError, Settings
from lib.core.rubric import Rubric, RubricError, default_rubric
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.store import PermissionDenied, Store, StoreError, StoreInfo, open_store
from lib.ui import auth
from lib.ui.display import error_text

if TYPE_CHECKING:  # the annotation only: the anthropic SDK loads when a counter is made
    from lib.generation.llm import TokenCounter


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The settings (ConfigError when one is wrong)."""
    return Settings.load()


def hosted() -> bool:
    try:
        return settings().store_mode == "supabase"
    except ConfigError:
        return False


@st.cache_resource(show_spinner=False)
def _taxonomy() -> Taxonomy:
    return load_taxonomy()


def taxonomy() -> Taxonomy:
    """The taxonomy, or a clear error on the page and the script stops."""
    try:
        return _taxonomy()
    except TaxonomyError as exc:
        st.error(f"**The taxonomy could not be loaded.** {error_text(exc)}. Fix that file and reload the page.")
        st.stop()
        raise  # unreachable: st.stop() ends the script


def rubric() -> Rubric:
    """The quality rubric beside the taxonomy, or a clear error on the page and the script stops."""
    try:
        return default_rubric(taxonomy().path)
    except RubricError as exc:
        st.error(f"**The quality rubric could not be read.** {error_text(exc)}. Fix that file and reload the page.")
        st.stop()
        raise  # unreachable: st.stop() ends the script


# -- the store ------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Starting the database…")
def _server_store() -> Store:
    # INFO for lib so the boot time ("database ready in X s") reaches the server log.
    logging.getLogger("lib").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return open_store(settings())


@st.cache_resource(show_spinner=False, max_entries=200, ttl=3600)
def _token_store(url: str, access_token: str) -> Store:
    from lib.store.supabase import open_supabase_store

    return open_supabase_store(settings(), access_token=access_token)


def _signed_in_store() -> Store:
    """The store as the signed-in user; refreshes a token about to expire. PermissionDenied when
    nobody is signed in or the sign-in has expired."""
    session = auth.current()
    if session is None:
        raise PermissionDenied("you are not signed in")
    if session.expires_at and session.expires_at - auth.REFRESH_MARGIN_S < time.time():
        try:
            session = auth.refresh_session(settings(), session)
        except auth.AuthError:
            auth.forget()
            raise PermissionDenied("your sign-in has expired; sign in again") from None
        auth.remember(session)
    return _token_store(str(settings().supabase_url), session.access_token)


def _open() -> Store:
    return _signed_in_store() if hosted() else _server_store()


def store() -> Store:
    """The database for this page and its callbacks (call it there, never keep it in the session):
    the signed-in user's store in hosted mode, the server's store otherwise. Not signed in: the
    "sign in" page; unavailable: one clear error. Either way the script stops there."""
    try:
        return _open()
    except PermissionDenied:
        auth.not_signed_in()
    except (StoreError, ConfigError, TaxonomyError) as exc:
        st.error(f"**The database is not available.** {error_text(exc)}")
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the script")


def store_info() -> StoreInfo | str:
    """What the sidebar shows of the store (the same one store() gives): its description, or why
    there is none, without stopping the page around it."""
    try:
        return _open().describe()
    except (StoreError, ConfigError, TaxonomyError) as exc:
        return str(exc)


# -- the generation worker ---------------------------------------------------------------------------------
def _stop_worker(worker: object) -> None:
    if worker is not None:
        worker.stop()  # type: ignore[attr-defined]


@st.cache_resource(show_spinner=False, on_release=_stop_worker)
def _worker() -> object | None:
    from lib.generation.app_worker import start_app_worker

    if hosted():
        from lib.store.supabase import open_supabase_store

        config = settings()
        if config.supabase_service_key is None or not config.has_api_key:
            return None
        return start_app_worker(open_supabase_store(config, service=True), config)
    return start_app_worker(_server_store(), settings())


def worker() -> object | None:
    """The generation worker of this server process: one thread (lib.generation.app_worker.WorkerThread) that
    claims the queued job items, or None without an API key (the app then works offline). In hosted
    mode it runs as the service role, from the server's secrets (never a browser's token). When it
    cannot start, a NotStarted that says why (the server log says it too); the next page run tries again."""
    from lib.generation.app_worker import not_started

    try:
        return _worker()
    except (StoreError, ConfigError, ValueError) as exc:  # PriceError and TaxonomyError are ValueErrors
        return not_started(exc)


# -- token counting for the estimates a page shows on every run ------------------------------------------
@st.cache_resource(show_spinner=False, ttl=600)
def token_counter() -> TokenCounter | None:
    """The API's count_tokens for the estimates Review shows beside its asks, or None without a key. One
    counter for the process: after a failure it answers at once (estimates fall back to 4 characters a
    token), so an unreachable API costs one timeout every ten minutes, not one on every page run."""
    from lib.generation.llm import LLMSettings, api_token_counter

    config = settings()
    return api_token_counter(LLMSettings.from_settings(config)) if config.has_api_key else None
