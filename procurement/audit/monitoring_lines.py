"""Rules judged on prescriptions and packs: quantity limits, long prescriptions, drug counts, 超常处方 sequences,
non-winning choices, dispensing above receipts and trace codes shared by patients (rulebook 1.7.2, 5.6.7, 7.2–7.7).

Each rule takes the line frame (``rx_frame.LINE_COLUMNS``) and returns findings (``monitoring_findings``). Flags are
computed with whole-column operations; grouping happens only on the flagged subsets wherever the rule allows it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from procurement.audit import monitoring_findings as mf
from procurement.audit import monitoring_rules as mr
from procurement.audit.monitoring_groups import LineGroups, combine, first_index, sums, used
from procurement.audit.rx_frame import NO_LABELS

PEOPLE = ["hospital_id", "physician_id", "department"]
HASH_BUCKETS = 1 << 24  # buckets of trace-code ids for finding repeated codes (a power of two; 128 MiB of counts)


def _prescription_findings(
    flagged: pd.DataFrame, code: str, severity: str, ps, limit: int, measure: str = "days_supply"
) -> pd.DataFrame:
    """Group one rule's flagged lines (with ``value`` and ``threshold``) into one finding per prescription."""
    if flagged["department"].isna().any():  # "first" skips missing values: let pandas find them
        table = flagged.groupby("prescription_id").agg(
            **{c: (c, "first") for c in PEOPLE}, value=("value", "max"), threshold=("threshold", "first")
        )
    else:  # the first line of each prescription (in frame order) and the longest one, from one stable sort
        rx = flagged["prescription_id"].to_numpy()
        order = np.argsort(rx, kind="stable")
        starts = np.flatnonzero(np.r_[True, rx[order][1:] != rx[order][:-1]])
        table = flagged.iloc[order[starts]].set_index("prescription_id")[[*PEOPLE, "threshold"]]
        table.insert(len(PEOPLE), "value", np.maximum.reduceat(flagged["value"].to_numpy()[order], starts))
    table = table.join(mf.evidence(flagged, "prescription_id", limit))
    table["subject"] = "prescription:" + table.index.astype("string")
    details = pd.DataFrame({"prescription_id": table.index}, index=table.index)
    return mf.build(code, severity, ps, table, measure=measure, threshold=table["threshold"], details=details)


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
    limits = mf.lookup(lines["setting"], {k: float(v) for k, v in q["days_by_setting"].items()}).astype("float64")
    all_days = lines["days_supply"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero(all_days > limits)  # NaN limit (inpatient) is never over
    if not len(rows):
        return mf.empty_findings()
    cols = ["line_id", "prescription_id", "prescribed_on", *PEOPLE, "setting", "drug_class", "chronic",
            "reason_recorded"]  # fmt: skip
    sub = lines[cols].take(rows)
    days, limit = all_days[rows], limits[rows]
    long_setting = mf.member(sub["setting"], lr["settings"])
    chronic = sub["chronic"].to_numpy(dtype=bool)
    reason = sub["reason_recorded"].to_numpy(dtype=bool)
    excluded = mf.member(sub["drug_class"], lr["excluded_classes"])
    exempt = mf.member(sub["drug_class"], lr["exempt_with_reason"]) & reason
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
    out = []
    for code, ps, severity, mask, threshold in rules:
        if mask.any():
            flagged = sub.loc[mask, ["line_id", "prescription_id", "prescribed_on", *PEOPLE]]
            flagged = flagged.assign(value=days[mask], threshold=np.broadcast_to(threshold, days.shape)[mask])
            out.append(_prescription_findings(flagged, code, severity, ps, limit_n))
    return mf.concat(out)


def drug_count_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag outpatient/emergency prescriptions with more than ``max_drugs`` distinct drugs (7.7)."""
    dc = params.drug_count
    mask = mf.member(lines["setting"], dc["settings"]) & ~lines["consumable"].to_numpy(dtype=bool)
    rx, n_rx = (groups or LineGroups(lines)).prescription
    candidates = np.bincount(rx[mask], minlength=n_rx) > dc["max_drugs"]  # line counts bound drug counts above
    if not candidates.any():
        return mf.empty_findings()
    mask &= candidates[rx]
    sub = lines[["line_id", "prescription_id", "prescribed_on", "product_id", *PEOPLE]].loc[mask]
    drugs = sub.drop_duplicates(["prescription_id", "product_id"]).groupby("prescription_id").size()
    flagged = drugs[drugs > dc["max_drugs"]]
    sub = sub[sub["prescription_id"].isin(flagged.index)]
    table = sub.groupby("prescription_id").agg(**{c: (c, "first") for c in PEOPLE})
    table = table.join(mf.evidence(sub, "prescription_id", params.general["evidence_limit"]))
    table["value"] = flagged.reindex(table.index).astype("float64")
    table["subject"] = "prescription:" + table.index.astype("string")
    details = pd.DataFrame({"prescription_id": table.index}, index=table.index)
    return mf.build(
        mr.TOO_MANY_DRUGS, dc["severity"], dc, table, measure="drugs", threshold=dc["max_drugs"], details=details
    )


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
    on = lines["prescribed_on"].to_numpy()[bad_line].astype("datetime64[M]").astype("int64")  # months since 1970-01
    bad = pd.DataFrame(
        {
            "physician_id": lines["physician_id"].to_numpy()[bad_line],
            "cycle": on - on % months,  # the cycle's first month (January is month 0 of each year, and 12 | 1970·12)
            "prescription_id": lines["prescription_id"].to_numpy()[bad_line],
        }
    ).drop_duplicates()
    per_physician = bad.groupby(["physician_id", "cycle"]).size()
    suspects = per_physician[per_physician >= ab["restrict_after"]].index.get_level_values("physician_id").unique()
    if not len(suspects):
        return mf.empty_findings()
    physician, n_physicians = (groups or LineGroups(lines)).physician
    suspect = np.zeros(n_physicians, dtype=bool)
    bad_rows = np.flatnonzero(bad_line)
    suspect[physician[bad_rows[np.isin(lines["physician_id"].to_numpy()[bad_rows], suspects)]]] = True
    of_suspects = np.flatnonzero(suspect[physician])
    cols = ["line_id", "prescription_id", "hospital_id", "department", "physician_id", "prescribed_on"]
    theirs = lines[cols].take(of_suspects).assign(bad=bad_line[of_suspects])
    rx = (
        theirs.groupby("prescription_id")
        .agg(
            physician_id=("physician_id", "first"),
            hospital_id=("hospital_id", "first"),
            department=("department", "first"),
            on=("prescribed_on", "min"),
            bad=("bad", "any"),
        )
        .reset_index()
    )
    month = rx["on"].to_numpy().astype("datetime64[M]").astype("int64")
    rx["cycle"] = month - month % months
    rx = rx.sort_values(["physician_id", "cycle", "on", "prescription_id"], kind="stable").reset_index(drop=True)
    # One sequence per physician and cycle: "pc" numbers them.
    rx["pc"] = rx.groupby(["physician_id", "cycle"], sort=False).ngroup()
    r = ab["restrict_after"]
    rx["count"] = rx.groupby("pc")["bad"].cumsum()
    restricting = rx["bad"] & (rx["count"] == r)
    after = (rx["count"] > r) | ((rx["count"] == r) & ~rx["bad"])
    new_run = (rx["pc"] != rx["pc"].shift()) | (rx["bad"] != rx["bad"].shift())
    new_run |= after != after.shift()
    rx["streak"] = rx.groupby(new_run.cumsum()).cumcount() + 1
    revoking = after & rx["bad"] & (rx["streak"] == ab["revoke_consecutive"])
    revoking &= ~revoking.groupby(rx["pc"]).cumsum().gt(1)  # the first run only
    totals = rx.groupby("pc")["bad"].sum()

    bad_lines = theirs.loc[theirs["bad"], ["line_id", "prescription_id", "prescribed_on"]]
    findings = []
    for code, rows, span in ((mr.ABNORMAL_RESTRICT, restricting, r), (mr.ABNORMAL_REVOKE, revoking, None)):
        hits = rx[rows]
        if hits.empty:
            continue
        if span is None:  # the run that removes the rights: its last `revoke_consecutive` prescriptions
            span_rows = (hits.index.to_numpy()[:, None] + np.arange(1 - ab["revoke_consecutive"], 1)).ravel()
        else:  # the prescriptions that made the count: every unjustified one up to the restricting one
            span_rows = rx.index[rx["bad"] & rx["pc"].isin(hits["pc"]) & (rx["count"] <= r)]
        chosen = rx.loc[span_rows, ["pc", "prescription_id"]]
        ev_lines = bad_lines.merge(chosen, on="prescription_id")
        ev = mf.evidence(ev_lines, "pc", limit)
        rx_ids = chosen.groupby("pc")["prescription_id"].agg(list)
        table = hits.set_index("pc", drop=False).join(ev)
        table["value"] = totals.reindex(table.index).astype("float64")
        table["subject"] = "physician:" + table["physician_id"].astype("string")
        first = table["cycle"].to_numpy().astype("datetime64[M]")
        cycles = [f"{a}..{b}" for a, b in zip(first.astype(str), (first + months).astype(str), strict=True)]
        details = pd.DataFrame(
            {
                "on": table["on"],
                "prescription_id": table["prescription_id"],
                "prescriptions": rx_ids.reindex(table.index),
                "cycle": cycles,  # [first month, first month of the next cycle)
            },
            index=table.index,
        )
        threshold = float(r if span else ab["revoke_consecutive"])
        findings.append(
            mf.build(
                code,
                ab["severities"][code],
                ab,
                table.drop(columns=["pc", "cycle"]),
                measure="unjustified_abnormal_prescriptions",
                threshold=threshold,
                details=details,
            )
        )
    return mf.concat(findings)


def non_winning_rule(
    lines: pd.DataFrame, received: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None
) -> pd.DataFrame:
    """Flag non-winning products prescribed after the hospital had received its winning product (1.7.2).

    "Stocked" means the winning product's first receipt at that hospital fell on a day strictly before the
    prescription's day (same-day receipts are given the benefit of the doubt). One finding per hospital × product.
    """
    ps = params.winning
    winners = lines["winning_product_id"].array  # nullable integers: compare as int64, missing ones masked out
    mask = winners.to_numpy(dtype="int64", na_value=-1) != lines["product_id"].to_numpy(dtype="int64")
    mask &= ~winners.isna()
    if not mask.any():
        return mf.empty_findings()
    cols = ["line_id", "prescribed_on", "product_id", "winning_product_id", "amount", *PEOPLE]
    sub = lines.loc[mask, cols].assign(winning_product_id=lambda f: f["winning_product_id"].astype("int64"))
    stock = received.loc[received["received_packs"] > 0, ["hospital_id", "product_id", "first_received_on"]]
    stock = stock.rename(columns={"product_id": "winning_product_id"})
    sub = sub.merge(stock, on=["hospital_id", "winning_product_id"], how="inner")
    sub = sub[sub["first_received_on"].dt.normalize() < sub["prescribed_on"].dt.normalize()]
    if sub.empty:
        return mf.empty_findings()
    sub = sub.assign(key=mf.pair_key(sub["hospital_id"], sub["product_id"]))
    table = sub.groupby("key").agg(
        hospital_id=("hospital_id", "first"),
        product_id=("product_id", "first"),
        winning_product_id=("winning_product_id", "first"),
        first_received_on=("first_received_on", "min"),
        value=("amount", "sum"),
        physicians=("physician_id", "nunique"),
    )
    table = table.join(mf.evidence(sub, "key", params.general["evidence_limit"]))
    table["subject"] = (
        "hospital:" + table["hospital_id"].astype("string") + "/product:" + table["product_id"].astype("string")
    )
    details = table[["winning_product_id", "first_received_on", "physicians"]]
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


def over_received_rule(
    lines: pd.DataFrame, received: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None
) -> pd.DataFrame:
    """Flag hospital × product pairs whose dispensed packs exceed the packs received (0.7, 5.6.7 R6).

    A product with no receipt at the hospital counts as zero received. Consumable lines are left out: consumables
    carry no trace codes, so no receipt of them is ever counted.
    """
    ps = params.received
    g = groups or LineGroups(lines)
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
    table = pairs[over].reset_index(drop=True).join(evidence)
    table["subject"] = (
        "hospital:" + table["hospital_id"].astype("string") + "/product:" + table["product_id"].astype("string")
    )
    return mf.build(
        mr.DISPENSED_OVER_RECEIVED, ps["severity"], ps, table, measure="packs_dispensed",
        threshold=table["received_packs"] + ps["tolerance_packs"], details=table[["received_packs"]],
    )  # fmt: skip


def trace_code_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag trace codes dispensed to ``min_patients`` or more patients (5.6.7 R7); one finding per code.

    The finding is about the hospital and physician of the first line that went to a patient other than the code's
    first patient: the second dispensing is the suspect one (R2).
    """
    ps = params.trace
    labels = groups.labels if groups is not None else NO_LABELS
    codes = lines["trace_code_id"].to_numpy(dtype=np.int64, na_value=0)  # ids from 1; 0: no code scanned
    # Codes are interned ids, numbered as they first arrive, so a period's codes are close together: their low bits
    # (one bincount) narrow millions of lines to those sharing a bucket, and an exact count over those decides.
    bucket = codes & (HASH_BUCKETS - 1)
    shared = np.bincount(bucket, minlength=HASH_BUCKETS) > 1
    shared[0] = False  # lines without a code, and any code sharing their bucket, are looked at exactly below
    maybe = np.flatnonzero(shared[bucket] | ((bucket == 0) & (codes > 0)))
    values, counts = np.unique(codes[maybe], return_counts=True)
    twice = values[(counts > 1) & (values > 0)]
    if not len(twice):
        return mf.empty_findings()
    repeated = maybe[np.isin(codes[maybe], twice)]
    cols = ["line_id", "prescribed_on", "trace_code_id", "patient_id", "product_id", *PEOPLE]
    sub = lines.take(repeated)[cols].sort_values(["trace_code_id", "prescribed_on", "line_id"], kind="stable")
    patients = sub.groupby("trace_code_id")["patient_id"].nunique()
    flagged = patients.index[patients >= ps["min_patients"]]
    sub = sub[sub["trace_code_id"].isin(flagged)]
    if sub.empty:
        return mf.empty_findings()
    first_patient = sub.groupby("trace_code_id")["patient_id"].transform("first")
    second = sub[sub["patient_id"] != first_patient].groupby("trace_code_id").first()
    table = second[["hospital_id", "physician_id", "department", "product_id"]].join(
        mf.evidence(sub, "trace_code_id", params.general["evidence_limit"])
    )
    names = labels.trace_codes(table.index.tolist())
    code_text = pd.Series([names[int(i)] for i in table.index], index=table.index, dtype=object)
    table["value"] = patients.reindex(table.index).astype("float64")
    table["subject"] = "trace:" + code_text.astype("string")
    details = pd.DataFrame(
        {
            "trace_code": code_text,
            "hospitals": sub.groupby("trace_code_id")["hospital_id"].unique().reindex(table.index),
        },
        index=table.index,
    )
    return mf.build(
        mr.TRACE_MULTI_PATIENT, ps["severity"], ps, table, measure="patients",
        threshold=float(ps["min_patients"]), details=details,
    )  # fmt: skip
