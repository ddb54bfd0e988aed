"""The Review queue's forms and panels: the "More filters" popover, who is reviewing, a turn's
"Correct labels" form, the decision panel, and the Decisions and Versions tabs. Their buttons call
lib/ui/review_actions; what they show comes from lib/review."""

from __future__ import annotations

from typing import Any

import streamlit as st

import lib.review as rv
from lib.core import limits
from lib.core.rubric import Rubric
from lib.core.taxonomy import Taxonomy
from lib.core.vocabulary import REASONS
from lib.store import Store
from lib.ui import quality
from lib.ui.compat import shortcut
from lib.ui.display import STATUS_BADGES, name_or_id, names
from lib.ui.display import escape_markdown as esc
from lib.ui.review_actions import (
    ADVANCE_WIDGET,
    FILTER_WIDGETS,
    STALE_KEY,
    clear_filters,
    correct,
    decide,
    go,
    regenerate,
    reload_stale,
    set_name,
    show_flash,
    toggle_seed,
)

TIME = "%Y-%m-%d %H:%M"


def name_form() -> None:
    """Asks who is reviewing: decisions and corrections are recorded with that name."""
    with st.container(border=True):
        st.markdown("#### :material/badge: Who is reviewing?")
        st.markdown(
            "Decisions and label corrections are recorded with your name. Enter it once: this browser "
            "remembers it (change it in the sidebar)."
        )
        with st.form("rv_name_form", border=False, enter_to_submit=True):
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            c1.text_input(
                "Your name", key="rv_name_input", max_chars=limits.NAME.max_chars, placeholder="e.g. Dana Reyes, CFP"
            )
            c2.form_submit_button("Start reviewing", type="primary", on_click=set_name, width="stretch")
        show_flash("name")


def more_filters(container: Any, store: Store, tax: Taxonomy, rubric: Rubric) -> None:
    """The filters behind "More filters"."""
    with container:
        st.multiselect(
            "Source",
            list(rv.SOURCE_LABELS),
            format_func=rv.SOURCE_LABELS.__getitem__,
            key=FILTER_WIDGETS["source"],
            placeholder="Seeds and generated",
        )
        for name, label in [
            ("tier", "Tier"),
            ("persona", "Persona"),
            ("emotional_arc", "Emotional arc"),
            ("topic", "Topic"),
        ]:
            options = names(tax, rv.GROUP_DIMENSIONS[name])
            st.multiselect(
                label, list(options), format_func=name_or_id(options), key=FILTER_WIDGETS[name], placeholder="Any"
            )
        reviewer_options = sorted(set(store.reviewer_names()) | set(st.session_state[FILTER_WIDGETS["reviewer"]]))
        st.multiselect(
            "Reviewed by",
            reviewer_options,
            key=FILTER_WIDGETS["reviewer"],
            placeholder="Anyone",
            help="Conversations with a decision by any of these people.",
        )
        st.slider("Quality score", 1, 10, key=FILTER_WIDGETS["quality"], help="The integrity checks' score.")
        criteria = {"": "Any criterion", **{c.id: c.name for c in rubric.criteria}}
        st.selectbox(
            "Criterion",
            list(criteria),
            format_func=criteria.__getitem__,
            key=FILTER_WIDGETS["criterion"],
            help="Conversations whose rating of this criterion is below its pass mark, or below the score chosen next.",
        )
        st.selectbox(
            "Rated below",
            [0, 2, 3, 4, 5],
            format_func=lambda n: f"Below {n}" if n else "No limit",
            key=FILTER_WIDGETS["below"],
            help="A rating in force (of the criterion, or of any) below this.",
        )
        st.button("Clear all filters", icon=":material/filter_alt_off:", on_click=clear_filters)


def label_form(
    pop: Any, t: rv.TurnView, k: str, cid: str, emotions: dict[str, Any], strategy_names: dict[str, str]
) -> None:
    """The "Correct labels" widgets of one turn."""
    ask, sub = False, None  # a user turn's new family needs a sub-emotion chosen before saving
    with pop:
        if t.role == "user":
            ids = list(emotions)
            primary = st.selectbox(
                "Emotion",
                ids,
                index=ids.index(t.emotion) if t.emotion in ids else 0,
                format_func=lambda x: emotions[x].name,
                key=f"{k}_emotion",
            )
            family = emotions[primary]
            subs = ["", *family.sub_emotions]
            # a new family whose kinds do not include the one in force: the reviewer picks, nothing is cleared
            ask = bool(t.sub_emotion) and t.sub_emotion not in subs and bool(family.sub_emotions)
            sub = st.selectbox(
                "Sub-emotion",
                subs,
                index=None if ask else subs.index(t.sub_emotion) if t.sub_emotion in subs else 0,
                format_func=lambda x: x.replace("_", " ") if x else "(none)",
                placeholder=f"Choose a kind of {family.name.lower()}",
                key=f"{k}_sub_{primary}",
            )
            if ask and sub is None:
                st.caption(
                    f"{esc(str(t.sub_emotion).replace('_', ' '))} is not a kind of {esc(family.name.lower())}: "
                    "choose its sub-emotion (or none) to save."
                )
            elif t.sub_emotion and t.sub_emotion not in subs:
                st.caption(f"{esc(family.name)} has no sub-emotions: {esc(t.sub_emotion.replace('_', ' '))} goes.")
            st.slider("Intensity", 0.0, 1.0, float(t.intensity or 0.0), 0.05, key=f"{k}_intensity")
        else:
            ids = list(strategy_names)
            st.selectbox(
                "Strategy",
                ids,
                index=ids.index(t.strategy) if t.strategy in ids else 0,
                format_func=lambda x: strategy_names[x],
                key=f"{k}_strategy",
            )
            st.multiselect(
                "Supporting strategies",
                ids,
                default=[x for x in t.supporting if x in ids],
                format_func=lambda x: strategy_names[x],
                key=f"{k}_supporting",
            )
        st.text_input(
            "Why (optional)",
            key=f"{k}_why",
            max_chars=limits.REASON.max_chars,
            placeholder="e.g. the text reads as fear",
        )
        st.button(
            "Save correction",
            type="primary",
            icon=":material/save:",
            key=f"{k}_save",
            disabled=ask and sub is None,
            on_click=correct,
            args=(cid, t.idx, t.role),
        )


def decision_panel(view: rv.ConversationView, who: str) -> None:
    """Notes, a reason, the decision buttons, and the seed-example and regeneration controls."""
    cid = view.id
    seen = view.seen_decisions
    with st.container(border=True):
        st.markdown("#### Decision")
        st.caption(esc(view.decision_summary))
        st.text_area(
            "Notes",
            key=f"rv_notes_{cid}",
            height=90,
            max_chars=limits.NOTE.max_chars,
            placeholder="What is right or wrong with it. Sent to the model as feedback if you regenerate.",
        )
        st.selectbox(
            "Reason (needed to reject)",
            list(REASONS),
            index=None,
            key=f"rv_reason_{cid}",
            format_func=rv.REASON_LABELS.__getitem__,
            placeholder="Choose a reason",
        )
        st.button(
            "Approve",
            type="primary",
            icon=":material/check_circle:",
            width="stretch",
            on_click=decide,
            args=(cid, "approved", seen),
            disabled=not who or bool(view.approval_block),
            key="rv_approve",
            help=("Cannot be approved. " + view.approval_block) if view.approval_block else "Approve (A)",
            **shortcut("A"),
        )
        b = st.columns(2)
        b[0].button(
            "Needs edit",
            icon=":material/edit_note:",
            width="stretch",
            on_click=decide,
            args=(cid, "needs_edit", seen),
            disabled=not who,
            key="rv_needs_edit",
            help="Needs edit (E)",
            **shortcut("E"),
        )
        b[1].button(
            "Reject",
            icon=":material/block:",
            width="stretch",
            on_click=decide,
            args=(cid, "rejected", seen),
            disabled=not who,
            key="rv_reject",
            help="Reject (X): choose a reason and write notes first",
            **shortcut("X"),
        )
        quality.approval_note(view)
        show_flash("decision")
        if st.session_state.get(STALE_KEY) == cid:
            st.button(
                "Reload: show the latest decision",
                icon=":material/refresh:",
                key="rv_reload",
                on_click=reload_stale,
                help="Read the conversation again as it is now, then decide on that.",
            )
        st.toggle("Open the next conversation after a decision", key=ADVANCE_WIDGET)
        st.session_state[rv.ADVANCE_KEY] = st.session_state[ADVANCE_WIDGET]  # kept when the widget is not drawn
        st.session_state[f"rv_seed_{cid}"] = view.is_seed_example  # the database decides, not the last click
        st.toggle(
            "Seed example",
            key=f"rv_seed_{cid}",
            on_change=toggle_seed,
            args=(cid,),
            disabled=not who or (view.status != "approved" and not view.is_seed_example),
            help="Generation prompts show the seed examples to the model. Only an approved conversation can be one.",
        )
        st.button(
            "Regenerate with these notes",
            icon=":material/autorenew:",
            on_click=regenerate,
            args=(cid,),
            disabled=not who or not view.is_current,
            key="rv_regenerate",
            help="Queue a new version of this scenario with the notes as feedback. The new version "
            "replaces this one as current and links back to it.",
        )


def decisions_list(view: rv.ConversationView) -> None:
    """Every decision on the conversation, latest first as lib/review orders them."""
    for d in view.decisions:
        label, colour = STATUS_BADGES.get(d["decision"], (d["decision"], "gray"))
        reason = rv.REASON_LABELS.get(d.get("reason_code") or "", "")
        head = f":{colour}-badge[{rv.DECISION_LABELS.get(d['decision'], label)}]"
        head += f" :red-badge[{esc(reason)}]" if reason else ""
        who_when = esc(f"{d['reviewer']} · {d['created_at'].strftime(TIME)} UTC")
        st.markdown(f"{head} {who_when}" + (f"  \n:small[{esc(d['notes'])}]" if d.get("notes") else ""))
    if not view.decisions:
        st.caption(
            "No decision yet. Each decision is kept, so several reviewers can review one "
            "conversation; the latest one is its status."
        )


def versions_list(view: rv.ConversationView) -> None:
    """The scenario's versions, each one a click away."""
    for v in view.versions:
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.markdown(
            f"**Version {v['version']}** :gray[{esc(v['id'])}]  \n"
            f":small[{rv.STATUS_LABELS.get(v['review_status'], v['review_status'])} · "
            f"{v['created_at'].strftime(TIME)}" + (" · current" if v["is_current"] else "") + "]"
        )
        if v["id"] == view.id:
            c2.caption("On screen")
        else:
            c2.button("Open", key=f"rv_open_{v['id']}", on_click=go, args=(v["id"],))
