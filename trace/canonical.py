"""The canonical JSON of ledger entries and checkpoints: the exact bytes that are hashed and signed.

Rules (a subset of RFC 8785, JCS, sufficient because floats are never used): UTF-8; object keys sorted by code
point; no insignificant white space (separators ``,`` and ``:``); non-ASCII characters kept as themselves, not
``\\u`` escapes; only strings, integers, booleans, null, arrays and objects; timestamps are strings in UTC,
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; hashes are lowercase hex strings. The bytes never contain a newline, so an export
can hold one entry per line.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any, *, checked: bool = True) -> bytes:
    """Encode a value as canonical JSON bytes; floats are refused (``checked=False`` for values built in code)."""
    if checked:
        _check(value)
    return _ENCODER.encode(value).encode("utf-8")


def utc_text(moment: dt.datetime) -> str:
    """Render an aware datetime as the canonical UTC timestamp string."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime in a ledger entry")
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical ledger JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)
