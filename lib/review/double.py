"""Double review as a reviewer sees it: a conversation sent to a second reviewer (the database assigns
it, see supabase/migrations/20261203000600_double_review.sql) is shown blind to anyone who has not decided
on it yet. Blind means the labels as they were before the first reviewer touched them (their corrections,
and any made after the first decision by others, are left out), no decision history, no status, no one
else's ratings, and only the suggested corrections that do not show a hidden correction or decision. Once
the reviewer has decided, the conversation shows as to everyone: both decisions, every correction.

A blind reviewer's corrections are revisions like any other, recorded under their own name; their decision
is checked against every decision made so far, shown or not (the stale-decision guard)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lib.core.models import Conversation, LabelRevision
from lib.core.taxonomy import Taxonomy
from lib.review.ratings import RatingsView
from lib.review.suggestions import SuggestionView
from lib.review.text import label_value_text
from lib.review.view import ConversationView, build_view

# what the page says to a reviewer who decides blind
BLIND_BADGE = "Second review"
BLIND_NOTE = (
    "You are the second reviewer of this conversation. The first decision and its label corrections are "
    "hidden so that you judge it on your own; they show once you have decided."
)

HIDDEN_BLOCK = (
    "A label correction made in the first review fails a hard check, and an approval is of the labels in force. "
    "Mark it needs edit or reject it; the correction shows once you have decided."
)


def is_blind(row: Mapping[str, Any], reviewer: str) -> bool:
    """Whether `reviewer` must decide on this conversation (its v_review_queue row) without seeing the
    first review: it waits for a second review and they have not decided on it."""
    reviewers = [str(r) for r in row.get("reviewers") or ()]
    return bool(row.get("second_review_due")) and bool(reviewer.strip()) and reviewer.strip() not in reviewers


def as_seen_by(view: ConversationView, reviewer: str, tax: Taxonomy) -> ConversationView:
    """The view for `reviewer`: the blind one while they owe the second review, else `view` itself."""
    if not is_blind(view.row, reviewer):
        return view
    me = reviewer.strip()
    others = {str(d["reviewer"]) for d in view.decisions} - {me}
    first: datetime | None = min((d["created_at"] for d in view.decisions), default=None)
    kept = [
        r
        for r in view.conversation.label_history
        if r.author == me or (r.author not in others and (first is None or r.at < first))
    ]
    conv = view.conversation.model_copy(update={"label_history": _rebased(view.conversation, kept)})
    row = {**view.row, "review_status": "unreviewed", "last_reviewer": None, "last_decision_at": None}
    versions = [{**v, "review_status": "unreviewed"} if v["id"] == view.id else v for v in view.versions]
    ratings, hidden_ratings = _own_ratings(view.ratings, me)
    blind = build_view(conv, row, reviews=[], versions=versions, metadata={}, tax=tax, ratings=ratings)
    return dataclasses.replace(
        blind,
        details=[d for d in view.details if not d[1].startswith("review.")],  # e.g. why it stopped being a seed
        hidden_decisions=len(view.decisions),
        hidden_block=HIDDEN_BLOCK if view.approval_block and not blind.approval_block else None,
        hidden_ratings=hidden_ratings,
        hidden_turns=frozenset(r.turn for r in view.conversation.label_history if r not in kept),
    )


def _rebased(conv: Conversation, kept: Sequence[LabelRevision]) -> list[LabelRevision]:
    """The kept revisions, each from the value the blind reviewer saw before it: one of theirs made over a
    hidden correction would otherwise name the hidden value as what it changed."""
    out: list[LabelRevision] = []
    for r in sorted(kept, key=lambda r: r.at):
        seen = conv.model_copy(update={"label_history": out}).current_value(r.turn, r.field)
        out.append(r.model_copy(update={"old_value": seen}))
    return out


def _own_ratings(ratings: RatingsView, me: str) -> tuple[RatingsView, int]:
    """The ratings without another person's (the judge's stay), and how many were left out."""
    hidden = [c for c in ratings.criteria if c.human is not None and c.human.rater != me]
    if not hidden:
        return ratings, 0
    criteria = [dataclasses.replace(c, human=None) if c in hidden else c for c in ratings.criteria]
    return dataclasses.replace(ratings, criteria=criteria), len(hidden)


def suggestions_seen_by(
    view: ConversationView, found: Sequence[SuggestionView], reviewer: str, tax: Taxonomy
) -> list[SuggestionView]:
    """The suggested corrections a reviewer deciding blind may see: the open ones made for the label they see
    in force (one made for, or stale against, a hidden correction would show it) on a turn without a hidden
    correction (a check's finding on the labels in force names the hidden value: a sub-emotion "not in" the
    corrected family), and those they decided themselves; everyone else sees them all."""
    if not view.hidden_decisions:
        return list(found)
    me = reviewer.strip()
    return [
        s
        for s in found
        if s.decided_by == me
        or (
            s.turn not in view.hidden_turns  # a check's finding there can name the hidden value
            and s.acceptable
            and s.now == label_value_text(s.field, view.conversation.current_value(s.turn, s.field), tax)
        )
    ]
