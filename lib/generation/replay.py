"""Demo replay: generation without an API key, for demos offline.

A local endpoint on 127.0.0.1 answers like the Messages API with a recorded conversation made from the
seeds' structure: user turns written from the taxonomy (the scenario's arc, its emotions' cues, the
persona's and the topic's words), assistant turns taken from the seed conversations, with what the
scenario's compliance rules require added, so every answer passes the quality checks. A contrastive
request (Review's "Contrastive turns") gets a failed turn of each kind asked for
(lib.generation.replay_contrast). The job runs
through the same worker, rate limiter and progress as a real one (lib.generation.app_worker
.start_demo_worker); it is slowed to a human pace and sends anthropic-ratelimit-* headers as the API does.

What it stores is marked: the model is lib.core.vocabulary.DEMO_MODEL (provenance.model, a contrastive
response's model), it costs nothing, the pages show a "Demo replay" badge (vocabulary.is_demo), and
exports leave it out unless asked (lib.export.select).
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lib.core.checks.labels import arc_curve
from lib.core.checks.sentences import split_sentences
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.core.vocabulary import DEMO_LABEL, DEMO_MODEL
from lib.generation.replay_contrast import failed_turns

DEMO_KEY = "demo-replay-no-key"  # the replay endpoint asks for no key; the SDK wants one


# A user turn: three sentences, each from its own rotation, so that no two user turns of one
# conversation share a sentence frame (the repetition check compares them).
_CUE_LINES = (
    'Honestly, the phrase that sums up my week is "$x", and I am tired of feeling this way.',
    'If I am being truthful with you, "$x" keeps running through my head tonight.',
    'My partner asked how I was doing and all I could say was "$x" before changing the subject.',
    'I wrote "$x" in my notes this morning because it is exactly where my head is at.',
    'Where I am right now is best described as "$x", if that makes any sense to you.',
    'After your last message I kept thinking "$x", which surprised me a little.',
    'It sounds strange to say it out loud, but "$x" is how this feels for me.',
    'When I look at the numbers again, "$x" is the first thing that comes to mind.',
)
_PERSONA_LINES = (
    'People who know me would tell you that "$x" is very much how I talk about money.',
    'A friend once joked that "$x" should be printed on my coffee mug, and she was not wrong.',
    'You can probably tell from how I write that "$x" describes me pretty well.',
    'My sister says I have been saying "$x" since college, and she is right about that.',
    'I guess "$x" is just who I am when it comes to these decisions.',
    'Anyone who has worked with me knows "$x" comes up in almost every conversation.',
    'For better or worse, "$x" is part of how I approach all of this.',
    'I noticed that "$x" showed up again in what I wrote to you, which is typical for me.',
)
_TOPIC_LINES = (
    "What I really want to understand today is $x and how it fits my situation.",
    "The part I keep circling back to is $x, because it affects everything else we plan.",
    "Can we stay with $x for a moment, since that is the piece I understand least?",
    "I would like to know what $x means for us over the next few years.",
    "Everything else feels secondary to $x right now, so that is where I want to focus.",
    "My main question is still about $x and what a sensible first move would be.",
    "Could you explain $x once more, in plain words, with my own numbers in mind?",
    "The reason I reached out at all was $x, and I do not want to lose sight of it.",
)


def _line(frames: tuple[str, ...], i: int, value: str) -> str:
    return frames[i % len(frames)].replace("$x", value)


@cache
def seed_assistant_turns() -> tuple[Mapping[str, Any], ...]:
    """The seeds' assistant turns with room for one more sentence: the texts of a replayed answer."""
    from lib.core.seeds import load_seeds

    turns = [t for c in load_seeds().conversations for t in c.turns if t.role == "assistant"]
    return tuple(
        {"text": t.text, "functions": [sf.function for sf in t.sentence_functions]}
        for t in turns
        if len(t.text.split()) <= 200
    )


def content_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of blocks)."""
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def tag(text: str, name: str) -> str | None:
    """The value of <name>...</name> in a prompt (the user message fences each scenario value)."""
    m = re.search(r"<" + name + r">(.*?)</" + name + r">", text, re.DOTALL)
    return html.unescape(m.group(1).strip()) if m else None


def conversation_for(body: Mapping[str, Any], tax: Taxonomy) -> dict[str, Any]:
    """A conversation that passes every check, for the scenario in a Messages API request body. It
    follows the prompt's person: the first turn gives their name and the situation's first amount, and
    a lower-case writer writes in lower case."""
    messages = body.get("messages") or []
    first = content_text(messages[0].get("content")) if messages else ""
    tags = {
        name: tag(first, name)
        for name in ("persona", "emotional_arc", "topic", "target_turns", "context_id", "outcome_type")
    }
    person = tag(first, "person") or ""
    name = re.search(r"Name ([^,]+),", person)
    lower = re.search(r"capitalisation: (All|Mostly) lower-case", person) is not None
    amounts = re.findall(r"\$[\d,]*\d", tag(first, "context") or "")
    persona = tax.by_id("personas").get(tags["persona"] or "") or tax.personas[0]
    arc = tax.by_id("arcs").get(tags["emotional_arc"] or "") or tax.arcs[0]
    topic = tax.by_id("topics").get(tags["topic"] or "") or tax.topics[0]
    try:
        n = int(tags["target_turns"] or 10)
    except ValueError:
        n = 10
    rules = tax.targets.quality
    n = max(rules.min_turns, min(rules.max_turns, n - n % 2))
    emotions = tax.by_id("emotions")
    pairs = n // 2
    # a variation's request gives the curve moved into its intensity band (prompts/variation.md)
    asked = re.findall(r"\d+(?:\.\d+)?", tag(first, "intensity_curve") or "")
    curve = arc_curve([float(x) for x in asked] or arc.intensity_curve, pairs)
    pool = seed_assistant_turns()
    start = int(hashlib.sha256(first.encode()).hexdigest(), 16) % len(pool)
    required = tax.compliance.required_for(arc.id, tags["context_id"], tags["outcome_type"] or "")
    turns: list[dict[str, Any]] = []
    for i in range(pairs):
        frac = i / max(1, pairs - 1)
        if i == 0:
            emo = arc.start_emotion
        elif i == pairs - 1:
            emo = arc.end_emotion
        else:
            emo = min(arc.milestones, key=lambda m: abs(m.position - frac)).emotion
        family = emotions[emo]
        cue = family.cues[i % len(family.cues)]
        user_text = " ".join(
            [
                _line(_CUE_LINES, i, cue),
                _line(_PERSONA_LINES, i, persona.keywords[i % len(persona.keywords)]),
                _line(_TOPIC_LINES, i, topic.keywords[i % len(topic.keywords)]),
            ]
        )
        if i == 0 and name:
            user_text = "I'm " + name.group(1).split()[0] + ". " + user_text
        if i == 0 and amounts:
            user_text += " The figure I keep coming back to is " + amounts[0] + "."
        if lower:
            user_text, cue = user_text.lower(), cue.lower()
        emotion = {
            "primary": emo,
            "secondary": None,
            "sub_emotion": family.sub_emotions[0],
            "intensity": curve[i],
            "valence": family.valence,
            "arousal": family.arousal,
            "cues": [cue],
        }
        turns.append({"role": "user", "text": user_text, "emotion": emotion})
        strategy = family.suited_strategies[i % len(family.suited_strategies)]
        supporting = [s for s in family.suited_strategies if s != strategy][:1]
        seed_turn = pool[(start + i) % len(pool)]
        text = seed_turn["text"]
        if i < len(required):
            text = text + " " + required[i].example
        # the answer numbers the sentences, as the output contract asks, and never quotes them
        known = seed_turn["functions"]
        functions = [
            {"sentence": k, "function": known[k] if k < len(known) else "Gives what the scenario requires."}
            for k in range(len(split_sentences(text)))
        ]
        turns.append(
            {
                "role": "assistant",
                "text": text,
                "strategies": {"primary": strategy, "supporting": supporting},
                "intended_effect": "The person feels heard and sees one manageable next step.",
                "sentence_functions": functions,
                "learning_objective": "Respond to " + emo + " with " + strategy + " before giving information.",
            }
        )
    return {"turns": turns}


def is_contrast_request(body: Mapping[str, Any]) -> bool:
    """Does the request ask for failed responses (its output schema has `responses`: ContrastAnswer)?"""
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema") or {}
    return "responses" in (schema.get("properties") or {})


def contrast_for(body: Mapping[str, Any], tax: Taxonomy) -> dict[str, Any]:
    """The answer to a contrastive request: a failed response per turn and kind it asks for, about its topic."""
    messages = body.get("messages") or []
    first = content_text(messages[0].get("content")) if messages else ""
    topic_id = tag(first, "topic") or ""
    topic = tax.by_id("topics").get(topic_id)
    named = topic.name if topic else topic_id.replace("_", " ")
    return {"responses": failed_turns(tag(first, "requests") or "", named)}


def _tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


class ReplayServer:
    """The demo endpoint: POST /v1/messages answers a replayed conversation after `latency` seconds (a
    range, drawn per answer); GET /v1/models/{id} answers the model. At most `rpm` answers a minute,
    reported in anthropic-ratelimit-* headers, so the worker's limiter paces the demo as it would a real
    account."""

    def __init__(
        self, tax: Taxonomy | None = None, *, latency: tuple[float, float] = (1.5, 4.0), rpm: int = 60
    ) -> None:
        self.tax = tax or load_taxonomy()
        self.latency = latency
        self.rpm = rpm
        self.answered = 0
        self._lock = threading.Lock()
        self._minute: list[float] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> ReplayServer:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # the worker logs what matters
                pass

            def do_POST(self) -> None:
                replay._answer(self)

            def do_GET(self) -> None:
                replay._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="demo-replay", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start the replay server first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        try:
            body = json.loads(h.rfile.read(length)) if length else {}
        except ValueError:
            body = {}
        path = h.path.split("?")[0]
        payload: dict[str, Any]
        if h.command == "GET" and path.startswith("/v1/models/"):
            status, payload = 200, {"type": "model", "id": path.rsplit("/", 1)[-1], "display_name": DEMO_LABEL}
        elif h.command == "POST" and path == "/v1/messages":
            time.sleep(random.uniform(*self.latency))
            status, payload = 200, self._message(body)
        else:
            status, payload = 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.send_header("request-id", "req_demo_" + uuid.uuid4().hex[:12])
        for k, v in self._limit_headers().items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = contrast_for(body, self.tax) if is_contrast_request(body) else conversation_for(body, self.tax)
        text = json.dumps(answer)
        prompt = "".join(content_text(m.get("content")) for m in body.get("messages") or [])
        with self._lock:
            self.answered += 1
        return {
            "id": "msg_demo_" + uuid.uuid4().hex[:16],
            "type": "message",
            "role": "assistant",
            "model": DEMO_MODEL,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(prompt), "output_tokens": _tokens(text)},
        }

    def _limit_headers(self) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            self._minute = [t for t in self._minute if now - t < 60] + [now]
            remaining = max(0, self.rpm - len(self._minute))
        reset = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "anthropic-ratelimit-requests-limit": str(self.rpm),
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": reset,
        }


_server: ReplayServer | None = None
_server_lock = threading.Lock()


def replay_server() -> ReplayServer:
    """This process's demo endpoint, started on first use."""
    global _server
    with _server_lock:
        if _server is None:
            _server = ReplayServer().start()
        return _server


__all__ = [
    "DEMO_KEY",
    "ReplayServer",
    "content_text",
    "contrast_for",
    "conversation_for",
    "is_contrast_request",
    "replay_server",
    "seed_assistant_turns",
    "tag",
]
