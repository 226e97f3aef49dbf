"""Rules that compare amounts over time or among peers: key-monitored drugs by month (7.9, 7.10), physicians and
departments against their peers (7.10), and high-value consumables per case (7.11).

Statistics come from :mod:`procurement.audit.stats` (ratios with missing denominators, percentile ranks with ties at
the minimum, sample z-scores); months are calendar months of the prescription date. Line-level sums go through the
shared group codes of :mod:`procurement.audit.monitoring_groups`; pandas works on the (small) per-group tables. A pass
over millions of lines costs more than all the work on those tables, so each rule reads the lines as few times as it
can: a coarser level is summed from the finer level's table, the lines both key-drug rules and peer rules need are
found once per run, and the evidence of all of a rule's findings is picked in one pass over the lines at most.
"""

from __future__ import annotations

import weakref

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


# The watched lines of each run's LineGroups: key_drug_rules and peer_rules both need them, and finding them is a pass
# over every line. Held weakly: they go with the run's group codes.
_WATCHED: weakref.WeakKeyDictionary[LineGroups, dict] = weakref.WeakKeyDictionary()


def _watched(g: LineGroups, kd) -> tuple[np.ndarray, np.ndarray]:
    """Return, per generic-name category (plus a trailing one for missing), whether it is key-monitored, and the
    positions of the key-monitored lines: found once per run and list of drugs, then shared (never modify them)."""
    found = _WATCHED.setdefault(g, {})
    key = (tuple(kd["drugs"]), kd["match"])
    if key not in found:
        categories = watched_categories(g.lines["generic_name"], kd)
        found[key] = (categories, np.flatnonzero(categories[g.generic[0]]))  # the shared int64 codes: missing → last
    return found[key]


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


def _watched_months(lines: pd.DataFrame, g: LineGroups, watched_codes: np.ndarray, watched_rows: np.ndarray):
    """Return the hospital-months of watched generic names with amount and rank, and the row of that table each line
    of ``watched_rows`` belongs to.

    When hospital × month × generic name fits ``DENSE_LIMIT``, the amounts form a (hospital-month × generic
    name) matrix and each watched entry is ranked by comparing it with its row; else through the used groups.
    """
    (h, n_h), (m, n_m), (gen, n_g) = g.hospital, g.month, g.generic
    if n_h * max(n_m, 1) * n_g > mg.DENSE_LIMIT:
        monthly, codes, _ = _monthly(lines, g)
        rows = np.flatnonzero(np.isin(monthly["generic"].to_numpy(), watched_codes))
        ranks = _ranks_desc(monthly["hm"].to_numpy(), monthly["amount"].to_numpy(), rows)
        mine = monthly.iloc[rows].assign(rank=ranks).drop(columns="hm").reset_index(drop=True)
        return mine, np.searchsorted(monthly.index.to_numpy()[rows], codes[watched_rows])  # group codes ascend
    n_m, k = max(n_m, 1), len(watched_codes)
    codes, size = h * n_m, n_h * n_m * n_g
    codes += m
    codes *= n_g
    codes += gen
    amounts = sums(codes, size, lines["amount"].to_numpy(dtype="float64")).reshape(-1, n_g)
    line_hm = codes[watched_rows] // n_g
    del codes
    # Which hospital-months each watched name occurs in, from its own lines: a few columns, not the whole matrix.
    column = np.full(n_g, -1, dtype=np.int64)
    column[watched_codes] = np.arange(k)
    line_column = column[gen[watched_rows]]
    present = (sums(line_hm * k + line_column, len(amounts) * k) > 0).reshape(-1, k)
    # Rank = 1 + the generic names of the hospital-month with a strictly larger amount (ties at the minimum); absent
    # ones count as −∞. An absent name sums to 0, which outranks no amount of 0 or more: the matrix serves as it is
    # unless a watched amount is negative (refunds), and only then are every name's lines counted to tell absent ones.
    ranked = amounts
    if (present & (amounts[:, watched_codes] < 0)).any():
        codes = (h * n_m + m) * n_g + gen
        ranked = np.where((sums(codes, size) > 0).reshape(-1, n_g), amounts, -np.inf)
    # One whole-matrix comparison per watched name: contiguous, no row copies.
    hms, generics, ranks = [], [], []
    row_of = np.full((len(amounts), k), -1, dtype=np.int64)  # the table's row of each hospital-month × watched name
    for j, code in enumerate(watched_codes):
        rows = np.flatnonzero(present[:, j])
        larger = (ranked > ranked[:, code : code + 1]).sum(axis=1)
        row_of[rows, j] = np.arange(len(rows)) + sum(len(r) for r in hms)
        hms.append(rows)
        generics.append(np.full(len(rows), code, dtype=np.int64))
        ranks.append(larger[rows] + 1.0)
    hm, generic, rank = np.concatenate(hms), np.concatenate(generics), np.concatenate(ranks)
    mine = pd.DataFrame(
        {"hospital_id": g.ids["hospital_id"][hm // n_m], "month": hm % n_m + g.month_base, "generic": generic,
         "amount": amounts[hm, generic], "rank": rank},
    )  # fmt: skip
    return mine, row_of[line_hm, line_column]


def key_drug_rules(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag key-monitored drugs in a hospital's monthly top-N by amount, in it for consecutive months, or growing.

    Ranks use ties at the minimum among all generic names of the hospital-month. Growth is (this month − last month)
    ÷ last month, where last month is the calendar month before; a drug absent last month has no growth figure (zero
    denominator), so it is not flagged.
    """
    kd, limit = params.key_drugs, params.general["evidence_limit"]
    g = groups or LineGroups(lines)
    watched, watched_rows = _watched(g, kd)
    if not len(watched_rows):
        return mf.empty_findings()
    names = np.append(np.asarray(lines["generic_name"].cat.categories, dtype=object), None)
    mine, row_of_line = _watched_months(lines, g, np.flatnonzero(watched), watched_rows)
    # By hospital, name and month (one row each), keeping track of where each line's row went. The table has a row
    # per hospital-month of each watched name (thousands): plain arrays, no pandas.
    hospital, generic, month = (mine[c].to_numpy() for c in ("hospital_id", "generic", "month"))
    order = np.lexsort((month, generic, hospital))
    hospital, generic, month = hospital[order], generic[order], month[order]
    amount, rank = mine["amount"].to_numpy()[order], mine["rank"].to_numpy()[order]
    moved_to = np.empty(len(order), dtype=np.int64)
    moved_to[order] = np.arange(len(order))
    row_of_line = moved_to[row_of_line]
    top = rank <= kd["top_n"]
    consecutive = np.zeros(len(order), dtype=bool)  # the same hospital and name, the calendar month before
    consecutive[1:] = (hospital[1:] == hospital[:-1]) & (generic[1:] == generic[:-1]) & (month[1:] - month[:-1] == 1)
    previous = np.full(len(order), np.nan)
    previous[1:][consecutive[1:]] = amount[:-1][consecutive[1:]]
    base = np.where(previous >= kd["growth_min_amount"], previous, np.nan)
    growth = stats.ratio(pd.Series(amount - previous), pd.Series(base)).to_numpy()
    # Runs of consecutive months in the top-N: a row starts a new run unless it and the month before are both in it.
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = ~(consecutive[1:] & top[1:] & top[:-1])
    run = np.cumsum(starts)
    run_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    run_length = np.arange(len(order)) - run_start + 1
    run_first = month[run_start]
    label_of = {m: month_label(m) for m in np.unique(month).tolist()}

    out = []
    for code, mask, value, measure, threshold in (
        (mr.KEY_DRUG_TOP, top, rank, "rank", float(kd["top_n"])),
        (mr.KEY_DRUG_GROWTH, growth > kd["growth_threshold"], growth, "growth", float(kd["growth_threshold"])),
        (mr.KEY_DRUG_PERSISTENT, top & (run_length == kd["persistent_months"]), run_length, "months_in_top_n",
         float(kd["persistent_months"])),
    ):  # fmt: skip
        hit_rows = np.flatnonzero(mask)
        if not len(hit_rows):
            continue
        fid_of_row = np.full(len(order), -1, dtype=np.int64)
        if code == mr.KEY_DRUG_PERSISTENT:  # evidence from every month of the run so far (one hit per run)
            fid_of_run = np.full(int(run[-1]) + 1, -1, dtype=np.int64)
            fid_of_run[run[hit_rows]] = np.arange(len(hit_rows))
            span = np.flatnonzero((fid_of_run[run] >= 0) & (run_length <= kd["persistent_months"]))
            fid_of_row[span] = fid_of_run[run[span]]
        else:
            fid_of_row[hit_rows] = np.arange(len(hit_rows))
        table = pd.DataFrame({"hospital_id": hospital[hit_rows], "value": value[hit_rows]})
        table = table.join(mf.evidence_of_groups(lines, fid_of_row, row_of_line, watched_rows, limit))
        label = [label_of[m] for m in month[hit_rows].tolist()]
        generic_name = names[generic[hit_rows]]
        table["subject"] = [f"hospital:{h}/{n}/{m}" for h, n, m in zip(hospital[hit_rows].tolist(), generic_name,
                                                                     label, strict=True)]  # fmt: skip
        details = pd.DataFrame(
            {"generic_name": generic_name, "month": label, "amount": amount[hit_rows],
             "previous_month_amount": previous[hit_rows], "rank": rank[hit_rows],
             "first_month": [label_of[m] for m in run_first[hit_rows].tolist()]},
        )  # fmt: skip
        out.append(mf.build(code, kd["severities"][code], kd, table, measure=measure, threshold=threshold,
                            details=details))  # fmt: skip
    return mf.concat(out)


def _peer_flags(values: pd.Series, by: list[pd.Series], ps) -> pd.DataFrame:
    """Return percentile rank, sample z-score and the peers' figures, and whether each value is an outlier."""
    frame = stats.peer_figures(values, by)
    frame["flag"] = (
        (frame["peer_n"].to_numpy() >= ps["min_peers"])
        & (frame["percentile"].to_numpy() >= ps["percentile_threshold"])
        & (frame["zscore"].to_numpy() >= ps["z_threshold"])
    )
    return frame


def peer_rules(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag physicians (among peers in the same hospital and department, or the same department anywhere) and
    departments (among the same department in other hospitals) whose share of key-monitored drugs by amount, or
    amount per prescription, is an outlier by both percentile rank and sample z-score.

    The lines are summed once, per physician × hospital × department; a department's figures are the sums of its
    physicians' (:func:`_department_level`), and the evidence of every finding is picked from the lines in one pass
    (plus one among the key-monitored lines for the monitored share).
    """
    pe, limit = params.peers, params.general["evidence_limit"]
    g = groups or LineGroups(lines)
    _, watched_rows = _watched(g, params.key_drugs)
    amount = lines["amount"].to_numpy(dtype="float64")
    first_lines = np.flatnonzero(g.first_line_of_prescription)
    dept_names = np.append(np.asarray(lines["department"].cat.categories, dtype=object), None)
    codes, size = combine(g.hospital, g.department, g.physician)
    watched_codes = codes[watched_rows]
    first = first_index(codes, size)
    used_codes = used(first)
    first = first[used_codes]
    physicians = pd.DataFrame(
        {"hospital_id": lines["hospital_id"].to_numpy()[first], "dept": g.department[0][first],
         "amount": sums(codes, size, amount)[used_codes],
         "watched_amount": sums(watched_codes, size, amount[watched_rows])[used_codes],
         "prescriptions": sums(codes[first_lines], size).astype("float64")[used_codes],
         "physician_id": lines["physician_id"].to_numpy()[first]},
    )  # fmt: skip
    departments, department_of = _department_level(physicians, g.hospital[0][first], g, first)
    levels = (
        (mr.PHYSICIAN_OUTLIER, physicians, ["hospital_id", "dept"] if pe["physician_scope"] == "hospital_department"
         else ["dept"], None),
        (mr.DEPARTMENT_OUTLIER, departments, ["dept"], department_of),
    )  # fmt: skip
    # Flags first, so that one pass over the lines finds the lines of every finding.
    found = []  # (rule, measure, peers_by, table, measure's values, peer figures, flagged rows, finding per physician)
    for code, table, peers_by, row_of_physician in levels:
        measures = {
            "monitored_share": stats.ratio(table["watched_amount"], table["amount"]),
            "amount_per_prescription": stats.ratio(table["amount"], table["prescriptions"]),
        }
        for measure in pe["measures"]:
            flags = _peer_flags(measures[measure], [table[k] for k in peers_by], pe)
            flagged = flags["flag"].to_numpy()
            if not flagged.any():
                continue
            finding_of_row = np.full(len(table), -1, dtype=np.int64)
            finding_of_row[flagged] = np.arange(int(flagged.sum()))
            finding = finding_of_row if row_of_physician is None else finding_of_row[row_of_physician]
            found.append((code, measure, peers_by, table, measures[measure], flags, flagged, finding))
    if not found:
        return mf.empty_findings()
    # The lines of every physician behind a finding, with each one's physician row: a monitored share's evidence is
    # its key-monitored lines (a look-up among those), an amount per prescription's all lines (one over every line).
    row_of_code = np.full(size, -1, dtype=np.int64)
    row_of_code[used_codes] = np.arange(len(used_codes))
    evidence_lines = {}
    for share, line_rows, line_codes in ((True, watched_rows, watched_codes), (False, None, codes)):
        behind = [item[-1] >= 0 for item in found if (item[1] == "monitored_share") == share]
        if behind:
            wanted = np.zeros(size, dtype=bool)
            wanted[used_codes[np.logical_or.reduce(behind)]] = True
            chosen = np.flatnonzero(wanted[line_codes])
            rows = chosen if line_rows is None else line_rows[chosen]
            evidence_lines[share] = rows, row_of_code[line_codes[chosen]]
    out = []
    for code, measure, peers_by, table, values, flags, flagged, finding in found:
        hits = table[flagged].assign(value=values[flagged]).reset_index(drop=True)
        rows, row = evidence_lines[measure == "monitored_share"]
        hits = hits.join(mf.evidence_of_groups(lines, finding, row, rows, limit))
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


def _department_level(
    physicians: pd.DataFrame, hospital_code: np.ndarray, g: LineGroups, first: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the hospital × department table summed from the physicians' (``first``: each one's first line), and
    the department row of each physician row.

    Departments come in the order of their codes from :func:`combine` over the lines, as though the lines had been
    grouped again: the physicians are handed to it in the order of their first lines, so each combination is met in
    the same order as on the lines (which only matters when combine has to hash). Counts add up exactly; the amounts
    are the sums of the physicians' sums, equal to the lines' sums up to floating-point rounding (a few units in the
    last place), at a few thousand rows instead of millions.
    """
    order = np.argsort(first, kind="stable")
    dept = physicians["dept"].to_numpy()
    codes, size = combine((hospital_code[order], g.hospital[1]), (dept[order], g.department[1]))
    first_member = first_index(codes, size)
    used_codes = used(first_member)
    representative = order[first_member[used_codes]]
    row_of_code = np.full(size, -1, dtype=np.int64)
    row_of_code[used_codes] = np.arange(len(used_codes))
    department_of = np.empty(len(order), dtype=np.int64)
    department_of[order] = row_of_code[codes]
    departments = pd.DataFrame(
        {"hospital_id": physicians["hospital_id"].to_numpy()[representative], "dept": dept[representative]}
        | {column: sums(codes, size, physicians[column].to_numpy()[order])[used_codes]
           for column in ("amount", "watched_amount", "prescriptions")},
    )  # fmt: skip
    return departments, department_of


def consumable_rule(lines: pd.DataFrame, params: mr.MonitoringParams, groups: LineGroups | None = None) -> pd.DataFrame:
    """Flag cases whose high-value consumable amount is far above their peers' (7.11 [U]).

    Per case (hospital × case id), among cases of the same department (or the same hospital and department): a
    sample z-score at or above ``z_threshold``, or an amount at or above ``median_multiple`` × the peers' median.
    A case's department and physician are those of its first line (the first with a department, for the department);
    the case table is built from the few consumable lines with numpy, cases numbered in order of their first line.
    """
    cs, limit = params.consumables, params.general["evidence_limit"]
    rows = np.flatnonzero(lines["consumable"].to_numpy(dtype=bool))
    case_ids = lines["case_id"].array[rows]
    known = ~np.asarray(case_ids.isna(), dtype=bool)
    rows, case_ids = rows[known], case_ids[known].to_numpy(dtype="int64")
    if not len(rows):
        return mf.empty_findings()
    hospital = lines["hospital_id"].to_numpy()[rows]
    # Each line's case, numbered in order of first appearance (as a group-by without sorting numbers them).
    hospital_code, _ = pd.factorize(hospital)
    case_code, case_uniques = pd.factorize(case_ids)
    case_of_line, cases_found = pd.factorize(hospital_code * len(case_uniques) + case_code)
    n_cases = len(cases_found)
    first = first_index(case_of_line, n_cases)
    dept_codes = lines["department"].cat.codes.to_numpy()[rows]
    with_dept = np.flatnonzero(dept_codes >= 0)
    first_with_dept = first_index(case_of_line[with_dept], n_cases)
    case_dept = np.full(n_cases, -1, dtype=dept_codes.dtype)
    case_dept[first_with_dept >= 0] = dept_codes[with_dept[first_with_dept[first_with_dept >= 0]]]
    amounts = pd.Series(lines["amount"].to_numpy(dtype="float64")[rows])
    cases = pd.DataFrame(
        {"hospital_id": hospital[first], "case_id": pd.array(case_ids[first], dtype="Int64"),
         "department": pd.Categorical.from_codes(case_dept, dtype=lines["department"].dtype),
         "physician_id": lines["physician_id"].to_numpy()[rows[first]],
         "value": amounts.groupby(case_of_line).sum().to_numpy()},  # pandas' compensated sum, as a group-by gives
    )  # fmt: skip
    by = [cases["department"]] if cs["peer_scope"] == "department" else [cases["hospital_id"], cases["department"]]
    peers = stats.peer_figures(cases["value"], by).drop(columns="percentile")
    peers["median_multiple"] = stats.ratio(cases["value"], peers["peer_median"])
    flag = pd.Series(False, index=cases.index)
    if cs["z_threshold"] is not None:
        flag |= peers["zscore"] >= cs["z_threshold"]
    if cs["median_multiple"] is not None:
        flag |= peers["median_multiple"] >= cs["median_multiple"]
    flag &= peers["peer_n"] >= cs["min_peers"]
    flagged = flag.to_numpy()
    if not flagged.any():
        return mf.empty_findings()
    finding_of_case = np.full(n_cases, -1, dtype=np.int64)
    finding_of_case[flagged] = np.arange(int(flagged.sum()))
    table = cases[flagged].reset_index(drop=True)
    table = table.join(mf.evidence_of_groups(lines, finding_of_case, case_of_line, rows, limit))
    labels = groups.labels if groups is not None else NO_LABELS
    ids = table["case_id"].to_numpy(dtype="int64").tolist()
    names = labels.cases(ids)
    case_no = pd.Series([names[i] for i in ids], index=table.index, dtype=object)
    table["subject"] = [f"hospital:{h}/case:{c}" for h, c in zip(table["hospital_id"].tolist(), case_no, strict=True)]
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
