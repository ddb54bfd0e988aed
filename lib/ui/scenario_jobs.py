"""Starting generation from the Scenarios page: queueing rows as a job, the "Generate all" dialog that
shows the cost before it starts, and the note that says how the last start went."""

from __future__ import annotations

import streamlit as st

from lib.config import Settings
from lib.core import filters as flt
from lib.core.taxonomy import Taxonomy
from lib.generation import jobs as runner
from lib.generation.estimate import Estimate, estimate_job
from lib.generation.llm import LLMSettings, api_token_counter
from lib.store import Store, StoreError
from lib.ui.display import error_text, estimate_figures, job_mode
from lib.ui.flash import show_timed_flash, timed_flash
from lib.ui.session import reviewer

FLASH_KEY = "scn_gen_flash"
CONFIRM_KEY = "scn_gen_all"  # the filters of the rows the "Generate all" dialog asks about, while it is open


def queue(
    store: Store, settings: Settings, ids: list[int], mode: str = "realtime", estimate: Estimate | None = None
) -> None:
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
        timed_flash(FLASH_KEY, "error", error_text(exc))
    else:
        timed_flash(
            FLASH_KEY,
            "success",
            f"Job #{job_id}: {n:,} conversation{'s' if n != 1 else ''} queued "
            f"({job_mode(mode, in_sentence=True)}). "
            "Follow it here or on the [Generate](generate) page.",
        )
    st.session_state.pop(CONFIRM_KEY, None)
    st.rerun()


def close_dialog() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


@st.dialog("Generate all scenarios not generated yet", width="medium", on_dismiss=close_dialog)
def confirm_generate_all(store: Store, settings: Settings, tax: Taxonomy, todo: flt.Filters) -> None:
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
        st.error(f"Cannot estimate this job: {error_text(exc)}")
        estimate = None
    estimate_figures(len(chosen), estimate)
    if mode == "batch":
        st.caption(
            "Economy mode sends the whole job as one Message Batch: about half the cost, results within "
            "24 hours (usually much sooner). Failed checks are repaired with the normal API."
        )
    left, right = st.columns(2)
    if left.button("Start generating", type="primary", icon=":material/play_arrow:", key="gen_all_go"):
        queue(store, settings, [int(r["id"]) for r in chosen], mode, estimate)
    if right.button("Cancel", key="gen_all_cancel"):
        close_dialog()
        st.rerun()


def job_flash() -> None:
    """How the last start went, shown for a few seconds: the table's refresh may rerun the page right away."""
    show_timed_flash(FLASH_KEY, 8)
