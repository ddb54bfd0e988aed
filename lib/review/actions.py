"""What a reviewer does to one conversation: decide, mark a seed example, correct a turn's labels by hand
(the judge's and the checks' suggestions are lib/review/suggestions.py's), rate a criterion (agreeing with
the judge or overriding it), ask for a regeneration with feedback.

Every write goes through the Store's SQL functions (record_review, revise_label, set_seed_example,
record_human_rating, create_job), so each action is a row with who and when, and nothing is
overwritten: a reviewer's rating is a row of its own beside the judge's. A request that cannot be
done as asked raises ReviewError with what to do instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.core import limits
from lib.core.rubric import Rubric
from lib.core.taxonomy import Emotion, Taxonomy
from lib.core.vocabulary import REASONS, Decision
from lib.review.errors import ReviewError
from lib.review.labels import DECISION_LABELS, FIELD_LABELS
from lib.review.view import ConversationView, TurnView
from lib.store.protocol import Store


@dataclass
class ActionResult:
    message: str
    ids: list[int] = field(default_factory=list)


def need_name(who: str, what: str, recorded_with: str = "every decision and correction") -> str:
    """The reviewer's name, stripped; a ReviewError when it is empty or too long."""
    who = _within(limits.NAME, who).strip()
    if not who:
        raise ReviewError(f"Enter your name before you {what}: it is recorded with {recorded_with}.")
    return who


def _within(limit: limits.Limit, value: str | None) -> str:
    try:
        return limits.check(limit, value)
    except limits.TooLong as exc:
        raise ReviewError(str(exc)) from None


def decide(
    store: Store,
    view: ConversationView,
    decision: Decision,
    *,
    reviewer: str,
    reason_code: str | None = None,
    notes: str = "",
    seen: int | None = None,
) -> ActionResult:
    """Record one decision (a reviews row). A rejection needs a reason from REASONS and notes.
    A seed example that is not approved any more stops being one (record_review ends it).
    seen: how many decisions the reviewer had in front of them; when another came in since, the store
    refuses this one (Stale) with who made it and when."""
    who = need_name(reviewer, "record a decision")
    if decision not in DECISION_LABELS:
        raise ReviewError(f"Unknown decision {limits.quoted(decision)}; expected one of {', '.join(DECISION_LABELS)}.")
    notes = _within(limits.NOTE, notes).strip()
    if decision == "approved" and view.approval_block:
        raise ReviewError("This conversation cannot be approved. " + view.approval_block)
    if decision == "rejected":
        if reason_code not in REASONS:
            raise ReviewError(
                "A rejection needs a reason: choose one from the list, then say what is wrong in the notes."
            )
        if not notes:
            raise ReviewError("A rejection needs notes too: say what is wrong, so the regeneration can fix it.")
    else:
        reason_code = None
    review_id = store.record_review(
        view.id, decision, reviewer=who, reason_code=reason_code, notes=notes, review_count=seen
    )
    message = f"{DECISION_LABELS[decision]}: scenario #{view.scenario_id} ({view.id}), recorded for {who}."
    if view.is_seed_example and decision != "approved":
        message += " It is no longer a seed example."
    return ActionResult(message, [review_id])


def set_seed_example(store: Store, view: ConversationView, value: bool, *, by: str) -> ActionResult:
    who = need_name(by, "mark a seed example")
    if value and view.status != "approved":
        raise ReviewError("Only an approved conversation can be a seed example: approve it first.")
    store.set_seed_example(view.id, value, by=who)
    if value:
        return ActionResult(f"{view.id} is now a seed example: generation prompts may show it to the model.")
    return ActionResult(f"{view.id} is no longer a seed example.")


def correct_user_turn(
    store: Store,
    view: ConversationView,
    turn: int,
    *,
    primary: str,
    sub_emotion: str | None,
    intensity: float,
    author: str,
    reason: str,
    tax: Taxonomy,
) -> ActionResult:
    """Revise the emotion of a user turn: primary, sub-emotion and intensity, each changed field a
    label_revisions row (primary first: the sub-emotion must belong to the family in force).
    sub_emotion: None when the form did not ask (the one in force stays where it fits the family),
    '' for none."""
    who = need_name(author, "correct a label")
    t = _turn(view, turn, "user")
    emotions = tax.by_id("emotions")
    if primary not in emotions:
        raise ReviewError(f"Unknown emotion {limits.quoted(primary)}; choose one from the list.")
    family = emotions[primary]
    if sub_emotion is None and t.sub_emotion and t.sub_emotion not in family.sub_emotions and family.sub_emotions:
        # the old sub-emotion does not fit the new family: the reviewer says which one does (or none),
        # instead of the correction clearing it on its own
        raise ReviewError(
            f"{t.sub_emotion.replace('_', ' ')} is not a kind of {family.name.lower()}: choose its sub-emotion "
            f"({', '.join(x.replace('_', ' ') for x in family.sub_emotions)}) or none, then save."
        )
    keep = t.sub_emotion if t.sub_emotion in family.sub_emotions else None
    sub = (sub_emotion or None) if sub_emotion is not None else keep
    if sub is not None and sub not in emotions[primary].sub_emotions:
        shown = sub.replace("_", " ") if len(sub) <= limits.SHOWN_CHARS else limits.quoted(sub)
        raise ReviewError(
            f"{shown} is not a kind of {emotions[primary].name.lower()}; "
            f"choose one of: {', '.join(x.replace('_', ' ') for x in emotions[primary].sub_emotions)}."
        )
    value = round(float(intensity), 2)
    if not 0 <= value <= 1:
        raise ReviewError(f"Intensity must be between 0 and 1, not {value}.")
    changes: list[tuple[str, Any]] = []
    if primary != t.emotion:
        changes.append(("emotion.primary", primary))
        changes += _follow_the_family(view, turn, emotions[primary])
    if sub != (t.sub_emotion or None):
        changes.append(("emotion.sub_emotion", sub))
    if t.intensity is None or abs(value - t.intensity) > 1e-9:
        changes.append(("emotion.intensity", value))
    return _revise(store, view, turn, changes, who, reason)


def _follow_the_family(view: ConversationView, turn: int, family: Emotion) -> list[tuple[str, Any]]:
    """The labels a new emotion family makes inconsistent, set right in the same correction: a secondary
    emotion equal to the new primary is cleared, and a valence or arousal outside the family's range takes
    the family's typical value. Otherwise the correction itself would fail the integrity checks and
    block approval, with no field on the form to mend it."""
    emotion = view.conversation.current_turns()[turn].emotion  # type: ignore[union-attr]  # a user turn
    out: list[tuple[str, Any]] = []
    if emotion.secondary == family.id:
        out.append(("emotion.secondary", None))
    for label, value, (low, high), typical in (
        ("emotion.valence", emotion.valence, family.valence_range, family.valence),
        ("emotion.arousal", emotion.arousal, family.arousal_range, family.arousal),
    ):
        if not low <= value <= high:
            out.append((label, typical))
    return out


def correct_assistant_turn(
    store: Store,
    view: ConversationView,
    turn: int,
    *,
    primary: str,
    supporting: Sequence[str],
    author: str,
    reason: str,
    tax: Taxonomy,
) -> ActionResult:
    """Revise the strategies of an assistant turn: primary and supporting."""
    who = need_name(author, "correct a label")
    t = _turn(view, turn, "assistant")
    known = tax.by_id("strategies")
    unknown = [s for s in [primary, *supporting] if s not in known]
    if unknown:
        raise ReviewError(f"Unknown strategy {limits.quoted(unknown[0])}; choose from the list.")
    support = [s for s in dict.fromkeys(supporting) if s != primary]
    changes: list[tuple[str, Any]] = []
    if primary != t.strategy:
        changes.append(("strategies.primary", primary))
    if support != t.supporting:
        changes.append(("strategies.supporting", support))
    return _revise(store, view, turn, changes, who, reason)


def _turn(view: ConversationView, turn: int, role: str) -> TurnView:
    if not 0 <= turn < len(view.turns):
        raise ReviewError(f"There is no turn {turn}; the conversation has {len(view.turns)} turns.")
    t = view.turns[turn]
    if t.role != role:
        raise ReviewError(f"Turn {turn} is a{'n' if t.role == 'assistant' else ''} {t.role} turn.")
    return t


def _revise(
    store: Store, view: ConversationView, turn: int, changes: list[tuple[str, Any]], who: str, reason: str
) -> ActionResult:
    if not changes:
        raise ReviewError("Nothing to save: these are the labels the turn already has.")
    reason = _within(limits.REASON, reason)
    ids = []
    for field_name, value in changes:
        rid = store.revise_label(
            view.id, turn, field_name, value, author=who, reason=(reason or "").strip(), source="human_review"
        )
        if rid is not None:
            ids.append(rid)
    labels = [FIELD_LABELS[f].lower() for f, _ in changes]
    fields = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return ActionResult(f"Turn {turn}: corrected the {fields}. The first-pass label is kept in the history.", ids)


def queue_regeneration(
    store: Store,
    view: ConversationView,
    *,
    notes: str,
    reviewer: str,
    model: str | None = None,
    has_api_key: bool = False,
) -> ActionResult:
    """A generation job for this scenario with the notes as feedback. The new conversation becomes
    the scenario's current version; the store links it to this one (previous_version_id)."""
    who = need_name(reviewer, "ask for a regeneration")
    feedback = _within(limits.FEEDBACK, notes).strip()
    if not feedback:
        raise ReviewError("Write what should change in the notes first: they are sent to the model as feedback.")
    if not view.is_current:
        raise ReviewError("This is an earlier version; open the current one to regenerate the scenario.")
    job_id = store.create_job(
        [view.scenario_id],
        model=model,
        created_by=who,
        feedback=feedback,
        settings={"requested_from": "review", "previous_conversation_id": view.id},
    )
    message = (
        f"Regeneration of scenario #{view.scenario_id} queued as job #{job_id}, with your notes as feedback. "
        "It runs when a generation worker picks it up (the Generate page, or python -m lib worker); "
        "the new version then appears in this queue, linked to this one."
    )
    if not has_api_key:
        message += (
            " No Anthropic API key is configured, so it will wait in the queue until one is set "
            "(ANTHROPIC_API_KEY, see Settings)."
        )
    return ActionResult(message, [job_id])


def rate(
    store: Store, view: ConversationView, criterion: str, score: int, *, rater: str, reason: str, rubric: Rubric
) -> ActionResult:
    """A reviewer's rating of one criterion (1-5), in force over the judge's, whose row is kept. A score
    other than the judge's (an override) needs a reason: it is what calibrating the judge learns from."""
    who = need_name(rater, "rate a criterion")
    try:
        c = rubric.criterion(criterion)
    except KeyError:
        known = ", ".join(rubric.ids)
        raise ReviewError(f"Unknown criterion {limits.quoted(criterion)}; rate one of {known}.") from None
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ReviewError(f"A rating is a whole score from 1 to 5, not {score!r}.")
    judge = view.ratings.criterion(criterion).judge if criterion in {x.id for x in view.ratings.criteria} else None
    why = _within(limits.REASON, reason).strip()
    if not why and (judge is None or judge.score != score):
        raise ReviewError(
            f"Say why you rate {c.name.lower()} {score}/5"
            + (f" (the judge gave {judge.score})" if judge is not None else "")
            + ": the reason is kept with your rating."
        )
    cited = judge.cited_turns if judge is not None and judge.score == score else ()
    rid = store.record_human_rating(
        view.id,
        criterion,
        score,
        rater=who,
        pass_at=c.pass_at,
        hard=c.hard,
        reason=why or "Agrees with the judge.",
        cited_turns=cited,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
    )
    verdict = "passes" if score >= c.pass_at else f"is below the pass mark ({c.pass_at})"
    what = (
        "agreed with the judge"
        if judge is not None and judge.score == score
        else f"overrode the judge's {judge.score}/5"
        if judge is not None
        else "rated it"
    )
    return ActionResult(
        f"{c.name}: {score}/5 recorded for {who} ({what}); it {verdict}. The judge's rating is kept beside yours.",
        [rid],
    )


def agree(store: Store, view: ConversationView, criterion: str, *, rater: str, rubric: Rubric) -> ActionResult:
    """Record the judge's score of a criterion as the reviewer's own."""
    judge = view.ratings.criterion(criterion).judge if criterion in {x.id for x in view.ratings.criteria} else None
    if judge is None:
        raise ReviewError("The judge has not rated this criterion: rate it yourself (score and reason).")
    return rate(store, view, criterion, judge.score, rater=rater, reason="", rubric=rubric)
