"""The Review queue's session state and the callbacks of its buttons: the filter widgets kept across
page changes, moving through the queue, and each decision, seed-example toggle, regeneration and label
correction. Callbacks run before the script, so each says what it did with a flash the page draws."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

import lib.review as rv
from lib.config import ConfigError
from lib.core.vocabulary import Decision
from lib.store import Stale, StoreError
from lib.ui import flash as notes
from lib.ui import resources
from lib.ui.compat import LAZY
from lib.ui.quality import conversation_view
from lib.ui.session import REVIEWER_KEY, reviewer

FILTER_WIDGETS = {  # QueueFilters field -> widget key
    "status": "rv_f_status",
    "source": "rv_f_source",
    "tier": "rv_f_tier",
    "persona": "rv_f_persona",
    "emotional_arc": "rv_f_arc",
    "topic": "rv_f_topic",
    "reviewer": "rv_f_reviewer",
    "quality": "rv_f_quality",
    "rating": "rv_f_rating",
    "below": "rv_f_below",
    "criterion": "rv_f_criterion",
}
ADVANCE_WIDGET = "rv_advance"
PINNED_KEY = "rv_pinned"  # the conversation came from a shared link: show it even when the queue does not hold it
LINKED_KEY = "rv_linked"  # the conversation a link opened, for as long as the session lasts
STALE_KEY = "rv_stale"  # the conversation whose decision was refused as stale: the page offers to reload it

flash = partial(notes.flash, rv.FLASH_KEY)
show_flash = partial(notes.show_flash, rv.FLASH_KEY)


def widget_value(name: str, value: Any) -> Any:
    """A QueueFilters field as its widget holds it: the quality slider a (low, high) tuple, the rating
    choices as they are, the rest lists."""
    if name in ("rating", "below", "criterion"):
        return value
    return tuple(value) if name == "quality" else list(value)


def restore_state() -> None:
    """Put back what the widgets lose on a page change (the session keeps it), and open a shared link
    or a reloaded page: its filters and its conversation."""
    st.session_state.setdefault(ADVANCE_WIDGET, st.session_state.get(rv.ADVANCE_KEY, True))
    linked = {k: st.query_params.get_all(k) for k in st.query_params if k in FILTER_WIDGETS}
    # a link that names filters (a reload, a shared address) wins over what the session kept
    saved = (
        rv.QueueFilters.from_query(linked)
        if linked
        else rv.QueueFilters.from_dict(st.session_state.get(rv.FILTERS_KEY))
    )
    for name, key in FILTER_WIDGETS.items():
        if key not in st.session_state:
            st.session_state[key] = widget_value(name, getattr(saved, name))
    if rv.CURRENT_KEY not in st.session_state and st.query_params.get(rv.QUERY_PARAM):
        st.session_state[rv.CURRENT_KEY] = st.query_params[rv.QUERY_PARAM]
        st.session_state[PINNED_KEY] = True
        st.session_state[LINKED_KEY] = st.query_params[rv.QUERY_PARAM]


def pinned(snapshot: dict[str, Any] | None, who: str) -> bool:
    """Whether the conversation on screen stays when the queue just taken does not hold it: on the run a
    link opened it, and when a name entered (here or in the sidebar) retakes the queue while the linked one
    is on screen. Otherwise a new name starts at the top of that reviewer's queue, second reviews first."""
    linked = bool(st.session_state.pop(PINNED_KEY, False))
    if snapshot is None or snapshot.get("reviewer", "") == who:
        return linked
    if st.session_state.get(rv.CURRENT_KEY) == st.session_state.get(LINKED_KEY):
        return True
    st.session_state.pop(rv.CURRENT_KEY, None)
    return linked


def current_filters() -> rv.QueueFilters:
    """The filters as the widgets hold them, also kept in the session for the next visit and in the URL."""
    filters = rv.QueueFilters.from_dict({name: st.session_state[key] for name, key in FILTER_WIDGETS.items()})
    st.session_state[rv.FILTERS_KEY] = filters.as_dict()
    linked = filters.to_query()  # the URL names the queue, so a reload takes the same one again
    for name in FILTER_WIDGETS:
        if st.query_params.get_all(name) != linked.get(name, []):
            if name in linked:
                st.query_params[name] = linked[name]
            else:
                del st.query_params[name]
    return filters


def set_filters(**changes: Any) -> None:
    for name, value in changes.items():
        st.session_state[FILTER_WIDGETS[name]] = widget_value(name, value)


def clear_filters() -> None:
    set_filters(**rv.QueueFilters().as_dict())


def refresh_queue() -> None:
    st.session_state.pop(rv.QUEUE_KEY, None)


def go(conversation_id: str | None) -> None:
    if conversation_id:
        st.session_state[rv.CURRENT_KEY] = conversation_id


def set_name() -> None:
    name = str(st.session_state.get("rv_name_input", "")).strip()
    if name:
        st.session_state[REVIEWER_KEY] = name
    else:
        flash("error", "Type your name, then press Start reviewing.", "name")


def _queue_ids() -> list[str]:
    return list((st.session_state.get(rv.QUEUE_KEY) or {}).get("ids", []))


def decide(conversation_id: str, decision: Decision, seen: int | None = None) -> None:
    """seen: how many decisions the page showed when the button was drawn (another reviewer's decision
    since then makes this one stale)."""
    st.session_state.pop(STALE_KEY, None)
    try:
        result = rv.decide(
            resources.store(),
            conversation_view(conversation_id),
            decision,
            reviewer=reviewer(),
            reason_code=st.session_state.get(f"rv_reason_{conversation_id}"),
            notes=st.session_state.get(f"rv_notes_{conversation_id}", ""),
            seen=seen,
        )
    except Stale as exc:
        st.session_state[STALE_KEY] = conversation_id
        flash("error", str(exc), "decision")
        return
    except (rv.ReviewError, StoreError) as exc:
        flash("error", str(exc), "decision")
        return
    advance = st.session_state.get(ADVANCE_WIDGET, st.session_state.get(rv.ADVANCE_KEY, True))
    following, note = rv.after_decision(_queue_ids(), conversation_id, advance=advance)
    go(following)
    flash("success", result.message + note, "top" if following else "decision")


def reload_stale() -> None:
    """The page reads the conversation on every run, so the run this click starts shows it as it is now.
    The queue keeps its order, so the conversation stays open even when the other decision took it out
    of the filters."""
    st.session_state.pop(STALE_KEY, None)


def toggle_seed(conversation_id: str) -> None:
    key = f"rv_seed_{conversation_id}"
    value = bool(st.session_state.get(key))
    try:
        result = rv.set_seed_example(resources.store(), conversation_view(conversation_id), value, by=reviewer())
    except (rv.ReviewError, StoreError) as exc:
        st.session_state[key] = not value
        flash("error", str(exc), "decision")
        return
    flash("success", result.message, "decision")


def regenerate(conversation_id: str) -> None:
    try:
        settings = resources.settings()
        result = rv.queue_regeneration(
            resources.store(),
            conversation_view(conversation_id),
            notes=st.session_state.get(f"rv_notes_{conversation_id}", ""),
            reviewer=reviewer(),
            model=settings.model,
            has_api_key=settings.has_api_key,
        )
    except (rv.ReviewError, StoreError, ConfigError) as exc:
        flash("error", str(exc), "decision")
        return
    flash("info", result.message, "decision")


def label_key(conversation_id: str, idx: int) -> str:
    """The prefix of the session keys of one turn's "Correct labels" widgets."""
    return f"rv_{conversation_id}_{idx}"


def label_popover_key(conversation_id: str, idx: int) -> str:
    """The key of one turn's "Correct labels" popover: its open state, where the Streamlit has lazy popovers."""
    return f"rv_pop_{conversation_id}_{idx}"


def correct(conversation_id: str, idx: int, role: str) -> None:
    k = label_key(conversation_id, idx)
    try:
        view = conversation_view(conversation_id)
        if role == "user":
            primary = st.session_state[f"{k}_emotion"]
            result = rv.correct_user_turn(
                resources.store(),
                view,
                idx,
                primary=primary,
                sub_emotion=st.session_state.get(f"{k}_sub_{primary}"),
                intensity=st.session_state[f"{k}_intensity"],
                author=reviewer(),
                reason=st.session_state.get(f"{k}_why", ""),
                tax=resources.taxonomy(),
            )
        else:
            result = rv.correct_assistant_turn(
                resources.store(),
                view,
                idx,
                primary=st.session_state[f"{k}_strategy"],
                supporting=st.session_state.get(f"{k}_supporting", []),
                author=reviewer(),
                reason=st.session_state.get(f"{k}_why", ""),
                tax=resources.taxonomy(),
            )
    except (rv.ReviewError, StoreError) as exc:
        flash("error", str(exc), f"turn-{idx}")
        return
    for key in [x for x in st.session_state if str(x).startswith(k + "_")]:  # show the labels now in force
        del st.session_state[key]
    if LAZY:  # saved: the popover closes over the confirmation below the turn
        st.session_state[label_popover_key(conversation_id, idx)] = False
    flash("success", result.message, f"turn-{idx}")
