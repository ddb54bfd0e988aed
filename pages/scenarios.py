"""Scenarios: the table of conversations to generate, its filters, a scenario's detail, and planning."""

from __future__ import annotations

import time

import streamlit as st
from streamlit.elements.arrow import DataframeStateInput

from lib.core import filters as flt
from lib.core import vocabulary as vocab
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.store import ScenarioPage, StoreError
from lib.ui import nav, resources, variations
from lib.ui.compat import CENTER
from lib.ui.display import error_text, escape_markdown, job_mode, name_or_id, table_height
from lib.ui.scenario_detail import DETAIL_KEY, scenario_detail
from lib.ui.scenario_jobs import CONFIRM_KEY, confirm_generate_all, job_flash, queue
from lib.ui.scenario_planning import planning_panel
from lib.ui.session import FILTERS_KEY, FOCUS_KEY, SELECTED_KEY

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
    for dim in flt.FILTERS:  # the widgets show the link's filters
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
    for dim in flt.FILTERS:  # the widgets show the new state on the next run
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


if total == 0:
    st.info(
        "**There are no scenarios yet.** Plan the table below: choose how many conversations you want "
        "and the tier mix, preview the coverage, then add them.",
        icon=":material/lightbulb:",
    )
    planning_panel(store, tax, expanded=True)
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
    variations.source_filter(grid[4], store, filters, on_change=read_widget)
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
def generation_actions(page: ScenarioPage, selected: list[int]) -> None:
    """The buttons under the table; "all" and "failed" mean every row the filters keep, on any page."""
    todo, failed = flt.with_status(filters, "not_generated"), flt.with_status(filters, "failed")
    n_todo, n_failed = page.by_status.get("not_generated", 0), page.by_status.get("failed", 0)
    cols = st.columns([1.3, 1.8, 1.1, 1.2, 0.8])
    if cols[0].button(
        f"Generate selected ({len(selected)})",
        icon=":material/play_arrow:",
        key="gen_selected",
        disabled=bool(gen_off) or not selected,
        help=gen_off or "Generate the selected rows now.",
    ):
        queue(store, settings, selected)
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
        queue(store, settings, [int(r["id"]) for r in store.list_scenarios(failed)] if failed is not None else [])
    with cols[3]:
        variations.selection_popover(store, tax, settings, selected)
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
            p = job_progress.progress(job)
            mode = job_mode(p.kind, in_sentence=True)
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
            height=table_height(len(table), 520),
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


job_flash()
if runner.active_jobs(store):
    st.fragment(table_area, run_every=max(2.0, 3 * st.session_state.get("scn_load_s", 0.0)))(True)
else:
    table_area(False)

if st.session_state.get(CONFIRM_KEY):
    confirm_generate_all(store, settings, tax, st.session_state[CONFIRM_KEY])
planning_panel(store, tax, expanded=False)

# -- the detail of one scenario ----------------------------------------------------------------------
write_url()  # the table may have opened another scenario or page: the address says which
focus = st.session_state.get(FOCUS_KEY)
scenario = store.get_scenario(focus) if focus else None
st.divider()
if scenario is None:
    st.caption("Select a row to see its parameters and conversation here.")
    st.stop()
scenario_detail(store, settings, tax, scenario, gen_off)
