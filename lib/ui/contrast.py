"""Review's "Contrastive turns" for an approved conversation: ask for failed responses for one assistant turn or
all of them (the kinds default to those that suit each turn), follow the job while it writes, and read each
pair side by side (the approved turn | the failed one, with the kind and why it fails) to accept or reject it.
Without an API key the job runs as a demo replay, as "Make variations" does (lib.ui.variations), and its pairs
carry the "Demo replay" badge."""

from __future__ import annotations

import streamlit as st

from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy
from lib.generation.app_worker import start_demo_worker
from lib.generation.contrast_jobs import ContrastAsk, start_contrast_job
from lib.generation.contrast_prompt import MAX_PER_KIND, response_count
from lib.generation.estimate import Estimate, estimate_contrast
from lib.generation.jobs import RunnerError, generation_off_reason
from lib.generation.llm import LLMSettings
from lib.review import contrast as ct
from lib.store import StoreError
from lib.ui import auth, resources
from lib.ui.display import DEMO_BADGE, demo_ahead, demo_note, error_text, escape_markdown, estimate_figures
from lib.ui.flash import flash, show_flash
from lib.ui.session import reviewer

FLASH_KEY = "ct_flash"
ALL_TURNS = -1  # the turn picker's "every assistant turn"
POLL_S = 3


def section(conv: Conversation, status: str, is_current: bool) -> None:
    """The section under an approved current version (nothing for any other: the export reads the pairs of
    current versions only)."""
    if status != "approved" or not is_current:
        return
    tax = resources.taxonomy()
    st.divider()
    st.markdown("#### :material/compare_arrows: Contrastive turns")
    st.caption(
        "Failed responses written in place of this conversation's assistant turns, each of a named kind with why "
        "it fails. An accepted pair (the approved turn | the failed one) is exported for preference training, "
        "never into the supervised files."
    )
    if not tax.failures.kinds:
        st.info("The taxonomy has no failure kinds: add taxonomy/failures.yaml to write contrastive turns.")
        return
    show_flash(FLASH_KEY, "contrast")
    if auth.can("generate"):
        ask_form(conv, tax)
    pairs_view(conv)


def ask_form(conv: Conversation, tax: Taxonomy) -> None:
    off = generation_off_reason(resources.settings())
    choices = {ALL_TURNS: "Every assistant turn", **ct.turn_choices(conv, tax)}
    cols = st.columns([2, 3, 1, 1.4], vertical_alignment="bottom")
    turn = cols[0].selectbox("Turn", list(choices), format_func=choices.__getitem__, key=f"ct_turn_{conv.id}")
    picked = None if turn == ALL_TURNS else int(turn)
    kinds = tax.failures.by_id
    cols[1].multiselect(
        "Failure kinds",
        list(kinds),
        default=ct.suited_kinds(conv, tax, picked) if picked is not None else [],
        format_func=lambda k: kinds[k].name,
        key=f"ct_kinds_{conv.id}_{turn}",
        placeholder="The kinds that suit each turn",
        help="Empty: each turn gets the kinds that suit the emotion of the person's turn before it "
        "(taxonomy/failures.yaml).",
    )
    cols[2].number_input("Each", min_value=1, max_value=MAX_PER_KIND, value=1, key=f"ct_n_{conv.id}")
    ask = asked(picked, f"ct_kinds_{conv.id}_{turn}", f"ct_n_{conv.id}")
    figures = estimate(conv, tax, ask)
    cols[3].button(
        "Write failed turns",
        icon=":material/compare_arrows:",
        type="primary",
        width="stretch",
        on_click=start,
        args=(conv.id, ask, figures[1] if figures else None),
        disabled=not reviewer(),
        key=f"ct_go_{conv.id}",
        help=None if reviewer() else "Enter your name first",
    )
    if figures:
        estimate_figures(*figures, what="Failed responses")
    if off:
        st.caption(":material/smart_display: " + demo_ahead("the failed turns are written"))


def asked(turn: int | None, kinds_key: str, n_key: str) -> ContrastAsk:
    """What the form asks for: one turn or every one, the kinds chosen (none: those that suit), n of each."""
    return ContrastAsk(
        turns=(turn,) if turn is not None else None,
        kinds=tuple(st.session_state.get(kinds_key) or ()) or None,
        n=int(st.session_state.get(n_key) or 1),
    )


def estimate(conv: Conversation, tax: Taxonomy, ask: ContrastAsk) -> tuple[int, Estimate | None] | None:
    """How many failed responses the ask writes and what they cost, as the Generate page estimates a job;
    None (with the reason) when the ask cannot be written."""
    try:
        asks = ask.asks_for(conv, tax)
    except ValueError as exc:  # too many, or no kind suits: the click says so too
        st.caption(f"Nothing to estimate: {error_text(exc)}")
        return None
    try:
        llm = LLMSettings.from_settings(resources.settings())
        figures = estimate_contrast(
            resources.store(),
            [(conv, asks, ask.n)],
            mode="realtime",
            llm_settings=llm,
            concurrency=resources.settings().concurrency,
            tax=tax,
            counter=resources.token_counter(),
        )
    except (StoreError, ValueError) as exc:
        st.error(f"Cannot estimate these failed turns: {error_text(exc)}")
        return response_count(asks, ask.n), None
    return response_count(asks, ask.n), figures


def start(conversation_id: str, ask: ContrastAsk, figures: Estimate | None) -> None:
    store, settings = resources.store(), resources.settings()
    off = generation_off_reason(settings)
    try:
        job_id, _ = start_contrast_job(
            store,
            [conversation_id],
            ask,
            resources.taxonomy(),
            model=settings.model,
            created_by=reviewer(),
            estimate=figures,
            demo=bool(off),
        )
        if off:
            start_demo_worker(store, job_id, settings)
    except (RunnerError, StoreError) as exc:
        flash(FLASH_KEY, "error", error_text(exc), "contrast")
        return
    note = f"Job #{job_id} is writing the failed turns; it is listed on the Generate page."
    if off:
        note += " " + demo_note("failed turns written from set patterns of each kind")
    flash(FLASH_KEY, "success", note, "contrast")


def pairs_view(conv: Conversation) -> None:
    """The pairs; while a contrastive job writes for this conversation, a fragment that reads them again
    every few seconds."""
    try:
        running = ct.contrast_in_progress(resources.store(), conv.id)
    except StoreError as exc:
        st.error(f"The contrastive turns could not be read: {error_text(exc)}")
        return
    if running is None:
        pairs_area(conv, None)
    else:
        st.fragment(pairs_area, run_every=POLL_S)(conv, running)


def pairs_area(conv: Conversation, job_id: int | None) -> None:
    store, tax = resources.store(), resources.taxonomy()
    try:
        if job_id is not None and ct.contrast_in_progress(store, conv.id) is None:
            st.rerun()  # the job ended: draw the page once more, without the timer
        rows = store.contrastive_responses(conv.id)
    except StoreError as exc:
        st.error(f"The contrastive turns could not be read: {error_text(exc)}")
        return
    if job_id is not None:
        st.info(f"Job #{job_id} is writing failed turns for this conversation…", icon=":material/hourglass_top:")
    found = ct.pairs(conv, rows, tax)
    st.caption(ct.summary(found))
    can_decide = auth.can("review") and bool(reviewer())
    for p in found:
        pair_card(p, can_decide)


def pair_card(p: ct.Pair, can_decide: bool) -> None:
    """One pair side by side: the approved turn | the failed one with its kind and why, and the decision."""
    with st.container(border=True, key=f"ct_pair_{p.id}"):
        head = st.columns([4, 1.4], vertical_alignment="center")
        head[0].markdown(
            f"**Turn {p.turn}** · :orange-badge[{escape_markdown(p.kind_name)}] "
            f":{p.status_colour}-badge[{p.status_label}]"
            + (f" {DEMO_BADGE}" if p.demo else "")
            + (f" :small[:gray[by {escape_markdown(p.reviewed_by)}]]" if p.reviewed_by else "")
        )
        left, right = st.columns(2, gap="medium")
        left.markdown(":green[**Approved turn**]")
        left.markdown(escape_markdown(p.chosen))
        right.markdown(":red[**Failed response**]")
        right.markdown(escape_markdown(p.rejected))
        right.caption("Why it fails: " + escape_markdown(p.why))
        buttons = head[1].columns(2)
        why_not = None if can_decide else "Reviewers decide; enter your name first"
        for col, (decision, label, icon) in zip(
            buttons,
            [("accepted", "Accept", ":material/thumb_up:"), ("rejected", "Reject", ":material/thumb_down:")],
            strict=True,
        ):
            col.button(
                label,
                icon=icon,
                key=f"ct_{decision}_{p.id}",
                on_click=decide,
                args=(p.id, decision, p.demo),
                disabled=not can_decide or p.status == decision,
                help=why_not,
            )


def decide(response_id: int, decision: str, demo: bool) -> None:
    try:
        resources.store().decide_contrast(response_id, decision, reviewer=reviewer())
    except StoreError as exc:
        flash(FLASH_KEY, "error", error_text(exc), "contrast")
        return
    word = "accepted: it goes into the preference export" if decision == "accepted" else "rejected"
    if demo and decision == "accepted":
        word += " when it includes demo replays"
    flash(FLASH_KEY, "success", f"Contrast #{response_id} {word}.", "contrast")
