"""Idempotency keys: a retried request names the same key, and only the key's SHA-256 is stored."""

from __future__ import annotations

import hashlib


def key_hash(idempotency_key: str | None) -> str | None:
    """Return the stored form of an ``Idempotency-Key`` header (its SHA-256), or None when there is none."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else None
