"""How far the judge can be trusted: for the conversations that have both a judge rating and a reviewer's
decision, the judge's verdict on each criterion (pass: at or above the pass mark) against the decision
(approved, or needs edit / rejected), how often the two agree, and how often reviewers overrode the
judge's score of a criterion with their own. Counted in SQL (public.rating_calibration); named here.

Agreement: the judge passed it and the reviewer approved it, or the judge failed it and the reviewer
did not. Overall, the judge passes a conversation when it passes every criterion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.core.rubric import Rubric
from lib.review.labels import DECISION_LABELS
from lib.store.protocol import Store

OVERALL = ""  # the criterion key of the overall row
OVERALL_LABEL = "Overall (every criterion)"
NOT_APPROVED = ("needs_edit", "rejected")


@dataclass(frozen=True)
class CriterionCalibration:
    criterion: str  # OVERALL for the overall row
    name: str
    counts: dict[tuple[bool, str], int]  # (judge passed, decision) -> conversations with a decision
    judged: int  # conversations the judge rated on it, decided or not
    human_rated: int  # of the judge's ratings, those a reviewer rated too
    overridden: int  # ... with another score

    @property
    def decided(self) -> int:
        return sum(self.counts.values())

    @property
    def agreed(self) -> int:
        return self.counts.get((True, "approved"), 0) + sum(self.counts.get((False, d), 0) for d in NOT_APPROVED)

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.decided if self.decided else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.human_rated if self.human_rated else None


@dataclass(frozen=True)
class Calibration:
    rows: list[CriterionCalibration]  # the overall row first, then the rubric's criteria

    @property
    def overall(self) -> CriterionCalibration:
        return self.rows[0]

    @property
    def empty(self) -> bool:
        """No conversation has both a judge rating and a decision: nothing to compare yet."""
        return self.overall.decided == 0

    def row(self, criterion: str) -> CriterionCalibration:
        return next(r for r in self.rows if r.criterion == criterion)

    def agreement_table(self) -> pd.DataFrame:
        """One row per criterion: conversations compared, agreement, and the four corners (the judge's pass
        or fail against approved or sent back: needs edit or rejected)."""
        return pd.DataFrame(
            [
                {
                    "Criterion": r.name,
                    "Compared": r.decided,
                    "Agreement": _share(r.agreement),
                    "Pass · approved": r.counts.get((True, "approved"), 0),
                    "Pass · sent back": sum(r.counts.get((True, d), 0) for d in NOT_APPROVED),
                    "Fail · approved": r.counts.get((False, "approved"), 0),
                    "Fail · sent back": sum(r.counts.get((False, d), 0) for d in NOT_APPROVED),
                }
                for r in self.rows
            ]
        )

    def override_table(self) -> pd.DataFrame:
        """One row per criterion: the judge's ratings a reviewer rated too, and how many with another score."""
        return pd.DataFrame(
            [
                {
                    "Criterion": r.name,
                    "Reviewer ratings": r.human_rated,
                    "Overrides": r.overridden,
                    "Override rate": _share(r.override_rate),
                }
                for r in self.rows
            ]
        )

    def confusion(self, criterion: str) -> pd.DataFrame:
        """The judge's verdict (rows) against the reviewer's decision (columns) for one criterion."""
        r = self.row(criterion)
        return pd.DataFrame(
            [[r.counts.get((passed, d), 0) for d in DECISION_LABELS] for passed in (True, False)],
            index=["Judge: pass", "Judge: fail"],
            columns=list(DECISION_LABELS.values()),
        )


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def build_calibration(rows: Sequence[Mapping[str, Any]], rubric: Rubric) -> Calibration:
    """rows: public.rating_calibration (criterion None: overall)."""
    keys = [OVERALL, *rubric.ids]
    keys += sorted({str(r["criterion"]) for r in rows if r["criterion"] is not None} - set(keys))
    names = {OVERALL: OVERALL_LABEL, **{c.id: c.name for c in rubric.criteria}}
    out = []
    for key in keys:
        mine = [r for r in rows if (r["criterion"] or OVERALL) == key]
        counts: dict[tuple[bool, str], int] = {}
        for r in mine:
            if r["review_status"] in DECISION_LABELS:
                counts[(bool(r["judge_pass"]), str(r["review_status"]))] = int(r["conversations"])
        out.append(
            CriterionCalibration(
                criterion=key,
                name=names.get(key, key.replace("_", " ").capitalize()),
                counts=counts,
                judged=sum(int(r["conversations"]) for r in mine),
                human_rated=sum(int(r["human_rated"]) for r in mine),
                overridden=sum(int(r["overridden"]) for r in mine),
            )
        )
    return Calibration(out)


def calibration(store: Store, rubric: Rubric) -> Calibration:
    return build_calibration(store.rating_calibration(), rubric)
