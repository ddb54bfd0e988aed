"""Scenarios: the table of conversations to generate, its filters, a scenario's detail, and planning."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st
from streamlit.elements.arrow import DataframeStateInput

from lib.core import filters as flt
from lib.core import vocabulary as vocab
from lib.core.planner import compare_coverage, plan
from lib.generation import jobs as runner
from lib.generation.estimate import Estimate, estimate_job
from lib.generation.llm import LLMSettings, api_token_counter
from lib.store import ScenarioPage, StoreError
from lib.ui import nav, resources
from lib.ui.chat import render_chat
from lib.ui.compat import CENTER
from lib.ui.display import badge, error_text, escape_markdown, estimate_figures, name_or_id, names, status_badge
from lib.ui.job_failures import failure_line
from lib.ui.session import FILTERS_KEY, FOCUS_KEY, SELECTED_KEY, reviewer

nav.open_in_app("scenarios")
store = resources.store()
tax = resources.taxonomy()
settings = resources.settings()
gen_off = runner.generation_off_reason(settings)  # None when generation can run
if not gen_off:
    resources.worker()  # this server process's generation worker (one thread, started once)

# -- state: what the table shows lives in the session (it survives page changes) and in the URL,
# which always names what is shown (shareable). A link read now (a first visit, or one that names
# something) replaces the session's state; a page change back here with a bare URL keeps it.
PAGE_KEY, SORT_KEY, COLUMNS_KEY = "scn_page", "scn_sort", "scn_columns"
WRITTEN_KEY, IGNORED_KEY = "scn_url", "scn_ignored"  # the URL this page wrote last; what a link held in vain
asked = st.query_params.to_dict()
if FILTERS_KEY not in st.session_state or (asked and asked != st.session_state.get(WRITTEN_KEY)):
    link = flt.read_link(asked, tax)
    st.session_state[FILTERS_KEY] = link.filters
    st.session_state[PAGE_KEY] = link.page
    st.session_state[SORT_KEY] = (link.sort, link.descending)
    st.session_state[COLUMNS_KEY] = list(link.columns)
    if asked:  # a bare address keeps a scenario another page opened
        st.session_state[FOCUS_KEY] = link.focus
    st.session_state[IGNORED_KEY] = link.ignored
    for dim in flt.DIMENSIONS:  # the widgets show the link's filters
        st.session_state.pop(f"flt_{dim.key}", None)
st.session_state.setdefault(SELECTED_KEY, [])
st.session_state.setdefault(PAGE_KEY, 1)
st.session_state.setdefault(SORT_KEY, ("ID", False))
st.session_state.setdefault(COLUMNS_KEY, list(flt.DEFAULT_COLUMNS))


def current_link() -> flt.Link:
    sort, descending = st.session_state[SORT_KEY]
    return flt.Link(
        filters=st.session_state[FILTERS_KEY],
        page=st.session_state[PAGE_KEY],
        sort=sort,
        descending=descending,
        columns=tuple(st.session_state[COLUMNS_KEY]),
        focus=st.session_state.get(FOCUS_KEY),
    )


def write_url() -> None:
    """Call after anything that changes what is shown, before drawing what depends on it."""
    params = flt.to_link(current_link())
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
    st.session_state[WRITTEN_KEY] = params


def set_filters(new: flt.Filters) -> None:
    st.session_state[FILTERS_KEY] = new
    changed()
    for dim in flt.DIMENSIONS:  # the widgets show the new state on the next run
        st.session_state.pop(f"flt_{dim.key}", None)


def read_widget(key: str) -> None:
    current = dict(st.session_state[FILTERS_KEY])
    current[key] = st.session_state[f"flt_{key}"]
    st.session_state[FILTERS_KEY] = {k: v for k, v in current.items() if v}
    changed()


def changed(page: int = 1) -> None:
    """The reader changed what the table shows: the link's notice has served."""
    st.session_state[PAGE_KEY] = page
    st.session_state.pop(IGNORED_KEY, None)


def turn_page(step: int) -> None:
    changed(max(1, st.session_state[PAGE_KEY] + step))


def read_sort() -> None:
    st.session_state[SORT_KEY] = (st.session_state["scn_sort_by"], st.session_state["scn_sort_desc"])
    changed()


def read_columns() -> None:
    picked = set(st.session_state["scn_columns_pick"])
    st.session_state[COLUMNS_KEY] = [h for h in flt.COLUMNS if h in picked] or list(flt.DEFAULT_COLUMNS)
    changed(st.session_state[PAGE_KEY])


filters: flt.Filters = st.session_state[FILTERS_KEY]
write_url()

st.title("Scenarios")
st.caption(
    "One row per conversation to generate, planned from the taxonomy. Filter, select, and open a row "
    "to see its parameters and conversation."
)

if st.session_state.get(IGNORED_KEY):
    st.caption(
        ":material/link_off: This link held parameters the Scenarios page does not know; they were left out: "
        + escape_markdown(", ".join(st.session_state[IGNORED_KEY]))
    )

total = sum(store.scenario_status_counts().values())  # one grouped count, not every table


# -- planning ------------------------------------------------------------------------------------
@st.fragment
def planning_panel(expanded: bool) -> None:
    with st.expander("Plan scenarios", expanded=expanded, icon=":material/add_circle:"):
        st.caption(
            "The planner balances every persona, arc, topic, intent, tone and outcome, covers as many "
            "persona × arc, arc × topic and persona × topic pairs as it can, and tops up what the "
            "table already has instead of repeating it."
        )
        defaults = {t.id: t.default_count for t in tax.tiers}
        cols = st.columns([1, 1, 1, 1, 1])
        n_total = cols[0].number_input("Scenarios to add", 1, 20_000, sum(defaults.values()), step=10, key="pl_n")
        mix = {}
        for col, t in zip(cols[1:4], tax.tiers, strict=False):
            share = defaults[t.id] / max(sum(defaults.values()), 1)
            mix[t.id] = col.number_input(
                f"{escape_markdown(t.name)} %",
                0,
                100,
                round(share * 100),
                key=f"pl_mix_{t.id}",
                help=escape_markdown(t.description),
            )
        seed = cols[4].number_input(
            "Random seed", 0, 1_000_000, 0, key="pl_seed", help="The same seed and table give the same plan."
        )
        if sum(mix.values()) != 100:
            st.warning(f"The tier mix adds up to {sum(mix.values())}%; make it 100%.")
            return
        counts = vocab.round_mix(int(n_total), mix)
        st.caption(" · ".join(f"{t.name}: {counts[t.id]}" for t in tax.tiers))
        request = (int(n_total), tuple(sorted(counts.items())), int(seed))
        if st.button(
            "Preview coverage", icon=":material/preview:", disabled=st.session_state.get("pl_preview") == request
        ):
            st.session_state["pl_preview"] = request
        if st.session_state.get("pl_preview") != request:
            st.caption("Preview the coverage this plan would reach, then add it.")
            return
        # Planning on top of the whole table (not the filtered view): the planner tops up what it lacks.
        existing = [
            {
                k: r[k]
                for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone", "outcome_type", "context_id")
            }
            for r in store.list_scenarios()
        ]
        try:
            before = plan(tax, 0, seed=int(seed), existing=existing).coverage
            result = plan(tax, int(n_total), counts, seed=int(seed), existing=existing)
        except ValueError as exc:
            st.error(f"Cannot plan these scenarios: {exc}")
            return
        st.markdown("**Coverage with this plan** (before → after)")
        st.dataframe(pd.DataFrame(compare_coverage(before, result.coverage)), hide_index=True, width="stretch")
        if st.button(f"Add {len(result.scenarios)} scenarios", type="primary", icon=":material/add:"):
            try:
                ids = store.add_scenarios(
                    [s.as_dict() for s in result.scenarios], plan_seed=int(seed), plan_batch=f"page-seed-{int(seed)}"
                )
            except StoreError as exc:
                st.error(f"The scenarios were not added: {exc}")
                return
            st.session_state.pop("pl_preview", None)
            st.toast(f"Added {len(ids)} scenarios (#{ids[0]}–#{ids[-1]}).", icon="✅")
            st.rerun(scope="app")


if total == 0:
    st.info(
        "**There are no scenarios yet.** Plan the table below: choose how many conversations you want "
        "and the tier mix, preview the coverage, then add them.",
        icon=":material/lightbulb:",
    )
    planning_panel(expanded=True)
    st.stop()

# -- filters -------------------------------------------------------------------------------------
with st.container(border=True):
    grid = st.columns(5)
    for i, dim in enumerate(flt.DIMENSIONS):
        opts = flt.options(tax, dim)
        key = f"flt_{dim.key}"
        if key not in st.session_state:
            st.session_state[key] = filters.get(dim.key, [])
        grid[i % 5].multiselect(
            dim.label,
            list(opts),
            format_func=name_or_id(opts),
            key=key,
            on_change=read_widget,
            args=(dim.key,),
            placeholder="All",
        )
    chip_cols = st.columns([6, 1])
    with chip_cols[0]:
        chips = flt.chips(filters, tax)
        if chips:
            labels = {f"{key}={value}": text for key, value, text in chips}
            removed = st.pills(
                "Active filters (click to remove)",
                list(labels),
                format_func=lambda k: f"✕ {labels[k]}",
                selection_mode="single",
                default=None,
                key=f"chips_{hash(tuple(labels))}",
            )
            if removed:
                key, value = removed.split("=", 1)
                set_filters(flt.remove(filters, key, value))
                st.rerun()
    if chip_cols[1].button("Clear all", icon=":material/filter_alt_off:", disabled=not filters, width="stretch"):
        set_filters({})
        st.rerun()

# -- generation -------------------------------------------------------------------------------------
FLASH_KEY = "scn_gen_flash"
DETAIL_KEY = "scn_detail_status"  # the scenario and status the detail was last drawn with
CONFIRM_KEY = "scn_gen_all"  # the filters of the rows the "Generate all" dialog asks about, while it is open


def queue(ids: list[int], mode: str = "realtime", estimate: Estimate | None = None) -> None:
    try:
        job_id, n = runner.start_job(
            store,
            ids,
            mode=mode,
            model=settings.model,
            created_by=reviewer(),
            concurrency=settings.concurrency,
            estimate=estimate,
            check=LLMSettings.from_settings(settings),  # an endpoint that cannot work is named before anything starts
        )
    except (runner.RunnerError, StoreError) as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc), time.time())
    else:
        st.session_state[FLASH_KEY] = (
            "success",
            f"Job #{job_id}: {n:,} conversation{'s' if n != 1 else ''} queued "
            f"({'economy batch' if mode == 'batch' else 'realtime'}). "
            "Follow it here or on the [Generate](generate) page.",
            time.time(),
        )
    st.session_state.pop(CONFIRM_KEY, None)
    st.rerun()


def close_dialog() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


@st.dialog("Generate all scenarios not generated yet", width="medium", on_dismiss=close_dialog)
def confirm_generate_all(todo: flt.Filters) -> None:
    chosen = store.list_scenarios(todo)
    mode = st.radio("Mode", list(runner.MODES), format_func=runner.MODES.get, key="gen_all_mode")
    try:
        llm_settings = LLMSettings.from_settings(settings)
        estimate = estimate_job(
            store,
            chosen,
            mode=mode,
            llm_settings=llm_settings,
            concurrency=settings.concurrency,
            tax=tax,
            counter=api_token_counter(llm_settings),
        )
    except (StoreError, ValueError) as exc:
        st.error(f"Cannot estimate this job: {exc}")
        estimate = None
    estimate_figures(len(chosen), estimate)
    if mode == "batch":
        st.caption(
            "Economy mode sends the whole job as one Message Batch: about half the cost, results within "
            "24 hours (usually much sooner). Failed checks are repaired with the normal API."
        )
    left, right = st.columns(2)
    if left.button("Start generating", type="primary", icon=":material/play_arrow:", key="gen_all_go"):
        queue([int(r["id"]) for r in chosen], mode, estimate)
    if right.button("Cancel", key="gen_all_cancel"):
        close_dialog()
        st.rerun()


def generation_actions(page: ScenarioPage, selected: list[int]) -> None:
    """The buttons under the table; "all" and "failed" mean every row the filters keep, on any page."""
    todo, failed = flt.with_status(filters, "not_generated"), flt.with_status(filters, "failed")
    n_todo, n_failed = page.by_status.get("not_generated", 0), page.by_status.get("failed", 0)
    cols = st.columns([1.3, 1.8, 1.1, 2])
    if cols[0].button(
        f"Generate selected ({len(selected)})",
        icon=":material/play_arrow:",
        key="gen_selected",
        disabled=bool(gen_off) or not selected,
        help=gen_off or "Generate the selected rows now.",
    ):
        queue(selected)
    if cols[1].button(
        f"Generate all not generated ({n_todo:,})",
        icon=":material/playlist_play:",
        key="gen_all",
        disabled=bool(gen_off) or not n_todo,
        help=gen_off or "Every row the filters keep that has no conversation yet; you confirm the cost first.",
    ):
        st.session_state[CONFIRM_KEY] = todo
        st.rerun()  # the whole app: the dialog opens outside this fragment
    if cols[2].button(
        f"Retry failed ({n_failed:,})",
        icon=":material/replay:",
        key="gen_retry",
        disabled=bool(gen_off) or not n_failed,
        help=gen_off or "Generate the failed rows the filters keep again.",
    ):
        queue([int(r["id"]) for r in store.list_scenarios(failed)] if failed is not None else [])
    if gen_off:
        st.caption(":material/cloud_off: " + gen_off)


def table_controls(page: ScenarioPage) -> None:
    """How many rows, the sort, the columns shown, and the pager."""
    sort, descending = st.session_state[SORT_KEY]
    pages = flt.page_count(page.total)
    bar = st.columns([2.4, 1.4, 1.2, 1.3, 2.1], vertical_alignment="bottom")
    first = (st.session_state[PAGE_KEY] - 1) * flt.PAGE_SIZE
    bar[0].markdown(
        f"Showing **{first + 1:,}–{first + len(page.rows):,}** of **{page.total:,}**"
        + (f" (of {total:,} scenarios)" if page.total != total else " scenarios")
        if page.rows
        else f"Showing **0** of **{total:,}** scenarios"
    )
    st.session_state["scn_sort_by"], st.session_state["scn_sort_desc"] = sort, descending
    bar[1].selectbox("Sort by", list(flt.COLUMNS), key="scn_sort_by", on_change=read_sort)
    bar[2].selectbox(
        "Order",
        [False, True],
        format_func=lambda d: "Descending" if d else "Ascending",
        key="scn_sort_desc",
        on_change=read_sort,
    )
    with bar[3].popover("Columns", icon=":material/view_column:", width="stretch"):
        st.session_state["scn_columns_pick"] = st.session_state[COLUMNS_KEY]
        st.multiselect(
            "Columns shown",
            list(flt.COLUMNS),
            key="scn_columns_pick",
            on_change=read_columns,
            help="The default set fits a laptop screen; the others are a click away.",
        )
    with bar[4]:
        pager = st.columns([1, 1.6, 1], vertical_alignment="center")
        number = st.session_state[PAGE_KEY]
        pager[0].button(
            "",
            icon=":material/chevron_left:",
            key="scn_prev",
            on_click=turn_page,
            args=(-1,),
            disabled=number <= 1,
            help="Previous page",
            width="stretch",
        )
        pager[1].markdown(f"Page **{number:,}** of **{pages:,}**", **CENTER)
        pager[2].button(
            "",
            icon=":material/chevron_right:",
            key="scn_next",
            on_click=turn_page,
            args=(1,),
            disabled=number >= pages,
            help="Next page",
            width="stretch",
        )


def read_page() -> ScenarioPage:
    """This run's page of rows; a page past the end (rows moved out of a status filter) falls back."""
    sort, descending = st.session_state[SORT_KEY]
    ask = {"filters": filters, "sort": flt.COLUMNS[sort].sort, "descending": descending, "limit": flt.PAGE_SIZE}
    page = store.scenario_page(**ask, offset=(st.session_state[PAGE_KEY] - 1) * flt.PAGE_SIZE)
    last = flt.page_count(page.total)
    if st.session_state[PAGE_KEY] > last:
        st.session_state[PAGE_KEY] = last
        page = store.scenario_page(**ask, offset=(last - 1) * flt.PAGE_SIZE)
    return page


def table_area(live: bool) -> None:
    """The table and its actions. While a job runs this is a fragment that reruns on a timer, so
    the status badges follow the progress without rerunning the page."""
    started = time.perf_counter()
    if live:
        jobs = runner.active_jobs(store)
        if not jobs:
            st.rerun()  # the job ended: draw the page once more, without the timer
        for job in jobs[:3]:
            p = runner.progress(job)
            mode = "economy batch" if p.kind == "batch" else "realtime"
            st.progress(
                p.fraction,
                text=f"Job #{p.job_id} ({mode}): **{p.label}** generated"
                + (f" · {p.in_flight} generating" if p.in_flight else "")
                + (f" · {p.failed} failed" if p.failed else ""),
            )
    try:
        page = read_page()
    except StoreError as exc:
        st.error(f"The scenario table could not be read: {error_text(exc)}")
        return
    drawn = st.session_state.get(DETAIL_KEY)  # (id, status) the detail below was drawn with
    if live and drawn and any(int(r["id"]) == drawn[0] and r["status"] != drawn[1] for r in page.rows):
        st.rerun()  # the detail is outside this fragment: draw it again, so the two agree on the status
    table = flt.table_frame(page.rows, tax)
    st.session_state["scn_load_s"] = time.perf_counter() - started
    selected: list[int] = st.session_state[SELECTED_KEY]
    visible = set(table["ID"].tolist())
    table_controls(page)
    selection_note = st.empty()  # filled in once the table has reported this run's selection

    if table.empty:
        st.info("No scenario matches these filters. Remove a filter chip above, or **Clear all**.")
    else:
        # The grid's selection is by position: a new key when the rows change (a filter, a page, or
        # a job moving rows out of a status filter), and the ids in SELECTED_KEY select the right rows again.
        table_key = f"scn_table_{hash(tuple(table['ID'].tolist()))}"
        positions = [i for i, sid in enumerate(table["ID"].tolist()) if sid in set(selected)]
        default: DataframeStateInput | None = {"selection": {"rows": positions}} if positions else None
        event = st.dataframe(
            table,
            key=table_key,
            on_select="rerun",
            selection_mode="multi-row",
            hide_index=True,
            width="stretch",
            height=min(38 + 35 * len(table), 520),
            selection_default=default,
            column_order=st.session_state[COLUMNS_KEY],
            column_config={
                "ID": st.column_config.NumberColumn("ID", format="#%d", width=64, pinned=True),
                "Persona": st.column_config.TextColumn(width="medium"),
                "Emotion": st.column_config.TextColumn(width="medium"),
                "Topic": st.column_config.TextColumn(width="medium"),
                "Quality": st.column_config.ProgressColumn(
                    "Quality", min_value=0, max_value=10, format="%d", width="small"
                ),
                "Updated": st.column_config.DatetimeColumn("Last updated", format="YYYY-MM-DD HH:mm"),
                "Status": st.column_config.MultiselectColumn(
                    "Status",
                    options=list(vocab.SCENARIO_STATUSES),
                    color=list(vocab.hexes(vocab.SCENARIO_STATUSES).values()),
                    format_func=name_or_id(vocab.labels(vocab.SCENARIO_STATUSES)),
                    width=125,
                    pinned=True,
                ),
            },
        )
        now = [int(table["ID"].iloc[i]) for i in event.selection.rows]
        new_selection = [s for s in selected if s not in visible] + now
        added = [s for s in now if s not in set(selected)]
        if added:
            st.session_state[FOCUS_KEY] = added[-1]
        if new_selection != selected:
            st.session_state[SELECTED_KEY] = new_selection
            selected = new_selection
            if live:
                st.rerun()  # the detail below is outside this fragment
        hidden = [s for s in selected if s not in visible]
        if selected:
            selection_note.markdown(
                f"**{len(selected)}** selected"
                + (f" ({len(hidden)} on other pages or hidden by the filters)" if hidden else "")
            )
        if selected and st.button("Clear selection", icon=":material/deselect:"):
            st.session_state[SELECTED_KEY] = []
            st.session_state.pop(table_key, None)
            st.rerun()

    generation_actions(page, selected)


flash = st.session_state.get(FLASH_KEY)
if flash:  # shown for a few seconds: the table's refresh may rerun the page right away
    (st.error if flash[0] == "error" else st.success)(flash[1])
    if time.time() - flash[2] > 8:
        del st.session_state[FLASH_KEY]
if runner.active_jobs(store):
    st.fragment(table_area, run_every=max(2.0, 3 * st.session_state.get("scn_load_s", 0.0)))(True)
else:
    table_area(False)

if st.session_state.get(CONFIRM_KEY):
    confirm_generate_all(st.session_state[CONFIRM_KEY])
planning_panel(expanded=False)

# -- the detail of one scenario ----------------------------------------------------------------------
write_url()  # the table may have opened another scenario or page: the address says which
focus = st.session_state.get(FOCUS_KEY)
scenario = store.get_scenario(focus) if focus else None
st.divider()
if scenario is None:
    st.caption("Select a row to see its parameters and conversation here.")
    st.stop()

n = {
    d: names(tax, d)
    for d in ("personas", "arcs", "topics", "intents", "tones", "outcomes", "emotions", "topic_clusters")
}
title = st.columns([5, 1])
title[0].subheader(
    escape_markdown(
        f"#{scenario['id']} · {n['personas'].get(scenario['persona'], scenario['persona'])} · "
        f"{n['topics'].get(scenario['topic'], scenario['topic'])}"
    )
)
with title[1]:
    status_badge(scenario["status"])
    st.session_state[DETAIL_KEY] = (int(scenario["id"]), scenario["status"])
    busy = scenario["status"] in ("queued", "generating")
    if st.button(
        "Generate again" if scenario.get("conversation_id") else "Generate",
        icon=":material/play_arrow:",
        key="gen_one",
        disabled=bool(gen_off) or busy,
        help=gen_off
        or (
            "It is queued or being generated."
            if busy
            else "Generate this scenario's conversation now (a new version if it has one)."
        ),
    ):
        queue([scenario["id"]])

params = {
    "Tier": next((t.name for t in tax.tiers if t.id == scenario["tier"]), scenario["tier"]),
    "Persona": n["personas"].get(scenario["persona"], scenario["persona"]),
    "Emotional arc": n["arcs"].get(scenario["emotional_arc"], scenario["emotional_arc"]),
    "Emotion": " → ".join(n["emotions"].get(scenario[end], "?") for end in ("start_emotion", "end_emotion")),
    "Content category": n["topic_clusters"].get(scenario["topic_cluster"], scenario["topic_cluster"]),
    "Topic": n["topics"].get(scenario["topic"], scenario["topic"]),
    "Intent": n["intents"].get(scenario["intent"], scenario["intent"]),
    "Tone": n["tones"].get(scenario["tone"], scenario["tone"]),
    "Outcome": n["outcomes"].get(scenario["outcome_type"], scenario["outcome_type"]),
    "Quality score": "—" if scenario["quality_score"] is None else f"{scenario['quality_score']:g}/10",
    "Origin": scenario.get("origin") or "planned",
}
left, right = st.columns([1, 2])
with left:
    st.dataframe(
        pd.DataFrame({"Parameter": list(params), "Value": [str(v) for v in params.values()]}),
        hide_index=True,
        width="stretch",
        height=38 + 35 * len(params),
    )
    if scenario.get("context"):
        st.markdown("**Situation**")
        st.markdown(escape_markdown(scenario["context"]))
with right:
    versions = store.conversation_versions(scenario["id"])
    failure = store.last_failure(scenario["id"]) if scenario["status"] == "failed" else None
    if failure:
        st.error(failure_line(failure), icon=":material/error:")
    if not versions:
        st.info("This scenario has no conversation yet.", icon=":material/hourglass_empty:")
    else:
        labels = {
            c.id: f"Version {len(versions) - i}"
            + (" (current)" if i == 0 else "")
            + f" · {vocab.DEMO_LABEL if vocab.is_demo(c.provenance.model) else c.provenance.source}"
            + f" · {c.provenance.created_at:%Y-%m-%d}"
            for i, c in enumerate(versions)
        }
        chosen = (
            st.selectbox("Conversation", list(labels), format_func=labels.__getitem__, key=f"ver_{scenario['id']}")
            if len(versions) > 1
            else versions[0].id
        )
        conv = next(c for c in versions if c.id == chosen)
        st.caption(
            escape_markdown(
                f"{len(conv.turns)} turns · review: {conv.review.status.replace('_', ' ')}"
                + (f" · model {conv.provenance.model}" if conv.provenance.model else "")
            )
        )
        if vocab.is_demo(conv.provenance.model):
            badge(vocab.DEMO_LABEL, "violet")  # replayed without a key: not for training, left out of exports
        render_chat(conv.current_turns(), tax)
