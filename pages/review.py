"""Review: go through the queue (flagged conversations first), read each conversation turn by turn with
what the checks and the judge found on it, rate, decide, correct labels; calibrate the judge."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

import lib.review as rv
from lib.config import ConfigError
from lib.core.vocabulary import REASONS
from lib.store import StoreError
from lib.ui import flash as notes
from lib.ui import nav, quality, resources
from lib.ui.calibration import calibration_view
from lib.ui.compat import CENTER, LAZY, lazy, shortcut
from lib.ui.display import STATUS_BADGES, emotion_colours, escape_markdown, names
from lib.ui.session import REVIEWER_KEY, reviewer

nav.open_in_app("review")
store = resources.store()
tax = resources.taxonomy()
rubric = quality.rubric()
esc = escape_markdown
flash = partial(notes.flash, rv.FLASH_KEY)
show_flash = partial(notes.show_flash, rv.FLASH_KEY)

# -- state ---------------------------------------------------------------------------------------
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


def widget_value(name: str, value: Any) -> Any:
    """A QueueFilters field as its widget holds it: the quality slider a (low, high) tuple, the rating
    choices as they are, the rest lists."""
    if name in ("rating", "below", "criterion"):
        return value
    return tuple(value) if name == "quality" else list(value)


st.session_state.setdefault(ADVANCE_WIDGET, st.session_state.get(rv.ADVANCE_KEY, True))
saved = rv.QueueFilters.from_dict(st.session_state.get(rv.FILTERS_KEY))
for name, key in FILTER_WIDGETS.items():  # widgets lose their state on a page change; the session keeps it
    if key not in st.session_state:
        st.session_state[key] = widget_value(name, getattr(saved, name))
if rv.CURRENT_KEY not in st.session_state and st.query_params.get(rv.QUERY_PARAM):
    # a shared link: show that conversation even when the queue does not hold it
    st.session_state[rv.CURRENT_KEY] = st.query_params[rv.QUERY_PARAM]
    st.session_state["rv_pinned"] = True


def set_filters(**changes: Any) -> None:
    for name, value in changes.items():
        st.session_state[FILTER_WIDGETS[name]] = widget_value(name, value)


def clear_filters() -> None:
    set_filters(**{k: v for k, v in rv.QueueFilters().as_dict().items()})


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


def _view(conversation_id: str) -> rv.ConversationView:
    view = rv.load_view(resources.store(), conversation_id, resources.taxonomy(), quality.rubric())
    if view is None:
        raise rv.ReviewError(f"Conversation {conversation_id} no longer exists; refresh the queue.")
    return view


def decide(conversation_id: str, decision: str) -> None:
    try:
        view = _view(conversation_id)
        result = rv.decide(
            resources.store(),
            view,
            decision,  # type: ignore[arg-type]
            reviewer=reviewer(),
            reason_code=st.session_state.get(f"rv_reason_{conversation_id}"),
            notes=st.session_state.get(f"rv_notes_{conversation_id}", ""),
        )
    except (rv.ReviewError, StoreError) as exc:
        flash("error", str(exc), "decision")
        return
    advance = st.session_state.get(ADVANCE_WIDGET, st.session_state.get(rv.ADVANCE_KEY, True))
    following, note = rv.after_decision(_queue_ids(), conversation_id, advance=advance)
    go(following)
    flash("success", result.message + note, "top" if following else "decision")


def toggle_seed(conversation_id: str) -> None:
    key = f"rv_seed_{conversation_id}"
    value = bool(st.session_state.get(key))
    try:
        result = rv.set_seed_example(resources.store(), _view(conversation_id), value, by=reviewer())
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
            _view(conversation_id),
            notes=st.session_state.get(f"rv_notes_{conversation_id}", ""),
            reviewer=reviewer(),
            model=settings.model,
            has_api_key=settings.has_api_key,
        )
    except (rv.ReviewError, StoreError, ConfigError) as exc:
        flash("error", str(exc), "decision")
        return
    flash("info", result.message, "decision")


def correct(conversation_id: str, idx: int, role: str) -> None:
    k = f"rv_{conversation_id}_{idx}"
    try:
        view = _view(conversation_id)
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
    for suffix in ("_emotion", "_intensity", "_strategy", "_supporting", "_why"):  # show the labels now in force
        st.session_state.pop(k + suffix, None)
    flash("success", result.message, f"turn-{idx}")


def label_form(
    pop: Any, t: rv.TurnView, k: str, cid: str, emotions: dict[str, Any], strategy_names: dict[str, str]
) -> None:
    """The "Correct labels" widgets of one turn."""
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
            subs = ["", *emotions[primary].sub_emotions]
            st.selectbox(
                "Sub-emotion",
                subs,
                index=subs.index(t.sub_emotion) if t.sub_emotion in subs else 0,
                format_func=lambda x: x.replace("_", " ") if x else "(none)",
                key=f"{k}_sub_{primary}",
            )
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
        st.text_input("Why (optional)", key=f"{k}_why", placeholder="e.g. the text reads as fear")
        st.button(
            "Save correction",
            type="primary",
            icon=":material/save:",
            key=f"{k}_save",
            on_click=correct,
            args=(cid, t.idx, t.role),
        )


def more_filters(container: Any) -> None:
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
                label,
                list(options),
                format_func=lambda x, o=options: o.get(x, x),
                key=FILTER_WIDGETS[name],
                placeholder="Any",
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


# -- the queue -----------------------------------------------------------------------------------
def queue_view() -> None:
    bar = st.columns([2.4, 1.5, 1.1, 1.1], vertical_alignment="bottom")
    bar[0].multiselect(
        "Status",
        list(rv.STATUS_LABELS),
        format_func=rv.STATUS_LABELS.__getitem__,
        key=FILTER_WIDGETS["status"],
        placeholder="Any status",
        help="The conversation's latest decision. 'Not reviewed': generated, no decision yet.",
    )
    ratings = {"": "Any rating", **rv.RATING_FILTER_LABELS}
    bar[1].selectbox(
        "Rating",
        list(ratings),
        format_func=ratings.__getitem__,
        key=FILTER_WIDGETS["rating"],
        help="What the ratings in force say (the judge's, or a reviewer's where one rated). Flagged "
        "conversations come first in the queue either way.",
    )
    more = bar[2].popover("More filters", icon=":material/filter_list:", width="stretch", **lazy("rv_pop_filters"))
    if not LAZY or more.open:
        more_filters(more)
    bar[3].button(
        "Refresh queue",
        icon=":material/refresh:",
        on_click=refresh_queue,
        width="stretch",
        help="Take the queue again: new conversations come in, decided ones drop out of 'Not reviewed'.",
    )

    filters = rv.QueueFilters.from_dict({name: st.session_state[key] for name, key in FILTER_WIDGETS.items()})
    st.session_state[rv.FILTERS_KEY] = filters.as_dict()
    active = rv.filter_summary(filters, tax)

    snapshot = st.session_state.get(rv.QUEUE_KEY)
    retaken = rv.is_stale(snapshot, filters)
    if retaken:
        try:
            snapshot = rv.take_snapshot(store, filters, rubric)
        except StoreError as exc:
            st.error(f"The review queue could not be read: {exc}")
            return
        st.session_state[rv.QUEUE_KEY] = snapshot
    queue: list[str] = snapshot["ids"]
    current = rv.current_in(
        queue, st.session_state.get(rv.CURRENT_KEY), retaken=retaken, pinned=st.session_state.pop("rv_pinned", False)
    )
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
                    on_click=set_filters,
                    kwargs={"status": [], "source": ["seed"]},
                )
                c2.button(
                    "Show every conversation", icon=":material/list:", on_click=set_filters, kwargs={"status": []}
                )
            else:
                st.markdown("#### :material/filter_alt_off: No conversation matches these filters")
                st.markdown("Filters: " + esc(", ".join([rv.status_summary(filters), *active])))
                st.button(
                    "Clear all filters", icon=":material/filter_alt_off:", on_click=clear_filters, key="rv_clear_empty"
                )
        return

    pos = rv.position(queue, current)
    nav = st.columns([1, 2.2, 1], vertical_alignment="center")
    nav[0].button(
        "Previous",
        icon=":material/arrow_back:",
        on_click=go,
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
        on_click=go,
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
        st.error(f"The conversation could not be read: {exc}")
        return
    if view is None:
        st.warning(f"Conversation {esc(str(current))} no longer exists. Refresh the queue.")
        st.session_state.pop(rv.CURRENT_KEY, None)
        return
    cid = view.id
    s = view.conversation.scenario

    # -- header --
    label, colour = STATUS_BADGES.get(view.status, (view.status, "gray"))
    label = rv.STATUS_LABELS.get(view.status, label)
    badges = [
        f":{colour}-badge[{label}]",
        f":gray-badge[{rv.SOURCE_LABELS.get(view.conversation.provenance.source, 'Conversation')}]",
        f":gray-badge[Version {view.row.get('version', 1)}]",
    ]
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
    if not view.is_current and view.row.get("next_version_id"):
        st.info("This version was replaced by a regeneration.", icon=":material/history:")
        st.button("Open the current version", on_click=go, args=(view.row["next_version_id"],), key="rv_open_next")

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
                show_flash(f"turn-{t.idx}")
                k = f"rv_{cid}_{t.idx}"
                pop = st.popover(
                    "Correct labels",
                    icon=":material/edit:",
                    disabled=not who,
                    help=None if who else "Enter your name first",
                    **lazy(f"rv_pop_{cid}_{t.idx}"),
                )
                if not LAZY or pop.open:  # its widgets only when it is open (Streamlit with lazy popovers)
                    label_form(pop, t, k, cid, emotions, strategy_names)

    # -- decision, quality, details --
    with right:
        with st.container(border=True):
            st.markdown("#### Decision")
            st.caption(esc(view.decision_summary))
            st.text_area(
                "Notes",
                key=f"rv_notes_{cid}",
                height=90,
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
                args=(cid, "approved"),
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
                args=(cid, "needs_edit"),
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
                args=(cid, "rejected"),
                disabled=not who,
                key="rv_reject",
                help="Reject (X): choose a reason and write notes first",
                **shortcut("X"),
            )
            quality.approval_note(view)
            show_flash("decision")
            st.toggle("Open the next conversation after a decision", key=ADVANCE_WIDGET)
            st.session_state[rv.ADVANCE_KEY] = st.session_state[ADVANCE_WIDGET]  # kept when the widget is not drawn
            st.session_state[f"rv_seed_{cid}"] = view.is_seed_example  # the database decides, not the last click
            st.toggle(
                "Seed example",
                key=f"rv_seed_{cid}",
                on_change=toggle_seed,
                args=(cid,),
                disabled=not who or (view.status != "approved" and not view.is_seed_example),
                help="Generation prompts show the seed examples to the model. Only an approved "
                "conversation can be one.",
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
            for d in view.decisions:
                label, colour = STATUS_BADGES.get(d["decision"], (d["decision"], "gray"))
                reason = rv.REASON_LABELS.get(d.get("reason_code") or "", "")
                head = f":{colour}-badge[{rv.DECISION_LABELS.get(d['decision'], label)}]"
                head += f" :red-badge[{esc(reason)}]" if reason else ""
                who_when = esc(f"{d['reviewer']} · {d['created_at'].strftime('%Y-%m-%d %H:%M UTC')}")
                st.markdown(f"{head} {who_when}" + (f"  \n:small[{esc(d['notes'])}]" if d.get("notes") else ""))
            if not view.decisions:
                st.caption(
                    "No decision yet. Each decision is kept, so several reviewers can review one "
                    "conversation; the latest one is its status."
                )
        with v_tab:
            for v in view.versions:
                c1, c2 = st.columns([3, 1], vertical_alignment="center")
                c1.markdown(
                    f"**Version {v['version']}** :gray[{esc(v['id'])}]  \n"
                    f":small[{rv.STATUS_LABELS.get(v['review_status'], v['review_status'])} · "
                    f"{v['created_at'].strftime('%Y-%m-%d %H:%M')}" + (" · current" if v["is_current"] else "") + "]"
                )
                if v["id"] == cid:
                    c2.caption("On screen")
                else:
                    c2.button("Open", key=f"rv_open_{v['id']}", on_click=go, args=(v["id"],))


# -- label analytics -----------------------------------------------------------------------------
def analytics_view() -> None:
    st.markdown("#### Label analytics")
    st.caption(
        "Every correction a reviewer makes is kept next to the first-pass label it replaces. Counted "
        "here, they show where labelling drifts (which emotions are mistaken for which, by topic and "
        "by persona), so prompts and the taxonomy can be tuned: the dataset's self-healing labels."
    )
    groups = {"overall": "Overall", **rv.GROUP_LABELS}
    by = (
        st.segmented_control(
            "Group by", list(groups), format_func=groups.__getitem__, default="overall", key="rv_an_by"
        )
        or "overall"
    )
    try:
        stats = rv.label_analytics(store, tax, None if by == "overall" else by)
    except (StoreError, rv.ReviewError) as exc:
        st.error(f"The label analytics could not be read: {exc}")
        stats = None
    if stats is not None and stats.empty:
        st.info(
            "No label corrections yet. Correct a turn's emotion or strategies in the queue "
            "(Correct labels, under each turn) and it is counted here.",
            icon=":material/insights:",
        )
    elif stats is not None:
        totals = rv.totals(stats)
        m = st.columns(3)
        m[0].metric("Corrections", f"{totals.corrections:,}")
        m[1].metric("Distinct corrections", f"{totals.distinct:,}")
        m[2].metric("Most corrected label", totals.most_corrected)
        st.plotly_chart(
            rv.corrections_chart(stats, None if by == "overall" else by),
            width="stretch",
            config={"displayModeBar": False},
            key=f"rv_an_chart_{by}",
        )
        st.dataframe(stats, hide_index=True, width="stretch", height=min(38 + 35 * len(stats), 560))


# -- page ----------------------------------------------------------------------------------------
st.title("Review")
st.caption(
    "Read each conversation turn by turn, decide, and correct its labels. Every decision and correction "
    "is recorded with your name and the time; nothing is overwritten."
)
show_flash("top")

who = reviewer()
if not who:
    with st.container(border=True):
        st.markdown("#### :material/badge: Who is reviewing?")
        st.markdown(
            "Decisions and label corrections are recorded with your name. Enter it once for this "
            "session (it is also in the sidebar)."
        )
        with st.form("rv_name_form", border=False, enter_to_submit=True):
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            c1.text_input("Your name", key="rv_name_input", placeholder="e.g. Dana Reyes, CFP")
            c2.form_submit_button("Start reviewing", type="primary", on_click=set_name, width="stretch")
        show_flash("name")


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
        analytics_view()
with calibration_tab:
    if not LAZY or calibration_tab.open:
        calibration_view(store, rubric)
