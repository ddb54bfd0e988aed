"""Generate: the generation and rating jobs, the progress of one with its generation and judge costs, Stop /
Resume / Retry failed, and "Rate conversations not rated yet"."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from lib.config import ConfigError
from lib.core import vocabulary as vocab
from lib.core.rubric import Rubric, RubricError, default_rubric
from lib.generation import job_progress
from lib.generation import jobs as runner
from lib.generation.app_worker import start_demo_worker
from lib.generation.estimate import compact, duration_text, estimate_judge
from lib.generation.llm import LLMSettings, api_token_counter
from lib.generation.rating import policy_in_force
from lib.store import StoreError
from lib.ui import auth, nav, resources
from lib.ui.display import badge, error_text, escape_markdown, estimate_figures, job_mode, names
from lib.ui.flash import show_timed_flash, timed_flash
from lib.ui.job_failures import failures_by_cause
from lib.ui.session import reviewer

nav.open_in_app("generate")

JOB_KEY = "br_job"  # the job shown
FLASH_KEY = "gen_flash"
SETTLED_KEY = "gen_settled"  # the jobs panel has drawn every job settled once, with its timer still on
RATE_KEY = "gen_rate_open"  # the "Rate conversations not rated yet" dialog is open
FLASH_S = 8.0  # how long the message of an action stays
REFRESH_S = 1.0  # how often the jobs panel reads the database while a job is live


def start_demo(count: int) -> None:
    store = resources.store()
    try:
        job_id, n = runner.start_demo_job(store, count, created_by=reviewer())
    except (runner.RunnerError, StoreError) as exc:
        flash("error", error_text(exc))
        return
    start_demo_worker(store, job_id, resources.settings())
    st.session_state[JOB_KEY] = job_id
    flash("success", f"Job #{job_id}: {n:,} scenarios queued for a demo replay.")


def demo_panel() -> None:
    """Without a key, generation can still be shown: a replay of recorded conversations, through the same
    worker, rate limiting and progress, stored with a Demo replay badge and left out of exports."""
    with st.container(border=True):
        st.markdown(
            f"**{vocab.DEMO_LABEL}** · show plan → generate → review → export without a key: the worker replays "
            "recorded conversations made from the seeds' structure for scenarios not generated yet, at a "
            "human pace. They are marked as demo everywhere and left out of exports unless asked for."
        )
        row = st.container(horizontal=True, vertical_alignment="bottom")
        count = row.number_input("Scenarios to replay", min_value=1, max_value=50, value=5, key="demo_n")
        row.button(
            "Start a demo replay",
            icon=":material/smart_display:",
            key="demo_go",
            on_click=start_demo,
            args=(int(count),),
        )


store = resources.store()
tax = resources.taxonomy()
settings = resources.settings()
gen_off = runner.generation_off_reason(settings)
worker = None if gen_off else resources.worker()

st.title("Generate")
st.caption(
    "Generation jobs, started from the Scenarios page (Generate, Generate selected, Generate all, Retry "
    "failed), by a reviewer's regeneration or by **Make variations**; rating jobs, where the quality judge "
    "rates conversations; and contrast jobs, which write failed turns for preference pairs (Review). "
    "A worker in this app runs them; `python -m lib worker` runs more on any machine with the same database."
)

if gen_off:
    st.info(gen_off, icon=":material/cloud_off:")
    if auth.can("generate"):
        demo_panel()
elif worker is None:
    st.warning(
        "No generation worker runs in this app, so queued jobs wait for one started with "
        "`python -m lib worker`. In hosted mode the app's own worker needs SUPABASE_SERVICE_ROLE_KEY; "
        "otherwise the server log says why it did not start.",
        icon=":material/error:",
    )
elif problem := worker.problem():  # type: ignore[attr-defined]
    st.error(escape_markdown(problem))

pick = names(tax, "personas"), names(tax, "topics")
label_names = {"personas": pick[0], "topics": pick[1]}


def flash(kind: str, text: str) -> None:
    timed_flash(FLASH_KEY, kind, text)


def act(action: str, job_id: int) -> None:
    store = resources.store()
    try:
        if action == "stop":
            llm = LLMSettings.from_settings(settings) if not gen_off else None
            flash("success", runner.stop_job(store, job_id, llm_settings=llm))
        elif action == "resume":
            flash("success", runner.resume_job(store, job_id))
            if gen_off:  # only a demo replay can be resumed without a key: its worker ended with Stop
                start_demo_worker(store, job_id, settings)
        elif action == "retry":
            flash("success", runner.resume_job(store, job_id, failed=True))
    except (runner.RunnerError, StoreError, ConfigError, ValueError) as exc:
        flash("error", f"Job #{job_id}: {error_text(exc)}")


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def job_label(job: dict) -> str:
    # Only what never changes: a select box keeps showing the label it first drew for a value (a follow-up
    # job grows, so its size is left out).
    mode = job_mode(job.get("kind"), in_sentence=True)
    by = f" · by {job['created_by']}" if job.get("created_by") else ""
    what = (
        f"{vocab.JOB_TASKS[job.get('task') or 'generate'].label} after job #{job['follows_job_id']}"
        if job.get("follows_job_id")
        else job_progress.job_title(job)  # a demo replay says so here too
    )
    return f"#{job['id']} · {mode} · {what} · {when(job['created_at'])}{by}"


def money(usd: float) -> str:
    return f"${usd:,.4f}" if usd else "—"


def follow_up_note(p: job_progress.Progress) -> str:
    what = (
        "the conversations it stored, to be rated"
        if p.rating
        else "its conversations rated low, generated once more with the judge's reasons"
    )
    then = ", then goes as one Message Batch" if p.kind == "batch" else ""
    return f"What job #{p.follows_job_id} leaves to do: {what}. It stays open while job #{p.follows_job_id} runs{then}."


# -- rating the conversations not rated yet ------------------------------------------------------------------
rubric: Rubric | None
try:
    rubric = default_rubric(tax.path)
except RubricError as exc:
    rubric = None
    st.error(f"The quality judge cannot run: {error_text(exc)}")


def close_rating() -> None:
    st.session_state.pop(RATE_KEY, None)


def start_rating(mode: str, estimate: object) -> None:
    try:
        job_id, n = runner.start_judge_job(
            resources.store(),
            mode=mode,
            rubric_version=rubric.version if rubric else None,
            model=settings.model,
            created_by=reviewer(),
            concurrency=settings.concurrency,
            estimate=estimate,  # type: ignore[arg-type]
            quality=policy_in_force(settings),
        )
    except (runner.RunnerError, StoreError) as exc:
        flash("error", error_text(exc))
    else:
        st.session_state[JOB_KEY] = job_id
        flash(
            "success",
            f"Job #{job_id}: {n:,} conversation{'s' if n != 1 else ''} queued to be rated "
            f"({job_mode(mode, in_sentence=True)}).",
        )
    close_rating()


@st.dialog("Rate conversations not rated yet", width="medium", on_dismiss=close_rating)
def confirm_rating(count: int) -> None:
    st.caption(
        f"The quality judge rates each conversation against the rubric ({rubric.id if rubric else '?'} "
        f"{rubric.version if rubric else ''}): a score and a reason per criterion, and the labels it would "
        "change. The ratings show in the Review queue."
    )
    mode = st.radio("Mode", list(runner.MODES), format_func=runner.MODES.get, key="rate_mode")
    estimate = None
    try:
        llm_settings = LLMSettings.from_settings(settings)
        estimate = estimate_judge(
            store,
            count,
            mode=mode,
            llm_settings=llm_settings,
            concurrency=settings.concurrency,
            tax=tax,
            counter=api_token_counter(llm_settings),
            quality=policy_in_force(settings),
        )
    except (StoreError, ValueError) as exc:
        st.error(f"Cannot estimate this job: {error_text(exc)}")
    estimate_figures(count, estimate)
    left, right = st.columns(2)
    if left.button("Start rating", type="primary", icon=":material/grading:", key="rate_go"):
        start_rating(mode, estimate)
        st.rerun()  # the whole page: the dialog closes and the new job shows
    if right.button("Cancel", key="rate_cancel"):
        close_rating()
        st.rerun()


def rating_actions() -> None:
    try:
        backlog = store.judge_backlog(rubric_version=rubric.version if rubric else None)
    except StoreError as exc:
        st.error(f"Cannot count the conversations not rated yet: {error_text(exc)}")
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    row.caption(
        (
            f"**{backlog:,}** current conversation{'s' if backlog != 1 else ''} not rated by the quality judge yet"
            if backlog
            else "Every current conversation has a rating from the quality judge"
        )
        + (
            ""
            if settings.judge_on or not settings.has_api_key  # without a key the banner above says why
            else " (the judge does not rate new conversations as they are generated: BRIGHTRUN_JUDGE is off)"
        )
        + "."
    )
    why = gen_off or ("Nothing to rate." if not backlog else None) or (None if rubric else "The rubric cannot be read.")
    if row.button(
        "Rate conversations not rated yet",
        icon=":material/grading:",
        key="rate_open",
        disabled=bool(why),
        help=why or "Shows the count and the estimated cost first.",
    ):
        st.session_state[RATE_KEY] = True
    if st.session_state.get(RATE_KEY) and not why:
        confirm_rating(backlog)


if auth.can("generate"):
    rating_actions()

jobs_now = store.list_jobs(50)
if not jobs_now:
    st.info(
        "No generation job yet. On the **Scenarios** page, select rows and click **Generate selected**, or "
        "**Generate all** the rows not generated yet.",
        icon=":material/lightbulb:",
    )
    st.stop()
# a stopped job with items in flight is live too: the panel follows it until its last item settles
any_live = any(job_progress.is_live(j) for j in jobs_now)


@st.fragment(run_every=REFRESH_S if any_live else None)
def jobs_panel() -> None:
    jobs = store.list_jobs(50)
    ids = [int(j["id"]) for j in jobs]
    live = [j for j in jobs if job_progress.is_live(j)]
    if st.session_state.get(JOB_KEY) not in ids:
        st.session_state[JOB_KEY] = int(live[0]["id"]) if live else ids[0]
    by_id = {int(j["id"]): j for j in jobs}
    job_id = st.selectbox("Job", ids, key=JOB_KEY, format_func=lambda i: job_label(by_id[i]))
    job = by_id[job_id]
    p = job_progress.progress(job)

    if worker is not None and worker.alive and p.live:  # type: ignore[attr-defined]
        st.caption(job_progress.worker_line(worker.status()))  # type: ignore[attr-defined]

    show_timed_flash(FLASH_KEY, FLASH_S)

    with st.container(border=True):
        head = st.columns([4, 1])
        mode = job_mode(p.kind)
        head[0].markdown(f"#### Job #{p.job_id} · {mode} · {job_progress.job_title(job)}")
        demo = job_progress.is_demo_job(job)
        term = vocab.JOB_OUTCOMES.get(p.outcome)
        with head[1]:
            badge(term.label if term else p.outcome, term.colour if term else "gray")
        st.progress(
            p.fraction,
            text=f"**{p.label}** conversations"
            + {"judge": " rated", "contrast": " contrasted"}.get(p.task, "")
            + (f" · {p.failed:,} failed" if p.failed else "")
            + (f" ({p.cancelled} cancelled)" if p.cancelled else ""),
        )
        if p.follows_job_id and p.active:
            st.caption(follow_up_note(p))
        if p.error and p.outcome in ("failed", "stopping"):
            st.error(f"**This job failed:** {escape_markdown(p.error)}")
        elif p.outcome == "completed_with_failures":
            st.warning(
                f"**Completed with failures:** {p.succeeded:,} conversation{'' if p.succeeded == 1 else 's'} "
                f"stored, {p.failed:,} failed. The causes are below; **Retry failed** queues those again.",
                icon=":material/warning:",
            )
        if p.kind == "batch" and p.batch_id:
            st.caption(
                f"Message Batch `{p.batch_id}`: {(p.batch_status or 'submitted').replace('_', ' ')}. "
                f"{runner.BATCH_NOTE.capitalize()}."
            )
        elif p.kind == "batch" and p.active:
            st.caption(f"Waiting for a worker to submit the Message Batch ({runner.BATCH_NOTE}).")

        cols = st.columns(6)
        cols[0].metric("Succeeded", f"{p.succeeded:,}")
        cols[1].metric("Failed", f"{p.failed:,}")
        cols[2].metric(
            "Run time",
            duration_text(p.elapsed_s) if p.elapsed_s is not None else "—",
            help="How long the job has been running; the time it was stopped is not counted.",
        )
        cols[3].metric(
            "ETA",
            duration_text(p.eta_s) if p.eta_s is not None and p.active else "—",
            help="About how long the rest takes, at the pace of its running time so far.",
        )
        cols[4].metric("Cost so far", f"${p.cost_usd:,.4f}")
        cols[5].metric(
            "Tokens",
            compact(p.input_tokens + p.output_tokens),
            help=f"{p.input_tokens:,} input and {p.output_tokens:,} output tokens so far (cache reads "
            "and writes are priced in the cost)",
        )
        split = st.columns(4)
        split[0].metric(
            "Generation cost",
            money(p.generation_cost_usd),
            help="What writing the conversations cost: generations and repairs.",
        )
        split[1].metric("Generation tokens", compact(p.generation_tokens) if p.generation_tokens else "—")
        split[2].metric(
            "Judge cost",
            money(p.judge_cost_usd),
            help="What rating the conversations cost: the quality judge's requests "
            f"({int(job.get('judge_calls') or 0):,} so far).",
        )
        split[3].metric(
            "Judge tokens",
            compact(p.judge_tokens) if p.judge_tokens else "—",
            help=f"{p.judge_input_tokens:,} input and {p.judge_output_tokens:,} output tokens",
        )

        buttons = st.container(horizontal=True, vertical_alignment="center")
        buttons.button(
            "Stop",
            icon=":material/stop_circle:",
            key=f"stop_{p.job_id}",
            disabled=not p.active,
            on_click=act,
            args=("stop", p.job_id),
            help="No new item starts; the ones in flight finish and are kept.",
        )
        can_resume = p.status in ("stopped", "failed") and (p.cancelled or p.pending)
        buttons.button(
            "Resume",
            icon=":material/play_circle:",
            key=f"resume_{p.job_id}",
            disabled=bool(gen_off and not demo) or not can_resume,
            on_click=act,
            args=("resume", p.job_id),
            help=(None if demo else gen_off) or "Queue the items that were cancelled by Stop again.",
        )
        buttons.button(
            f"Retry failed ({p.failed})",
            icon=":material/replay:",
            key=f"retry_{p.job_id}",
            disabled=bool(gen_off) or not p.failed,
            on_click=act,
            args=("retry", p.job_id),
            help=gen_off or "Queue the failed items of this job again; their attempts start over.",
        )
        if p.outcome == "stopping":
            buttons.caption(f"Stopping: {p.in_flight} in flight will finish; nothing new starts.")

        # last in the card, so the lines coming and going do not move the rest
        in_flight = store.job_items_with_status(p.job_id, ["claimed"], limit=6) if p.in_flight else []
        doing = {"judge": "Rating", "contrast": "Writing failed turns for"}.get(p.task, "Generating")
        for item in in_flight[:5]:
            st.markdown(
                f":material/progress_activity: {doing} {escape_markdown(job_progress.item_title(item, label_names))}"
            )
        if p.in_flight > 5:
            st.caption(f"… and {p.in_flight - 5} more in flight")

    failures_by_cause(store, p.job_id, p.failed)

    st.markdown("##### All jobs")
    shown = [job_progress.progress(j) for j in jobs]
    st.table(
        pd.DataFrame(
            {
                "Job": [f"#{j['id']}" for j in jobs],
                "What": [job_progress.job_title(j) for j in jobs],
                "Mode": [job_mode(j["kind"]) for j in jobs],
                "Status": [q.outcome_label for q in shown],
                "Progress": [q.label for q in shown],
                "Succeeded": [int(j["succeeded_items"]) for j in jobs],
                "Failed": [int(j["failed_items"]) for j in jobs],
                "Generation cost": [money(q.generation_cost_usd) for q in shown],
                "Judge cost": [money(q.judge_cost_usd) for q in shown],
                "Created": [when(j["created_at"]) for j in jobs],
                "By": [escape_markdown(j.get("created_by") or "") for j in jobs],
            }
        ),
        hide_index=True,
    )

    if any_live and not live:
        # everything settled. This run drew it (a rerun now would keep the stale lines on screen until the
        # whole page ran again); the next one draws the page once more, without the timer.
        if st.session_state.pop(SETTLED_KEY, False):
            st.rerun()
        st.session_state[SETTLED_KEY] = True
    if not any_live and live:
        st.rerun()  # a job started meanwhile (another tab, a worker's resume): start the timer


jobs_panel()
