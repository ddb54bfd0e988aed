"""What a call to Claude can end in without an answer to judge: the LLMError family, and what the
preflight found (Preflight).

No SDK here (lib.generation.llm raises these from the SDK's errors): the engine, the worker and the
pages tell the failures apart by class, `cause` and `fatal`, which lib.generation.causes explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lib.core.redaction import redact_text
from lib.generation.response import TryRecord


class LLMError(Exception):
    """No answer to judge. `fatal` means stop the whole run (the next call would fail the same way)."""

    kind = "error"
    fatal = False

    @property
    def cause(self) -> str:
        """The short key failures are grouped by (lib.generation.causes)."""
        return self.kind

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        tries: Sequence[TryRecord] = (),
        request_id: str | None = None,
        rate_limits: Mapping[str, str] | None = None,
        duration_s: float = 0.0,
        raw_body: str = "",
    ) -> None:
        # the endpoint's words end up on pages and in rows: an echoed key must not
        message = redact_text(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.tries = list(tries)
        self.request_id = request_id
        self.rate_limits = dict(rate_limits or {})
        self.duration_s = duration_s
        self.raw_body = redact_text(raw_body)


class MissingApiKey(LLMError):
    kind, fatal = "no_key", True


class InvalidApiKey(LLMError):
    kind, fatal = "invalid_key", True


class ModelNotFound(LLMError):
    kind, fatal = "model_not_found", True


class BillingError(LLMError):
    kind, fatal = "billing", True


class LLMUnavailable(LLMError):
    """429 / 529 / 5xx / timeouts until the retries ran out. The scenario can be retried later."""

    kind = "unavailable"

    @property
    def cause(self) -> str:
        """What the last try met: unreachable, timeout, rate_limited or overloaded."""
        last = self.tries[-1] if self.tries else None
        if last is None or last.status is None:
            return "timeout" if last is not None and last.error == "timed out" else "unreachable"
        return "rate_limited" if last.status == 429 else "overloaded"


class LLMRequestRejected(LLMError):
    """400, 413, 422 and the like: this request will not work as it is."""

    kind = "rejected"


class NotMessagesApi(LLMRequestRejected):
    """The endpoint answered, but not as the Messages API does (a proxy's HTML page, say)."""

    kind = "not_messages_api"


@dataclass(frozen=True)
class Preflight:
    """What one cheap authenticated call found before a job spends anything. cause: None when the
    endpoint answered as it should, else a key of lib.generation.causes (unreachable, timeout,
    invalid_key, unknown_model, billing, rate_limited, overloaded, not_messages_api, rejected, no_key)."""

    cause: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.cause is None
