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
from procurement.audit import monitoring_groups as mg
from procurement.audit import monitoring_rules as mr
from procurement.audit import stats
from procurement.audit.monitoring_groups import LineGroups, combine, first_index, sums, used
from procurement.audit.rx_frame import NO_LABELS


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


def _watched_months(lines: pd.DataFrame, g: LineGroups, watched_codes: np.ndarray):
    """Return the hospital-months of watched generic names with amount and rank (indexed by group code), each line's
    group code, and the number of codes.

    When hospital × month × generic name fits ``DENSE_LIMIT``, the amounts form a (hospital-month × generic
    name) matrix and each watched entry is ranked by comparing it with its row; else through the used groups.
    """
    (h, n_h), (m, n_m), (gen, n_g) = g.hospital, g.month, g.generic
    if n_h * max(n_m, 1) * n_g > mg.DENSE_LIMIT:
        monthly, codes, size = _monthly(lines, g)
        rows = np.flatnonzero(np.isin(monthly["generic"].to_numpy(), watched_codes))
        ranks = _ranks_desc(monthly["hm"].to_numpy(), monthly["amount"].to_numpy(), rows)
        return monthly.iloc[rows].assign(rank=ranks).drop(columns="hm"), codes, size
    n_m = max(n_m, 1)
    codes, size = h * n_m, n_h * n_m * n_g
    codes += m
    codes *= n_g
    codes += gen
    amounts = sums(codes, size, lines["amount"].to_numpy(dtype="float64")).reshape(-1, n_g)
    present = (sums(codes, size) > 0).reshape(-1, n_g)
    # Rank = 1 + the generic names of the hospital-month with a strictly larger amount (ties at the minimum);
    # absent ones count as −∞. One whole-matrix comparison per watched name: contiguous, no row copies.
    ranked = np.where(present, amounts, -np.inf)
    hms, generics, ranks = [], [], []
    for code in watched_codes:
        rows = np.flatnonzero(present[:, code])
        larger = (ranked > ranked[:, code : code + 1]).sum(axis=1)
        hms.append(rows)
        generics.append(np.full(len(rows), code, dtype=np.int64))
        ranks.append(larger[rows] + 1.0)
    hm, generic, rank = np.concatenate(hms), np.concatenate(generics), np.concatenate(ranks)
    amount = amounts[hm, generic]
    mine = pd.DataFrame(
        {"hospital_id": g.ids["hospital_id"][hm // n_m], "month": hm % n_m + g.month_base, "generic": generic,
         "amount": amount, "rank": rank},
        index=hm * n_g + generic,
    )  # fmt: skip
    return mine, codes, size


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
    g = groups or LineGroups(lines)
    names = np.append(np.asarray(lines["generic_name"].cat.categories, dtype=object), None)
    watched_codes = np.flatnonzero(watched_categories(lines["generic_name"], kd))
    mine, codes, size = _watched_months(lines, g, watched_codes)
    watched_rows = np.flatnonzero(watched)
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
        table = hits.join(mf.evidence_of_groups(lines, fid_of_group, codes[watched_rows], watched_rows, limit))
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
    frame = stats.peer_figures(values, by)
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
    watched = np.flatnonzero(watched_lines(lines, params.key_drugs))
    amount = lines["amount"].to_numpy(dtype="float64")
    first_lines = np.flatnonzero(g.first_line_of_prescription)
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
             "amount": sums(codes, size, amount)[groups],
             "watched_amount": sums(codes[watched], size, amount[watched])[groups],
             "prescriptions": sums(codes[first_lines], size).astype("float64")[groups]},
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
            rows = watched if measure == "monitored_share" else None
            line_codes = codes if rows is None else codes[rows]
            hits = hits.join(mf.evidence_of_groups(lines, fid_of_group, line_codes, rows, limit))
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
    rows = np.flatnonzero(lines["consumable"].to_numpy(dtype=bool))
    sub = lines[["line_id", "prescribed_on", "hospital_id", "department", "physician_id", "case_id", "amount"]]
    sub = sub.take(rows)
    sub = sub[sub["case_id"].notna().to_numpy(dtype=bool)]
    if sub.empty:
        return mf.empty_findings()
    cases = sub.groupby(["hospital_id", "case_id"], sort=False, observed=True).agg(
        department=("department", "first"), physician_id=("physician_id", "first"), value=("amount", "sum")
    ).reset_index()  # fmt: skip
    by = [cases["department"]] if cs["peer_scope"] == "department" else [cases["hospital_id"], cases["department"]]
    peers = stats.peer_figures(cases["value"], by).drop(columns="percentile")
    peers["median_multiple"] = stats.ratio(cases["value"], peers["peer_median"])
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
    labels = groups.labels if groups is not None else NO_LABELS
    names = labels.cases(table["case_id"].astype("int64").tolist())
    case_no = pd.Series([names[int(i)] for i in table["case_id"]], index=table.index, dtype=object)
    table["subject"] = "hospital:" + table["hospital_id"].astype("string") + "/case:" + case_no.astype("string")
    peer_cols = peers.loc[flag].set_axis(table.index)
    peer_cols["scope"] = cs["peer_scope"]
    details = pd.DataFrame({"case_no": case_no}, index=table.index)  # the hospital's number (a credit case is case_id)
    # The lowest amount that would have been flagged, in RMB: whichever enabled criterion bites first.
    bars = []
    if cs["median_multiple"] is not None:
        bars.append(peer_cols["peer_median"] * cs["median_multiple"])
    if cs["z_threshold"] is not None:
        bars.append(peer_cols["peer_mean"] + cs["z_threshold"] * peer_cols["peer_sd"])
    threshold = pd.concat(bars, axis=1).min(axis=1)
    return mf.build(mr.CONSUMABLE_OUTLIER, cs["severity"], cs, table, measure="case_amount",
                    threshold=threshold, peers=peer_cols, details=details)  # fmt: skip
