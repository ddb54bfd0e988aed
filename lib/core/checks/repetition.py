"""No empty turns and no repetition inside a conversation.

Two turns repeat each other when they are near-duplicates (lib/core/similarity.py, the same rule
the dataset-wide search uses: Jaccard for two similar turns, containment for one pasted inside a
longer one), or when they
share a long sentence word for word (a boilerplate line copied into every answer). Thresholds:
targets.yaml quality.
"""

from __future__ import annotations

from lib.core.checks.base import AnyTurn, Finding, Outcome, judged, where
from lib.core.checks.normalize import clip, normalize, normalize_phrase, words
from lib.core.checks.sentences import split_sentences
from lib.core.models import Conversation
from lib.core.similarity import Rule, compare, shared_run, shingles
from lib.core.taxonomy import Taxonomy


def no_empty_or_duplicate(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    rules = tax.targets.quality
    rule = Rule.of(rules)
    k = rule.k
    found: list[Finding] = []
    sets = [shingles(t.text, k) for t in turns]
    norms = [normalize(t.text) for t in turns]
    flagged: set[int] = set()
    for i, norm in enumerate(norms):
        if not norm:
            found.append(Finding(turn=i, message=f"turn {i} is empty"))
            flagged.add(i)
    for j in range(len(turns)):
        if j in flagged:
            continue
        for i in range(j):
            if not norms[i]:
                continue
            if norms[i] == norms[j]:
                found.append(
                    Finding(
                        turn=j,
                        span=clip(turns[j].text),
                        message=f'turn {j} repeats turn {i} word for word: "{clip(turns[j].text)}"',
                    )
                )
                flagged.add(j)
                break
            match = compare(sets[i], sets[j], rule)
            if match is not None:
                run = shared_run(turns[i].text, turns[j].text, k) or clip(turns[j].text)
                measure = (
                    f"Jaccard {match.jaccard:.2f} of {k}-word shingles, limit {rule.jaccard:g}"
                    if match.by_jaccard(rule)
                    else f"{match.containment:.0%} of the shorter turn's {k}-word shingles are in the other, "
                    f"limit {rule.containment:.0%}"
                )
                found.append(
                    Finding(
                        turn=j, span=run, message=f'{where(j, turns[j])} repeats turn {i} ({measure}): "{clip(run)}"'
                    )
                )
                flagged.add(j)
                break
    first_seen: dict[str, int] = {}
    for j, t in enumerate(turns):
        for s in split_sentences(t.text):
            key = normalize_phrase(s.text)
            if len(words(key)) < rules.repeated_sentence_words:
                continue
            i = first_seen.setdefault(key, j)
            if i != j and j not in flagged:
                found.append(
                    Finding(
                        turn=j, span=s.text, message=f'{where(j, t)} repeats a sentence of turn {i}: "{clip(s.text)}"'
                    )
                )
                flagged.add(j)
    return judged(found, len(turns), "no empty or repeated turns")
