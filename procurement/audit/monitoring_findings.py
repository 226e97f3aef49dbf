"""The findings frame that every monitoring rule returns, and the evidence (line ids) each finding carries.

One row per finding: which rule, how severe, whom it is about (hospital, physician, department, product), the lines
behind it, the measured value against its threshold, the peers' figures where peers were compared, and the parameter
set that decided it. Rules build their findings from small flagged subsets, so the per-finding Python work here (line
id lists, detail dicts) scales with the number of findings, never with the number of lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from core.params import ParameterSet

FINDING_COLUMNS: dict[str, str] = {
    "rule": "string",  # stable code, e.g. RX-QTY-OVER-LIMIT
    "severity": "string",
    "subject": "string",  # what the finding is about, unique per rule: "prescription:12", "trace:…", …
    "hospital_id": "Int64",
    "physician_id": "Int64",
    "department": "string",
    "product_id": "Int64",
    "line_ids": "object",  # the first `evidence_limit` line ids (by date, then id)
    "line_count": "int64",  # how many lines are behind the finding in all
    "measure": "string",
    "value": "float64",
    "threshold": "float64",
    "peers": "object",  # dict of the peers' figures, or None
    "details": "object",  # dict of anything else an auditor needs to redo the finding
    "params": "string",  # parameter set name@version
}


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in FINDING_COLUMNS.items()})


def lookup(categorical: pd.Series, mapping: dict[str, Any], default: Any = np.nan) -> np.ndarray:
    """Map a categorical column through ``mapping`` by its codes (fast for millions of rows); unknown → default."""
    cats = categorical.cat.categories
    table = np.array([mapping.get(str(c), default) for c in cats] + [default])
    return table[categorical.cat.codes.to_numpy()]  # code −1 (missing) picks the trailing default


def member(categorical: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Return a boolean array: whether each row's category is one of ``names``."""
    return lookup(categorical, dict.fromkeys(names, True), False).astype(bool)


def pair_key(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> np.ndarray:
    """Combine two non-negative int64 id columns into one int64 key (ids below 2**31), for fast ``isin`` tests."""
    a, b = np.asarray(a, dtype="int64"), np.asarray(b, dtype="int64")
    if len(b) and (b.min() < 0 or b.max() >= 2**31 or a.min() < 0 or a.max() >= 2**32):
        raise ValueError("ids out of range for a combined key")
    return (a << 31) | b


def evidence(lines: pd.DataFrame, key: str, limit: int) -> pd.DataFrame:
    """Return, per value of ``key`` in ``lines``, the first ``limit`` line ids (by date, then id) and the line count."""
    keys = lines[key].to_numpy()
    if keys.dtype == object:  # strings (trace codes): sort by their integer codes, in the strings' order
        codes, uniques = pd.factorize(keys, sort=True)
        line_ids, counts, present = evidence_arrays(codes, lines["prescribed_on"], lines["line_id"], limit)
        index = pd.Index(np.asarray(uniques, dtype=object)[present], name=key, dtype=lines[key].dtype)
    else:
        line_ids, counts, index = evidence_arrays(keys, lines["prescribed_on"], lines["line_id"], limit)
        index = pd.Index(index, name=key)
    return pd.DataFrame({"line_ids": line_ids, "line_count": counts}, index=index)


def evidence_arrays(
    keys: np.ndarray, on: pd.Series | np.ndarray, line_id: pd.Series | np.ndarray, limit: int
) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Return, per distinct key (ascending), the first ``limit`` line ids by date then id, the line count and the key.

    One ``lexsort`` and slicing: the capped ids are converted to Python once and cut into one list per key.
    """
    keys = np.asarray(keys)
    if not len(keys):
        return [], np.zeros(0, dtype=np.int64), keys
    on = np.asarray(on, dtype="datetime64[ns]").view(np.int64)
    ids = np.asarray(line_id, dtype=np.int64)
    # Lines come in date order as loaded, mostly: then a stable sort on the key alone keeps that order within keys.
    in_order = _in_date_order(on, ids)
    order = np.argsort(_narrow(keys), kind="stable") if in_order else np.lexsort((ids, on, keys))
    keys, ids = keys[order], ids[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    rank = np.arange(len(keys)) - np.repeat(starts, counts)  # position of each line within its key
    kept = ids[rank < limit].tolist()
    ends = np.cumsum(np.minimum(counts, limit)).tolist()
    firsts = [kept[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    return firsts, counts.astype(np.int64), keys[starts]


def _in_date_order(on: np.ndarray, ids: np.ndarray) -> bool:
    """Whether lines are already ordered by date, then id."""
    if len(on) < 2:
        return True
    later, same = on[1:] > on[:-1], on[1:] == on[:-1]
    return bool((later | (same & (ids[1:] > ids[:-1]))).all())


def _narrow(keys: np.ndarray) -> np.ndarray:
    """Return integer keys in the narrowest integer type that holds them (numpy sorts 16-bit keys by radix)."""
    if keys.dtype.kind not in "iu" or not len(keys):
        return keys
    low, high = int(keys.min()), int(keys.max())
    for dtype in (np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return keys.astype(dtype)
    return keys


def evidence_of_groups(
    lines: pd.DataFrame, fid_of_group: np.ndarray, codes: np.ndarray, rows: np.ndarray | None, limit: int
) -> pd.DataFrame:
    """Return the evidence per finding id, from ``rows`` (all lines when None) whose group code (``codes``, aligned
    with ``rows``) has a finding id in ``fid_of_group`` (−1: none)."""
    # A boolean table gathered per line, then the finding ids of the few chosen lines only: gathering the int64
    # table at every line writes eight times the memory for lines that are almost all dropped.
    chosen = np.flatnonzero((fid_of_group >= 0)[codes])
    fid = fid_of_group[codes[chosen]]
    if rows is not None:
        chosen = rows[chosen]
    ids, counts, keys = evidence_arrays(
        fid, lines["prescribed_on"].to_numpy()[chosen], lines["line_id"].to_numpy()[chosen], limit
    )
    return pd.DataFrame({"line_ids": ids, "line_count": counts}, index=keys)


def build(
    rule: str,
    severity: str,
    params: ParameterSet,
    table: pd.DataFrame,
    *,
    measure: str,
    threshold: float | pd.Series,
    peers: pd.DataFrame | None = None,
    details: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Turn a table of flagged subjects into findings.

    ``table`` holds ``subject``, ``value``, ``line_ids``, ``line_count`` and any of hospital_id, physician_id,
    department, product_id. ``peers`` and ``details`` (aligned on ``table``'s index) become one dict per finding.

    Each column is made once in its final dtype and the frame assembled in one call: a run builds a dozen findings
    frames, some of tens of thousands of rows, and column-by-column assignment followed by a conversion of the whole
    frame cost several milliseconds per frame before any row was made.
    """
    n = len(table)
    if not n:
        return empty_findings()
    columns = {
        "rule": _repeated(rule, n),
        "severity": _repeated(severity, n),
        "subject": _strings(table["subject"]),
        "hospital_id": _ints(table, "hospital_id"),
        "physician_id": _ints(table, "physician_id"),
        "department": _strings(table["department"]) if "department" in table else _repeated(None, n),
        "product_id": _ints(table, "product_id"),
        "line_ids": _objects(table["line_ids"].tolist()),
        "line_count": table["line_count"].to_numpy(dtype="int64"),
        "measure": _repeated(measure, n),
        "value": table["value"].to_numpy(dtype="float64", na_value=np.nan),
        "threshold": _floats(threshold, n),
        "peers": _objects(_records(peers, n)),
        "details": _objects(_records(details, n)),
        "params": _repeated(f"{params.name}@{params.version}", n),
    }
    return pd.DataFrame(columns, copy=False)


def _repeated(text: str | None, n: int) -> pd.api.extensions.ExtensionArray:
    """Return a string column holding ``text`` (or missing) ``n`` times."""
    values = np.empty(n, dtype=object)
    values.fill(text)  # far quicker than np.full, which converts the value for every element
    return pd.array(values, dtype=FINDING_COLUMNS["rule"])


def _strings(column: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Return a column as the findings' string dtype (missing values stay missing)."""
    return pd.array(column.to_numpy(dtype=object, na_value=None), dtype=FINDING_COLUMNS["rule"])


def _ints(table: pd.DataFrame, column: str) -> pd.api.extensions.ExtensionArray:
    """Return ``table[column]`` as nullable integers, or all missing when the table has no such column."""
    if column not in table:
        n = len(table)
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    return pd.array(table[column], dtype="Int64")


def _floats(values: float | pd.Series, n: int) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.full(n, values, dtype="float64")


def _objects(values: list[Any]) -> np.ndarray:
    """Return a list as a one-dimensional object array, element by element (lists stay lists, never a 2-D array)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _plain(value: Any) -> Any:
    """Return a JSON-friendly scalar (numpy numbers and timestamps become Python ones; NaN/NA become None)."""
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(item) for item in value]
    if value is None or (not isinstance(value, dict | str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _column_values(column: pd.Series) -> list[Any]:
    """Return a column as JSON-friendly Python values, converted column-wise (NaN/NA → None, dates → ISO)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):  # few distinct dates: format each once
        codes, uniques = pd.factorize(column)
        stamps = [pd.Timestamp(value) for value in uniques]
        texts = [t.strftime("%Y-%m-%d" if t == t.normalize() else "%Y-%m-%dT%H:%M:%S") for t in stamps]
        texts.append(None)  # code −1 (missing) picks None
        return [texts[code] for code in codes.tolist()]
    if pd.api.types.is_numeric_dtype(column.dtype):
        dtype = np.dtype(getattr(column.dtype, "numpy_dtype", column.dtype))
        if not column.hasnans:  # numpy's tolist gives Python numbers at once
            return column.to_numpy(dtype=dtype).tolist()
        filler = np.nan if dtype.kind == "f" else 0  # any number, replaced by None below
        out = column.to_numpy(dtype=dtype, na_value=filler).tolist()
        for at in np.flatnonzero(column.isna().to_numpy()).tolist():  # the (usually few) missing places
            out[at] = None
        return out
    if pd.api.types.infer_dtype(column, skipna=True) == "string":  # text, perhaps with gaps: no element to convert
        return column.to_numpy(dtype=object, na_value=None).tolist()
    return [_plain(v) for v in column.tolist()]


def _records(frame: pd.DataFrame | None, n: int) -> list[Any]:
    if frame is None:
        return [None] * n
    columns = list(frame.columns)
    values = [_column_values(frame[c]) for c in columns]
    if len(columns) == 1:  # the common case (a prescription id), without a zip per finding
        return [{columns[0]: value} for value in values[0]]
    return _record_maker(tuple(columns))(values) if columns else [{} for _ in range(n)]


@lru_cache(maxsize=64)
def _record_maker(columns: tuple[str, ...]) -> Callable[[list[list[Any]]], list[dict[str, Any]]]:
    """Return a function turning column value lists into one dict per row, the keys written out in a dict display.

    CPython builds a display of known keys in one step: about twice as fast as ``dict(zip(columns, row))`` per row,
    which counts at tens of thousands of findings. The keys are the rules' own detail names, written as literals.
    """
    variables = [f"v{i}" for i in range(len(columns))]
    display = ", ".join(f"{name!r}: {variable}" for name, variable in zip(columns, variables, strict=True))
    source = f"lambda values: [{{{display}}} for {', '.join(variables)}, in zip(*values, strict=True)]"
    return eval(source, {"zip": zip})  # as dataclasses and namedtuple do: the source holds only repr()s of names


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate findings frames, keeping the column dtypes even when all are empty."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_findings()
    if len(frames) == 1:
        return frames[0].reset_index(drop=True).astype(FINDING_COLUMNS)
    return pd.concat(frames, ignore_index=True).astype(FINDING_COLUMNS)


def ordered(findings: pd.DataFrame) -> pd.DataFrame:
    """Order findings by rule, keeping each rule's findings in the order they came (a stable sort on few codes)."""
    return concat_ordered([findings])


def concat_ordered(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate findings frames ordered by rule, each rule's findings in the order they came.

    A rule's findings arrive in runs (each rule builds its own frame), so the frames are cut where the rule changes
    and the runs, few, are sorted by rule (stably) and concatenated once: no sort or copy over every finding beyond
    the one concatenation.
    """
    runs: list[tuple[str, int, pd.DataFrame]] = []
    for frame in frames:
        if frame.empty:
            continue
        rules = frame["rule"].to_numpy(dtype=object, na_value=None)
        starts = np.flatnonzero(np.r_[True, rules[1:] != rules[:-1]]).tolist()
        for start, end in zip(starts, [*starts[1:], len(rules)], strict=True):
            runs.append((rules[start], len(runs), frame.iloc[start:end]))
    runs.sort(key=lambda run: (run[0], run[1]))
    return concat([run[2] for run in runs])
