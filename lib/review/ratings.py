"""A conversation's quality ratings as the Review page shows them: per rubric criterion the judge's rating
(its latest run) beside a reviewer's, and which of them is in force. Built from the store's rows
(conversation_ratings_of) and the rubric. The label changes the judge suggests are lib/review/suggestions.py's.

Whether the conversation is flagged is not decided here: the queue row (v_review_queue.rating_state and
flag_reasons, from v_conversation_quality) says it, so the page and the queue cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lib.core.rubric import Rubric


@dataclass(frozen=True)
class Rating:
    """One rating row: the judge's or a person's score of one criterion."""

    score: int
    reason: str
    cited_turns: tuple[int, ...]
    rater: str
    source: str  # 'judge' or 'human'
    pass_at: int  # the pass mark it was given under
    hard: bool
    at: datetime

    @property
    def passed(self) -> bool:
        return self.score >= self.pass_at

    @property
    def cited_text(self) -> str:
        """ "turns 3, 5" / "turn 3" / "" for the turns the rating cites."""
        if not self.cited_turns:
            return ""
        return ("turn " if len(self.cited_turns) == 1 else "turns ") + ", ".join(map(str, self.cited_turns))


@dataclass(frozen=True)
class CriterionView:
    id: str
    name: str
    question: str
    pass_at: int  # the rubric's pass mark now: what a new rating is given under
    hard: bool
    judge: Rating | None  # from the judge's latest run
    human: Rating | None  # a reviewer's latest
    anchors: Mapping[int, str] = field(default_factory=dict)  # what a 1, 3, 5 look like

    @property
    def in_force(self) -> Rating | None:
        """A reviewer's rating counts over the judge's (as v_ratings_in_force decides)."""
        return self.human or self.judge

    @property
    def overridden(self) -> bool:
        return self.human is not None and self.judge is not None and self.human.score != self.judge.score


@dataclass
class RatingsView:
    criteria: list[CriterionView]
    judge_model: str | None = None
    judged_at: datetime | None = None

    @property
    def judged(self) -> bool:
        return self.judge_model is not None

    @property
    def rated(self) -> bool:
        return any(c.in_force is not None for c in self.criteria)

    def criterion(self, cid: str) -> CriterionView:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(f"no criterion {cid!r}; there are {', '.join(c.id for c in self.criteria)}")

    def failing_on(self, turn: int) -> list[CriterionView]:
        """The criteria in force below their pass mark whose rating cites this turn."""
        return [
            c
            for c in self.criteria
            if c.in_force is not None and not c.in_force.passed and turn in c.in_force.cited_turns
        ]


def _rating(row: Mapping[str, Any]) -> Rating:
    return Rating(
        score=int(row["score"]),
        reason=str(row.get("reason") or ""),
        cited_turns=tuple(int(t) for t in row.get("cited_turns") or ()),
        rater=str(row["rater"]),
        source=str(row["source"]),
        pass_at=int(row["pass_at"]),
        hard=bool(row["hard"]),
        at=row["created_at"],
    )


def build_ratings(rows: Sequence[Mapping[str, Any]], rubric: Rubric) -> RatingsView:
    """rows: conversation_ratings_of (newest first)."""
    ordered = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    judge_rows = [r for r in ordered if r["source"] == "judge"]
    latest_run = judge_rows[0]["run_id"] if judge_rows else None
    judge = {r["criterion"]: _rating(r) for r in reversed(judge_rows) if r["run_id"] == latest_run}
    human: dict[str, Rating] = {}
    for r in reversed(ordered):  # oldest first: the latest of a criterion is written last
        if r["source"] == "human":
            human[r["criterion"]] = _rating(r)
    criteria = [
        CriterionView(c.id, c.name, c.question, c.pass_at, c.hard, judge.get(c.id), human.get(c.id), dict(c.anchors))
        for c in rubric.criteria
    ]
    for cid in sorted((set(judge) | set(human)) - set(rubric.ids)):  # rated under an earlier rubric
        known = judge.get(cid) or human[cid]
        criteria.append(
            CriterionView(
                cid, cid.replace("_", " ").capitalize(), "", known.pass_at, known.hard, judge.get(cid), human.get(cid)
            )
        )
    return RatingsView(
        criteria=criteria,
        judge_model=judge_rows[0]["rater"] if judge_rows else None,
        judged_at=judge_rows[0]["created_at"] if judge_rows else None,
    )
