"""Rules judged on prescriptions and packs: quantity limits, long prescriptions, drug counts, 超常处方 sequences,
non-winning choices, dispensing above receipts and trace codes shared by patients (rulebook 1.7.2, 5.6.7, 7.2–7.7).

Each rule takes the line frame (``rx_frame.LINE_COLUMNS``) and returns findings (``monitoring_findings``). At five
million lines every pass over a column costs milliseconds, so each rule makes as few whole-column passes as it can —
small-dtype masks, one gather or ``bincount`` over integer codes, no pandas ``groupby``/``merge`` and no copy of the
frame — to narrow the lines to the few that can matter; everything else (grouping, joining, sorting) is numpy on
those few.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from procurement.audit import monitoring_findings as mf
from procurement.audit import monitoring_rules as mr
from procurement.audit.monitoring_groups import DENSE_LIMIT, LineGroups, combine, dense_codes, first_index, sums, used
from procurement.audit.rx_frame import NO_LABELS

HASH_BUCKETS = 1 << 24  # buckets of trace-code ids for finding repeated codes (a power of two; 128 MiB of counts)
NS_PER_DAY = 86_400 * 10**9
BLOCK = 1 << 17  # lines per block of the passes that run block by block (a few hundred KiB each, in the cache)
NAT = np.iinfo(np.int64).min  # NaT as datetime64[ns] viewed as int64


# ---------------------------------------------------------------- column helpers


def _int_values(column: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """Return a nullable integer column's values as int64 and its missing mask (None when nothing is missing).

    A masked array's values and mask are handed over as pandas stores them: ``to_numpy(na_value=…)`` would copy and
    fill 40 MB at five million lines. The values under the mask are arbitrary: callers must honour the mask.
    """
    array = column.array
    if isinstance(array, pd.arrays.IntegerArray):
        values, missing = array._data, array._mask  # pandas' storage of a masked array (values, mask)
    else:
        missing = column.isna().to_numpy()
        values = column.to_numpy(dtype=np.int64, na_value=0) if missing.any() else column.to_numpy()
    return values.astype(np.int64, copy=False), (missing if missing.any() else None)


def _stamps(values: pd.Series | np.ndarray) -> np.ndarray:
    """Return datetimes as int64 nanoseconds (NaT: ``NAT``)."""
    return np.asarray(values, dtype="datetime64[ns]").view(np.int64)


def _category_table(categorical: pd.Series, names) -> np.ndarray:
    """Return a boolean per category code, whether the category is one of ``names``, with a trailing False so that
    code −1 (missing) looks up False: ``table[codes]``."""
    wanted = {str(name) for name in names}
    return np.array([str(c) in wanted for c in categorical.cat.categories] + [False], dtype=bool)


def _subjects(prefix: str, ids: np.ndarray, infix: str = "", more: np.ndarray | None = None) -> pd.array:
    """Return ``prefix + id`` (or ``prefix + id + infix + more``) per finding as a string array: f-strings, or for
    pairs the strings of the few distinct ids joined, cheaper than pandas' concatenation of string columns."""
    if more is None:
        return pd.array([f"{prefix}{i}" for i in ids.tolist()], dtype="string")
    (left, left_of), (right, right_of) = _numbered(ids), _numbered(more)
    left = np.array([f"{prefix}{i}{infix}" for i in left.tolist()], dtype=object)
    right = np.array([str(i) for i in right.tolist()], dtype=object)
    return pd.array(left[left_of] + right[right_of], dtype="string")


def _cut(values: np.ndarray, counts: np.ndarray) -> list[list]:
    """Return ``values`` cut into consecutive lists of ``counts`` values each, as Python lists.

    When most groups hold one value (most findings carry one line), those lists are made straight from the values
    (no slice per finding) and only the groups of several values are sliced; otherwise every group is sliced.
    """
    if not len(values):
        return [[] for _ in range(len(counts))]
    ends = np.cumsum(counts)
    firsts = ends - counts
    several = np.flatnonzero(counts != 1)
    if 2 * len(several) > len(counts):  # mostly groups of several lines: slice each
        values = values.tolist()
        return [values[first:end] for first, end in zip(firsts.tolist(), ends.tolist(), strict=True)]
    out = [[value] for value in values[np.minimum(firsts, len(values) - 1)].tolist()]
    if len(several):
        values = values.tolist()
        for at, first, end in zip(several.tolist(), firsts[several].tolist(), ends[several].tolist(), strict=True):
            out[at] = values[first:end]
    return out


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Return where each run of equal values starts in sorted keys (non-empty)."""
    change = np.empty(len(sorted_keys), dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Return the distinct values, ascending (``np.unique``, by a plain sort: several times faster on int64)."""
    values = np.sort(values)
    return values[_group_starts(values)] if len(values) else values


def _numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct values, ascending, and each value's position among them (``np.unique`` with
    ``return_inverse``, by one unstable argsort)."""
    order = np.argsort(values)
    ordered = values[order]
    if not len(values):
        return ordered, np.zeros(0, dtype=np.int64)
    change = np.empty(len(values), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    number = np.empty(len(values), dtype=np.int64)
    number[order] = np.cumsum(change) - 1
    return ordered[change], number


def _ordered_codes(values: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Return codes for integer ids that keep their order, the number of codes and the id of each code: offsets
    from the smallest id when the ids are dense (codes not in use allowed), else the ids' ranks."""
    if not len(values):
        return np.zeros(0, dtype=np.int64), 0, values
    low, high = int(values.min()), int(values.max())
    if high - low < max(4 * len(values), 1 << 16) and high - low < DENSE_LIMIT:
        return values - low, high - low + 1, np.arange(low, high + 1, dtype=np.int64)
    ids, codes = _numbered(values)
    return codes, len(ids), ids


def _stable_order(keys: np.ndarray, size: int) -> np.ndarray:
    """Return the stable sort order of integer keys in [0, size): an unstable sort of ``key × n + position`` when it
    fits in int64 (every such key is distinct, so the order is the stable one, and faster to find)."""
    n = len(keys)
    if n and size * n < 2**62:
        return np.argsort(keys * n + np.arange(n))
    return np.argsort(keys, kind="stable")


def _running_count(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Return per element the number of true ``flags`` so far within its group (groups contiguous, from ``starts``):
    a group-by ``cumsum``."""
    seen = np.cumsum(flags)
    return seen - np.repeat(seen[starts] - flags[starts], np.diff(np.r_[starts, len(flags)]))


def _first_present(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Return per group (``codes`` sorted by group, groups from ``starts``) the first code that is not missing (≥ 0),
    else −1: pandas' ``first``, which skips missing values."""
    n = len(codes)
    position = np.where(codes >= 0, np.arange(n), n)
    first = np.minimum.reduceat(position, starts)
    return np.where(first < n, codes[np.minimum(first, n - 1)], -1)


def _evidence_order(lines: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Return the positions of the lines ``rows`` sorted by prescription, date and line id: the evidence order. Any
    subset of it keeps that order, so one sort serves every rule judged on the same lines."""
    on = _stamps(lines["prescribed_on"].to_numpy()[rows])  # NaT first, as the evidence sorts dates
    return np.lexsort((lines["line_id"].to_numpy()[rows], on, lines["prescription_id"].to_numpy()[rows]))


def _per_prescription(
    lines: pd.DataFrame, rows: np.ndarray, order: np.ndarray, limit: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return one row per prescription of the lines ``rows[order]`` (``rows`` in frame order, ``order`` positions of
    them in evidence order, see :func:`_evidence_order`), ascending by prescription id, with the hospital, physician
    and department of its first line in frame order (the department of its first line that has one, as pandas'
    ``first``), its evidence (as ``monitoring_findings.evidence``) and subject; and per prescription the starts of
    its lines in ``order`` and the position of its first line in ``rows``, for the caller's values.
    """
    ids = lines["prescription_id"].to_numpy()[rows[order]]
    starts = _group_starts(ids)
    first = np.minimum.reduceat(order, starts)  # positions ascend with the frame order
    department = lines["department"]
    codes = department.array.codes[rows]
    with_department = np.minimum.reduceat(np.where(codes[order] >= 0, order, len(rows)), starts)
    dept = np.where(with_department < len(rows), codes[np.minimum(with_department, len(rows) - 1)], -1)
    counts = np.diff(np.r_[starts, len(order)])
    line_ids = lines["line_id"].to_numpy()[rows[order]]
    if len(counts) and int(counts.max()) > limit:  # some prescription has more lines than the evidence holds
        line_ids = line_ids[np.arange(len(order)) - np.repeat(starts, counts) < limit]
    ids = ids[starts]
    table = pd.DataFrame(
        {
            "hospital_id": lines["hospital_id"].to_numpy()[rows[first]],
            "physician_id": lines["physician_id"].to_numpy()[rows[first]],
            "department": pd.Categorical.from_codes(dept, dtype=department.dtype),
            "line_ids": _cut(line_ids, np.minimum(counts, limit)),
            "line_count": counts.astype(np.int64),
            "subject": _subjects("prescription:", ids),
        },
        index=pd.Index(ids, name="prescription_id"),
    )
    return table, starts, first


def _prescription_findings(
    table: pd.DataFrame, code: str, severity: str, ps, value: np.ndarray, threshold, measure: str
) -> pd.DataFrame:
    """Build one finding per prescription of ``table`` (see :func:`_per_prescription`)."""
    table = table.assign(value=value)
    details = pd.DataFrame({"prescription_id": table.index}, index=table.index)
    return mf.build(code, severity, ps, table, measure=measure, threshold=threshold, details=details)


def _over_limit(lines: pd.DataFrame, days_by_setting: dict) -> np.ndarray:
    """Return the rows (ascending) whose days supply is over their setting's limit (a setting without a limit:
    never over).

    A comparison per limit against the setting codes: a gather of a float limit per line would write and read 40 MB.
    The comparisons run over blocks of lines that stay in the cache, into buffers made once: whole-column
    comparisons would each write a fresh five-megabyte mask (page faults included) and read it back from memory.
    """
    setting, days = lines["setting"], lines["days_supply"].to_numpy(dtype="float64", na_value=np.nan)
    codes = setting.array.codes
    by_limit: dict[float, list[int]] = {}
    for code, name in enumerate(setting.cat.categories):
        limit = float(days_by_setting.get(str(name), np.nan))
        if not np.isnan(limit):
            by_limit.setdefault(limit, []).append(code)
    if not by_limit or not len(days):
        return np.zeros(0, dtype=np.int64)
    if sum(map(len, by_limit.values())) > 4:  # many limited settings: one gather is cheaper than many comparisons
        limits = mf.lookup(setting, {k: float(v) for k, v in days_by_setting.items()}).astype("float64")
        with np.errstate(invalid="ignore"):
            return np.flatnonzero(days > limits)  # NaN limit is never over
    block = min(BLOCK, len(days))
    over, hit, in_setting = (np.empty(block, dtype=bool) for _ in range(3))
    found = []
    for start in range(0, len(days), block):
        d, c = days[start : start + block], codes[start : start + block]
        o, h, s = over[: len(d)], hit[: len(d)], in_setting[: len(d)]
        o.fill(False)
        for limit, in_limit in by_limit.items():
            np.greater(d, limit, out=h)  # NaN days are never over
            np.equal(c, in_limit[0], out=s)
            for code in in_limit[1:]:
                s |= c == code
            h &= s
            o |= h
        found.append(np.flatnonzero(o) + start)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def quantity_rules(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag prescriptions over the 7/3-day limit without a reason (7.4) and long prescriptions breaking 7.5.

    A line over its setting's limit is excused by a recorded reason, or (in the long-prescription settings) by the
    patient being a stable chronic one; then 7.5 applies: never beyond ``max_weeks``, beyond ``normal_weeks`` only
    with the assessment recorded, and never for an excluded drug class (antimicrobials for chronic infections only
    with the reason recorded). Any line beyond ``max_weeks`` is flagged, reason or not; a short-term line over the
    7/3-day limit with its reason recorded is 7.4's exception, not a long prescription.
    """
    q, lr, limit_n = params.quantity, params.long_rx, params.general["evidence_limit"]
    # Every finding needs a line over its setting's limit: find those few first, judge the rest on them alone.
    days_by_setting = q["days_by_setting"]
    rows = _over_limit(lines, days_by_setting)
    if not len(rows):
        return mf.empty_findings()
    setting = lines["setting"]
    setting_codes = setting.array.codes[rows]
    limit_of = [float(days_by_setting.get(str(c), np.nan)) for c in setting.cat.categories]
    limit = np.array([*limit_of, np.nan])[setting_codes]
    days = lines["days_supply"].to_numpy(dtype="float64", na_value=np.nan)[rows]
    long_setting = _category_table(setting, lr["settings"])[setting_codes]
    chronic = lines["chronic"].to_numpy(dtype=bool)[rows]
    reason = lines["reason_recorded"].to_numpy(dtype=bool)[rows]
    drug_class = lines["drug_class"]
    class_codes = drug_class.array.codes[rows]
    excluded = _category_table(drug_class, lr["excluded_classes"])[class_codes]
    exempt = _category_table(drug_class, lr["exempt_with_reason"])[class_codes] & reason
    normal_days, max_days = lr["normal_weeks"] * 7.0, lr["max_weeks"] * 7.0
    long_rx = long_setting & chronic  # a long prescription (长期处方) for a stable chronic patient
    rules = (
        (mr.QTY_OVER_LIMIT, q, q["severity"], ~reason & ~(chronic & long_setting), limit),
        (mr.LONG_EXCLUDED_CLASS, lr, lr["excluded_severity"], long_rx & excluded & ~exempt, limit),
        (mr.LONG_OVER_MAX, lr, lr["severities"][mr.LONG_OVER_MAX], days > max_days, max_days),
        (
            mr.LONG_NO_REASON,
            lr,
            lr["severities"][mr.LONG_NO_REASON],
            long_rx & ~reason & (days > normal_days) & (days <= max_days),
            normal_days,
        ),
    )
    order, out = _evidence_order(lines, rows), []
    for code, ps, severity, mask, threshold in rules:
        if mask.any():
            flagged = order[mask[order]]
            table, starts, first = _per_prescription(lines, rows, flagged, limit_n)
            value = np.maximum.reduceat(days[flagged], starts)  # the longest line
            threshold = np.broadcast_to(threshold, days.shape)[first]  # the first line's
            out.append(_prescription_findings(table, code, severity, ps, value, threshold, "days_supply"))
    return mf.concat(out)


def _rows_of_long_prescriptions(rx: np.ndarray, n_rx: int, most: float) -> np.ndarray:
    """Return the rows (ascending) of the prescriptions with more than ``most`` lines, given prescription codes.

    Lines usually come in prescription order, as loaded: then a prescription has more than k = ⌊most⌋ lines exactly
    when one of its lines has the same code as the line k places further, one comparison of shifted codes, and its
    lines are a range. Otherwise a ``bincount`` counts the lines of every prescription.
    """
    k = int(np.floor(most))  # more than `most` lines: at least k + 1
    if 1 <= k < len(rx) and bool((rx[1:] >= rx[:-1]).all()):
        at = np.flatnonzero(rx[k:] == rx[:-k])
        if not len(at):
            return at
        # Consecutive positions are one prescription's (sorted codes), and two prescriptions' positions are at least
        # k + 1 apart: each stretch of consecutive positions from p to q is the prescription's lines p … q + k.
        breaks = np.flatnonzero(at[1:] != at[:-1] + 1)
        low, high = at[np.r_[0, breaks + 1]], at[np.r_[breaks, len(at) - 1]] + k
        lengths = high - low + 1
        return np.arange(lengths.sum()) + np.repeat(low - (np.cumsum(lengths) - lengths), lengths)
    return np.flatnonzero((np.bincount(rx, minlength=n_rx) > most)[rx])


def drug_count_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag outpatient/emergency prescriptions with more than ``max_drugs`` distinct drugs (7.7)."""
    dc = params.drug_count
    g = groups or LineGroups(lines)
    (rx, n_rx), (product, n_products) = g.prescription, g.product
    # A prescription's line count bounds its drug count above: narrow the lines to the prescriptions with more lines
    # than drugs allowed first, and test settings, consumables and distinct drugs on those few only.
    rows = _rows_of_long_prescriptions(rx, n_rx, dc["max_drugs"])
    setting = lines["setting"]
    rows = rows[_category_table(setting, dc["settings"])[setting.array.codes[rows]]]
    rows = rows[~lines["consumable"].to_numpy(dtype=bool)[rows]]
    if not len(rows):
        return mf.empty_findings()
    rx, product = rx[rows], product[rows]
    if n_rx * n_products >= 2**62:  # renumber the few lines' codes so that a pair key fits in int64
        (_, rx), (_, product) = _numbered(rx), _numbered(product)
        n_products = int(product.max()) + 1
    pairs = _distinct(rx * n_products + product)  # each prescription × drug once
    pair_rx = pairs // n_products
    starts = _group_starts(pair_rx)
    drugs = np.diff(np.r_[starts, len(pairs)])
    too_many = drugs > dc["max_drugs"]
    if not too_many.any():
        return mf.empty_findings()
    flagged, drugs = pair_rx[starts][too_many], drugs[too_many]
    at = np.minimum(np.searchsorted(flagged, rx), len(flagged) - 1)
    keep = flagged[at] == rx
    rows = rows[keep]
    table, _, first = _per_prescription(lines, rows, _evidence_order(lines, rows), params.general["evidence_limit"])
    value = drugs[at[keep]][first].astype("float64")
    return _prescription_findings(table, mr.TOO_MANY_DRUGS, dc["severity"], dc, value, dc["max_drugs"], "drugs")


def cycle_start(day: dt.date, cycle_months: int) -> dt.date:
    """Return the first day of the assessment cycle holding ``day``: cycles of ``cycle_months`` start in January."""
    return dt.date(day.year, (day.month - 1) // cycle_months * cycle_months + 1, 1)


def abnormal_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Apply 7.2's 3-then-2 sequence to each physician's prescriptions of each assessment cycle, ordered by date then
    prescription id.

    A prescription counts as unjustified-abnormal when any of its lines is abnormal and not justified. The physician
    is warned and restricted at the ``restrict_after``-th such prescription of the cycle; rights are removed at the
    first run of ``revoke_consecutive`` such prescriptions strictly after that one, where a run is broken by any other
    prescription of the physician (normal, or abnormal with a justification). Counts start again with each cycle
    (``cycle_months``, cycles starting in January); a run over part of a cycle is given the cycle's earlier lines by
    ``monitoring.run_period``.
    """
    ab, limit = params.abnormal, params.general["evidence_limit"]
    bad_line = lines["abnormal"].to_numpy(dtype=bool) & ~lines["abnormal_justified"].to_numpy(dtype=bool)
    if not bad_line.any():
        return mf.empty_findings()
    months = int(ab["cycle_months"])
    bad_rows = np.flatnonzero(bad_line)
    on = lines["prescribed_on"].to_numpy()[bad_rows].astype("datetime64[M]").astype("int64")  # months since 1970-01
    bad_physicians = lines["physician_id"].to_numpy()[bad_rows]
    bad = pd.DataFrame(
        {
            "physician_id": bad_physicians,
            "cycle": on - on % months,  # the cycle's first month (January is month 0 of each year, and 12 | 1970·12)
            "prescription_id": lines["prescription_id"].to_numpy()[bad_rows],
        }
    ).drop_duplicates()
    per_physician = bad.groupby(["physician_id", "cycle"]).size()
    suspects = per_physician[per_physician >= ab["restrict_after"]].index.get_level_values("physician_id").unique()
    if not len(suspects):
        return mf.empty_findings()
    physician, n_physicians = (groups or LineGroups(lines)).physician
    suspect = np.zeros(n_physicians, dtype=bool)
    suspect[physician[bad_rows[np.isin(bad_physicians, suspects)]]] = True
    of_suspects = np.flatnonzero(suspect[physician])
    # The suspects' prescriptions (normal ones break runs): physician, hospital and department of the first line (the
    # first department given, as pandas' "first"), the earliest date, whether any line is unjustified-abnormal.
    rx_of_line = lines["prescription_id"].to_numpy()[of_suspects]
    by_rx = np.argsort(rx_of_line, kind="stable")
    starts = _group_starts(rx_of_line[by_rx])
    first = of_suspects[by_rx[starts]]
    department = lines["department"]
    on = _stamps(lines["prescribed_on"].to_numpy()[of_suspects][by_rx])
    on = np.minimum.reduceat(np.where(on == NAT, np.iinfo(np.int64).max, on), starts)  # the earliest date given
    on[on == np.iinfo(np.int64).max] = NAT
    rx = pd.DataFrame(
        {
            "prescription_id": rx_of_line[by_rx[starts]],
            "physician_id": lines["physician_id"].to_numpy()[first],
            "hospital_id": lines["hospital_id"].to_numpy()[first],
            "department": _first_present(department.array.codes[of_suspects][by_rx], starts),
            "on": on.view("datetime64[ns]"),
            "bad": np.logical_or.reduceat(bad_line[of_suspects][by_rx], starts),
        }
    )
    month = rx["on"].to_numpy().astype("datetime64[M]").astype("int64")
    rx["cycle"] = month - month % months
    order = np.lexsort([rx[c].to_numpy() for c in ("prescription_id", "on", "cycle", "physician_id")])
    rx = {c: v.to_numpy()[order] for c, v in rx.items()}
    bad = rx["bad"]
    # One sequence per physician and cycle ("pc", numbered), and runs of equal badness and equal "after" within it.
    new_pc = np.ones(len(bad), dtype=bool)
    new_pc[1:] = (rx["physician_id"][1:] != rx["physician_id"][:-1]) | (rx["cycle"][1:] != rx["cycle"][:-1])
    pc = np.cumsum(new_pc) - 1
    pc_starts = np.flatnonzero(new_pc)
    count = _running_count(bad, pc_starts)
    r, run_length = ab["restrict_after"], ab["revoke_consecutive"]
    restricting = bad & (count == r)
    after = (count > r) | ((count == r) & ~bad)
    new_run = new_pc.copy()
    new_run[1:] |= (bad[1:] != bad[:-1]) | (after[1:] != after[:-1])
    run_starts = np.flatnonzero(new_run)
    streak = np.arange(len(bad)) - np.repeat(run_starts, np.diff(np.r_[run_starts, len(bad)])) + 1
    revoking = after & bad & (streak == run_length)
    revoking &= _running_count(revoking, pc_starts) == 1  # the first run only
    totals = np.add.reduceat(bad, pc_starts, dtype=np.int64)

    bad_lines = of_suspects[bad_line[of_suspects]]
    bad_rx = lines["prescription_id"].to_numpy()[bad_lines]
    findings = []
    for code, rows, span in ((mr.ABNORMAL_RESTRICT, restricting, r), (mr.ABNORMAL_REVOKE, revoking, None)):
        hits = np.flatnonzero(rows)  # at most one per sequence, in sequence order
        if not len(hits):
            continue
        if span is None:  # the run that removes the rights: its last `revoke_consecutive` prescriptions
            chosen = (hits[:, None] + np.arange(1 - run_length, 1)).ravel()
        else:  # the prescriptions that made the count: every unjustified one up to the restricting one
            hit_pc = np.zeros(pc[-1] + 1, dtype=bool)
            hit_pc[pc[hits]] = True
            chosen = np.flatnonzero(bad & hit_pc[pc] & (count <= r))
        # Evidence: the unjustified lines of the chosen prescriptions (each prescription is in one sequence).
        chosen_rx = rx["prescription_id"][chosen]
        by_id = np.argsort(chosen_rx)
        at = np.minimum(np.searchsorted(chosen_rx[by_id], bad_rx), len(chosen) - 1)
        of_chosen = np.flatnonzero(chosen_rx[by_id][at] == bad_rx)
        ev_lines = bad_lines[of_chosen]
        line_ids, counts, _ = mf.evidence_arrays(
            pc[chosen[by_id[at[of_chosen]]]], lines["prescribed_on"].to_numpy()[ev_lines],
            lines["line_id"].to_numpy()[ev_lines], limit,
        )  # fmt: skip
        bounds = np.flatnonzero(np.diff(pc[chosen])) + 1  # chosen are in sequence order
        physician_ids = rx["physician_id"][hits]
        table = pd.DataFrame(
            {
                "hospital_id": rx["hospital_id"][hits],
                "physician_id": physician_ids,
                "department": pd.Categorical.from_codes(rx["department"][hits], dtype=department.dtype),
                "line_ids": line_ids,
                "line_count": counts,
                "value": totals[pc[hits]].astype("float64"),
                "subject": _subjects("physician:", physician_ids),
            }
        )
        first = rx["cycle"][hits].astype("datetime64[M]")
        cycles = [f"{a}..{b}" for a, b in zip(first.astype(str), (first + months).astype(str), strict=True)]
        details = pd.DataFrame(
            {
                "on": rx["on"][hits],
                "prescription_id": rx["prescription_id"][hits],
                "prescriptions": [ids.tolist() for ids in np.split(chosen_rx, bounds)],
                "cycle": cycles,  # [first month, first month of the next cycle)
            }
        )
        threshold = float(r if span else run_length)
        findings.append(
            mf.build(
                code,
                ab["severities"][code],
                ab,
                table,
                measure="unjustified_abnormal_prescriptions",
                threshold=threshold,
                details=details,
            )
        )
    return mf.concat(findings)


def _code_of(ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per value, the position of the same id in ``ids`` (distinct ids) and whether it is there at all.

    A table over the ids' range when it is narrow (ids are database keys): one gather per value; else a search.
    """
    if not len(ids):
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    low, high = int(ids.min()), int(ids.max())
    if high - low < max(4 * len(values), 1 << 16) and high - low < DENSE_LIMIT:
        table = np.full(high - low + 2, -1, dtype=np.int64)  # the last slot answers every value out of range
        table[ids - low] = np.arange(len(ids))
        offset = values - low
        outside = (offset < 0) | (offset > high - low)
        offset[outside] = high - low + 1
        code = table[offset]
        found = code >= 0
        return np.maximum(code, 0), found
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], values), len(ids) - 1)
    return order[at], ids[order[at]] == values


def _joined(
    line_pair: np.ndarray, receipt_pair: np.ndarray, receipts: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Join lines to receipts on a pair number below ``size``: return the joined (line, receipt) positions, lines in
    their order and each line's receipts in theirs, as an inner ``merge`` orders them."""
    few = size <= max(4 * (len(line_pair) + len(receipt_pair)), 1 << 16) and size <= DENSE_LIMIT
    if few and (not len(receipt_pair) or np.bincount(receipt_pair, minlength=size).max() <= 1):
        receipt_of = np.full(size, -1, dtype=np.int64)  # one receipt row per pair at most: a table of them
        receipt_of[receipt_pair] = receipts
        receipt = receipt_of[line_pair]
        line = np.flatnonzero(receipt >= 0)
        return line, receipt[line]
    by_pair = np.argsort(receipt_pair, kind="stable")
    receipts, receipt_pair = receipts[by_pair], receipt_pair[by_pair]
    low = np.searchsorted(receipt_pair, line_pair, side="left")
    count = np.searchsorted(receipt_pair, line_pair, side="right") - low
    line = np.repeat(np.arange(len(line_pair)), count)
    return line, receipts[low[line] + np.arange(len(line)) - np.repeat(np.cumsum(count) - count, count)]


def non_winning_rule(
    lines: pd.DataFrame, received: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None
) -> pd.DataFrame:
    """Flag non-winning products prescribed after the hospital had received its winning product (1.7.2).

    "Stocked" means the winning product's first receipt at that hospital fell on a day strictly before the
    prescription's day (same-day receipts are given the benefit of the doubt). One finding per hospital × product,
    ordered by hospital, then product. A line is judged against every receipt row of its hospital and winning
    product (normally one; with several, the line counts once per row that stocked it, as a join counts it).
    """
    ps = params.winning
    winners, missing = _int_values(lines["winning_product_id"])
    mask = winners != lines["product_id"].to_numpy(dtype="int64")
    if missing is not None:
        mask &= ~missing
    rows = np.flatnonzero(mask)
    if not len(rows):
        return mf.empty_findings()
    # Number the lines' hospitals and winning products (few), and the receipts of those into the same pairs.
    hospital_code, n_hospitals, hospital_ids = _ordered_codes(lines["hospital_id"].to_numpy()[rows])
    winner = winners[rows]
    winner_code, n_winners, winner_ids = _ordered_codes(winner)
    r_hospital, h_found = _code_of(hospital_ids, received["hospital_id"].to_numpy(dtype="int64"))
    r_winner, w_found = _code_of(winner_ids, received["product_id"].to_numpy(dtype="int64"))
    receipts = np.flatnonzero((received["received_packs"].to_numpy(dtype="float64") > 0) & h_found & w_found)
    line, receipt = _joined(
        hospital_code * n_winners + winner_code,
        r_hospital[receipts] * n_winners + r_winner[receipts],
        receipts,
        n_hospitals * n_winners,
    )
    received_on = _stamps(received["first_received_on"])[receipt]
    on = _stamps(lines["prescribed_on"].to_numpy()[rows[line]])
    before = np.floor_divide(received_on, NS_PER_DAY) < np.floor_divide(on, NS_PER_DAY)  # whole days, as normalize
    before &= (received_on != NAT) & (on != NAT)  # an unknown day stocks nothing
    line, received_on = line[before], received_on[before]
    if not len(line):
        return mf.empty_findings()
    # One finding per hospital × product: a stable sort on a pair number keeps each pair's lines in joined order.
    joined = rows[line]
    product_code, n_products, product_ids = _ordered_codes(lines["product_id"].to_numpy()[joined])
    pair = hospital_code[line] * n_products + product_code
    order = _stable_order(pair, n_hospitals * n_products)
    starts = _group_starts(pair[order])
    first = order[starts]
    group = np.empty(len(pair), dtype=np.int64)
    group[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pair)]))
    physician_code, n_physicians, _ = _ordered_codes(lines["physician_id"].to_numpy()[joined])
    seen = _distinct(group * n_physicians + physician_code) // n_physicians  # each pair's physicians once
    line_ids, counts, _ = mf.evidence_arrays(
        group, lines["prescribed_on"].to_numpy()[joined], lines["line_id"].to_numpy()[joined],
        params.general["evidence_limit"],
    )  # fmt: skip
    hospital, product = hospital_ids[hospital_code[line][first]], product_ids[product_code[first]]
    table = pd.DataFrame(
        {
            "hospital_id": hospital,
            "product_id": product,
            # pandas' group sum (compensated) over the lines in joined order: the sum a group-by of the join gives
            "value": pd.Series(lines["amount"].to_numpy(dtype="float64")[joined]).groupby(group).sum().to_numpy(),
            "line_ids": line_ids,
            "line_count": counts,
            "subject": _subjects("hospital:", hospital, "/product:", product),
        }
    )
    details = pd.DataFrame(
        {
            "winning_product_id": winner[line][first],
            "first_received_on": np.minimum.reduceat(received_on[order], starts).view("datetime64[ns]"),
            "physicians": np.bincount(seen, minlength=len(starts)),
        }
    )
    return mf.build(mr.NON_WINNING_CHOSEN, ps["severity"], ps, table, measure="amount", threshold=0.0, details=details)


def _received_packs(received: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Return the packs received of each hospital × product of ``pairs`` (0 where nothing was received)."""
    packs = received["received_packs"].to_numpy(dtype="float64")
    try:  # one int64 key per pair: sorted and searched in numpy, no hashing of two-level keys
        key = mf.pair_key(received["hospital_id"], received["product_id"])
        wanted = mf.pair_key(pairs["hospital_id"], pairs["product_id"])
    except ValueError:  # ids beyond the combined key's range
        index = pd.MultiIndex.from_frame(received[["hospital_id", "product_id"]])
        got = pd.Series(packs, index=index).groupby(level=[0, 1]).sum()
        wanted_index = pd.MultiIndex.from_frame(pairs[["hospital_id", "product_id"]])
        return got.reindex(wanted_index).fillna(0.0).to_numpy()
    keys, inverse = np.unique(key, return_inverse=True)
    totals = np.bincount(inverse, weights=packs, minlength=len(keys))
    if not len(keys):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, totals[at], 0.0)


def _codes_and_ids(groups: LineGroups, name: str) -> tuple[np.ndarray, int, np.ndarray]:
    """Return the group codes of ``name`` (hospital, product), their number and the id each code stands for."""
    codes, size = getattr(groups, name)
    ids = getattr(groups, "ids", {}).get(f"{name}_id")
    if ids is None or len(ids) != size:  # not kept by the groups: the same coding, again
        codes, size, ids = dense_codes(groups.lines[f"{name}_id"].to_numpy(dtype=np.int64))
    return codes, size, ids


def over_received_rule(
    lines: pd.DataFrame, received: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None
) -> pd.DataFrame:
    """Flag hospital × product pairs whose dispensed packs exceed the packs received (0.7, 5.6.7 R6).

    A product with no receipt at the hospital counts as zero received. Consumable lines are left out: consumables
    carry no trace codes, so no receipt of them is ever counted. Findings come ordered by the pair's group codes
    (the wider of hospital and product first, as ``combine`` orders them).
    """
    g = groups or LineGroups(lines)
    hospital, n_hospitals, hospital_ids = _codes_and_ids(g, "hospital")
    product, n_products, product_ids = _codes_and_ids(g, "product")
    size = n_hospitals * n_products
    if size > DENSE_LIMIT:  # too many pairs for one bin each (combine compacts them too)
        return _over_received_compacted(lines, received, params, g)
    # One bin per hospital × product, the wider part first (combine's order); consumable lines go to a bin past
    # the pairs, so one weighted bincount sums each pair's dispensed packs in frame order.
    hospital_first = n_hospitals >= n_products
    major, minor, n_minor = (hospital, product, n_products) if hospital_first else (product, hospital, n_hospitals)
    key = major * n_minor
    key += minor
    consumable = lines["consumable"].to_numpy(dtype=bool)
    if consumable.any():
        key[consumable] = size
    dispensed = np.bincount(key, weights=lines["quantity"].to_numpy(dtype="float64"), minlength=size + 1)[:size]
    # Receipts into the same bins (receipts of ids that no line has cannot matter), summed in their order.
    r_hospital, h_found = _code_of(hospital_ids, received["hospital_id"].to_numpy(dtype="int64"))
    r_product, p_found = _code_of(product_ids, received["product_id"].to_numpy(dtype="int64"))
    known = np.flatnonzero(h_found & p_found)
    r_major, r_minor = (r_hospital, r_product) if hospital_first else (r_product, r_hospital)
    packs = np.bincount(
        r_major[known] * n_minor + r_minor[known],
        weights=received["received_packs"].to_numpy(dtype="float64")[known],
        minlength=size,
    )
    ps = params.received
    over = np.zeros(size + 1, dtype=bool)
    over[:size] = dispensed > packs + ps["tolerance_packs"]
    # A bin over its receipts is a finding when a (non-consumable) line falls in it: gather the lines of those bins.
    rows = np.flatnonzero(over[key]) if over.any() else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return mf.empty_findings()
    found = _distinct(key[rows])  # ascending: the findings' order
    fid_of_group = np.full(size + 1, -1, dtype=np.int64)
    fid_of_group[found] = np.arange(len(found))
    evidence = mf.evidence_of_groups(lines, fid_of_group, key[rows], rows, params.general["evidence_limit"])
    f_major, f_minor = np.divmod(found, n_minor)
    f_hospital, f_product = (f_major, f_minor) if hospital_first else (f_minor, f_major)
    table = pd.DataFrame(
        {
            "hospital_id": hospital_ids[f_hospital],
            "product_id": product_ids[f_product],
            "value": dispensed[found],
            "received_packs": packs[found],
        }
    ).join(evidence)
    return _over_received_findings(table, ps)


def _over_received_findings(table: pd.DataFrame, ps) -> pd.DataFrame:
    """Build the findings of the pairs over their receipts (hospital, product, value, received packs, evidence)."""
    table["subject"] = _subjects(
        "hospital:", table["hospital_id"].to_numpy(), "/product:", table["product_id"].to_numpy()
    )
    return mf.build(
        mr.DISPENSED_OVER_RECEIVED, ps["severity"], ps, table, measure="packs_dispensed",
        threshold=table["received_packs"] + ps["tolerance_packs"], details=table[["received_packs"]],
    )  # fmt: skip


def _over_received_compacted(
    lines: pd.DataFrame, received: pd.DataFrame, params: mr.MonitoringParams, g: LineGroups
) -> pd.DataFrame:
    """:func:`over_received_rule` for more hospital × product pairs than bins: the pairs in use, compacted."""
    ps = params.received
    codes, size = combine(g.hospital, g.product)
    rows = np.flatnonzero(~lines["consumable"].to_numpy(dtype=bool))
    codes = codes[rows]
    first = first_index(codes, size)
    groups = used(first)
    first = rows[first[groups]]
    pairs = pd.DataFrame(
        {
            "hospital_id": lines["hospital_id"].to_numpy()[first],
            "product_id": lines["product_id"].to_numpy()[first],
            "value": sums(codes, size, lines["quantity"].to_numpy(dtype="float64")[rows])[groups],
        }
    )
    pairs["received_packs"] = _received_packs(received, pairs)
    over = (pairs["value"] > pairs["received_packs"] + ps["tolerance_packs"]).to_numpy()
    if not over.any():
        return mf.empty_findings()
    fid_of_group = np.full(size, -1, dtype=np.int64)
    fid_of_group[groups[over]] = np.arange(int(over.sum()))
    evidence = mf.evidence_of_groups(lines, fid_of_group, codes, rows, params.general["evidence_limit"])
    return _over_received_findings(pairs[over].reset_index(drop=True).join(evidence), ps)


def trace_code_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag trace codes dispensed to ``min_patients`` or more patients (5.6.7 R7); one finding per code.

    The finding is about the hospital and physician of the first line that went to a patient other than the code's
    first patient: the second dispensing is the suspect one (R2).
    """
    ps = params.trace
    labels = groups.labels if groups is not None else NO_LABELS
    codes, missing = _int_values(lines["trace_code_id"])  # ids from 1; 0 or missing: no code scanned
    # Codes are interned ids, numbered as they first arrive, so a period's codes are close together: one bincount of
    # the codes themselves (when below HASH_BUCKETS), else of their low bits, narrows millions of lines to those
    # that may share a code, and an exact count over those decides. Counting lines without a code too (their values
    # are arbitrary under the mask) only widens the narrowing, never misses: they are dropped before the exact count.
    if not len(codes):
        return mf.empty_findings()
    try:  # the codes themselves when they are below HASH_BUCKETS (bincount refuses negative ones)
        tally = np.bincount(codes) if int(codes.max()) < HASH_BUCKETS else None
    except ValueError:
        tally = None
    exact = tally is not None
    bucket = codes if exact else codes & (HASH_BUCKETS - 1)
    shared = (tally if exact else np.bincount(bucket, minlength=HASH_BUCKETS)) > 1
    shared[0] = False  # code 0 is no code; the codes sharing its bucket in the hash are looked at exactly below
    maybe = np.flatnonzero(shared[bucket])
    if not exact:
        maybe = np.union1d(maybe, np.flatnonzero((bucket == 0) & (codes > 0)))
    if missing is not None:
        maybe = maybe[~missing[maybe]]
    ordered = np.sort(codes[maybe])
    starts = _group_starts(ordered) if len(ordered) else ordered
    counts = np.diff(np.r_[starts, len(ordered)])
    twice = ordered[starts][(counts > 1) & (ordered[starts] > 0)]  # 0 or below is no code either
    if not len(twice):
        return mf.empty_findings()
    repeated = maybe[np.isin(codes[maybe], twice)]
    # The repeated codes' lines by code, date and line id; per code its patients, and the first line that went to
    # another patient than the first line's (its first department given, as pandas' "first").
    line_id, on = lines["line_id"].to_numpy()[repeated], lines["prescribed_on"].to_numpy()[repeated]
    rows = repeated[np.lexsort((line_id, on, codes[repeated]))]  # NaT dates last, as pandas sorts them
    code = codes[rows]
    starts = _group_starts(code)
    lengths = np.diff(np.r_[starts, len(code)])
    group = np.repeat(np.arange(len(starts)), lengths)
    patient = lines["patient_id"].to_numpy()[rows]
    patient_code, n_patients, _ = _ordered_codes(patient)
    patients = np.bincount(_distinct(group * n_patients + patient_code) // n_patients, minlength=len(starts))
    flagged = patients >= ps["min_patients"]
    if not flagged.any():
        return mf.empty_findings()
    other = np.flatnonzero(flagged[group] & (patient != patient[starts][group]))
    if not len(other):
        return mf.empty_findings()
    other_starts = _group_starts(group[other])
    second, found = rows[other[other_starts]], group[other][other_starts]  # the findings' codes, ascending
    department = lines["department"]
    in_flagged = np.flatnonzero(flagged[group])
    line_ids, line_count, evidence_groups = mf.evidence_arrays(
        group[in_flagged], lines["prescribed_on"].to_numpy()[rows][in_flagged],
        lines["line_id"].to_numpy()[rows][in_flagged], params.general["evidence_limit"],
    )  # fmt: skip
    with_evidence = np.searchsorted(evidence_groups, found)
    # Each finding's hospitals in the order they appear (first appearances of group × hospital, in line order).
    hospital = lines["hospital_id"].to_numpy()[rows]
    hospital_code, n_hospitals, _ = _ordered_codes(hospital)
    pair = group * n_hospitals + hospital_code
    by_pair = _stable_order(pair, len(starts) * n_hospitals)
    appear = np.sort(by_pair[_group_starts(pair[by_pair])])  # each group × hospital's first line, in line order
    bounds = _group_starts(group[appear])
    hospitals = dict(zip(group[appear][bounds].tolist(), np.split(hospital[appear], bounds[1:]), strict=True))
    ids = code[starts][found]
    names = labels.trace_codes(ids.tolist())
    code_text = [names[int(i)] for i in ids.tolist()]
    table = pd.DataFrame(
        {
            "hospital_id": lines["hospital_id"].to_numpy()[second],
            "physician_id": lines["physician_id"].to_numpy()[second],
            "department": pd.Categorical.from_codes(
                _first_present(department.array.codes[rows][other], other_starts), dtype=department.dtype
            ),
            "product_id": lines["product_id"].to_numpy()[second],
            "line_ids": [line_ids[i] for i in with_evidence.tolist()],
            "line_count": line_count[with_evidence],
            "value": patients[found].astype("float64"),
            "subject": pd.array([f"trace:{text}" for text in code_text], dtype="string"),
        }
    )
    details = pd.DataFrame(
        {
            "trace_code": pd.Series(code_text, dtype=object),
            "hospitals": pd.Series([hospitals[g] for g in found.tolist()], dtype=object),
        }
    )
    return mf.build(
        mr.TRACE_MULTI_PATIENT, ps["severity"], ps, table, measure="patients",
        threshold=float(ps["min_patients"]), details=details,
    )  # fmt: skip
