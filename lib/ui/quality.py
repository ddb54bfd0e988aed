"""The Review page's quality panel: under each turn, the integrity findings on it (their quoted span
marked in the text) and the ratings that cite it (the judge's label suggestions are review_suggestions');
the Checks tab (the integrity report, hard failures first); the Ratings tab (per criterion the judge's
rating with its reason and cited turns beside a reviewer's, who can agree or override); and what stands
in the way of approval. The logic is lib/review's; this draws it and wires the buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

import lib.review as rv
from lib.core import limits
from lib.core.checks.base import Finding
from lib.core.rubric import RubricError
from lib.core.validation import is_hard
from lib.store import StoreError
from lib.ui import resources
from lib.ui.compat import LAZY, lazy
from lib.ui.display import escape_markdown as esc
from lib.ui.flash import flash, show_flash
from lib.ui.session import reviewer

RATE_HINT = (
    "Rate it with the judge: **Rate conversations** on the Generate page, or `python -m lib judge` on "
    "the command line. You can also rate each criterion yourself below."
)
NO_KEY_HINT = (
    "The judge is Claude and needs an API key: set ANTHROPIC_API_KEY, then use **Rate conversations** on the "
    "Generate page, or `python -m lib judge`. You can also rate each criterion yourself below."
)


# -- the turn ------------------------------------------------------------------------------------
def marked_text(text: str, findings: Sequence[Finding]) -> str:
    """The turn's text as literal markdown, each quoted span found in it marked (red: a hard check)."""
    marks: list[tuple[int, int, bool]] = []
    low = text.lower()
    for f in findings:
        at = low.find(f.span.lower()) if f.span else -1
        if f.span and at >= 0:
            marks.append((at, at + len(f.span), is_hard(f.check)))
    out, pos = [], 0
    for start, end, hard in sorted(marks):
        if start < pos:  # overlaps a span already marked
            continue
        out += [esc(text[pos:start]), f":{'red' if hard else 'orange'}-background[{esc(text[start:end])}]"]
        pos = end
    return "".join([*out, esc(text[pos:])])


def turn_notes(view: rv.ConversationView, idx: int, who: str) -> None:
    """What the checks and the judge say about one turn, under it in the chat."""
    for f in view.findings_for(idx):
        badge = (
            ":red-badge[:material/error: Hard check]" if is_hard(f.check) else ":orange-badge[:material/warning: Check]"
        )
        st.markdown(f"{badge} **{esc(rv.check_title(f.check))}**  \n:small[{esc(rv.finding_message(f))}]")
    for c in view.ratings.failing_on(idx):
        r = c.in_force
        assert r is not None
        by = "The judge" if r.source == "judge" else r.rater
        st.markdown(
            f":{'red' if r.hard else 'orange'}-badge[:material/gavel: {esc(c.name)} {r.score}/5] "
            f":small[{esc(by)} cites this turn: {esc(r.reason)}]"
        )


# -- the header and the decision ------------------------------------------------------------------
def rating_summary(view: rv.ConversationView) -> str:
    """Badges (markdown) for what the ratings and the checks say, for the conversation's header."""
    if view.hidden_ratings:  # the rating state counts another reviewer's ratings, hidden while deciding blind
        parts = [":gray-badge[:material/gavel: Ratings: see the Ratings tab]"]
    else:
        term = rv.RATING_STATES.get(view.rating_state, rv.RATING_STATES["unrated"])
        parts = [f":{term.colour}-badge[:material/gavel: {term.label}]"]
        if view.flag_reasons:
            parts.append(":small[" + esc("; ".join(view.flag_reasons)) + "]")
    if view.approval_block:
        n = len(view.quality.hard_failures)
        # n is 0 when what blocks it is a correction hidden from a blind second reviewer
        what = f"{n} hard check{'s' if n != 1 else ''} failed" if n else "Cannot be approved"
        parts.append(f":red-badge[:material/block: {what}]")
    return " ".join(parts)


def approval_note(view: rv.ConversationView) -> None:
    """Under the decision buttons: why Approve is off, and a hard rule the ratings fail."""
    if view.approval_block:
        st.markdown(":red[:material/block: **Cannot be approved.**] :small[" + esc(view.approval_block) + "]")
    hard = [c for c in view.ratings.criteria if c.in_force and c.hard and not c.in_force.passed]
    if hard:
        names = ", ".join(f"{c.name} {c.in_force.score}/5" for c in hard if c.in_force)
        st.markdown(
            f":orange[:material/gavel: **A hard rule fails: {esc(names)}.**] :small[An export with "
            "“no hard-rule failure” leaves it out even when approved. If the rating is wrong, override "
            "it in the Ratings tab.]"
        )


# -- the Checks tab --------------------------------------------------------------------------------
def checks_tab(view: rv.ConversationView) -> None:
    report = view.quality
    m = st.columns(3)
    m[0].metric("Quality score", f"{report.score}/10")
    m[1].metric("Checks passed", f"{sum(c.passed for c in report.checks)}/{len(report.checks)}")
    m[2].metric("Hard failures", len(report.hard_failures))
    st.caption(esc(view.quality_note) + " A hard failure blocks approval and export.")
    failures = sorted(report.failures, key=lambda c: not is_hard(c.name))
    for check in failures:
        hard = is_hard(check.name)
        head = (
            ":red[:material/cancel:]" if hard else ":orange[:material/warning:]"
        ) + f" **{esc(rv.check_title(check.name))}**"
        head += " :red-badge[Hard: blocks approval]" if hard else " :gray-badge[Soft]"
        found = [f for f in report.findings if f.check == check.name]
        lines = [
            f"- {'Turn ' + str(f.turn) if f.turn is not None else 'Whole conversation'}: {esc(rv.finding_message(f))}"
            for f in found
        ] or [f"- {esc(check.reason)}"]
        st.markdown(head + "\n" + "\n".join(lines))
    if not failures:
        st.success("Every check passes.", icon=":material/check_circle:")
    passed = [c for c in report.checks if c.passed]
    with st.expander(f"{len(passed)} checks passed"):
        for check in passed:
            st.markdown(
                f":green[:material/check_circle:] **{esc(rv.check_title(check.name))}**  \n:small[{esc(check.reason)}]"
            )


# -- the Ratings tab -------------------------------------------------------------------------------
def _score_badge(r: rv.Rating, who: str, in_force: bool) -> str:
    colour = "green" if r.passed else ("red" if r.hard else "orange")
    text = f"{who} {r.score}/5" + (" · in force" if in_force else "")
    return f":{colour}-badge[{esc(text)}]"


def ratings_tab(view: rv.ConversationView, who: str) -> None:
    r = view.ratings
    if not r.judged:
        # the judge is Claude: without a key, say so rather than send people to a disabled button
        hint = RATE_HINT if resources.settings().has_api_key else NO_KEY_HINT
        st.info("**Not rated by the judge yet.** " + hint, icon=":material/gavel:")
    else:
        st.caption(
            f"Judged by {esc(r.judge_model or '')} on {r.judged_at:%Y-%m-%d %H:%M UTC}. A reviewer's rating "
            "of a criterion is in force over the judge's; both are kept."
        )
    for c in r.criteria:
        with st.container(border=True):
            st.markdown(
                f"**{esc(c.name)}**"
                + (" :red-badge[hard rule]" if c.hard else "")
                + f" :small[:gray[passes at {c.pass_at} of 5]]",
                help=esc(c.question) if c.question else None,
            )
            force = c.in_force
            both = c.judge is not None and c.human is not None  # then say which one counts
            for rating, label in ((c.judge, "Judge"), (c.human, c.human.rater if c.human else "")):
                if rating is not None:
                    cited = f" · {rating.cited_text}" if rating.cited_text else ""
                    st.markdown(
                        _score_badge(rating, label, both and rating is force)
                        + f" :small[{esc(rating.reason)}{esc(cited)}]"
                    )
            if force is None:
                st.caption("Not rated.")
            show_flash(rv.FLASH_KEY, f"rating-{c.id}")
            b = st.columns([1, 1.3], vertical_alignment="center")
            agreed = c.judge is not None and c.human is not None and c.human.score == c.judge.score
            b[0].button(
                "Agree",
                icon=":material/thumb_up:",
                key=f"rv_agree_{view.id}_{c.id}",
                on_click=_agree,
                args=(view.id, c.id),
                disabled=not who or c.judge is None or agreed,
                width="stretch",
                help=(
                    "You agree with the judge's score."
                    if agreed
                    else "Record the judge's score as yours."
                    if c.judge
                    else "The judge has not rated it."
                ),
            )
            pop = b[1].popover(
                "Override" if c.judge else "Rate",
                icon=":material/edit:",
                disabled=not who,
                width="stretch",
                help=None if who else "Enter your name first",
                **lazy(f"rv_ratepop_{view.id}_{c.id}"),
            )
            if not LAZY or pop.open:
                _rating_form(pop, view, c)


def _rating_form(pop: Any, view: rv.ConversationView, c: rv.CriterionView) -> None:
    key = f"rv_rate_{view.id}_{c.id}"
    current = c.human or c.judge
    with pop:
        if c.question:
            st.caption(esc(c.question))
        st.caption("  \n".join(f"**{p}**: {esc(t)}" for p, t in sorted(c.anchors.items())))
        st.radio(
            "Score",
            [1, 2, 3, 4, 5],
            index=(current.score - 1) if current else None,
            horizontal=True,
            key=f"{key}_score",
        )
        why = "What in the conversation earns this score"
        st.text_area("Why", key=f"{key}_why", height=80, max_chars=limits.REASON.max_chars, placeholder=why)
        st.button(
            "Save rating",
            type="primary",
            icon=":material/save:",
            key=f"{key}_save",
            on_click=_rate,
            args=(view.id, c.id),
        )


# -- callbacks -------------------------------------------------------------------------------------
def conversation_view(conversation_id: str) -> rv.ConversationView:
    """The conversation a callback acts on, read again (callbacks run before the script), as the reviewer
    was shown it: a blind reviewer's correction is of the labels they saw, not of the hidden ones."""
    view = rv.load_view(resources.store(), conversation_id, resources.taxonomy(), resources.rubric())
    if view is None:
        raise rv.ReviewError(f"Conversation {conversation_id} no longer exists; refresh the queue.")
    return rv.as_seen_by(view, reviewer(), resources.taxonomy())


def _run(where: str, action: Any) -> None:
    try:
        result = action()
    except (rv.ReviewError, StoreError, RubricError) as exc:
        flash(rv.FLASH_KEY, "error", str(exc), where)
        return
    flash(rv.FLASH_KEY, "success", result.message, where)


def _agree(conversation_id: str, criterion: str) -> None:
    _run(
        f"rating-{criterion}",
        lambda: rv.agree(
            resources.store(),
            conversation_view(conversation_id),
            criterion,
            rater=reviewer(),
            rubric=resources.rubric(),
        ),
    )


def _rate(conversation_id: str, criterion: str) -> None:
    key = f"rv_rate_{conversation_id}_{criterion}"
    score = st.session_state.get(f"{key}_score")

    def action() -> rv.ActionResult:
        if score is None:
            raise rv.ReviewError("Choose a score from 1 to 5 first.")
        result = rv.rate(
            resources.store(),
            conversation_view(conversation_id),
            criterion,
            int(score),
            rater=reviewer(),
            reason=st.session_state.get(f"{key}_why", ""),
            rubric=resources.rubric(),
        )
        st.session_state.pop(f"{key}_why", None)
        st.session_state[f"rv_ratepop_{conversation_id}_{criterion}"] = False  # close the popover
        return result

    _run(f"rating-{criterion}", action)
