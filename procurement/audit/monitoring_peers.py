"""Rules that compare amounts over time or among peers: key-monitored drugs by month (7.9, 7.10), physicians and
departments against their peers (7.10), and high-value consumables per case (7.11).

Statistics come from :mod:`procurement.audit.stats` (ratios with missing denominators, percentile ranks with ties at
the minimum, sample z-scores); months are calendar months of the prescription date. Line-level sums go through the
shared group codes of :mod:`procurement.audit.monitoring_groups`; pandas works on the (small) per-group tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from procurement.audit import monitoring_findings as mf
from procurement.audit import monitoring_rules as mr
from procurement.audit import stats
from procurement.audit.monitoring_groups import LineGroups, combine, first_index, sums, used


def month_label(number: int) -> str:
    """Return "YYYY-MM" for a month numbered year × 12 + month − 1."""
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def _ranks_desc(group: np.ndarray, amount: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return, for ``rows``, the rank of ``amount`` within its ``group`` by descending amount, ties at the minimum.

    rank = 1 + the number of entries of the same group with a strictly larger amount, counted with one sort of a
    composite (group, dense amount rank) key and two binary searches, so there is no per-group Python loop.
    """
    values, dense = np.unique(amount, return_inverse=True)
    width = len(values) + 1
    composite = np.sort(group * width + dense)
    end_of_group = np.searchsorted(composite, group[rows] * width + len(values), side="right")
    up_to_self = np.searchsorted(composite, group[rows] * width + dense[rows], side="right")
    return (end_of_group - up_to_self + 1).astype("float64")


def watched_categories(generic_names: pd.Series, kd) -> np.ndarray:
    """Return, per generic-name category (plus a trailing one for missing), whether it is key-monitored.

    Lists name drugs without dosage forms (奥拉西坦) while catalogues carry them (奥拉西坦注射液), so by default a
    category matches when it contains a listed name; ``match="exact"`` asks for equality.
    """
    names = [str(c) for c in generic_names.cat.categories]
    if kd["match"] == "exact":
        flags = [name in set(kd["drugs"]) for name in names]
    else:
        flags = [any(drug in name for drug in kd["drugs"]) for name in names]
    return np.array([*flags, False], dtype=bool)


def watched_lines(lines: pd.DataFrame, kd) -> np.ndarray:
    """Return, per line, whether its generic name is key-monitored."""
    return watched_categories(lines["generic_name"], kd)[lines["generic_name"].cat.codes.to_numpy()]


def _evidence_by_fid(lines: pd.DataFrame, fid: np.ndarray, mask: np.ndarray, limit: int) -> pd.DataFrame:
    """Return the evidence of each finding id from the lines whose ``fid`` (−1: none) is set and ``mask`` holds."""
    chosen = mask & (fid >= 0)
    sub = lines.loc[chosen, ["line_id", "prescribed_on"]].assign(fid=fid[chosen])
    return mf.evidence(sub, "fid", limit)


def _monthly(lines: pd.DataFrame, g: LineGroups) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Return amounts per hospital × month × generic name (indexed by group code), each line's group code, and the
    number of codes."""
    codes, size = combine(g.hospital, g.month, g.generic)
    first = first_index(codes, size)
    groups = used(first)
    first = first[groups]
    hospital_code, month_code = g.hospital[0][first], g.month[0][first]
    monthly = pd.DataFrame(
        {"hm": hospital_code * max(g.month[1], 1) + month_code, "hospital_id": lines["hospital_id"].to_numpy()[first],
         "month": month_code + g.month_base, "generic": g.generic[0][first],
         "amount": sums(codes, size, lines["amount"].to_numpy(dtype="float64"))[groups]},
        index=groups,
    )  # fmt: skip
    return monthly, codes, size


def key_drug_rules(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag key-monitored drugs in a hospital's monthly top-N by amount, in it for consecutive months, or growing.

    Ranks use ties at the minimum among all generic names of the hospital-month. Growth is (this month − last month)
    ÷ last month, where last month is the calendar month before; a drug absent last month has no growth figure (zero
    denominator), so it is not flagged.
    """
    kd, limit = params.key_drugs, params.general["evidence_limit"]
    watched = watched_lines(lines, kd)
    if not watched.any():
        return mf.empty_findings()
    monthly, codes, size = _monthly(lines, groups or LineGroups(lines))
    names = np.append(np.asarray(lines["generic_name"].cat.categories, dtype=object), None)
    watched_codes = np.flatnonzero(watched_categories(lines["generic_name"], kd))
    rows = np.flatnonzero(np.isin(monthly["generic"].to_numpy(), watched_codes))
    mine = monthly.iloc[rows].assign(rank=_ranks_desc(monthly["hm"].to_numpy(), monthly["amount"].to_numpy(), rows))
    mine = mine.rename_axis("group").reset_index()
    mine = mine.sort_values(["hospital_id", "generic", "month"], kind="stable").reset_index(drop=True)
    mine["top"] = mine["rank"] <= kd["top_n"]
    same = (mine["hospital_id"] == mine["hospital_id"].shift()) & (mine["generic"] == mine["generic"].shift())
    consecutive = same & (mine["month"] - mine["month"].shift() == 1)
    previous = mine["amount"].shift().where(consecutive)
    mine["growth"] = stats.ratio(mine["amount"] - previous, previous.where(previous >= kd["growth_min_amount"]))
    mine["previous"] = previous
    mine["run"] = (~(consecutive & mine["top"] & mine["top"].shift(fill_value=False))).cumsum()
    mine["run_length"] = mine.groupby("run").cumcount() + 1
    mine["run_first"] = mine.groupby("run")["month"].transform("first")

    out = []
    for code, mask, measure, threshold in (
        (mr.KEY_DRUG_TOP, mine["top"], "rank", float(kd["top_n"])),
        (mr.KEY_DRUG_GROWTH, mine["growth"] > kd["growth_threshold"], "growth", float(kd["growth_threshold"])),
        (mr.KEY_DRUG_PERSISTENT, mine["top"] & (mine["run_length"] == kd["persistent_months"]), "months_in_top_n",
         float(kd["persistent_months"])),
    ):  # fmt: skip
        hits = mine[mask.fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)
        if hits.empty:
            continue
        fid_of_group = np.full(size, -1, dtype=np.int64)
        if code == mr.KEY_DRUG_PERSISTENT:  # evidence from every month of the run so far
            fid_of_run = pd.Series(np.arange(len(hits)), index=hits["run"].to_numpy())
            span = mine[mine["run"].isin(fid_of_run.index) & (mine["run_length"] <= kd["persistent_months"])]
            fid_of_group[span["group"].to_numpy()] = fid_of_run.reindex(span["run"]).to_numpy()
        else:
            fid_of_group[hits["group"].to_numpy()] = np.arange(len(hits))
        table = hits.join(_evidence_by_fid(lines, fid_of_group[codes], watched, limit))
        label = [month_label(m) for m in table["month"]]
        table["generic_name"] = names[table["generic"].to_numpy()]
        table["subject"] = [f"hospital:{h}/{n}/{m}" for h, n, m in zip(table["hospital_id"], table["generic_name"],
                                                                     label, strict=True)]  # fmt: skip
        table["value"] = {mr.KEY_DRUG_TOP: table["rank"], mr.KEY_DRUG_GROWTH: table["growth"]}.get(
            code, table["run_length"]
        )
        details = pd.DataFrame(
            {"generic_name": table["generic_name"], "month": label, "amount": table["amount"],
             "previous_month_amount": table["previous"], "rank": table["rank"],
             "first_month": [month_label(m) for m in table["run_first"]]}, index=table.index,
        )  # fmt: skip
        out.append(mf.build(code, kd["severities"][code], kd, table, measure=measure, threshold=threshold,
                            details=details))  # fmt: skip
    return mf.concat(out)


def _peer_flags(values: pd.Series, by: list[pd.Series], ps) -> pd.DataFrame:
    """Return percentile rank, sample z-score and the peers' figures, and whether each value is an outlier."""
    frame = stats.peer_summary(values, by)
    frame["percentile"] = stats.percentile_rank(values, by)
    frame["zscore"] = stats.zscore(values, by)
    frame["flag"] = (
        (frame["peer_n"] >= ps["min_peers"])
        & (frame["percentile"] >= ps["percentile_threshold"])
        & (frame["zscore"] >= ps["z_threshold"])
    )
    return frame


def peer_rules(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag physicians (among peers in the same hospital and department, or the same department anywhere) and
    departments (among the same department in other hospitals) whose share of key-monitored drugs by amount, or
    amount per prescription, is an outlier by both percentile rank and sample z-score.
    """
    pe, limit = params.peers, params.general["evidence_limit"]
    g = groups or LineGroups(lines)
    watched = watched_lines(lines, params.key_drugs)
    amount = lines["amount"].to_numpy(dtype="float64")
    watched_amount = np.where(watched, amount, 0.0)
    first_lines = g.first_line_of_prescription.astype("float64")
    dept_names = np.append(np.asarray(lines["department"].cat.categories, dtype=object), None)
    out = []
    levels = (
        (mr.PHYSICIAN_OUTLIER, (g.hospital, g.department, g.physician),
         ["hospital_id", "dept"] if pe["physician_scope"] == "hospital_department" else ["dept"]),
        (mr.DEPARTMENT_OUTLIER, (g.hospital, g.department), ["dept"]),
    )  # fmt: skip
    for code, parts, peers_by in levels:
        codes, size = combine(*parts)
        first = first_index(codes, size)
        groups = used(first)
        first = first[groups]
        table = pd.DataFrame(
            {"hospital_id": lines["hospital_id"].to_numpy()[first], "dept": g.department[0][first],
             "amount": sums(codes, size, amount)[groups], "watched_amount": sums(codes, size, watched_amount)[groups],
             "prescriptions": sums(codes, size, first_lines)[groups]},
            index=groups,
        )  # fmt: skip
        if code == mr.PHYSICIAN_OUTLIER:
            table["physician_id"] = lines["physician_id"].to_numpy()[first]
        measures = {
            "monitored_share": stats.ratio(table["watched_amount"], table["amount"]),
            "amount_per_prescription": stats.ratio(table["amount"], table["prescriptions"]),
        }
        for measure in pe["measures"]:
            flags = _peer_flags(measures[measure], [table[k] for k in peers_by], pe)
            flagged = flags["flag"].to_numpy()
            if not flagged.any():
                continue
            hits = table[flagged].assign(value=measures[measure][flagged]).reset_index(names="group")
            fid_of_group = np.full(size, -1, dtype=np.int64)
            fid_of_group[hits["group"].to_numpy()] = np.arange(len(hits))
            mask = watched if measure == "monitored_share" else np.ones(len(lines), dtype=bool)
            hits = hits.join(_evidence_by_fid(lines, fid_of_group[codes], mask, limit))
            hits["department"] = dept_names[hits["dept"].to_numpy()]
            who = ("/physician:" + hits["physician_id"].astype(str)) if "physician_id" in hits else ""
            hits["subject"] = ("hospital:" + hits["hospital_id"].astype(str) + "/" + hits["department"].astype(str)
                               + who + "/" + measure)  # fmt: skip
            peers = flags.loc[flagged, ["peer_n", "peer_mean", "peer_sd", "peer_median", "percentile", "zscore"]]
            peers = peers.set_axis(hits.index).assign(scope="+".join(peers_by).replace("dept", "department"))
            # The value at which the z-score reaches its threshold, in the measure's own unit.
            threshold = peers["peer_mean"] + pe["z_threshold"] * peers["peer_sd"]
            out.append(mf.build(code, pe["severities"][code], pe, hits, measure=measure, threshold=threshold,
                                peers=peers, details=hits[["amount", "watched_amount", "prescriptions"]]))  # fmt: skip
    return mf.concat(out)


def consumable_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag cases whose high-value consumable amount is far above their peers' (7.11 [U]).

    Per case (hospital × case id), among cases of the same department (or the same hospital and department): a
    sample z-score at or above ``z_threshold``, or an amount at or above ``median_multiple`` × the peers' median.
    """
    cs, limit = params.consumables, params.general["evidence_limit"]
    mask = lines["consumable"].to_numpy(dtype=bool) & lines["case_id"].notna().to_numpy(dtype=bool)
    if not mask.any():
        return mf.empty_findings()
    sub = lines.loc[mask, ["line_id", "prescribed_on", "hospital_id", "department", "physician_id", "case_id",
                           "amount"]]  # fmt: skip
    cases = sub.groupby(["hospital_id", "case_id"], sort=False, observed=True).agg(
        department=("department", "first"), physician_id=("physician_id", "first"), value=("amount", "sum")
    ).reset_index()  # fmt: skip
    by = [cases["department"]] if cs["peer_scope"] == "department" else [cases["hospital_id"], cases["department"]]
    peers = stats.peer_summary(cases["value"], by)
    peers["zscore"] = stats.zscore(cases["value"], by)
    peers["median_multiple"] = stats.peer_median_multiple(cases["value"], by)
    flag = pd.Series(False, index=cases.index)
    if cs["z_threshold"] is not None:
        flag |= peers["zscore"] >= cs["z_threshold"]
    if cs["median_multiple"] is not None:
        flag |= peers["median_multiple"] >= cs["median_multiple"]
    flag &= peers["peer_n"] >= cs["min_peers"]
    hits = cases[flag.to_numpy()].assign(fid=lambda f: np.arange(len(f)))
    if hits.empty:
        return mf.empty_findings()
    ev_lines = sub.merge(hits[["hospital_id", "case_id", "fid"]], on=["hospital_id", "case_id"])
    table = hits.set_index("fid").join(mf.evidence(ev_lines, "fid", limit))
    table["subject"] = (
        "hospital:" + table["hospital_id"].astype("string") + "/case:" + table["case_id"].astype("string")
    )
    peer_cols = peers.loc[flag].set_axis(table.index)
    peer_cols["scope"] = cs["peer_scope"]
    details = pd.DataFrame({"case_id": table["case_id"].astype(str)}, index=table.index)
    # The lowest amount that would have been flagged, in RMB: whichever enabled criterion bites first.
    bars = []
    if cs["median_multiple"] is not None:
        bars.append(peer_cols["peer_median"] * cs["median_multiple"])
    if cs["z_threshold"] is not None:
        bars.append(peer_cols["peer_mean"] + cs["z_threshold"] * peer_cols["peer_sd"])
    threshold = pd.concat(bars, axis=1).min(axis=1)
    return mf.build(mr.CONSUMABLE_OUTLIER, cs["severity"], cs, table, measure="case_amount",
                    threshold=threshold, peers=peer_cols, details=details)  # fmt: skip
