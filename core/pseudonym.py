"""Keyed pseudonyms for patient identifiers: the clear identifier is never stored (rulebook 0.17)."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

MIN_KEY_BYTES = 32


def pseudonymise(key: bytes, identifier: str) -> str:
    """Return the HMAC-SHA-256 pseudonym (hex) of a patient identifier, normalised (NFKC, trimmed, upper case)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes")
    normalised = unicodedata.normalize("NFKC", identifier).strip().upper()
    if not normalised:
        raise ValueError("empty patient identifier")
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()
