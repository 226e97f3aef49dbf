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
_STRING = json.encoder.encode_basestring  # what _ENCODER uses for strings (ensure_ascii=False)
_PLANS: dict[tuple, tuple[tuple[str, str], ...]] = {}  # key order as given -> (key, text before its value), sorted
_MAX_PLANS = 256


def canonical_bytes(value: Any, *, checked: bool = True) -> bytes:
    """Encode a value as canonical JSON bytes; floats are refused (``checked=False`` for values built in code)."""
    if checked:
        _check(value)
    return _ENCODER.encode(value).encode("utf-8")


def flat_canonical_bytes(value: dict[str, Any]) -> bytes:
    """Return ``canonical_bytes(value, checked=False)`` faster for a flat object of strings, integers and nulls.

    The ledger writes thousands of entries per batch, all with the same few key sets: the sorted keys and the text
    between the values are worked out once per key set. Any other value (nested, boolean, float …) goes the
    general way, so the bytes are always those of ``canonical_bytes``.
    """
    keys = tuple(value)
    plan = _PLANS.get(keys)
    if plan is None:
        if not keys or len(_PLANS) >= _MAX_PLANS or any(type(k) is not str for k in keys):
            return canonical_bytes(value, checked=False)
        plan = tuple((k, ("{" if n == 0 else ",") + _STRING(k) + ":") for n, k in enumerate(sorted(keys)))
        _PLANS[keys] = plan
    parts = []
    for key, before in plan:
        item = value[key]
        kind = type(item)
        if kind is str:
            parts.append(before + _STRING(item))
        elif kind is int:
            parts.append(before + int.__repr__(item))
        elif item is None:
            parts.append(before + "null")
        else:
            return canonical_bytes(value, checked=False)
    parts.append("}")
    return "".join(parts).encode("utf-8")


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
