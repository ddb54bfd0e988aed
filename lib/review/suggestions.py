"""Suggested label revisions: the labels the judge's findings and the integrity checks would change, which a
reviewer accepts (a label revision with source 'automated', recorded for that reviewer) or dismisses, one at
a time or every open one of a conversation at once.

The judge's findings become suggestions in the database as they are saved. The checks run here, on the
labels in force, and what they know a better value for is proposed (public.propose_label_suggestions, for
operators and the service: a reviewer who could propose a value and accept it would make an 'automated'
revision of their own). Whether a suggestion is stale (made for a value no longer in force) is the
database's answer, read with the suggestions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lib.core import limits
from lib.core.taxonomy import Taxonomy
from lib.core.validation import QualityReport
from lib.core.vocabulary import SUGGESTION_ORIGINS, SUGGESTION_STATUSES
from lib.review.actions import ActionResult, need_name
from lib.review.errors import ReviewError
from lib.review.labels import FIELD_LABELS
from lib.review.text import label_value_text
from lib.review.view import check_title, finding_message
from lib.store.protocol import PermissionDenied, Store


@dataclass(frozen=True)
class SuggestionView:
    id: int
    turn: int
    field: str
    field_label: str
    origin: str  # 'judge' or 'check'
    check: str  # the check's name, for a check's suggestion
    current: str  # the value it was made for, as text
    suggested: str
    now: str  # the value in force now
    reason: str
    status: str
    stale: bool  # open, but the label was revised since: it cannot be accepted
    decided_by: str | None
    decided_at: datetime | None

    @property
    def summary(self) -> str:
        return f"{self.field_label}: {self.current} → {self.suggested}"

    @property
    def acceptable(self) -> bool:
        return self.status == "open" and not self.stale

    @property
    def origin_label(self) -> str:
        return SUGGESTION_ORIGINS.get(self.origin, self.origin)

    @property
    def status_label(self) -> str:
        term = SUGGESTION_STATUSES.get(self.status)
        return term.label if term is not None else self.status


def from_checks(report: QualityReport) -> list[dict[str, Any]]:
    """The integrity findings that name a label and a better value for it, once per (turn, field, value)."""
    out: dict[tuple[int, str, str], dict[str, Any]] = {}
    for f in report.findings:
        if f.field is None or f.turn is None:
            continue
        key = (f.turn, f.field, json.dumps(f.suggested, sort_keys=True))
        out.setdefault(
            key,
            {
                "turn": f.turn,
                "field": f.field,
                "suggested_value": f.suggested,
                "reason": f"{check_title(f.check)}: {finding_message(f)}"[: limits.REASON.max_chars],
                "check": f.check,
            },
        )
    return list(out.values())


def propose_from_checks(store: Store, conversation_id: str, report: QualityReport) -> int:
    """Propose the checks' suggestions for one conversation; how many were new. A caller without the
    operator role proposes nothing (0): the judge's suggestions still come in."""
    rows = from_checks(report)
    if not rows:
        return 0
    try:
        return store.propose_label_suggestions(conversation_id, rows)
    except PermissionDenied:
        return 0


def load(store: Store, conversation_id: str, tax: Taxonomy) -> list[SuggestionView]:
    """The suggestions on a conversation, open ones first (by turn, a primary emotion before the rest)."""
    return [_view(r, tax) for r in store.label_suggestions(conversation_id)]


def _view(r: Mapping[str, Any], tax: Taxonomy) -> SuggestionView:
    name = str(r["field"])
    return SuggestionView(
        id=int(r["id"]),
        turn=int(r["turn_idx"]),
        field=name,
        field_label=FIELD_LABELS.get(name, name),
        origin=str(r["origin"]),
        check=str(r.get("origin_ref") or "") if r["origin"] == "check" else "",
        current=label_value_text(name, r["current_value"], tax),
        suggested=label_value_text(name, r["suggested_value"], tax),
        now=label_value_text(name, r["in_force"], tax),
        reason=str(r.get("reason") or ""),
        status=str(r["status"]),
        stale=bool(r["stale"]),
        decided_by=r.get("decided_by"),
        decided_at=r.get("decided_at"),
    )


def open_ones(suggestions: Sequence[SuggestionView]) -> list[SuggestionView]:
    return [s for s in suggestions if s.status == "open"]


def acceptable_together(suggestions: Sequence[SuggestionView]) -> list[SuggestionView]:
    """The open, current suggestions that can be accepted in one go: one per (turn, field), the first in the
    database's order (two for the same label would make the second stale as the first is accepted)."""
    seen: set[tuple[int, str]] = set()
    out = []
    for s in suggestions:
        if s.acceptable and (s.turn, s.field) not in seen:
            seen.add((s.turn, s.field))
            out.append(s)
    return out


def _who(reviewer: str, what: str) -> str:
    return need_name(reviewer, what, "the revision")


def accept(store: Store, chosen: Sequence[SuggestionView], *, reviewer: str) -> ActionResult:
    """Accept suggestions: each an 'automated' revision recorded for the reviewer. A stale one is refused."""
    who = _who(reviewer, "accept a suggestion")
    if not chosen:
        raise ReviewError("No open suggestion to accept: each was decided, or the label was revised since.")
    stale = [s for s in chosen if not s.acceptable]
    if stale:
        s = stale[0]
        raise ReviewError(
            f"Turn {s.turn}: the suggestion for the {s.field_label.lower()} was made for {s.current}, and it is "
            f"{s.now} now. Dismiss it, or correct the label by hand."
            if s.stale
            else f"Turn {s.turn}: that suggestion was already {s.status_label.lower()}."
        )
    ids = store.decide_label_suggestions([s.id for s in chosen], "accepted", by=who)
    if len(chosen) == 1:
        s = chosen[0]
        return ActionResult(
            f"Turn {s.turn}: {s.summary}, as {s.origin_label.lower()} suggested, recorded for {who}. "
            "The first-pass label is kept in the history.",
            ids,
        )
    return ActionResult(f"Accepted {len(chosen)} suggested corrections, recorded for {who}.", ids)


def dismiss(store: Store, chosen: Sequence[SuggestionView], *, reviewer: str) -> ActionResult:
    """Dismiss suggestions (stale ones too); the labels stay as they are."""
    who = _who(reviewer, "dismiss a suggestion")
    chosen = open_ones(chosen)
    if not chosen:
        raise ReviewError("No open suggestion to dismiss: each was decided already.")
    store.decide_label_suggestions([s.id for s in chosen], "dismissed", by=who)
    if len(chosen) == 1:
        return ActionResult(f"Turn {chosen[0].turn}: dismissed the suggestion; the label stays {chosen[0].now}.")
    return ActionResult(f"Dismissed {len(chosen)} suggestions; the labels stay as they are.")
