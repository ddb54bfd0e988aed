"""The review queue: which conversations it holds (the filters), the snapshot of their ids, and
moving through it.

The queue is a list of conversation ids taken once per filter change (a snapshot), so the
position ("12 of 40") stays put while the reviewer decides; a decided conversation keeps its
place and shows its new status until the queue is refreshed. The store orders it: conversations
whose ratings failed a hard rule first, then the other flagged ones, then the rest, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lib.core.rubric import Rubric, default_rubric
from lib.core.taxonomy import Taxonomy
from lib.review.labels import (
    DEFAULT_STATUSES,
    GROUP_DIMENSIONS,
    GROUP_LABELS,
    RATING_FILTER_LABELS,
    RATING_FILTERS,
    SOURCE_LABELS,
    STATUS_LABELS,
)
from lib.review.text import name
from lib.store.protocol import Store

# Session-state keys of the Review page (IDs and small dicts only).
FILTERS_KEY = "br_review_filters"  # QueueFilters.as_dict()
QUEUE_KEY = "br_review_queue"  # {"filters": QueueFilters.as_dict(), "ids": [conversation ids], "at": iso time}
CURRENT_KEY = "br_review_current"  # the conversation id on screen
FLASH_KEY = "br_review_flash"  # (kind, message) to show once on the next run
ADVANCE_KEY = "br_review_advance"  # move on after a decision (default on)
QUERY_PARAM = "conversation"  # ?conversation=<id> opens that conversation


@dataclass(frozen=True)
class QueueFilters:
    """What the queue holds. Empty tuples filter nothing; the default is "not reviewed yet".
    rating: a RATING_FILTERS choice ("" any); below: keep a rating in force below this score (0: no
    limit), of `criterion` when one is chosen, else of any criterion. A criterion without `below` keeps
    the conversations whose rating of it is below its pass mark."""

    status: tuple[str, ...] = DEFAULT_STATUSES
    tier: tuple[str, ...] = ()
    persona: tuple[str, ...] = ()
    emotional_arc: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    reviewer: tuple[str, ...] = ()
    quality: tuple[int, int] = (1, 10)
    rating: str = ""
    below: int = 0
    criterion: str = ""

    LISTS = ("status", "tier", "persona", "emotional_arc", "topic", "source", "reviewer")

    def store_filters(self, rubric: Rubric | None = None) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {k: list(getattr(self, k)) for k in self.LISTS if getattr(self, k)}
        if self.rating:
            out["rating"] = list(RATING_FILTERS[self.rating])
        if self.criterion:
            limit = self.below or _pass_mark(rubric or default_rubric(), self.criterion)
            out["scores"] = [f"{self.criterion}={n}" for n in range(1, limit)] or [f"{self.criterion}=0"]
        elif self.below:
            out["min_rating"] = list(range(1, self.below)) or [0]
        return out

    def is_default(self) -> bool:
        return self == QueueFilters()

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: list(getattr(self, k)) for k in self.LISTS},
            "quality": list(self.quality),
            "rating": self.rating,
            "below": self.below,
            "criterion": self.criterion,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> QueueFilters:
        if not data:
            return cls()
        lists = {k: tuple(str(v) for v in data.get(k, ()) or ()) for k in cls.LISTS}
        low, high = [*(data.get("quality") or (1, 10)), 10][:2]
        low, high = max(1, min(10, int(low))), max(1, min(10, int(high)))
        rating = str(data.get("rating") or "")
        below = int(data.get("below") or 0)
        return cls(
            **lists,
            quality=(min(low, high), max(low, high)),
            rating=rating if rating in RATING_FILTERS else "",
            below=below if 2 <= below <= 5 else 0,
            criterion=str(data.get("criterion") or ""),
        )

    def to_query(self) -> dict[str, list[str]]:
        """The filters as URL parameters (a list repeats the parameter: a name may hold a comma); what is
        at its default stays out. Parameters named and empty ("status=") mean "any"."""
        default = QueueFilters()
        out: dict[str, list[str]] = {}
        for key in self.LISTS:
            if getattr(self, key) != getattr(default, key):
                out[key] = list(getattr(self, key)) or [""]
        if self.quality != default.quality:
            out["quality"] = [f"{self.quality[0]}-{self.quality[1]}"]
        for key in ("rating", "below", "criterion"):
            if getattr(self, key) != getattr(default, key):
                out[key] = [str(getattr(self, key))]
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, Sequence[str]]) -> QueueFilters:
        """The filters a URL names (to_query's parameters); others keep their default."""
        data: dict[str, Any] = {}
        for key in cls.LISTS:
            if key in params:
                data[key] = [v for v in params[key] if v]
        if params.get("quality"):
            low, _, high = str(params["quality"][-1]).partition("-")
            if low.isdigit() and high.isdigit():
                data["quality"] = [int(low), int(high)]
        for key in ("rating", "criterion"):
            if params.get(key):
                data[key] = str(params[key][-1])
        if params.get("below") and str(params["below"][-1]).isdigit():
            data["below"] = int(params["below"][-1])
        return cls.from_dict({**cls().as_dict(), **data})

    def replace(self, **changes: Any) -> QueueFilters:
        return QueueFilters.from_dict(
            {**self.as_dict(), **{k: v if isinstance(v, (str, int)) else list(v) for k, v in changes.items()}}
        )


def _pass_mark(rubric: Rubric, criterion: str) -> int:
    return rubric.criterion(criterion).pass_at if criterion in rubric.ids else 3


# the filters a summary names, in the order the page lists them (status is said apart)
_SUMMARY_LABELS: dict[str, str] = {
    "source": "Source",
    **{key: GROUP_LABELS[key] for key in ("tier", "persona", "emotional_arc", "topic")},
    "reviewer": "Reviewed by",
}


def filter_summary(filters: QueueFilters, tax: Taxonomy) -> list[str]:
    """The filters in use other than status, one short text each ("Persona: Anxious investor +2",
    "Quality 3-10"), with names for the ids."""
    out: list[str] = []
    for key, label in _SUMMARY_LABELS.items():
        if key == "source":
            values = [SOURCE_LABELS.get(v, v) for v in filters.source]
        elif key in GROUP_DIMENSIONS:
            items = tax.by_id(GROUP_DIMENSIONS[key])
            values = [name(items, v) for v in getattr(filters, key)]
        else:
            values = list(getattr(filters, key))
        if values:
            out.append(f"{label}: " + ", ".join(values[:2]) + (f" +{len(values) - 2}" if len(values) > 2 else ""))
    if filters.quality != (1, 10):
        out.append(f"Quality {filters.quality[0]}-{filters.quality[1]}")
    if filters.rating:
        out.append(f"Rating: {RATING_FILTER_LABELS[filters.rating].split(' (')[0]}")
    if filters.criterion or filters.below:
        what = filters.criterion.replace("_", " ").capitalize() if filters.criterion else "A rating"
        out.append(f"{what} below {filters.below}" if filters.below else f"{what} below its pass mark")
    return out


def status_summary(filters: QueueFilters) -> str:
    return f"Status: {', '.join(STATUS_LABELS[s] for s in filters.status) or 'any'}"


# ---- the snapshot -------------------------------------------------------------------------------
def load_queue(store: Store, filters: QueueFilters, rubric: Rubric | None = None, reviewer: str = "") -> list[str]:
    """The conversation ids in the queue (current versions only), flagged ones first, then oldest first.
    A second review `reviewer` may take is, to them, a conversation nobody has decided on (they decide
    blind): a status or "Reviewed by" filter that would keep it for the first decision leaves it out, and
    while the queue holds the conversations not reviewed yet, it comes first (where the other filters keep
    it): a second review is waiting for them as much as a first one."""
    quality = None if filters.quality == (1, 10) else (float(filters.quality[0]), float(filters.quality[1]))
    ids = store.review_queue_ids(filters.store_filters(rubric), quality=quality)
    second = store.second_review_ids(reviewer.strip()) if reviewer.strip() else []
    if not second or not (filters.status or filters.reviewer):  # any status, anyone's: in the queue's order
        return ids
    offered = set(second)
    ids = [i for i in ids if i not in offered]
    if "unreviewed" not in filters.status or filters.reviewer:
        return ids
    if not filters.replace(status=DEFAULT_STATUSES).is_default():
        kept = set(store.review_queue_ids(filters.replace(status=()).store_filters(rubric), quality=quality))
        second = [i for i in second if i in kept]
    return [*second, *ids]


def is_stale(snapshot: Mapping[str, Any] | None, filters: QueueFilters, reviewer: str = "") -> bool:
    """Whether the queue must be taken again: none yet, or taken with other filters or for someone else."""
    return snapshot is None or snapshot["filters"] != filters.as_dict() or snapshot.get("reviewer", "") != reviewer


def take_snapshot(
    store: Store, filters: QueueFilters, rubric: Rubric | None = None, reviewer: str = ""
) -> dict[str, Any]:
    """The queue as the session keeps it under QUEUE_KEY: the filters, who it was taken for, the ids and when."""
    ids = load_queue(store, filters, rubric, reviewer)
    return {"filters": filters.as_dict(), "reviewer": reviewer, "ids": ids, "at": datetime.now(UTC).isoformat()}


def snapshot_caption(snapshot: Mapping[str, Any], summary: Sequence[str]) -> str:
    taken = datetime.fromisoformat(snapshot["at"]).strftime("%H:%M:%S UTC")
    return f"Queue taken at {taken}" + (" · " + " · ".join(summary) if summary else "")


def current_in(queue: Sequence[str], current: str | None, *, retaken: bool, pinned: bool) -> str | None:
    """The conversation to show. New filters start at the top of the new queue unless the one on
    screen is in it, or was opened by a link (pinned); with none on screen, the first one."""
    if retaken and current not in queue and not pinned:
        current = None
    if current is None and queue:
        current = queue[0]
    return current


# ---- moving through it --------------------------------------------------------------------------
def position(queue: Sequence[str], current: str | None) -> int:
    """1-based place of `current` in the queue; 0 when it is not in it."""
    try:
        return queue.index(current) + 1 if current is not None else 0
    except ValueError:
        return 0


def position_text(queue: Sequence[str], current: str | None) -> str:
    """Where the conversation on screen is: "12 of 40", or that a link opened it from elsewhere."""
    pos = position(queue, current)
    if pos:
        return f"{pos} of {len(queue)}"
    if queue:
        return f"Opened by link: not in this queue ({len(queue)} in it)"
    return "Opened by link: the queue is empty"


def step(queue: Sequence[str], current: str | None, delta: int) -> str | None:
    """The id `delta` places away (clamped to the ends); the first one when `current` is elsewhere."""
    if not queue:
        return None
    pos = position(queue, current)
    if pos == 0:
        return queue[0]
    return queue[max(0, min(len(queue) - 1, pos - 1 + delta))]


def next_after(queue: Sequence[str], current: str) -> str | None:
    """The next id after a decision, or None at the end of the queue."""
    pos = position(queue, current)
    if pos == 0 or pos >= len(queue):
        return None
    return queue[pos]


def after_decision(queue: Sequence[str], current: str, *, advance: bool) -> tuple[str | None, str]:
    """Where to go after a decision on `current`, and what to add to its message: the next id
    when the reviewer moves on, a word when that was the last one, else nothing."""
    following = next_after(queue, current) if advance else None
    if following:
        return following, " Here is the next one."
    if advance and position(queue, current):
        return None, " That was the last conversation in the queue: refresh it to see what is left."
    return None, ""
