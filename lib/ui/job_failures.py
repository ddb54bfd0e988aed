"""A job's failures on the Generate page: grouped by cause, each with its count, what to do, and one
example that opens on a click, so a hundred failures with one cause are one line, not a wall."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

import streamlit as st

from lib.generation.causes import cause_of
from lib.store import Store, StoreError
from lib.ui.display import error_text, escape_markdown

EXAMPLE_CHARS = 1_200  # an example longer than this is cut; the scenario's detail has the whole reason


def failures_by_cause(store: Store, job_id: int, failed: int) -> None:
    """The job's failed items grouped by cause, the most frequent first; each group expands to its example."""
    if not failed:
        return
    try:
        groups = store.job_failure_causes(job_id)
    except StoreError as exc:
        st.error(f"Cannot read the failures of job #{job_id}: {error_text(exc)}")
        return
    st.markdown(
        f"##### Failures: {failed:,} · {len(groups)} cause{'' if len(groups) == 1 else 's'}",
        help="Each cause once, with how many items it failed and what to do; open one to read an example.",
    )
    for group in groups:
        cause_panel(group)


def failure_line(item: Mapping[str, Any]) -> str:
    """A scenario's latest failure (a failed job item) in one paragraph: when, which job, why, what to do."""
    at = item.get("finished_at")
    when = f" on {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if at else ""
    reason = str(item.get("error") or "no reason recorded")
    if len(reason) > EXAMPLE_CHARS:
        reason = reason[:EXAMPLE_CHARS] + " …"
    cause = cause_of(item.get("error_cause"))
    return (
        f"**The latest generation failed**{when} (job #{item.get('job_id')}): {escape_markdown(reason)}  \n"
        f"{escape_markdown(cause.advice)}"
    )


def cause_panel(group: Mapping[str, Any]) -> None:
    cause = cause_of(group.get("cause"))
    n = int(group.get("failures") or 0)
    with st.expander(f"**{n:,}** × {cause.title}", icon=":material/error:"):
        st.markdown(f":material/lightbulb: {escape_markdown(cause.advice)}")
        example = str(group.get("example") or "")
        if len(example) > EXAMPLE_CHARS:
            example = example[:EXAMPLE_CHARS] + " …"
        at = group.get("last_at")
        when = f" · latest {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if at else ""
        st.caption(f"Example: scenario #{group.get('example_scenario_id')}{when}")
        st.code(example or "(no reason recorded)", language=None, wrap_lines=True)
