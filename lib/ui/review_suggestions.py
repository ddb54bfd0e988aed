"""The Review page's suggested corrections: under each turn, what the judge and the integrity checks would
change on it, to accept or dismiss; beside the conversation, every suggestion on it with Accept all and
Dismiss all. Accepting records an 'automated' revision for the reviewer. The logic is lib/review/suggestions.py;
this draws it and wires the buttons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import lib.review as rv
from lib.core.taxonomy import Taxonomy
from lib.review import suggestions as sg
from lib.review.text import when
from lib.store import Store, StoreError
from lib.ui import resources
from lib.ui.display import error_text
from lib.ui.display import escape_markdown as esc
from lib.ui.flash import flash, show_flash
from lib.ui.session import reviewer

PANEL = "suggestions"  # where the panel's messages show


def prepare(store: Store, view: rv.ConversationView, tax: Taxonomy) -> list[sg.SuggestionView]:
    """Propose what the checks found on the labels in force, then read every suggestion on the conversation
    (none, with the error shown, when they cannot be read)."""
    try:
        sg.propose_from_checks(store, view.id, view.quality)
        return sg.load(store, view.id, tax)
    except StoreError as exc:
        st.error(f"The suggested corrections could not be read: {error_text(exc)}")
        return []


def _badge(s: sg.SuggestionView) -> str:
    who = ":material/gavel: Judge suggests" if s.origin == "judge" else ":material/rule: Check suggests"
    return f":violet-badge[{who}]" if s.acceptable else f":orange-badge[{who} · stale]"


def turn_notes(view: rv.ConversationView, idx: int, found: Sequence[sg.SuggestionView], who: str) -> None:
    """The open suggestions on one turn, each with Accept and Dismiss; a stale one says what changed."""
    for s in found:
        if s.turn != idx or s.status != "open":
            continue
        st.markdown(f"{_badge(s)} {esc(s.summary)}" + (f"  \n:small[{esc(s.reason)}]" if s.reason else ""))
        if s.stale:
            st.caption(f":material/history: The label was revised since: it is {esc(s.now)} now.")
        row = st.container(horizontal=True)
        _button(
            row,
            "Accept",
            ":material/done:",
            f"rv_sg_accept_{view.id}_{s.id}",
            (view.id, [s.id], "accepted", f"turn-{idx}"),
            who,
            stale=s.stale,
        )
        _button(
            row,
            "Dismiss",
            ":material/close:",
            f"rv_sg_dismiss_{view.id}_{s.id}",
            (view.id, [s.id], "dismissed", f"turn-{idx}"),
            who,
        )


def _button(
    where: DeltaGenerator,
    label: str,
    icon: str,
    key: str,
    args: tuple[Any, ...],
    who: str,
    *,
    stale: bool = False,
    **extra: Any,
) -> None:
    """A decision button; off without a name, and Accept off for a stale suggestion (the help says why)."""
    accepting = args[2] == "accepted"
    where.button(
        label,
        icon=icon,
        key=key,
        on_click=_decide,
        args=args,
        disabled=not who or stale,
        help="Enter your name first"
        if not who
        else "Made for a value no longer in force: dismiss it, or correct the label by hand"
        if stale
        else "Record it as a correction from an automated source, in your name"
        if accepting
        else "Leave the label as it is; the suggestion is kept as dismissed",
        **extra,
    )


def panel(view: rv.ConversationView, found: Sequence[sg.SuggestionView], who: str) -> None:
    """Every suggestion on the conversation: the open ones to accept or dismiss at once, the decided ones below."""
    pending = sg.open_ones(found)
    if not found:
        return
    with st.container(border=True):
        st.markdown(f"**:material/auto_fix_high: Suggested corrections** :small[:gray[{len(pending)} open]]")
        show_flash(rv.FLASH_KEY, PANEL)
        together = sg.acceptable_together(pending)
        if pending:
            for s in pending:
                st.markdown(f"{_badge(s)} :small[Turn {s.turn}: {esc(s.summary)}]")
            c = st.columns(2)
            _button(
                c[0],
                f"Accept all ({len(together)})",
                ":material/done_all:",
                f"rv_sg_accept_all_{view.id}",
                (view.id, [s.id for s in together], "accepted", PANEL),
                who,
                stale=not together,
                width="stretch",
            )
            _button(
                c[1],
                f"Dismiss all ({len(pending)})",
                ":material/clear_all:",
                f"rv_sg_dismiss_all_{view.id}",
                (view.id, [s.id for s in pending], "dismissed", PANEL),
                who,
                width="stretch",
            )
        decided = [s for s in found if s.status != "open"]
        if decided:
            with st.expander(f"Decided ({len(decided)})"):
                for s in decided:
                    st.markdown(
                        f":small[Turn {s.turn}: {esc(s.summary)} · **{esc(s.status_label)}** by "
                        f"{esc(s.decided_by or '')} · {esc(when(s.decided_at))}]"
                    )


def _decide(conversation_id: str, ids: list[int], decision: str, where: str) -> None:
    _run(
        where,
        lambda chosen: (sg.accept if decision == "accepted" else sg.dismiss)(
            resources.store(), chosen, reviewer=reviewer()
        ),
        conversation_id,
        ids,
    )


def _run(
    where: str, action: Callable[[list[sg.SuggestionView]], rv.ActionResult], conversation_id: str, ids: list[int]
) -> None:
    try:
        now = sg.load(resources.store(), conversation_id, resources.taxonomy())
        result = action([s for s in now if s.id in ids])
    except (rv.ReviewError, StoreError) as exc:
        flash(rv.FLASH_KEY, "error", str(exc), where)
        return
    flash(rv.FLASH_KEY, "success", result.message, where)
