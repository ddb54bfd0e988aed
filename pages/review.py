"""Review: go through the queue (flagged conversations first), read each conversation turn by turn with
what the checks and the judge found on it, rate, decide, correct labels; calibrate the judge."""

from __future__ import annotations

import streamlit as st

import lib.review as rv
from lib.core import vocabulary as vocab
from lib.store import StoreError
from lib.ui import contrast, nav, near_duplicates, quality, resources, variations
from lib.ui import review_actions as act
from lib.ui import review_suggestions as suggested
from lib.ui import review_widgets as widgets
from lib.ui.calibration import calibration_view
from lib.ui.compat import CENTER, LAZY, lazy, shortcut
from lib.ui.display import DEMO_BADGE, STATUS_BADGES, emotion_colours, error_text, escape_markdown, names
from lib.ui.review_analytics import analytics_view
from lib.ui.session import reviewer

nav.open_in_app("review")
store = resources.store()
tax = resources.taxonomy()
rubric = resources.rubric()
esc = escape_markdown
show_flash = act.show_flash

# -- state ---------------------------------------------------------------------------------------
act.restore_state()


# -- the queue -----------------------------------------------------------------------------------
def queue_view() -> None:
    bar = st.columns([2.4, 1.5, 1.1, 1.1], vertical_alignment="bottom")
    bar[0].multiselect(
        "Status",
        list(rv.STATUS_LABELS),
        format_func=rv.STATUS_LABELS.__getitem__,
        key=act.FILTER_WIDGETS["status"],
        placeholder="Any status",
        help="The conversation's latest decision. 'Not reviewed': generated, no decision yet.",
    )
    ratings = {"": "Any rating", **rv.RATING_FILTER_LABELS}
    bar[1].selectbox(
        "Rating",
        list(ratings),
        format_func=ratings.__getitem__,
        key=act.FILTER_WIDGETS["rating"],
        help="What the ratings in force say (the judge's, or a reviewer's where one rated). Flagged "
        "conversations come first in the queue either way.",
    )
    more = bar[2].popover("More filters", icon=":material/filter_list:", width="stretch", **lazy("rv_pop_filters"))
    if not LAZY or more.open:
        widgets.more_filters(more, store, tax, rubric)
    bar[3].button(
        "Refresh queue",
        icon=":material/refresh:",
        on_click=act.refresh_queue,
        width="stretch",
        help="Take the queue again: new conversations come in, decided ones drop out of 'Not reviewed'.",
    )

    filters = act.current_filters()
    active = rv.filter_summary(filters, tax)

    snapshot = st.session_state.get(rv.QUEUE_KEY)
    retaken = rv.is_stale(snapshot, filters, who)
    pinned = act.pinned(snapshot, who)
    if retaken or snapshot is None:
        try:
            snapshot = rv.take_snapshot(store, filters, rubric, who)
        except StoreError as exc:
            st.error(f"The review queue could not be read: {error_text(exc)}")
            return
        st.session_state[rv.QUEUE_KEY] = snapshot
    queue: list[str] = snapshot["ids"]
    current = rv.current_in(queue, st.session_state.get(rv.CURRENT_KEY), retaken=retaken, pinned=pinned)
    if current is not None:
        st.session_state[rv.CURRENT_KEY] = current
        st.query_params[rv.QUERY_PARAM] = current
    else:
        st.session_state.pop(rv.CURRENT_KEY, None)
        st.query_params.pop(rv.QUERY_PARAM, None)

    if current is None:
        with st.container(border=True):
            if filters.is_default():
                st.markdown("#### :material/done_all: Nothing is waiting for review")
                st.markdown(
                    "Every generated conversation has a decision, or none has been generated yet. "
                    "The seed conversations were imported **approved** by their authors; you can review "
                    "them again, or look at everything."
                )
                c1, c2, _ = st.columns([1.3, 1.5, 3])
                c1.button(
                    "Review the seeds",
                    type="primary",
                    icon=":material/spa:",
                    on_click=act.set_filters,
                    kwargs={"status": [], "source": ["seed"]},
                )
                c2.button(
                    "Show every conversation", icon=":material/list:", on_click=act.set_filters, kwargs={"status": []}
                )
            else:
                st.markdown("#### :material/filter_alt_off: No conversation matches these filters")
                st.markdown("Filters: " + esc(", ".join([rv.status_summary(filters), *active])))
                st.button(
                    "Clear all filters",
                    icon=":material/filter_alt_off:",
                    on_click=act.clear_filters,
                    key="rv_clear_empty",
                )
        return

    pos = rv.position(queue, current)
    nav = st.columns([1, 2.2, 1], vertical_alignment="center")
    nav[0].button(
        "Previous",
        icon=":material/arrow_back:",
        on_click=act.go,
        args=(rv.step(queue, current, -1),),
        disabled=not queue or pos == 1,
        width="stretch",
        key="rv_prev",
        help="Previous conversation (P)",
        **shortcut("P"),
    )
    with nav[1]:
        where = rv.position_text(queue, current)
        st.markdown(f"**{where}**" if pos else where, **CENTER)
        st.caption(esc(rv.snapshot_caption(snapshot, active)), **CENTER)
    nav[2].button(
        "Next",
        icon=":material/arrow_forward:",
        icon_position="right",
        on_click=act.go,
        args=(rv.step(queue, current, 1),),
        disabled=not queue or pos == len(queue),
        width="stretch",
        key="rv_next",
        help="Next conversation (N)",
        **shortcut("N"),
    )

    try:
        view = rv.load_view(store, current, tax, rubric) if current else None
    except StoreError as exc:
        st.error(f"The conversation could not be read: {error_text(exc)}")
        return
    if view is None:
        st.warning(f"Conversation {esc(str(current))} no longer exists. Refresh the queue.")
        st.session_state.pop(rv.CURRENT_KEY, None)
        return
    found = suggested.prepare(store, view, tax)  # proposed on the labels in force, not the blind ones
    view = rv.as_seen_by(view, who, tax)  # a second reviewer decides without seeing the first review
    corrections = rv.suggestions_seen_by(view, found, who, tax)
    cid = view.id
    s = view.conversation.scenario

    # -- header --
    label, colour = STATUS_BADGES.get(view.status, (view.status, "gray"))
    if view.hidden_decisions:  # decided blind: the status would give the first decision away
        label, colour = f":material/visibility_off: {rv.BLIND_BADGE}", "blue"
    badges = [
        f":{colour}-badge[{label}]",
        f":gray-badge[{rv.SOURCE_LABELS.get(view.conversation.provenance.source, 'Conversation')}]",
        f":gray-badge[Version {view.row.get('version', 1)}]",
    ]
    if vocab.is_demo(view.conversation.provenance.model):  # replayed without a key: left out of exports
        badges.append(DEMO_BADGE)
    if view.is_seed_example:
        badges.append(":violet-badge[:material/star: Seed example]")
    if not view.is_current:
        badges.append(":orange-badge[Earlier version]")
    st.markdown(
        f"### Scenario #{view.scenario_id} · {esc(names(tax, 'personas').get(s.persona, s.persona))} · "
        f"{esc(names(tax, 'topics').get(s.topic, s.topic))}"
    )
    st.markdown(" ".join(badges) + f" &nbsp; :gray[{esc(cid)}]")
    st.markdown(quality.rating_summary(view))
    if view.hidden_decisions:
        st.info(rv.BLIND_NOTE, icon=":material/visibility_off:")
    if not view.is_current and view.row.get("next_version_id"):
        st.info("This version was replaced by a regeneration.", icon=":material/history:")
        st.button("Open the current version", on_click=act.go, args=(view.row["next_version_id"],), key="rv_open_next")
    if view.is_current:
        near_duplicates.notice(cid, act.go)

    left, right = st.columns([3, 2], gap="large")

    # -- the conversation --
    with left:
        st.plotly_chart(
            rv.arc_figure(view, emotion_colours(tax)),
            width="stretch",
            config={"displayModeBar": False},
            key=f"rv_arc_{cid}",
        )
        emotions = tax.by_id("emotions")
        strategy_names = names(tax, "strategies")
        for t in view.turns:
            avatar = ":material/person:" if t.role == "user" else ":material/support_agent:"
            with st.chat_message(t.role, avatar=avatar):
                st.markdown(quality.marked_text(t.text, view.findings_for(t.idx)))
                if t.role == "user":
                    st.markdown(
                        f":{rv.badge_colour(t.colour)}-badge[{esc(t.emotion_name)}] "
                        + f":small[{esc(t.emotion_detail)}]"
                        + f" :small[:gray[· turn {t.idx}]]"
                    )
                else:
                    st.markdown(
                        f":blue-badge[{esc(t.strategy_name)}] "
                        + " ".join(f":gray-badge[{esc(n)}]" for n in t.supporting_names)
                        + f" :small[:gray[· turn {t.idx}]]"
                    )
                for r in t.revisions:
                    st.caption(":material/history: " + esc(r.summary))
                quality.turn_notes(view, t.idx, who)
                suggested.turn_notes(view, t.idx, corrections, who)
                show_flash(f"turn-{t.idx}")
                k = act.label_key(cid, t.idx)
                pop = st.popover(
                    "Correct labels",
                    icon=":material/edit:",
                    disabled=not who,
                    help=None if who else "Enter your name first",
                    **lazy(act.label_popover_key(cid, t.idx)),
                )
                if not LAZY or pop.open:  # its widgets only when it is open (Streamlit with lazy popovers)
                    widgets.label_form(pop, t, k, cid, emotions, strategy_names)

    # -- decision, quality, details --
    with right:
        widgets.decision_panel(view, who)
        suggested.panel(view, corrections, who)
        approved = view.status == "approved" and view.is_current
        blocked = "" if approved else "Only an approved conversation's current version is varied; approve it first."
        variations.make_popover(store, tax, resources.settings(), [cid], key="rv_var", blocked=blocked)
        variations.source_panel(store, tax, view.conversation, act.go)

        r_tab, q_tab, d_tab, h_tab, v_tab = st.tabs(
            ["Ratings", "Checks", "Details", f"Decisions ({len(view.decisions)})", f"Versions ({len(view.versions)})"]
        )
        with r_tab:
            quality.ratings_tab(view, who)
        with q_tab:
            quality.checks_tab(view)
        with d_tab:
            for section in rv.DETAIL_SECTIONS:
                frame = rv.details_frame(view, section)
                if len(frame):
                    st.markdown(f"**{section}**")
                    st.dataframe(
                        frame,
                        hide_index=True,
                        width="stretch",
                        column_config={
                            "Field": st.column_config.TextColumn(width="medium"),
                            "Value": st.column_config.TextColumn(width="large"),
                        },
                    )
        with h_tab:
            widgets.decisions_list(view)
        with v_tab:
            widgets.versions_list(view)

    contrast.section(view.conversation, view.status, view.is_current)


# -- page ----------------------------------------------------------------------------------------
st.title("Review")
st.caption(
    "Read each conversation turn by turn, decide, and correct its labels. Every decision and correction "
    "is recorded with your name and the time; nothing is overwritten."
)
show_flash("top")

who = reviewer()
if not who:
    widgets.name_form()


tab_labels = [
    ":material/rate_review: Review queue",
    ":material/insights: Label analytics",
    ":material/balance: Judge calibration",
]
queue_tab, analytics_tab, calibration_tab = st.tabs(tab_labels, **lazy("rv_tab"))
with queue_tab:
    if not LAZY or queue_tab.open:  # with lazy tabs, only the open one runs
        queue_view()
with analytics_tab:
    if not LAZY or analytics_tab.open:
        analytics_view(store, tax)
with calibration_tab:
    if not LAZY or calibration_tab.open:
        calibration_view(store, rubric)
