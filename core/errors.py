"""The domain exception family: a kind and details, never an HTTP status (webui maps kinds to statuses)."""

from __future__ import annotations

from typing import Any

NOT_FOUND = "not_found"
CONFLICT = "conflict"
INVALID = "invalid"
FORBIDDEN = "forbidden"
UNAUTHENTICATED = "unauthenticated"
RATE_LIMITED = "rate_limited"

KINDS = frozenset({NOT_FOUND, CONFLICT, INVALID, FORBIDDEN, UNAUTHENTICATED, RATE_LIMITED})


class DomainError(Exception):
    """A business rule said no.

    ``kind`` is one of :data:`KINDS`; ``code`` is a stable machine-readable reason (``token_expired``);
    ``errors`` maps field names to lists of messages. ``keep_work`` asks the unit of work to commit what
    the service wrote before refusing (a failed-login record must survive the refusal it causes).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        errors: dict[str, Any] | None = None,
        keep_work: bool = False,
        retry_after: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code or kind
        self.errors = errors or {}
        self.keep_work = keep_work
        self.retry_after = retry_after


def not_found(what: str, ident: object) -> DomainError:
    """Build the error for an object that does not exist or is outside the actor's scope."""
    return DomainError(NOT_FOUND, f"{what} {ident} not found", code=f"{what.lower().replace(' ', '_')}_not_found")


def invalid(field: str, message: str, *, code: str = INVALID) -> DomainError:
    """Build a validation error naming one field."""
    return DomainError(INVALID, message, code=code, errors={field: [message]})
