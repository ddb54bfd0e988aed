"""The text is a finished turn in plain words: what a person in a chat would actually send.

- plain_text: no markdown headings, tables, code, bold markers or long lists;
- no_placeholders: no template slots left in ("[Name]", "{amount}", "<client>", "$X,XXX");
- no_speaker_labels: no "User:", "Assistant:", "Elena:" prefixes (the role field says who speaks);
- finished_turns: not cut off mid-sentence;
- language: written in the vertical's language (taxonomy vertical.yaml `language`).
"""

from __future__ import annotations

import re

from lib.core.checks.base import AnyTurn, Finding, Outcome, judged, where
from lib.core.checks.language import language_problem
from lib.core.checks.normalize import clip, words
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy

_MARKDOWN = [
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S.*$", re.MULTILINE), "a markdown heading"),
    (
        re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$", re.MULTILINE),
        "a table rule",
    ),
    (re.compile(r"^[ \t]*\|.*\|.*\|[ \t]*$", re.MULTILINE), "a table row"),
    (re.compile(r"^[ \t]*(?:`{3,}|~{3,}).*$", re.MULTILINE), "a code fence"),
    (re.compile(r"(?<![\w*])\*\*[^*\n]+\*\*(?![\w*])|(?<!\w)__[^_\n]+__(?!\w)"), "markdown bold"),
    (re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", re.MULTILINE), "a horizontal rule"),
]
_LIST_LINE = re.compile(r"^[ \t]*(?:[-*+\u2022\u25cf\u25aa]|\d{1,2}[.)]|[a-zA-Z][.)])[ \t]+\S")

_PLACEHOLDERS = [
    re.compile(r"\[[^\[\]\n]{0,40}[A-Za-z][^\[\]\n]{0,40}\]"),  # [Name], [your bank]
    re.compile(r"\{\{?[ \t]*[A-Za-z_][\w .-]{0,40}\}\}?"),  # {amount}, {{client}}
    re.compile(r"</?[A-Za-z_][\w .-]{0,40}>"),  # <client>, </name>
    re.compile(r"\$\{[A-Za-z_]\w*\}|\$[a-z_]\w*"),  # ${name}, $amount
    re.compile(r"(?-i:\b(?:X{2,}|X+(?:,X{3})+|N{3,})\b)|\$X\b"),  # $X,XXX, XX%
    re.compile(r"_{3,}"),  # fill-in blanks
    re.compile(r"\b(?:TBD|TODO|FIXME|lorem ipsum|insert (?:name|amount|date|here))\b", re.IGNORECASE),
]

_ROLE_WORDS = [
    "user",
    "assistant",
    "client",
    "customer",
    "human",
    "ai",
    "bot",
    "system",
    "agent",
    "advisor",
    "adviser",
    "planner",
    "support",
    "me",
    "you",
    "q",
    "a",
]
# Words that open a line with a colon in ordinary prose ("First: call the bank."), never a speaker.
_DISCOURSE = {
    "first",
    "second",
    "third",
    "next",
    "then",
    "finally",
    "also",
    "note",
    "update",
    "ok",
    "okay",
    "so",
    "well",
    "honestly",
    "example",
    "step",
    "answer",
    "question",
    "summary",
    "recap",
    "tip",
    "important",
    "bottom",
    "ps",
    "p.s",
    "edit",
    "here",
    "yes",
    "no",
    "quick",
    "short",
    "option",
}
_NAME_PREFIX = re.compile(r"\A[ \t]*([A-Z][\w'.-]*(?:[ \t]+[A-Z][\w'.-]*)?)[ \t]*:[ \t]")

# A user turn may end without a period ("i don't know what to do"), but not on a word that
# cannot end a sentence or on a comma.
_DANGLING = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "my",
    "your",
    "our",
    "their",
    "because",
    "if",
    "than",
    "i",
    "we",
    "nor",
}
_ENDS = ".!?\u2026"
_CLOSERS = "\"')]\u2019\u201d"


def plain_text(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    limit = tax.targets.quality.max_list_items
    found: list[Finding] = []
    for i, t in enumerate(turns):
        for pattern, what in _MARKDOWN:
            m = pattern.search(t.text)
            if m:
                found.append(
                    Finding(
                        turn=i,
                        span=m.group(0).strip(),
                        message=f'{where(i, t)}: {what} "{clip(m.group(0).strip())}"; write plain conversational text',
                    )
                )
                break
        run: list[str] = []
        longest: list[str] = []
        for line in t.text.splitlines():
            if _LIST_LINE.match(line):
                run.append(line.strip())
                longest = max(longest, run, key=len)
            elif line.strip():
                run = []
        if len(longest) > limit:
            found.append(
                Finding(
                    turn=i,
                    span=longest[0],
                    message=f'{where(i, t)}: a list of {len(longest)} items starting "{clip(longest[0])}" '
                    f"(at most {limit}); say it in sentences",
                )
            )
    return judged(found, len(turns), "plain conversational text: no markdown, tables or long lists")


def no_placeholders(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    found: list[Finding] = []
    for i, t in enumerate(turns):
        for pattern in _PLACEHOLDERS:
            m = pattern.search(t.text)
            if m:
                found.append(
                    Finding(
                        turn=i,
                        span=m.group(0),
                        message=f'{where(i, t)}: template slot "{clip(m.group(0))}" left in the text; '
                        "write the actual words",
                    )
                )
                break
    return judged(found, len(turns), "no template slots or bracketed placeholders")


def _speaker_words(tax: Taxonomy) -> list[str]:
    voice = tax.vertical.brand_voice
    names = [voice.name, *voice.name.split(), voice.title]
    return sorted({*_ROLE_WORDS, *(n.lower() for n in names if n)}, key=len, reverse=True)


def no_speaker_labels(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    role = re.compile(
        r"(?:\A|\n|[.!?][ \t]+)[ \t]*((?:"
        + "|".join(re.escape(w) for w in _speaker_words(tax))
        + r")[ \t]*:)(?:[ \t]|$)",
        re.IGNORECASE | re.MULTILINE,
    )
    found: list[Finding] = []
    for i, t in enumerate(turns):
        m = role.search(t.text)
        span = m.group(1) if m else None
        if span is None:
            first = _NAME_PREFIX.match(t.text)
            if first and first.group(1).split()[0].lower().rstrip(".") not in _DISCOURSE:
                span = first.group(0).strip()
        if span:
            found.append(
                Finding(
                    turn=i,
                    span=span,
                    message=f'{where(i, t)}: speaker label "{clip(span)}"; the role '
                    "field says who speaks, the text holds only their words",
                )
            )
    return judged(found, len(turns), "no speaker labels in the text")


def _cut_off(role: str, text: str) -> str | None:
    body = text.rstrip()
    if not body:
        return None
    core = body.rstrip(_CLOSERS)
    if role == "assistant" and not core.endswith(tuple(_ENDS)):
        return f'ends without a full stop: "...{clip(body[-60:], 60)}"'
    if core.endswith((",", ";", ":", "-", "(", "\u2014", "\u2013")):
        return f'ends mid-sentence on "{core[-1]}": "...{clip(body[-60:], 60)}"'
    w = words(core[-40:])
    if w and w[-1] in _DANGLING and not core.endswith(tuple(_ENDS)):
        return f'ends mid-sentence on "{w[-1]}": "...{clip(body[-60:], 60)}"'
    if body.count("(") > body.count(")") and body.rfind("(") > body.rfind(")"):
        return f'leaves a parenthesis open: "...{clip(body[-60:], 60)}"'
    return None


def finished_turns(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    found: list[Finding] = []
    for i, t in enumerate(turns):
        problem = _cut_off(t.role, t.text)
        if problem:
            found.append(Finding(turn=i, span=t.text.rstrip()[-60:], message=f"{where(i, t)} {problem}"))
    return judged(found, len(turns), "every turn is finished")


def language(conv: Conversation, turns: list[AnyTurn], tax: Taxonomy) -> Outcome:
    expected = tax.vertical.language
    share = tax.targets.quality.min_language_share
    found: list[Finding] = []
    for i, t in enumerate(turns):
        problem = language_problem(t.text, expected, share)
        if problem:
            found.append(
                Finding(
                    turn=i,
                    span=clip(t.text, 60),
                    message=f'{where(i, t)} is not in the vertical\'s language: {problem} ("{clip(t.text, 60)}")',
                )
            )
    return judged(found, len(turns), f"every turn is in {expected!r}")
