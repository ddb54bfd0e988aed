"""Label integrity: the labels describe the text they sit on, and agree with each other and the taxonomy.

- every emotion cue is a span of its own user turn;
- an assistant turn's sentence_functions quote its sentences, in order, none invented or missing
  (a generated answer numbers the sentences; lib.generation.prompting fills in their text, so the
  findings name the sentence numbers too);
- valence and arousal lie in the emotion family's ranges (emotions.yaml);
- a secondary emotion differs from the primary, supporting strategies exclude the primary;
- the user's intensity follows the arc's curve within the taxonomy's tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

from lib.core.checks.base import AnyTurn, Finding, Outcome, judged, where
from lib.core.checks.normalize import clip, normalize, normalize_phrase
from lib.core.checks.sentences import split_sentences
from lib.core.models import AssistantTurn, Conversation, UserTurn
from lib.core.taxonomy import Taxonomy
from lib.core.variation_sets import shifted_curve, variation_of


def arc_curve(curve: Sequence[float], n: int) -> list[float]:
    """The arc's intensity curve at n evenly spaced user turns (linear interpolation)."""
    if n <= 0 or not curve:
        return []
    if n == 1:
        return [float(curve[0])]
    out = []
    for i in range(n):
        x = i * (len(curve) - 1) / (n - 1)
        lo = int(x)
        hi = min(lo + 1, len(curve) - 1)
        out.append(round(curve[lo] + (curve[hi] - curve[lo]) * (x - lo), 3))
    return out


def intensity_targets(conv: Conversation, tax: Taxonomy, n: int) -> list[float]:
    """The intensity each of n user turns targets: the scenario's arc curve, moved into a variation's
    intensity band as its prompt asked (shifted_curve), at n evenly spaced turns; [] without an arc."""
    arc = tax.by_id("arcs").get(conv.scenario.emotional_arc)
    if arc is None:
        return []
    return arc_curve(shifted_curve(arc.intensity_curve, variation_of(conv)), n)


def _quote(text: str) -> str:
    return '"' + clip(text) + '"'


def cues_in_text(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    users = [(i, t) for i, t in enumerate(turns) if isinstance(t, UserTurn)]
    texts = {i: normalize(t.text) for i, t in enumerate(turns)}
    found: list[Finding] = []
    for i, t in users:
        if not t.emotion.cues:
            found.append(
                Finding(
                    turn=i,
                    message=f"{where(i, t)} has no emotion cues; quote at least one phrase "
                    "of the turn that shows the emotion",
                )
            )
        for n, cue in enumerate(t.emotion.cues):
            phrase = normalize_phrase(cue)
            if phrase and phrase in texts[i]:
                continue
            elsewhere = [j for j, text in texts.items() if j != i and phrase and phrase in text]
            hint = f" (it is in turn {elsewhere[0]})" if elsewhere else ""
            found.append(
                Finding(
                    turn=i,
                    span=cue,
                    message=f"{where(i, t)}: emotion.cues[{n}] {_quote(cue)} is not in the turn's "
                    f"text{hint}; a cue must be copied from its turn",
                )
            )
    return judged(found, len(users), "every emotion cue is a span of its own turn")


def _entry_problems(i: int, turn: AssistantTurn) -> list[Finding]:
    sentences = [s.text for s in split_sentences(turn.text)]
    norm_s = [normalize_phrase(s) for s in sentences]
    entries = [sf.sentence for sf in turn.sentence_functions]
    norm_e = [normalize_phrase(e) for e in entries]
    if norm_s == norm_e:
        return []
    here = where(i, turn)
    text = normalize(turn.text)
    found: list[Finding] = []
    if not entries:
        return [
            Finding(
                turn=i, message=f"{here} has no sentence_functions; give one per sentence ({len(sentences)} sentences)"
            )
        ]
    index_of = {s: j for j, s in reversed(list(enumerate(norm_s)))}
    matched: dict[int, int] = {}  # sentence index -> entry index
    for k, (entry, e) in enumerate(zip(entries, norm_e, strict=True)):
        if e in index_of:
            j = index_of[e]
            if j in matched:
                found.append(
                    Finding(
                        turn=i,
                        span=entry,
                        message=f"{here}: sentence_functions[{k}] repeats "
                        f"sentence_functions[{matched[j]}], sentence {j} {_quote(entry)}",
                    )
                )
            else:
                matched[j] = k
            continue
        inside = [j for j, s in enumerate(norm_s) if s and s in e]
        if not e or e not in text:
            found.append(
                Finding(
                    turn=i,
                    span=entry,
                    message=f"{here}: sentence_functions[{k}] {_quote(entry)} is not a sentence of the turn's text",
                )
            )
        elif len(inside) >= 2:
            found.append(
                Finding(
                    turn=i,
                    span=entry,
                    message=f"{here}: sentence_functions[{k}] holds {len(inside)} sentences "
                    f"{_quote(entry)}; give each sentence its own entry",
                )
            )
            for j in inside:
                matched.setdefault(j, k)
        else:
            whole = next((sentences[j] for j, s in enumerate(norm_s) if e in s), entry)
            found.append(
                Finding(
                    turn=i,
                    span=entry,
                    message=f"{here}: sentence_functions[{k}] {_quote(entry)} is "
                    f"only part of the sentence {_quote(whole)}",
                )
            )
            for j, s in enumerate(norm_s):
                if e in s:
                    matched.setdefault(j, k)
    for j, sentence in enumerate(sentences):
        if j not in matched:
            found.append(
                Finding(
                    turn=i,
                    span=sentence,
                    message=f"{here}: sentence {j} {_quote(sentence)} has no entry in sentence_functions",
                )
            )
    order = [matched[j] for j in sorted(matched)]
    if not found and order != sorted(order):
        found.append(
            Finding(
                turn=i,
                message=f"{here}: sentence_functions are not in the order of the text; "
                f"list the sentences 0 to {len(sentences) - 1} in turn",
            )
        )
    if not found:  # same sentences, same order: the splitter and the entries disagree on a boundary
        found.append(
            Finding(
                turn=i, message=f"{here}: sentence_functions do not split the text into its {len(sentences)} sentences"
            )
        )
    return found


def sentence_functions(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    assistants = [(i, t) for i, t in enumerate(turns) if isinstance(t, AssistantTurn)]
    found = [f for i, t in assistants for f in _entry_problems(i, t)]
    return judged(found, len(assistants), "every assistant turn's sentence_functions quote its sentences in order")


def affect_in_range(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    emotions = tax.by_id("emotions")
    users = [(i, t) for i, t in enumerate(turns) if isinstance(t, UserTurn)]
    found: list[Finding] = []
    for i, t in users:
        e = t.emotion
        family = emotions.get(e.primary)
        if family is None:
            continue  # known_labels reports it
        for name, value, (lo, hi), typical in [
            ("valence", e.valence, family.valence_range, family.valence),
            ("arousal", e.arousal, family.arousal_range, family.arousal),
        ]:
            if not lo <= value <= hi:
                found.append(
                    Finding(
                        turn=i,
                        message=f"{where(i, t)}: {name} {value:g} is outside {e.primary}'s range [{lo:g}, {hi:g}]",
                        field=f"emotion.{name}",
                        suggested=typical,  # the family's typical value, as a reviewer's correction sets it
                    )
                )
    return judged(found, len(users), "valence and arousal fit every turn's emotion family")


def distinct_labels(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    found: list[Finding] = []
    for i, t in enumerate(turns):
        if isinstance(t, UserTurn):
            if t.emotion.secondary is not None and t.emotion.secondary == t.emotion.primary:
                found.append(
                    Finding(
                        turn=i,
                        message=f"{where(i, t)}: emotion.secondary repeats the primary "
                        f"{t.emotion.primary!r}; use another family or null",
                        field="emotion.secondary",
                        suggested=None,
                    )
                )
        else:
            s = t.strategies
            # both problems have one mend: each supporting strategy once, the primary left out
            mended = [x for x in dict.fromkeys(s.supporting) if x != s.primary]
            if s.primary in s.supporting:
                found.append(
                    Finding(
                        turn=i,
                        message=f"{where(i, t)}: strategies.supporting includes the primary {s.primary!r}",
                        field="strategies.supporting",
                        suggested=mended,
                    )
                )
            doubles = sorted({x for x in s.supporting if s.supporting.count(x) > 1})
            if doubles:
                found.append(
                    Finding(
                        turn=i,
                        message=f"{where(i, t)}: strategies.supporting lists "
                        f"{', '.join(map(repr, doubles))} more than once",
                        field="strategies.supporting",
                        suggested=mended,
                    )
                )
    return judged(found, len(turns), "secondary emotions and supporting strategies differ from the primaries")


def intensity_follows_arc(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    arc = tax.by_id("arcs").get(conv.scenario.emotional_arc)
    users = [(i, t) for i, t in enumerate(turns) if isinstance(t, UserTurn)]
    if arc is None or not users:
        return judged([], 0, "no arc or no user turns to compare (other checks report it)")
    tolerance = tax.targets.quality.intensity_tolerance
    expected = intensity_targets(conv, tax, len(users))
    found = []
    for (i, t), target in zip(users, expected, strict=False):  # an arc without a curve expects nothing
        gap = abs(t.emotion.intensity - target)
        if gap > tolerance + 1e-9:
            found.append(
                Finding(
                    turn=i,
                    message=f"{where(i, t)}: intensity {t.emotion.intensity:g} is {gap:.2f} from "
                    f"the {arc.id} arc's curve ({target:g} at this turn; tolerance "
                    f"{tolerance:g})",
                )
            )
    return judged(found, len(users), f"the user's intensity follows the {arc.id} arc's curve")
