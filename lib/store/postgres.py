"""PostgresStore: the psycopg transport of the Store (lib/store/calls/), with a connection pool.

Used for the embedded database and for DATABASE_URL (any PostgreSQL, a Supabase project's
connection string included). A function call is `select * from public.fn(p_x => %(p_x)s::type)`;
where the migrations have no function, the reads of CALLS are written here, once, as SQL on the
tables and v_* views (and the export reads the documents as text, its fastest way). SQL parameters
are always named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from lib.config import safe_dsn_label
from lib.store.calls import AnyOf, Between, Cond, Eq, Fn, Insert, IsTrue, NotNull, Overlaps, Read
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
    WorkerSession,
)
from lib.store.transport import CallStore

# How long a checkout waits before asking `revive` whether the server is still there. An idle pool hands
# a connection out at once; a dead server's pool would otherwise wait out the full 30 s.
REVIVE_AFTER_S = 3.0


def connect_check(dsn: str, label: str, timeout: int = 5) -> None:
    """Open and close one connection, so an unreachable database fails here with one clear line
    instead of as a pool timeout later."""
    try:
        with psycopg.connect(dsn, connect_timeout=timeout) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        reason = (_first_line(exc) or type(exc).__name__).removeprefix("connection failed: ")
        raise StoreUnavailable(
            f"cannot connect to the database at {label}: {reason}. Check that the server is running and that "
            "DATABASE_URL is right, or unset DATABASE_URL to use the embedded database"
        ) from None
    except psycopg.ProgrammingError as exc:  # a malformed connection string
        raise StoreUnavailable(
            f"DATABASE_URL is not a valid PostgreSQL connection string ({_first_line(exc)}); "
            "expected postgresql://user:password@host:5432/dbname"
        ) from None


class PostgresStore(CallStore):
    """The Store on one PostgreSQL database. Thread-safe: the pool hands each call a connection."""

    def __init__(
        self,
        dsn: str,
        *,
        kind: StoreKind = "postgres",
        label: str | None = None,
        min_size: int = 1,
        max_size: int = 8,
        revive: Callable[[], object] | None = None,
    ) -> None:
        """revive: starts the database again when no connection can be had (the embedded server, which
        nobody else restarts); None for a server someone else runs, whose restart the pool just waits out."""
        self.kind: StoreKind = kind
        self.label = label or safe_dsn_label(dsn)
        self.boot: BootReport | None = None
        self._revive = revive
        connect_check(dsn, self.label)
        self._dsn = dsn
        # check: a connection that died (the server restarted) is replaced when handed out
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=_configure,
            check=ConnectionPool.check_connection,
            # times come back in UTC, as every page labels them, whatever the server's time zone
            kwargs={"row_factory": dict_row, "connect_timeout": 5, "options": "-c TimeZone=UTC"},
            name="brightrun",
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except PoolTimeout:
            raise StoreUnavailable(
                f"cannot open connections to the database at {self.label} within 10 s; "
                "check the server's max_connections and the network"
            ) from None

    @contextmanager
    def connection(self, action: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection in a transaction (committed at the end), with errors translated. A
        connection that died with its server is replaced on checkout (the pool's check), so the store
        carries on after the database restarts."""
        with _translate(action), ExitStack() as stack:
            yield self._checkout(stack)

    def _checkout(self, stack: ExitStack) -> psycopg.Connection[dict[str, Any]]:
        if self._revive is None:
            return stack.enter_context(self._pool.connection())
        try:
            return stack.enter_context(self._pool.connection(timeout=REVIVE_AFTER_S))
        except PoolTimeout:
            pass  # the server is gone, or every connection is busy: revive finds out which
        self._revive()
        return stack.enter_context(self._pool.connection())

    def _rows(self, action: str, query: sql.SQL | sql.Composed, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        with self.connection(action) as conn:
            return conn.execute(query, params).fetchall()

    def close(self) -> None:
        self._pool.close()

    def worker_session(self, worker: str) -> WorkerSession | None:
        """A connection outside the pool that holds the worker's advisory lock until it closes."""
        action = f"register worker {worker}"
        with _translate(action):
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5, **_SESSION_KWARGS)
        try:
            with _translate(action):
                got = conn.execute(
                    "select public.register_worker_session(p_worker => %(w)s::text) as value", {"w": worker}
                ).fetchone()
        except StoreError:
            conn.close()
            raise
        if not got or not got[0]:
            conn.close()
            raise InvalidInput(
                f"cannot {action}: another live worker holds that name; give this one another name (--name)"
            )
        return _Session(conn)

    # -- the transport ------------------------------------------------------------------------------
    def call_function(self, fn: Fn, params: dict[str, Any], action: str) -> Any:
        named = sql.SQL(", ").join(
            sql.SQL("{} => {}::{}").format(sql.Identifier(name), sql.Placeholder(name), sql.SQL(fn.args[name].type))
            for name in params
        )
        call = sql.SQL("public.{}({})").format(sql.Identifier(fn.name), named)
        if fn.returns in ("rows", "row"):
            query = sql.SQL("select * from {}").format(call)
        else:
            query = sql.SQL("select {} as value").format(call)
        values = {k: Jsonb(v) if fn.args[k].type == "jsonb" else v for k, v in params.items()}
        rows = self._rows(action, query, values)
        if fn.returns == "rows":
            return rows
        if fn.returns == "row":
            return rows[0] if rows else None
        if fn.returns == "values":
            return [r["value"] for r in rows]
        return rows[0]["value"] if rows else None

    def read_rows(self, read: Read, conds: list[Cond], limit: int | None, action: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        columns: list[sql.Composable] = (
            [sql.SQL("r.*")] if not read.columns else [sql.SQL("r.{}").format(sql.Identifier(c)) for c in read.columns]
        )
        source = sql.SQL("public.{} r").format(sql.Identifier(read.relation))
        if read.embed is not None:
            columns += [sql.SQL("e.{}").format(sql.Identifier(c)) for c in read.embed.columns]
            source += sql.SQL(" join public.{} e on e.id = r.{}").format(
                sql.Identifier(read.embed.table), sql.Identifier(read.embed.key)
            )
        order = sql.SQL(", ").join(
            sql.SQL("r.{}{}").format(sql.Identifier(c), sql.SQL(" desc" if desc else "")) for c, desc in read.order
        )
        query = sql.SQL("select {} from {}{} order by {}").format(
            sql.SQL(", ").join(columns), source, _where(conds, params), order
        )
        if limit is not None:
            params["limit"] = limit
            query += sql.SQL(" limit %(limit)s")
        return self._rows(action, query, params)

    def count_rows(self, read: Read, conds: list[Cond], action: str) -> dict[Any, int]:
        assert read.count_by is not None
        params: dict[str, Any] = {}
        query = sql.SQL("select r.{} as key, count(*) as n from public.{} r{} group by 1").format(
            sql.Identifier(read.count_by), sql.Identifier(read.relation), _where(conds, params)
        )
        return {r["key"]: int(r["n"]) for r in self._rows(action, query, params)}

    def insert_row(self, insert: Insert, row: dict[str, Any], action: str) -> int:
        params = {k: Jsonb(v) if k in insert.json_columns else v for k, v in row.items()}
        query = sql.SQL("insert into public.{} ({}) values ({}) returning id").format(
            sql.Identifier(insert.table),
            sql.SQL(", ").join(sql.Identifier(k) for k in params),
            sql.SQL(", ").join(sql.Placeholder(k) for k in params),
        )
        return self._rows(action, query, params)[0]["id"]

    def export_rows(self, conds: list[Cond], limit: int | None, action: str) -> list[ExportRow]:
        # the document as text (json.loads is ~3x faster than validating a model), its training
        # block apart so the export can set the split without re-serializing the whole document
        params: dict[str, Any] = {}
        query = sql.SQL(
            "select r.id as scenario_id, c.version, (c.document - 'training')::text as document, "
            "coalesce(c.document -> 'training', '{{}}'::jsonb) as training "
            "from public.v_scenarios r join public.conversations c on c.id = r.conversation_id{} "
            "order by r.id"
        ).format(_where(conds, params))
        if limit is not None:
            params["limit"] = limit
            query += sql.SQL(" limit %(limit)s")
        with self.connection(action) as conn:
            cur = conn.cursor(row_factory=tuple_row)
            return [ExportRow(*r) for r in cur.execute(query, params)]


def _where(conds: list[Cond], params: dict[str, Any]) -> sql.Composable:
    """WHERE on the relation aliased r, its values added to params as w0, w1, ..."""
    clauses: list[sql.Composable] = []
    for n, c in enumerate(conds):
        col = sql.SQL("r.{}").format(sql.Identifier(c.column))
        name = f"w{n}"
        if isinstance(c, Eq):
            params[name] = c.value
            clauses.append(sql.SQL("{} = {}").format(col, sql.Placeholder(name)))
        elif isinstance(c, AnyOf):
            params[name] = list(c.values)
            clauses.append(sql.SQL("{} = any({}::{}[])").format(col, sql.Placeholder(name), sql.SQL(c.type)))
        elif isinstance(c, Overlaps):
            params[name] = list(c.values)
            clauses.append(sql.SQL("{} && {}::text[]").format(col, sql.Placeholder(name)))
        elif isinstance(c, Between):
            params[name + "lo"], params[name + "hi"] = c.low, c.high
            test = sql.SQL("{} between {} and {}").format(
                col, sql.Placeholder(name + "lo"), sql.Placeholder(name + "hi")
            )
            clauses.append(sql.SQL("({} is null or {})").format(col, test) if c.or_null else test)
        elif isinstance(c, IsTrue):
            clauses.append(col)
        elif isinstance(c, NotNull):
            clauses.append(sql.SQL("{} is not null").format(col))
        else:
            raise InvalidInput(f"unknown condition {c!r}")
    return sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")


class _Session:
    """A worker's liveness: the lock lives as long as this connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @property
    def alive(self) -> bool:
        if self._conn.closed:
            return False
        try:
            self._conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def close(self) -> None:
        self._conn.close()


# the session connection is set up as the pool's are (UTC), without the dict rows it does not need
_SESSION_KWARGS: dict[str, Any] = {"options": "-c TimeZone=UTC"}


def _configure(conn: psycopg.Connection[Any]) -> None:
    # numeric (costs) as float, not Decimal: the pages, pandas and JSON want float, and a
    # per-row conversion costs more than the query on 10,000 scenarios
    conn.adapters.register_loader("numeric", FloatLoader)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _pg_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    msg = diag.message_primary or _first_line(exc) or type(exc).__name__
    # a check violation's detail is "Failing row contains (...)": the whole row, 1 MiB notes included;
    # the constraint's name already says which limit it broke
    if diag.message_detail and not isinstance(exc, psycopg.errors.CheckViolation):
        msg += f" ({diag.message_detail})"
    if diag.message_hint:
        msg += f". {diag.message_hint}"
    return msg


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """psycopg errors -> the StoreError subclass a caller can act on, with one clear line."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionDenied(_pg_message(exc)) from None
    except psycopg.errors.NoDataFound as exc:
        raise NotFound(_pg_message(exc)) from None
    except (
        psycopg.errors.InvalidParameterValue,
        psycopg.errors.RaiseException,
        psycopg.IntegrityError,
        psycopg.DataError,
    ) as exc:
        raise InvalidInput(f"cannot {action}: {_pg_message(exc)}") from None
    # psycopg files a deadlock (40P01) under OperationalError, not TransactionRollback: it is retryable too
    except (psycopg.errors.TransactionRollback, psycopg.errors.DeadlockDetected) as exc:
        raise StoreError(
            f"cannot {action} now: it collided with another change ({_pg_message(exc)}); try again"
        ) from None
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable(
            f"lost the database while trying to {action}: {_first_line(exc)}; check that it is running, then try again"
        ) from None
    except psycopg.Error as exc:
        if exc.sqlstate == STALE_SQLSTATE:
            raise Stale(_pg_message(exc)) from None
        raise StoreError(f"cannot {action}: {_pg_message(exc)}") from None
