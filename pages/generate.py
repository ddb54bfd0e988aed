"""Generate: the generation jobs, the progress of one, and Stop / Resume / Retry failed."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from lib.config import ConfigError
from lib.core import vocabulary as vocab
from lib.generation import jobs as runner
from lib.generation.estimate import compact, duration_text
from lib.generation.llm import LLMSettings
from lib.store import StoreError
from lib.ui import nav, resources
from lib.ui.display import names

nav.open_in_app("generate")

JOB_KEY = "br_job"  # the job shown
FLASH_KEY = "gen_flash"
STATUS_LABELS = {k: (t.label, t.colour) for k, t in vocab.JOB_STATUSES.items()}  # status -> (label, badge colour)

store = resources.store()
tax = resources.taxonomy()
settings = resources.settings()
gen_off = runner.generation_off_reason(settings)
worker = None if gen_off else resources.worker()

st.title("Generate")
st.caption("Generation jobs, started from the Scenarios page (Generate, Generate selected, Generate all, Retry "
           "failed) or by a reviewer's regeneration. A worker in this app runs them; `python -m lib worker` runs "
           "more on any machine with the same database.")

if gen_off:
    st.info(gen_off, icon=":material/cloud_off:")
elif worker is None:
    st.warning("No generation worker runs in this app, so queued jobs wait for one started with "
               "`python -m lib worker`. In hosted mode the app's own worker needs SUPABASE_SERVICE_ROLE_KEY; "
               "otherwise the server log says why it did not start.", icon=":material/error:")
else:
    state = worker.status()  # type: ignore[attr-defined]
    if not state.get("alive"):
        st.error(f"The generation worker stopped ({state.get('error') or 'no reason given'}). Restart the app; "
                 "queued items are safe and will be picked up again.")

pick = names(tax, "personas"), names(tax, "topics")
label_names = {"personas": pick[0], "topics": pick[1]}


def flash(kind: str, text: str) -> None:
    st.session_state[FLASH_KEY] = (kind, text)


def act(action: str, job_id: int) -> None:
    store = resources.store()
    try:
        if action == "stop":
            llm = LLMSettings.from_settings(settings) if not gen_off else None
            flash("success", runner.stop_job(store, job_id, llm_settings=llm))
        elif action == "resume":
            flash("success", runner.resume_job(store, job_id))
        elif action == "retry":
            flash("success", runner.resume_job(store, job_id, failed=True))
    except (runner.RunnerError, StoreError, ConfigError, ValueError) as exc:
        flash("error", f"Job #{job_id}: {exc}")


def when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if value else ""


def job_label(job: dict) -> str:
    # Only what never changes: a select box keeps showing the label it first drew for a value.
    mode = "economy batch" if job.get("kind") == "batch" else "realtime"
    by = f" · by {job['created_by']}" if job.get("created_by") else ""
    return f"#{job['id']} · {mode} · {job['total_items']:,} conversations · {when(job['created_at'])}{by}"


jobs_now = store.list_jobs(50)
if not jobs_now:
    st.info("No generation job yet. On the **Scenarios** page, select rows and click **Generate selected**, or "
            "**Generate all** the rows not generated yet.", icon=":material/lightbulb:")
    st.stop()
any_active = any(j["status"] in runner.ACTIVE_JOB_STATUSES for j in jobs_now)


@st.fragment(run_every=1.5 if any_active else None)
def jobs_panel() -> None:
    jobs = store.list_jobs(50)
    ids = [int(j["id"]) for j in jobs]
    active = [j for j in jobs if j["status"] in runner.ACTIVE_JOB_STATUSES]
    if st.session_state.get(JOB_KEY) not in ids:
        st.session_state[JOB_KEY] = int(active[0]["id"]) if active else ids[0]
    by_id = {int(j["id"]): j for j in jobs}
    job_id = st.selectbox("Job", ids, key=JOB_KEY, format_func=lambda i: job_label(by_id[i]))
    job = by_id[job_id]
    p = runner.progress(job)

    if worker is not None and p.active:
        st.caption(runner.worker_line(worker.status()))  # type: ignore[attr-defined]

    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        (st.error if message[0] == "error" else st.success)(message[1])

    with st.container(border=True):
        head = st.columns([4, 1])
        mode = "Economy batch" if p.kind == "batch" else "Realtime"
        head[0].markdown(f"#### Job #{p.job_id} · {mode}")
        label, colour = STATUS_LABELS.get(p.status, (p.status, "gray"))
        with head[1]:
            st.badge(label, color=colour)
        st.progress(p.fraction, text=f"**{p.label}** conversations"
                    + (f" ({p.cancelled} cancelled)" if p.cancelled else ""))
        if p.error:
            st.error(f"**This job stopped:** {p.error}")
        if p.kind == "batch" and p.batch_id:
            st.caption(f"Message Batch `{p.batch_id}`: {(p.batch_status or 'submitted').replace('_', ' ')}. "
                       f"{runner.BATCH_NOTE.capitalize()}.")
        elif p.kind == "batch" and p.active:
            st.caption(f"Waiting for a worker to submit the Message Batch ({runner.BATCH_NOTE}).")

        cols = st.columns(6)
        cols[0].metric("Succeeded", f"{p.succeeded:,}")
        cols[1].metric("Failed", f"{p.failed:,}")
        cols[2].metric("Elapsed", duration_text(p.elapsed_s) if p.elapsed_s is not None else "—")
        cols[3].metric("ETA", duration_text(p.eta_s) if p.eta_s is not None and p.active else "—",
                       help="About how long the rest takes, at the pace so far.")
        cols[4].metric("Cost so far", f"${p.cost_usd:,.4f}")
        cols[5].metric("Tokens", compact(p.input_tokens + p.output_tokens),
                       help=f"{p.input_tokens:,} input and {p.output_tokens:,} output tokens so far (cache reads "
                            "and writes are priced in the cost)")

        buttons = st.container(horizontal=True, vertical_alignment="center")
        buttons.button("Stop", icon=":material/stop_circle:", key=f"stop_{p.job_id}", disabled=not p.active,
                          on_click=act, args=("stop", p.job_id),
                          help="No new item starts; the ones in flight finish and are kept.")
        can_resume = p.status in ("stopped", "failed") and (p.cancelled or p.pending)
        buttons.button("Resume", icon=":material/play_circle:", key=f"resume_{p.job_id}",
                          disabled=bool(gen_off) or not can_resume, on_click=act, args=("resume", p.job_id),
                          help=gen_off or "Queue the items that were cancelled by Stop again.")
        buttons.button(f"Retry failed ({p.failed})", icon=":material/replay:", key=f"retry_{p.job_id}",
                          disabled=bool(gen_off) or not p.failed, on_click=act, args=("retry", p.job_id),
                          help=gen_off or "Queue the failed items of this job again; their attempts start over.")
        if p.status == "stopped" and p.in_flight:
            buttons.caption(f"Stopping: {p.in_flight} in flight will finish.")

        # last in the card, so the lines coming and going do not move the rest
        in_flight = store.job_items_with_status(p.job_id, ["claimed"], limit=6) if p.in_flight else []
        for item in in_flight[:5]:
            st.markdown(f":material/progress_activity: Generating {runner.item_title(item, label_names)}")
        if p.in_flight > 5:
            st.caption(f"… and {p.in_flight - 5} more in flight")

    if p.failed:
        failed = store.job_items_with_status(p.job_id, ["failed"], limit=200)
        with st.expander(f"Errors ({p.failed})", expanded=True, icon=":material/error:"):
            # st.table: plain text that wraps, and no canvas to redraw on every refresh
            st.table(pd.DataFrame({
                "Scenario": [runner.item_title(i, label_names) for i in failed],
                "Attempts": [int(i["attempts"]) for i in failed],
                "Error": [str(i.get("error") or "") for i in failed],
                "When": [when(i.get("finished_at")) for i in failed],
            }), hide_index=True)
            if p.failed > len(failed):
                st.caption(f"The latest {len(failed)} of {p.failed} failures.")

    st.markdown("##### All jobs")
    st.table(pd.DataFrame({
        "Job": [f"#{j['id']}" for j in jobs],
        "Mode": ["Economy batch" if j["kind"] == "batch" else "Realtime" for j in jobs],
        "Status": [STATUS_LABELS.get(j["status"], (j["status"],))[0] for j in jobs],
        "Progress": [runner.progress(j).label for j in jobs],
        "Succeeded": [int(j["succeeded_items"]) for j in jobs],
        "Failed": [int(j["failed_items"]) for j in jobs],
        "Cost": [f"${float(j['cost_usd'] or 0):,.4f}" for j in jobs],
        "Created": [when(j["created_at"]) for j in jobs],
        "By": [j.get("created_by") or "" for j in jobs],
    }), hide_index=True)

    if any_active and not active:
        st.rerun()  # everything finished: draw the page once more, without the timer
    if not any_active and active:
        st.rerun()  # a job started meanwhile (another tab, a worker's resume): start the timer


jobs_panel()
