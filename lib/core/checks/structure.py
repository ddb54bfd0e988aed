"""Structural checks: turn count, alternation, turn lengths, known labels, the arc."""

from __future__ import annotations

from lib.core.checks.base import AnyTurn, Finding, Outcome, judged, ok
from lib.core.models import Conversation, UserTurn
from lib.core.taxonomy import Taxonomy


def turn_count(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    rules = tax.targets.quality
    n = len(turns)
    if rules.min_turns <= n <= rules.max_turns:
        return ok(f"{n} turns (allowed {rules.min_turns}-{rules.max_turns})")
    message = f"{n} turns; a conversation needs {rules.min_turns}-{rules.max_turns} turns"
    return Outcome(0, message, (Finding(message=message),))


def alternation(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    def fail(message: str, turn: int | None) -> Outcome:
        return Outcome(0, message, (Finding(turn=turn, message=message),))

    if not turns:
        return fail("no turns", None)
    if turns[0].role != "user":
        return fail("turn 0 (assistant) opens the conversation; a conversation starts with the user", 0)
    for i in range(1, len(turns)):
        if turns[i].role == turns[i - 1].role:
            role = turns[i].role
            article = "an" if role == "assistant" else "a"
            return fail(f"turn {i} ({role}) follows turn {i - 1}, also {article} {role} turn; roles must alternate", i)
    if turns[-1].role != "assistant":
        return fail(
            f"turn {len(turns) - 1} (user) is the last turn; a conversation ends with the assistant's answer",
            len(turns) - 1,
        )
    return ok("user and assistant alternate, starting with the user")


def lengths(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    rules = tax.targets.quality
    if not turns:
        return Outcome(0, "no turns", (Finding(message="no turns"),))
    found = []
    for i, t in enumerate(turns):
        lo, hi = rules.user_words if t.role == "user" else rules.assistant_words
        n = len(t.text.split())
        if not lo <= n <= hi:
            found.append(Finding(turn=i, message=f"turn {i} ({t.role}) has {n} words, allowed {lo}-{hi}"))
    return judged(found, len(turns), "every turn is within its word range")


def known_labels(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    emotions = tax.by_id("emotions")
    strategies = set(tax.ids("strategies"))
    found: list[Finding] = []
    dims = {
        "tier": {t.id for t in tax.tiers},
        "persona": set(tax.ids("personas")),
        "emotional_arc": set(tax.ids("arcs")),
        "topic": set(tax.ids("topics")),
        "intent": set(tax.ids("intents")),
        "tone": set(tax.ids("tones")),
        "outcome_type": set(tax.ids("outcomes")),
    }
    for dim, known in dims.items():
        value = getattr(conv.scenario, dim)
        if value not in known:
            found.append(Finding(message=f"scenario.{dim} {value!r}"))
    for i, t in enumerate(turns):
        if isinstance(t, UserTurn):
            e = t.emotion
            for field, value in [("primary", e.primary), ("secondary", e.secondary)]:
                if value is not None and value not in emotions:
                    found.append(Finding(turn=i, message=f"turn {i} emotion.{field} {value!r}"))
            family = emotions.get(e.primary)
            if e.sub_emotion and family and e.sub_emotion not in family.sub_emotions:
                found.append(
                    Finding(
                        turn=i,
                        message=f"turn {i} sub_emotion {e.sub_emotion!r} "
                        f"(not in {e.primary}: {', '.join(family.sub_emotions)})",
                        # a sub-emotion is optional: none is right until someone picks the family's one
                        field="emotion.sub_emotion",
                        suggested=None,
                    )
                )
        else:
            for value in [t.strategies.primary, *t.strategies.supporting]:
                if value not in strategies:
                    found.append(Finding(turn=i, message=f"turn {i} strategy {value!r}"))
    if found:
        return Outcome(0, "unknown labels: " + "; ".join(f.message for f in found), tuple(found))
    return ok("every label is in the taxonomy")


def arc_realized(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    arc = tax.by_id("arcs").get(conv.scenario.emotional_arc)
    if arc is None:
        message = f"unknown arc {conv.scenario.emotional_arc!r}"
        return Outcome(0, message, (Finding(message=message),))
    users = [(i, t) for i, t in enumerate(turns) if isinstance(t, UserTurn)]
    if not users:
        return Outcome(0, "no user turns to carry the arc", (Finding(message="no user turns to carry the arc"),))
    found = []
    ends = ((users[0], "first", "starts", arc.start_emotion), (users[-1], "last", "ends", arc.end_emotion))
    for (i, turn), which, verb, want in ends:
        if turn.emotion.primary != want:
            found.append(
                Finding(
                    turn=i,
                    message=f"the {which} user turn (turn {i}) is {turn.emotion.primary}, "
                    f"the {arc.id} arc {verb} in {want}",
                )
            )
    if found:
        return Outcome(0, "; ".join(f.message for f in found), tuple(found))
    return ok(f"{arc.start_emotion} -> {arc.end_emotion} as the {arc.id} arc requires")
