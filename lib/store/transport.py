"""CallStore: the Store protocol made of the rows of CALLS (lib/store/calls/), the base of the
two transports. Each method has the protocol's own signature; it binds its arguments, runs its row,
and shapes the result. A transport implements the primitives below and nothing else. Whatever is
written passes through lib.core.redaction first: no secret is stored, whoever wrote the text."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lib.core.redaction import redact
from lib.store.calls import (
    CALLS,
    STORE_INFO,
    Args,
    Call,
    Cond,
    Export,
    Fn,
    Insert,
    Read,
    info_counts,
    integer,
    matches_nothing,
)
from lib.store.protocol import BootReport, ExportRow, InvalidInput, Store, StoreInfo, StoreKind, WorkerSession

if TYPE_CHECKING:
    # The methods are set from CALLS below, at import, where mypy cannot see them. Declaring the Store
    # protocol as the base gives every method the protocol's typed signature and makes each transport
    # a Store. mypy then takes the protocol's empty bodies for abstract methods, so constructing a
    # transport needs `# type: ignore[abstract]`; test_store_calls checks every method is made.
    _Declared = Store
else:
    _Declared = object


class CallStore(_Declared):
    """The Store protocol made of CALLS. A transport subclasses it and implements the primitives."""

    kind: StoreKind
    label: str
    boot: BootReport | None

    # -- what a transport implements ----------------------------------------------------------------
    def call_function(self, fn: Fn, params: dict[str, Any], action: str) -> Any:
        """public.<fn.name>(params): rows (list of dicts), a row (dict or None), a value, or values."""
        raise NotImplementedError

    def read_rows(self, read: Read, conds: list[Cond], limit: int | None, action: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def count_rows(self, read: Read, conds: list[Cond], action: str) -> dict[Any, int]:
        """Rows per value of read.count_by."""
        raise NotImplementedError

    def insert_row(self, insert: Insert, row: dict[str, Any], action: str) -> int:
        """Insert the row; returns its id."""
        raise NotImplementedError

    def export_rows(self, conds: list[Cond], limit: int | None, action: str) -> list[ExportRow]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def worker_session(self, worker: str) -> WorkerSession | None:
        """No session by default: a transport without a connection of its own relies on the leases."""
        return None

    # -- running a row of CALLS ------------------------------------------------------------------------
    def run(self, call: Call, args: Args) -> Any:
        action = call.action.format_map(args)
        if isinstance(call, Fn):
            if call.skip_if_empty is not None and not args[call.skip_if_empty]:
                return call.shape([])
            params = redact({name: arg.convert(args[arg.source]) for name, arg in call.args.items()})
            return call.shape(self.call_function(call, params, action))
        if isinstance(call, Insert):
            row = redact(dict(args[call.source]))
            unknown = sorted(set(row) - call.columns)
            if unknown:
                raise InvalidInput(
                    f"cannot {action}: unknown column {unknown[0]!r}; expected some of "
                    f"{', '.join(sorted(call.columns))}"
                )
            missing = [c for c in call.required if c not in row]
            if missing:
                raise InvalidInput(f"cannot {action}: the {missing[0]} is missing")
            return int(self.insert_row(call, row, action))
        conds = call.where(args)
        limit = args[call.limit] if call.limit is not None else None
        if isinstance(call, Export):
            return [] if matches_nothing(conds) else self.export_rows(conds, integer(limit), action)
        if call.count_by is not None:
            return call.shape({} if matches_nothing(conds) else self.count_rows(call, conds, action))
        if call.one:
            limit = 1
        return call.shape([] if matches_nothing(conds) else self.read_rows(call, conds, integer(limit), action))

    def describe(self) -> StoreInfo:
        info = self.call_function(STORE_INFO, {}, STORE_INFO.action) or {}
        return StoreInfo(
            kind=self.kind,
            label=self.label,
            server_version=str(info.get("server_version", "")),
            counts=info_counts(info),
            migrations=[str(m) for m in info.get("migrations") or []],
            boot=self.boot,
        )


def _method(name: str, call: Call) -> Callable[..., Any]:
    """The Store method `name`, with the protocol's signature, that runs `call`."""
    declared = getattr(Store, name)
    signature = inspect.signature(declared)

    def method(self: CallStore, /, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self.run(call, {k: v for k, v in bound.arguments.items() if k != "self"})

    method.__name__ = method.__qualname__ = name
    method.__doc__ = declared.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


for _name, _call in CALLS.items():
    setattr(CallStore, _name, _method(_name, _call))


def count_values(rows: list[dict[str, Any]], column: str) -> dict[Any, int]:
    """count_rows for a transport that cannot group (PostgREST with aggregates off, as on Supabase)."""
    return dict(Counter(r[column] for r in rows))
