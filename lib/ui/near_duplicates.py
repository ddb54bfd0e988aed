"""Near-duplicate conversations on the pages: the current conversations' texts and their clusters,
found once per version of the data (the cache key), and the notice Review shows on a clustered one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from lib.core import similarity
from lib.coverage import diversity
from lib.store import StoreError
from lib.ui import resources
from lib.ui.display import error_text
from lib.ui.display import escape_markdown as esc


@st.cache_data(max_entries=4, show_spinner="Reading the conversations…")
def texts(source: str, version: str) -> list[dict[str, Any]]:
    """Store.conversation_texts() once per version of the data (the arguments are the cache key).
    Coverage passes coverage_version (review statuses matter there); Review passes
    conversation_texts_version, so a decision does not read and search everything again."""
    return resources.store().conversation_texts()


@st.cache_data(max_entries=4, show_spinner="Looking for near-duplicates…")
def clusters(source: str, version: str, scope: str = "generated") -> list[similarity.Cluster]:
    """The clusters among the conversations of a Coverage scope (diversity.SCOPE_STATUSES)."""
    return diversity.find_clusters(diversity.in_scope(texts(source, version), scope), resources.taxonomy())


@st.cache_data(max_entries=4, show_spinner="Measuring the diversity…")
def profiles(source: str, version: str, scope: str) -> list[diversity.Profile]:
    """What the diversity figures need of each conversation of a Coverage scope, worked out once."""
    return diversity.profiles(diversity.in_scope(texts(source, version), scope), resources.taxonomy())


def notice(conversation_id: str, open_conversation: Callable[[str], None]) -> None:
    """On Review: whether this conversation repeats others, and a way to open the one it repeats."""
    store = resources.store()
    try:
        found = clusters(store.label, store.conversation_texts_version())
    except StoreError as exc:
        st.caption(f":material/warning: Near-duplicates could not be looked for: {error_text(exc)}")
        return
    cluster = similarity.cluster_of(found).get(conversation_id)
    if cluster is None:
        return
    others = [m for m in cluster.members if m != conversation_id]
    why = f"Jaccard up to {cluster.similarity:.2f}" + (
        f", up to {cluster.shared_turns} turns alike" if cluster.shared_turns else ""
    )
    if conversation_id == cluster.newest:
        st.warning(
            f"**Near-duplicate: the newest of {len(cluster.members)} conversations that repeat each other** "
            f"({why}). Earlier: {esc(', '.join(others))}. Reject it or regenerate it with feedback; an export "
            "with *Leave out near-duplicates* keeps only the earliest.",
            icon=":material/content_copy:",
        )
    else:
        st.info(
            f"**One of {len(cluster.members)} near-duplicate conversations** ({why}); the newest is "
            f"{esc(cluster.newest)}.",
            icon=":material/content_copy:",
        )
    target = cluster.kept if conversation_id != cluster.kept else cluster.newest
    st.button(f"Open {target}", on_click=open_conversation, args=(target,), key=f"rv_near_dup_{conversation_id}")
