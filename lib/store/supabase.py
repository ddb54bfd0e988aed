"""SupabaseStore: the supabase-py transport of the Store (lib/store/calls/), over a Supabase
project's HTTP API.

A function call is `rpc("fn", {"p_x": ...})`, the same function with the same named arguments
PostgresStore calls; the reads of CALLS become PostgREST selects on the same tables and v_* views.
So the behaviour (and every role check) is the database's, tested once on a real PostgreSQL.

Who the requests run as:
- the anon key alone (no one signed in): PostgREST's `anon` role, which may read and do nothing;
- a user's access token (`access_token=`, from the sign-in in lib/ui/auth.py): `authenticated`,
  and the RLS policies and the functions' role checks apply to that user's row in `members`;
- the service-role key (the worker, from the server's secrets only): `service_role`.

PostgREST returns at most `max-rows` rows per request (1,000 on Supabase), so every read that
may be long is paged with an ORDER BY and a range. It sends times as ISO text; they come back
as datetimes here, as psycopg gives them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from lib.config import Settings
from lib.store.calls import AnyOf, Between, Cond, Embed, Eq, Fn, Insert, IsTrue, NotNull, Overlaps, Read
from lib.store.protocol import (
    STALE_SQLSTATE,
    BootReport,
    ExportRow,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Stale,
    StoreError,
    StoreKind,
    StoreUnavailable,
)
from lib.store.transport import CallStore, count_values

PAGE = 1000  # Supabase's default max-rows
ID_CHUNK = 200  # ids per `in.(...)` filter: keeps the URL well under proxies' limits


def supabase_label(url: str) -> str:
    """The project's host, safe to show (a URL holds no secret, but keep it short)."""
    try:
        host = urlsplit(url).hostname or url
    except ValueError:
        host = "a Supabase project"
    return f"Supabase ({host})"


class SupabaseStore(CallStore):
    """The Store on a Supabase project's REST API. Thread-safe (httpx clients are)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        access_token: str | None = None,
        timeout: float = 30.0,
        kind: StoreKind = "supabase",
        label: str | None = None,
        client: Any = None,
    ) -> None:
        self.kind: StoreKind = kind
        self.url = url
        self.label = label or supabase_label(url)
        self.boot: BootReport | None = None
        self.signed_in = access_token is not None
        if client is None:
            from supabase import ClientOptions, SupabaseException, create_client

            headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
            options = ClientOptions(
                headers=headers, postgrest_client_timeout=timeout, auto_refresh_token=False, persist_session=False
            )
            try:
                client = create_client(url, key, options=options)
            except SupabaseException as exc:
                raise StoreUnavailable(
                    f"SUPABASE_URL or SUPABASE_KEY is not usable ({exc.message}); expected "
                    "https://<project>.supabase.co and the project's anon key"
                ) from None
        self._client = client

    def close(self) -> None:
        pg = getattr(self._client, "_postgrest", None)
        session = getattr(pg, "session", None)
        if session is not None:
            with suppress(Exception):  # closing is best effort
                session.close()

    def _run(self, action: str, build: Callable[[], Any]) -> Any:
        with _translate(action):
            return build().execute().data

    def _pages(self, action: str, build: Callable[[int, int], Any], limit: int | None = None) -> list[dict[str, Any]]:
        """Every row of an ordered request, PAGE at a time; build(start, end) makes one page's request."""
        out: list[dict[str, Any]] = []
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(out))
            if size <= 0:
                return out
            start, end = len(out), len(out) + size - 1
            rows = list(self._run(action, partial(build, start, end)) or [])
            out.extend(rows)
            if len(rows) < size:
                return out

    # -- the transport ------------------------------------------------------------------------------
    def call_function(self, fn: Fn, params: dict[str, Any], action: str) -> Any:
        body = {k: _json(v) for k, v in params.items()}
        if fn.returns == "rows" and fn.order:

            def page(start: int, end: int) -> Any:
                q = self._client.rpc(fn.name, body)
                for col in fn.order:
                    q = q.order(col, nullsfirst=True)
                return q.range(start, end)

            return [_times(r) for r in self._pages(action, page)]
        data = self._run(action, lambda: self._client.rpc(fn.name, body))
        if fn.returns == "rows":
            return [_times(r) for r in data or []]
        if fn.returns == "row":
            row = data[0] if isinstance(data, list) and data else data
            return _times(dict(row)) if row else None
        if fn.returns == "values":
            return [_scalar(v) for v in data or []]
        return data

    def read_rows(self, read: Read, conds: list[Cond], limit: int | None, action: str) -> list[dict[str, Any]]:
        columns = ",".join(read.columns) or "*"
        if read.embed is not None:
            columns += f",{read.embed.table}({','.join(read.embed.columns)})"

        def page(start: int, end: int) -> Any:
            q = _filtered(self._client.table(read.relation).select(columns), conds)
            for col, desc in read.order:
                q = q.order(col, desc=desc)
            return q.range(start, end)

        return [_flatten(_times(r), read.embed) for r in self._pages(action, page, limit)]

    def count_rows(self, read: Read, conds: list[Cond], action: str) -> dict[Any, int]:
        # aggregates are off on Supabase by default: the column is read and counted here
        assert read.count_by is not None
        only = Read(read.relation, read.action, columns=(read.count_by,), order=read.order)
        return count_values(self.read_rows(only, conds, None, action), read.count_by)

    def insert_row(self, insert: Insert, row: dict[str, Any], action: str) -> int:
        body = {k: _json(v) for k, v in row.items()}
        found = self._run(action, lambda: self._client.table(insert.table).insert(body))
        return int(found[0]["id"])

    def export_rows(self, conds: list[Cond], limit: int | None, action: str) -> list[ExportRow]:
        scenarios = self.read_rows(Read("v_scenarios", action, columns=("id", "conversation_id")), conds, limit, action)
        ids = [s["conversation_id"] for s in scenarios]
        docs: dict[str, dict[str, Any]] = {}
        read = Read("conversations", action, columns=("id", "version", "document"))
        for start in range(0, len(ids), ID_CHUNK):
            for r in self.read_rows(read, [AnyOf("id", tuple(ids[start : start + ID_CHUNK]))], None, action):
                docs[r["id"]] = r
        out: list[ExportRow] = []
        for s in scenarios:
            found = docs.get(s["conversation_id"])
            if found is None:  # replaced between the two reads: the next export has it
                continue
            doc = dict(found["document"])
            training = doc.pop("training", None) or {}
            out.append(ExportRow(s["id"], int(found["version"]), json.dumps(doc, ensure_ascii=False), training))
        return out


# -- helpers --------------------------------------------------------------------------------------
def _filtered(q: Any, conds: list[Cond]) -> Any:
    for c in conds:
        if isinstance(c, Eq):
            q = q.eq(c.column, c.value)
        elif isinstance(c, AnyOf):
            q = q.in_(c.column, list(c.values))
        elif isinstance(c, Overlaps):
            # an array literal with each name quoted: names hold commas and spaces ("Dana Reyes, CFP")
            q = q.filter(c.column, "ov", _pg_array(c.values))
        elif isinstance(c, Between):
            if c.or_null:
                q = q.or_(f"{c.column}.is.null,and({c.column}.gte.{c.low},{c.column}.lte.{c.high})")
            else:
                q = q.gte(c.column, c.low).lte(c.column, c.high)
        elif isinstance(c, IsTrue):
            q = q.eq(c.column, True)
        elif isinstance(c, NotNull):
            q = q.not_.is_(c.column, "null")
        else:
            raise InvalidInput(f"unknown condition {c!r}")
    return q


def _pg_array(values: tuple[str, ...]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _json(value: Any) -> Any:
    """A value as JSON for a request body (tuples as lists, pydantic models dumped)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return list(value)
    return value


def _scalar(value: Any) -> Any:
    """A set-returning function's row with one column, or the value itself."""
    if isinstance(value, dict):
        return next(iter(value.values())) if len(value) == 1 else value.get("id")
    return value


def _times(row: dict[str, Any]) -> dict[str, Any]:
    """The *_at columns as datetimes (PostgREST sends ISO text)."""
    for key, value in row.items():
        if key.endswith("_at") and isinstance(value, str):
            with suppress(ValueError):
                row[key] = datetime.fromisoformat(value)
    return row


def _flatten(row: dict[str, Any], embed: Embed | None) -> dict[str, Any]:
    if embed is None:
        return row
    inner = row.pop(embed.table, None) or {}
    return {**row, **{k: inner.get(k) for k in embed.columns}}


def _message(exc: Any) -> str:
    msg = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    # a check violation's details are "Failing row contains (...)", the row itself: left out
    details = getattr(exc, "details", None) if getattr(exc, "code", None) != "23514" else None
    hint = getattr(exc, "hint", None)
    if details:
        msg += f" ({details})"
    if hint:
        msg += f". {hint}"
    return msg


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """PostgREST and HTTP errors -> the StoreError subclass a caller can act on, with one clear line.
    Database errors carry their SQLSTATE in `code`, PostgREST's own errors a PGRSTnnn code."""
    import httpx
    from postgrest.exceptions import APIError

    try:
        yield
    except APIError as exc:
        code = str(exc.code or "")
        msg = _message(exc)
        if code == "42501":
            raise PermissionDenied(msg) from None
        if code == STALE_SQLSTATE:
            raise Stale(msg) from None
        if code in ("PGRST301", "PGRST302", "PGRST303") or "JWT" in msg:
            raise PermissionDenied(f"your sign-in has expired or is not valid ({msg}); sign in again") from None
        if code == "P0002" or code == "PGRST116":
            raise NotFound(msg) from None
        if code in ("PGRST202", "PGRST205", "42883", "42P01"):
            raise StoreError(
                f"cannot {action}: the database lacks what this version of the app needs ({msg}); "
                "apply the migrations with `supabase db push`"
            ) from None
        if code.startswith(("22", "23")) or code in ("P0001", "PGRST204"):
            raise InvalidInput(f"cannot {action}: {msg}") from None
        if code.startswith("40"):
            raise StoreError(f"cannot {action} now: it collided with another change ({msg}); try again") from None
        raise StoreError(f"cannot {action}: {msg}") from None
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"cannot reach the Supabase project to {action}: {type(exc).__name__} "
            f"{str(exc).splitlines()[0] if str(exc) else ''}".rstrip()
            + "; check SUPABASE_URL and the network, then try again"
        ) from None
    except StoreError:
        raise
    except ValueError as exc:  # a response that is not what PostgREST sends (a proxy's error page)
        raise StoreUnavailable(
            f"the Supabase project answered something unexpected to {action} ({exc}); check SUPABASE_URL"
        ) from None


def open_supabase_store(
    settings: Settings, *, access_token: str | None = None, service: bool = False, check: bool | None = None
) -> SupabaseStore:
    """The hosted-mode store (SUPABASE_URL set, DATABASE_URL not). No migrations and no boot here:
    a hosted project's schema is applied with `supabase db push`.
    - service=False: the anon key (SUPABASE_KEY), as the signed-in user when access_token is given;
      without SUPABASE_KEY (a worker machine) the service-role key is used instead.
    - service=True: the service-role key (SUPABASE_SERVICE_ROLE_KEY), for the worker only.
    check: call store_info() once so a missing migration or a wrong key fails here (default: for
    the service role only; the anon key may read nothing)."""
    url = (settings.supabase_url or "").strip()
    anon = settings.supabase_key.get_secret_value() if settings.supabase_key is not None else ""
    secret = settings.supabase_service_key.get_secret_value() if settings.supabase_service_key is not None else ""
    if not url:
        raise StoreUnavailable("SUPABASE_URL is not set; set it to https://<project>.supabase.co")
    if service or not anon:
        if not secret:
            raise StoreUnavailable(
                "SUPABASE_URL is set but SUPABASE_KEY is not: set SUPABASE_KEY to the project's anon key (Project "
                "settings > API) for the app, and SUPABASE_SERVICE_ROLE_KEY (or DATABASE_URL) for a worker"
                if not service
                else "the worker needs SUPABASE_SERVICE_ROLE_KEY (Project settings > API > service_role) "
                "or DATABASE_URL in the server's secrets"
            )
        key, access_token, as_service = secret, None, True
    else:
        key, as_service = anon, False
    store = SupabaseStore(url, key, access_token=access_token)  # type: ignore[abstract]  # its methods are made from CALLS at import (lib/store/transport.py)
    if check if check is not None else as_service:
        store.describe()
    return store
