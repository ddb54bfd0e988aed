"""A local stand-in for a Supabase project's HTTP API (PostgREST under /rest/v1, Auth under
/auth/v1), on 127.0.0.1 in a thread. It records every request and answers from canned
responses, so the supabase-py adapter can be tested without a network or a project.

    with SupabaseStub() as stub:
        stub.rpc("record_review", 7)                # POST /rest/v1/rpc/record_review -> 7
        stub.table("v_scenarios", [{"id": 1}])      # GET /rest/v1/v_scenarios -> [...]
        stub.error("/rest/v1/rpc/stop_job", 403, {"code": "42501", "message": "permission denied"})
        stub.table("conversations", table_rows([...]))  # eq / in / is filters and the range applied
        store = SupabaseStore(stub.url, FAKE_ANON_KEY)
        ...
        stub.requests  # [StubRequest(method, path, query, headers, body), ...]
"""
from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# JWT-shaped fakes (header.payload.signature): nothing verifies them here
FAKE_ANON_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiIsImZha2UiOiJhbm9uLWtleS1zZW50aW5lbCJ9.ZmFrZS1hbm9uLXNpZw"
FAKE_SERVICE_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiZmFrZSI6InNydiJ9.ZmFrZS1zZXJ2aWNlLXNpZw"
FAKE_ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCIsInN1YiI6InUxIn0.ZmFrZS11c2VyLXNpZw"


@dataclass
class StubRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any = None

    @property
    def rpc(self) -> str | None:
        prefix = "/rest/v1/rpc/"
        return self.path[len(prefix):] if self.path.startswith(prefix) else None

    @property
    def table(self) -> str | None:
        prefix = "/rest/v1/"
        if self.path.startswith(prefix) and not self.path.startswith("/rest/v1/rpc/"):
            return self.path[len(prefix):]
        return None


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[StubRequest], Reply | Any]


class SupabaseStub:
    def __init__(self) -> None:
        self.requests: list[StubRequest] = []
        self.routes: dict[tuple[str, str], Responder | Reply | Any] = {}
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                req = StubRequest(self.command, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                with stub._lock:
                    stub.requests.append(req)
                reply = stub._reply(req)
                data = json.dumps(reply.body, default=str).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop's next poll: 0.5 s by default, on every test's teardown
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True, name="supabase-stub")

    # -- setup ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SupabaseStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SupabaseStub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def rpc(self, name: str, value: Responder | Reply | Any) -> None:
        self.routes[("POST", f"/rest/v1/rpc/{name}")] = value

    def table(self, name: str, value: Responder | Reply | Any, method: str = "GET") -> None:
        self.routes[(method, f"/rest/v1/{name}")] = value

    def error(self, path: str, status: int, body: dict[str, Any], method: str = "POST") -> None:
        self.routes[(method, path)] = Reply(status, body)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- answering --------------------------------------------------------------------------------
    def _reply(self, req: StubRequest) -> Reply:
        route = self.routes.get((req.method, req.path))
        if route is None:
            return self._default(req)
        value = route(req) if callable(route) else route
        return value if isinstance(value, Reply) else Reply(200, value)

    @staticmethod
    def _default(req: StubRequest) -> Reply:
        if req.path.startswith("/auth/v1/token"):
            return Reply(200, session_json())
        if req.path.startswith("/auth/v1/logout"):
            return Reply(204, None)
        if req.path.startswith("/auth/v1/user"):
            return Reply(200, session_json()["user"])
        if req.rpc is not None:
            return Reply(200, None)
        if req.method == "POST":  # an insert with return=representation
            return Reply(201, [{"id": 1, **(req.body if isinstance(req.body, dict) else {})}])
        return Reply(200, [])


def session_json(email: str = "dana@example.com", token: str = FAKE_ACCESS_TOKEN) -> dict[str, Any]:
    """What Supabase Auth answers to a password sign-in."""
    user = {"id": "00000000-0000-4000-8000-000000000001", "aud": "authenticated", "role": "authenticated",
            "email": email, "app_metadata": {}, "user_metadata": {}, "created_at": "2025-11-22T00:00:00Z"}
    return {"access_token": token, "token_type": "bearer", "expires_in": 3600, "expires_at": 4102444800,
            "refresh_token": "fake-refresh-token", "user": user}


def table_rows(rows: Sequence[Mapping[str, Any]]) -> Responder:
    """A GET responder over canned rows that does what PostgREST does with the simple filters
    (col=eq.v, col=in.(a,"b,c"), col=is.null|true|false, col=not.is.null), the order (col.asc,
    col.desc, nulls as PostgreSQL places them) and the page (offset, limit). Other filters (ov,
    gte, or) let every row through; `select` is ignored."""
    def answer(req: StubRequest) -> list[dict[str, Any]]:
        query = [(k, v) for k, v in req.query if k not in ("select", "order", "offset", "limit", "or")]
        out = [dict(r) for r in rows if all(_passes(r.get(k), v) for k, v in query)]
        keys = [key for k, v in req.query if k == "order" for key in v.split(",")]
        for key in reversed(keys):  # a stable sort per key, the last key first
            column, _, how = key.partition(".")
            desc = how.startswith("desc")
            nulls_first = "nullsfirst" in how or (desc and "nullslast" not in how)
            present = sorted((r for r in out if r.get(column) is not None), key=lambda r: r[column], reverse=desc)
            absent = [r for r in out if r.get(column) is None]
            out = absent + present if nulls_first else present + absent
        params = dict(req.query)
        start = int(params.get("offset", 0))
        end = start + int(params["limit"]) if "limit" in params else None
        return out[start:end]
    return answer


def _passes(value: Any, test: str) -> bool:
    op, _, arg = test.partition(".")
    if op == "not":
        return not _passes(value, arg)
    if op == "eq":
        return _text(value) == arg
    if op == "in":
        return _text(value) in next(csv.reader([arg.strip("()")], skipinitialspace=True), [])
    if op == "is":
        return _text(value) == arg
    return True


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
