"""Variation sets in the app: "Make variations" of approved conversations (Review: the one on screen;
Scenarios: the selected rows), and a variation's source shown beside it on Review."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.config import Settings
from lib.core import filters as flt
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.core.variation_sets import VARY_LABELS, describe, variation_of
from lib.coverage.variations import variation_frame
from lib.generation import jobs as runner
from lib.generation.app_worker import start_demo_worker
from lib.generation.estimate import Estimate, estimate_job
from lib.generation.llm import LLMSettings
from lib.generation.variation_jobs import make_variations, plan_sets
from lib.review.queue import QUERY_PARAM
from lib.store import Store, StoreError
from lib.ui import resources
from lib.ui.display import demo_ahead, demo_note, error_text, escape_markdown, estimate_figures, names, table_height
from lib.ui.session import reviewer

MADE_KEY = "var_made"  # how the last "Make variations" went: (kind, message, the conversations it was for)
esc = escape_markdown
COUNT_LABELS = {
    "planned": "Planned",
    "generated": "Generated",
    "approved": "Approved",
    "count": "Counted",
    "target": "Target",
    "short_by": "Short by",
}


def _asked(tax: Taxonomy, ids: tuple[str, ...], key: str) -> tuple[list[str], int, int]:
    """What the popover asks for: what varies, how many of each conversation, and the plan's seed."""
    vary = list(st.session_state.get(f"{key}_vary") or [])
    n = int(st.session_state.get(f"{key}_n") or tax.variation.sets.default_count)
    return vary, n, n * 7919 + len(ids)


def _make(
    store: Store, tax: Taxonomy, settings: Settings, ids: tuple[str, ...], key: str, figures: Estimate | None
) -> None:
    vary, n, seed = _asked(tax, ids, key)
    off = runner.generation_off_reason(settings)
    try:
        made = make_variations(
            store,
            ids,
            vary,
            n,
            tax,
            seed=seed,
            created_by=reviewer() or None,
            model=settings.model,
            check=None if off else LLMSettings.from_settings(settings),
            estimate=figures,
            demo=bool(off),
        )
        if off and made.job_id is not None:
            start_demo_worker(store, made.job_id, settings)
    except (ValueError, StoreError) as exc:
        st.session_state[MADE_KEY] = ("error", "No variations were made: " + error_text(exc), ids)
        return
    what = " and ".join(VARY_LABELS[w].lower() for w in vary)
    note = (
        f"{len(made.scenario_ids)} variations ({what}) of {', '.join(ids)} are queued as job #{made.job_id}. "
        "Watch them generate on the [Generate](generate) page; they come to Review when they are done."
    )
    if off:
        note += " " + demo_note("valid conversations made from the seeds' structure")
    if made.repeats:
        note += (
            " The rules allow fewer distinct alternatives than you asked for, so some repeat "
            "(each with another person)."
        )
    st.session_state[MADE_KEY] = ("success", note, ids)


def make_popover(
    store: Store, tax: Taxonomy, settings: Settings, conversation_ids: Sequence[str], *, key: str, blocked: str = ""
) -> None:
    """The "Make variations" popover: what varies, how many, and one click that plans them, adds them as
    scenarios linked to their sources and starts their generation job. blocked: why it cannot be used now."""
    ids = tuple(conversation_ids)
    rules = tax.variation.sets
    pop = st.popover(
        "Make variations",
        icon=":material/auto_awesome_motion:",
        width="stretch",
        disabled=bool(blocked) or not ids,
        help=blocked or None,  # a tooltip would cover the popover's own button
    )
    with pop:
        st.caption(
            "Variations keep the structure of the approved conversation (turns, arc, strategies) and change "
            "what you choose here; each is generated, checked and reviewed like any conversation."
        )
        st.multiselect(
            "What varies",
            list(VARY_LABELS),
            default=["topic"],
            format_func=VARY_LABELS.__getitem__,
            key=f"{key}_vary",
            help="Each variation differs from its source in every dimension chosen here, and keeps the rest.",
        )
        st.number_input(
            "How many (per conversation)",
            min_value=1,
            max_value=rules.max_count,
            value=rules.default_count,
            key=f"{key}_n",
        )
        n = int(st.session_state.get(f"{key}_n") or rules.default_count) * len(ids)
        figures = None if blocked or not ids else _estimate(store, tax, settings, ids, key)
        if figures is not None:
            estimate_figures(n, figures)
        if runner.generation_off_reason(settings) and not blocked:
            st.caption(demo_ahead("they are generated"))
        st.button(
            f"Make {n} variations and generate",
            type="primary",
            icon=":material/play_arrow:",
            width="stretch",
            key=f"{key}_go",
            on_click=_make,
            args=(store, tax, settings, ids, key, figures),
            disabled=bool(blocked) or not st.session_state.get(f"{key}_vary"),
        )
        made_notice(ids)  # where the click was: the popover stays open and would cover the one below
    made_notice(ids)


def _estimate(store: Store, tax: Taxonomy, settings: Settings, ids: tuple[str, ...], key: str) -> Estimate | None:
    """What generating the variations asked for will cost and take, as the Generate page estimates a job
    (the planned rows, each prompt with its source); None, with the reason, when it cannot be estimated."""
    vary, n, seed = _asked(tax, ids, key)
    if not vary:
        return None
    try:
        rows = [row for plan in plan_sets(store, ids, vary, n, tax, seed=seed) for row in plan.rows]
        return estimate_job(
            store,
            rows,
            mode="realtime",
            llm_settings=LLMSettings.from_settings(settings),
            concurrency=settings.concurrency,
            tax=tax,
            counter=resources.token_counter(),
        )
    except (ValueError, StoreError) as exc:  # a request the rules cannot fill: the click says so in full
        st.caption(f"Nothing to estimate: {error_text(exc)}")
        return None


def selection_popover(store: Store, tax: Taxonomy, settings: Settings, selected: Sequence[int]) -> None:
    """ "Make variations" for the selected rows of the Scenarios table whose conversation is approved."""
    rows = store.list_scenarios({"ids": list(selected)}) if selected else []
    approved = [str(r["conversation_id"]) for r in rows if r.get("review_status") == "approved"]
    blocked = "" if approved else "Select rows whose conversation is approved; their variations keep its structure."
    make_popover(store, tax, settings, approved, key="scn_var", blocked=blocked)
    if approved and len(approved) < len(rows):
        st.caption(f"{len(rows) - len(approved)} selected rows are not approved and are left out.")


def source_filter(
    where: DeltaGenerator, store: Store, filters: Mapping[str, list[str]], on_change: Callable[[str], None]
) -> None:
    """The table's "Variations of" filter: the conversations that have variations (and any a link names)."""
    key = "flt_" + flt.SOURCE.key
    chosen = list(filters.get(flt.SOURCE.key, []))
    if key not in st.session_state:
        st.session_state[key] = chosen
    counts = {str(r["source_conversation_id"]): int(r["planned"]) for r in store.variation_counts()}
    where.multiselect(
        flt.SOURCE.label,
        list(dict.fromkeys([*counts, *chosen])),
        format_func=lambda cid: f"{cid} ({counts.get(cid, 0)})",
        key=key,
        on_change=on_change,
        args=(flt.SOURCE.key,),
        placeholder="Any" if counts else "No variations yet",
        help="The variations of an approved conversation (Review or this table: Make variations).",
    )


def coverage_section(store: Store, tax: Taxonomy, scope: str) -> None:
    """Coverage: the variations of each source conversation against the taxonomy's target."""
    target = tax.variation.sets.per_source_target
    st.subheader("Variation sets", anchor="variations")
    try:
        frame = variation_frame(store.variation_counts(), target, scope)
    except StoreError as exc:
        st.error(f"**The variations could not be counted.** {error_text(exc)}")
        return
    st.caption(
        f"Variations of each approved conversation against the target of {target} per source "
        "(`taxonomy/variation.yaml`, sets.per_source_target), counted as the view above counts."
    )
    if frame.empty:
        st.info("No variations yet. On Review, open an approved conversation and choose **Make variations**.")
        return
    met = int((frame["short_by"] == 0).sum())
    st.markdown(f"**{met} of {len(frame)}** sources have reached the target.")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=table_height(len(frame), 320),
        column_config={
            "source": st.column_config.TextColumn("Source conversation", width="medium"),
            **{c: st.column_config.NumberColumn(label, width="small") for c, label in COUNT_LABELS.items()},
            "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
        },
        key="br_coverage_variations",
    )


def made_notice(conversation_ids: Sequence[str]) -> None:
    """How the last "Make variations" of these conversations went."""
    note = st.session_state.get(MADE_KEY)
    if note and tuple(note[2]) == tuple(conversation_ids):
        (st.error if note[0] == "error" else st.success)(note[1])


def source_panel(store: Store, tax: Taxonomy, conv: Conversation, go: Callable[[str], None]) -> None:
    """A variation's source beside it: what was varied, and the source's turns to compare with."""
    record = variation_of(conv)
    if record is None:
        return
    source_id = str(record.get("source_conversation_id") or "")
    source = store.get_conversation(source_id) if source_id else None
    with st.expander(f":material/call_split: Variation of {source_id}", expanded=True):
        st.markdown("\n".join("- " + esc(line) for line in describe(record, tax)))
        if source is None:
            st.warning(f"The source conversation {esc(source_id)} no longer exists.")
            return
        cols = st.columns(2, vertical_alignment="center")
        cols[0].button(
            "Open the source", icon=":material/open_in_new:", on_click=go, args=(source_id,), key="var_src_open"
        )
        cols[1].markdown(f"[All variations of {esc(source_id)}](scenarios?source={source_id})")
        strategy_names = names(tax, "strategies")
        for i, t in enumerate(source.current_turns()):
            if t.role == "user":
                label = f"{t.emotion.primary} {t.emotion.intensity:g}"
            else:
                label = strategy_names.get(t.strategies.primary, t.strategies.primary)
            st.markdown(f"**{i} · {t.role}** :small[:gray[{esc(label)}]]  \n{esc(t.text)}")


def scenario_record(scenario: Mapping[str, Any], tax: Taxonomy) -> None:
    """A variation scenario's record on the Scenarios page: its source, with a link to it on Review, and
    what varied from what to what. Nothing for a scenario that varies no conversation."""
    source = scenario.get("source_conversation_id")
    record = scenario.get("variation")
    if not source or not isinstance(record, dict):
        return
    st.markdown(
        f"**Variation of** [{esc(str(source))}](review?{QUERY_PARAM}={quote(str(source))}) "
        f":small[:gray[(open it in Review)]]"
    )
    st.markdown("\n".join("- " + esc(line) for line in describe(record, tax)))
