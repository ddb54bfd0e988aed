"""What must look the same on every page: status badges, taxonomy names, emotion colours, a job's
estimate, and generated or typed text shown as the characters it is."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, get_args

import streamlit as st

from lib.core import vocabulary as vocab
from lib.core.redaction import redact_text
from lib.core.taxonomy import Taxonomy

if TYPE_CHECKING:  # only the annotation: the pages that draw an estimate have imported it already
    from lib.generation.estimate import Estimate

# status -> (label, streamlit colour), for scenario and review statuses alike
STATUS_BADGES: dict[str, tuple[str, str]] = {
    k: (t.label, t.colour) for k, t in {**vocab.REVIEW_STATUSES, **vocab.SCENARIO_STATUSES}.items()
}
# a job's kind in a few words, for a table's cell or a sentence (jobs.MODES says what each one means)
JOB_MODES = {"realtime": "Realtime", "batch": "Economy batch"}
STORE_KINDS = {"embedded": "Embedded PostgreSQL", "postgres": "PostgreSQL", "supabase": "Supabase"}
# what a demo replay stored (vocab.is_demo), in a line of badges: not for training, left out of exports
DEMO_BADGE = f":violet-badge[:material/smart_display: {vocab.DEMO_LABEL}]"

# A table's header and rows in pixels (Streamlit's row height), so a short table shows no empty space and
# a long one scrolls inside `cap`.
_HEADER_PX, _ROW_PX = 38, 35


def table_height(rows: int, cap: int | None = None) -> int:
    """The height that shows a table of `rows` rows whole, at most `cap` pixels."""
    height = _HEADER_PX + _ROW_PX * rows
    return height if cap is None else min(height, cap)


BadgeColour = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "grey", "primary"]
_BADGE_COLOURS: dict[str, BadgeColour] = {c: c for c in get_args(BadgeColour)}
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$=:")
WORD_JOINER = "\u2060"  # zero width, and no line break at it
# where GFM's autolink literals start: a scheme's colon, "www.", and the "@" of an email address
_AUTOLINK_TRIGGER = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp)(?=:)|\b(www)(?=\.)|(@)")


def badge(label: str, colour: str) -> None:
    """A badge in one of Streamlit's named colours (gray for a name it does not know)."""
    st.badge(label, color=_BADGE_COLOURS.get(colour, "gray"))


def status_badge(status: str) -> None:
    badge(*STATUS_BADGES.get(status, (status, "gray")))


def demo_ahead(made: str) -> str:
    """What a button without an API key will do: `made` ("they are generated") as a demo replay."""
    return (
        f"No Anthropic API key is configured: {made} as a {vocab.DEMO_LABEL.lower()}, at no cost "
        "(the estimate is what the API would charge)."
    )


def demo_note(made: str) -> str:
    """What a click without an API key did instead of calling Claude: `made` (what the demo replay writes)."""
    return (
        f"No Anthropic API key is configured, so this is a {vocab.DEMO_LABEL.lower()}: {made}, at no cost, "
        "marked as demo and left out of exports unless asked."
    )


def job_mode(kind: str | None, *, in_sentence: bool = False) -> str:
    """The short name of a job's kind: "Economy batch", or "economy batch" inside a sentence."""
    name = JOB_MODES["batch" if kind == "batch" else "realtime"]
    return name.lower() if in_sentence else name


def names(tax: Taxonomy, dimension: str) -> dict[str, str]:
    """id -> display name of a taxonomy dimension (Taxonomy.names, under the name the pages import)."""
    return tax.names(dimension)


def name_or_id(options: Mapping[str, str]) -> Callable[[str], str]:
    """A widget's format_func: the name of an id, or the id itself when it has none."""
    return lambda x: options.get(x, x)


def emotion_colours(tax: Taxonomy) -> dict[str, str]:
    """emotion id -> its colour, the same on every chart."""
    return {e.id: e.color for e in tax.emotions}


def estimate_figures(count: int, estimate: Estimate | None, what: str = "Conversations") -> None:
    """A job's size (count `what`), and its cost and time when they could be estimated, as the confirm
    dialogs show them."""
    cols = st.columns(3)
    cols[0].metric(what, f"{count:,}")
    if estimate is not None:
        cols[1].metric("Estimated cost", estimate.cost_text())
        cols[2].metric("Estimated time", estimate.time_text())
        st.caption(f"Estimate: {estimate.basis}.")


def error_text(exc: BaseException | str) -> str:
    """An error's words for a page: without secrets (lib.core.redaction), shown as the characters they
    are (an error can quote a value from data, or an endpoint's answer)."""
    return escape_markdown(redact_text(str(exc)))


def escape_markdown(text: str) -> str:
    """Generated or typed text as literal markdown: links, images, HTML, LaTeX and emphasis all
    show as the characters they are (CommonMark lets any ASCII punctuation be backslash-escaped), and
    no bare URL, www. address or email becomes a link. Streamlit's GitHub-flavoured markdown links
    those after the escapes are resolved, so an invisible word joiner breaks each trigger instead."""
    text = _AUTOLINK_TRIGGER.sub(lambda m: m.group(0) + WORD_JOINER, text)
    out = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
    return out.replace("\n", "  \n")  # keep the writer's line breaks
