"""The surplus-retention arithmetic of rulebook 3 over one hospital × generic name × agreement year, term by term.

Pure functions over :class:`Facts` (what the platform and the bureau's inputs say) and a parameter set, so every
term can be checked by hand; the result carries a breakdown naming each term, its value, its formula and where the
value came from. Amounts are exact until the end, where each published amount is rounded to the fen: half up, except
the retained amount, which is rounded down so that it never passes the cap of 3.3.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from core.params import ParameterSet
from procurement.audit import surplus_rules as rules
from procurement.audit.surplus_rules import COMPLETION, COST_GROWTH, INDICATORS, OFFLINE, ON_TIME


class ResultStatus(StrEnum):
    INPUTS_MISSING = "inputs_missing"  # a baseline price, insured share or pay ratio is not set: no budget
    RETAINED = "retained"  # completed, passed, and a positive surplus base
    NO_SURPLUS = "no_surplus"  # spending reached the budget: nothing to retain
    NOT_COMPLETED = "not_completed"  # the agreed volume was not completed: nothing is paid (3.3)
    NOT_PASSED = "not_passed"  # the assessment score is below the pass mark (3.3, 3.4)
    ALREADY_RETAINED = "already_retained"  # retained over an earlier completed cycle: not counted again (3.6)


@dataclass
class Facts:
    """Everything one result is computed from, with the rows each figure came from."""

    agreed_volume_id: int
    tender_id: int
    lot_id: int
    hospital_id: int
    hospital_name: str
    region_code: str
    generic_name: str
    unit: str
    year_start: dt.date
    year_end: dt.date
    measured_to: dt.date
    full_days: int  # days in the unclipped agreement year
    annual_base: int  # reported base (约定采购量基数), comparable units per year
    annual_agreed: int  # agreed volume, comparable units per year
    baseline_price: Decimal | None = None
    baseline_source: str = ""
    insured_share: Decimal | None = None
    insured_source: str = ""
    received_units: Decimal = Decimal(0)  # winning products accepted at receipt, comparable units
    received_amount: Decimal = Decimal(0)  # … at their order lines' prices
    receipt_ids: list[int] = field(default_factory=list)
    non_winning_amount: Decimal = Decimal(0)
    non_winning_packs: int = 0
    non_winning_receipt_ids: list[int] = field(default_factory=list)
    offline_amount: Decimal = Decimal(0)  # declared off-platform purchases of the lot's products (all of them)
    offline_ids: list[int] = field(default_factory=list)
    offline_winning_amount: Decimal = Decimal(0)  # … the part naming a winning product of the lot
    offline_winning_units: Decimal = Decimal(0)  # … that part in comparable units, at the award's price per unit
    on_time: dict[str, Any] | None = None  # payments.on_time_rate over the measured days
    offline_share: dict[str, Any] | None = None  # {"share", "platform", "offline"} of the hospital's drugs
    historical_use: int | None = None  # average annual use before the tender (demand reports), comparable units
    demand_report_ids: list[int] = field(default_factory=list)
    members: list[tuple[int, str, Decimal]] = field(default_factory=list)  # (hospital, name, share) when split

    @property
    def days(self) -> int:
        return (self.measured_to - self.year_start).days + 1

    @property
    def final(self) -> bool:
        return self.measured_to >= self.year_end


@dataclass
class Outcome:
    status: ResultStatus
    completion: Decimal | None
    score: Decimal | None
    tier: str | None
    ratio: Decimal | None
    budget: Decimal | None
    spend: Decimal | None
    surplus_base: Decimal | None
    retained: Decimal
    breakdown: dict[str, Any]
    allocations: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = False
    passed: bool = False


def prorate(annual: int, days: int, full_days: int) -> int:
    """Return a year's volume for ``days`` of it (rounded half up), as agreed-volume progress does (1.7.5)."""
    if days >= full_days:
        return annual
    return int((Decimal(annual) * days / full_days).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _text(value: Decimal | int | None, places: str | None = None) -> str | None:
    if value is None:
        return None
    if places is not None:
        value = rules.quantize(Decimal(value), places)
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros from a quantity (3080.0000 tablets → 3080) without switching to exponent notation."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _ids(name: str, ids: list[int], limit: int = 20) -> str:
    if not ids:
        return f"no {name}"
    shown = ", ".join(f"#{i}" for i in sorted(ids)[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{name} {shown}{more}"


def _money(params: ParameterSet, value: Decimal) -> Decimal:
    return rules.quantize(value, params["money_places"])


def split_among_members(amount: Decimal, members: list[tuple[int, str, Decimal]], general_id: int) -> list[dict]:
    """Split retained money by fixed shares: each unit's part rounded down to the fen, the rest to the general hospital.

    Rounding each part down and giving the remaining fen to the general hospital (which holds the money first)
    makes the parts add up to the amount exactly.
    """
    parts = [
        {
            "hospital_id": hospital_id,
            "hospital_name": name,
            "share": share,
            "amount": (amount * share).quantize(Decimal("0.01"), rounding=ROUND_DOWN),
            "holds_remainder": False,
        }
        for hospital_id, name, share in members
    ]
    remainder = amount - sum((p["amount"] for p in parts), Decimal(0))
    holder = next((p for p in parts if p["hospital_id"] == general_id), None)
    if holder is None:
        holder = {"hospital_id": general_id, "hospital_name": "", "share": Decimal(0), "amount": Decimal(0)}
        parts.append(holder)
    holder["amount"] += remainder
    holder["holds_remainder"] = True
    return parts


def _indicator_values(f: Facts, counted_spend_all: Decimal) -> dict[str, tuple[Decimal | None, str, str]]:
    """Return each indicator's value (None when missing), how it was computed and its source."""
    out: dict[str, tuple[Decimal | None, str, str]] = {}
    agreed = prorate(f.annual_agreed, f.days, f.full_days)
    out[COMPLETION] = (
        f.received_units / agreed if agreed else None,
        "received units ÷ agreed volume",
        _ids("receipts", f.receipt_ids),
    )
    rate = f.on_time or {}
    out[ON_TIME] = (
        rate.get("amount_rate"),
        "paid by the due date ÷ due, by amount (receipts due in the measured days)",
        f"payables of the hospital: {rate.get('on_time_amount')} of {rate.get('due_amount')} yuan on time"
        if rate
        else "no receipts due",
    )
    share = f.offline_share or {}
    out[OFFLINE] = (
        share.get("share"),
        "off-platform ÷ (platform + off-platform) drug purchases, by amount",
        f"platform {share.get('platform')}, declared off-platform {share.get('offline')} yuan" if share else "",
    )
    growth: Decimal | None = None
    source = "no historical use reported"
    if f.historical_use and f.baseline_price:
        before = Decimal(f.historical_use) * f.baseline_price * f.days / f.full_days
        growth = counted_spend_all / before - 1
        source = (
            f"spending {_text(counted_spend_all, '0.01')} against historical use {f.historical_use} × pre-tender "
            f"price {f.baseline_price} × {f.days}/{f.full_days} days = {_text(before, '0.01')} "
            f"({_ids('demand reports', f.demand_report_ids)})"
        )
    out[COST_GROWTH] = (growth, "spending on the generic name ÷ the same use at pre-tender prices − 1", source)
    return out


def assess(params: ParameterSet, values: dict[str, tuple[Decimal | None, str, str]]) -> tuple[Decimal, list[dict]]:
    """Score each indicator on its curve and weigh them into the published score (3.5)."""
    weights = {name: rules.decimal_of(params["weights"][name], f"weights.{name}") for name in INDICATORS}
    present = [name for name in INDICATORS if values[name][0] is not None]
    reweight = params["missing_indicator"] == rules.REWEIGHT
    total_weight = sum((weights[n] for n in present), Decimal(0)) if reweight else Decimal(100)
    rows, weighted = [], Decimal(0)
    for name in INDICATORS:
        value, formula, source = values[name]
        score = rules.curve_score(params["curves"][name], value) if value is not None else None
        effective = weights[name] * 100 / total_weight if value is not None and total_weight else Decimal(0)
        if score is not None:
            weighted += score * effective / 100
        rows.append(
            {
                "name": name,
                "value": _text(value, "0.0001"),
                "score": _text(score, "0.01"),
                "weight": _text(weights[name]),
                "effective_weight": _text(effective, "0.01"),
                "curve": [list(point) for point in params["curves"][name]],
                "formula": formula,
                "source": source,
                "missing": value is None,
            }
        )
    return rules.quantize(weighted, params["score_places"]), rows


def compute(f: Facts, params: ParameterSet, *, fund: tuple[Decimal, str] | None) -> Outcome:
    """Compute budget, spending, surplus base, score, tier and retained money for one set of facts (3.1–3.6)."""
    days = f.days
    base = prorate(f.annual_base, days, f.full_days)
    agreed = prorate(f.annual_agreed, days, f.full_days)
    scale = "" if days >= f.full_days else f" × {days}/{f.full_days} days, rounded half up"
    terms: list[dict[str, Any]] = []

    def term(name: str, label: str, value: Any, formula: str, source: str) -> None:
        terms.append({"name": name, "label": label, "value": _text(value), "formula": formula, "source": source})

    av = f"tender_agreed_volumes #{f.agreed_volume_id}"
    term("agreed_volume_base", "Agreed volume base (约定采购量基数)", base, f"reported base {f.annual_base}{scale}",
         f"{av}.reported_base ({f.unit} per year)")  # fmt: skip
    term("agreed_volume", "Agreed volume (约定采购量)", agreed, f"agreed volume {f.annual_agreed}{scale}",
         f"{av}.agreed_volume")  # fmt: skip
    term("pre_vbp_wap", "Pre-tender weighted average price (集采前加权平均价格)", f.baseline_price,
         f"yuan per {f.unit}", f.baseline_source or "not set")  # fmt: skip
    term("fund_pay_ratio", "Fund actual pay ratio (医保基金实际支付比例)", fund[0] if fund else None,
         "by region-code prefix, longest match",
         f"parameter set {params.name} {params.version}: region {fund[1]!r}" if fund else
         f"no ratio for region {f.region_code}")  # fmt: skip
    term("insured_share", "Insured-patient share (参保患者使用量占比)", f.insured_share, "share of use",
         f.insured_source or "not set")  # fmt: skip
    notes: list[str] = []
    if not f.final:
        notes.append(
            f"The agreement year runs to {f.year_end.isoformat()}; figures are measured to "
            f"{f.measured_to.isoformat()} ({days} of {f.full_days} days) and are provisional."
        )
    received, amount = f.received_units, f.received_amount
    counted_units = min(received, Decimal(agreed)) if params["exclude_above_agreed"] else received
    counted_amount = amount * counted_units / received if received else Decimal(0)
    price = amount / received if received else None
    # Winning products bought off the platform are VBP spending too, and 3.6's cap covers them: they fill what the
    # platform receipts left of the agreed volume (the platform is the VBP channel, so its purchases count first).
    off_units, off_winning = f.offline_winning_units, f.offline_winning_amount
    room = max(Decimal(0), Decimal(agreed) - received)
    off_counted_units = min(off_units, room) if params["exclude_above_agreed"] else off_units
    off_excluded = off_winning - off_winning * off_counted_units / off_units if off_units else Decimal(0)
    excluded_formula = "(received − counted) × winning price (3.6)"
    if off_winning:
        excluded_formula += (
            f"; off-platform purchases of winning products: {_plain(off_units)} units (amount ÷ award price per "
            f"unit) for {off_winning} yuan, {_plain(off_counted_units)} within the agreed volume left after platform "
            f"receipts, {_text(off_excluded, '0.0001')} yuan excluded"
        )
    term("winning_units_received", "Winning units received", _plain(received),
         "packs accepted × units per pack (specification table)", _ids("receipts", f.receipt_ids))  # fmt: skip
    term("winning_unit_price", "Winning price per unit (average of purchases)", _text(price, "0.000001"),
         "received amount ÷ received units", f"received amount {amount} yuan at order-line prices")  # fmt: skip
    term("winning_units_counted", "Winning units counted", _plain(counted_units),
         "min(received, agreed volume) — units above the agreed volume are outside VBP spending (3.6)", av)  # fmt: skip
    term("winning_spend", "Winning spend counted", _text(counted_amount, "0.0001"),
         "winning units counted × winning price", "")  # fmt: skip
    term("excluded_above_agreed", "Spend above the agreed volume, excluded",
         _text(amount - counted_amount + off_excluded, "0.0001"), excluded_formula, "")  # fmt: skip
    term("non_winning_spend", "Non-winning spend of the generic name", f.non_winning_amount,
         f"{f.non_winning_packs} packs of non-winning products at their prices (3.2)",
         _ids("receipts", f.non_winning_receipt_ids))  # fmt: skip
    term("offline_spend", "Declared off-platform spend of the generic name", f.offline_amount,
         "off-platform purchases naming a product of this lot; each month counted whole in the agreement year "
         "holding most of its days",
         _ids("offline_purchases", f.offline_ids))  # fmt: skip
    values = _indicator_values(f, amount + f.non_winning_amount + f.offline_amount)
    score, indicators = assess(params, values)
    completion = values[COMPLETION][0]
    threshold = rules.decimal_of(params["completion_threshold"], "completion_threshold")
    completed = received >= threshold * agreed if agreed else True
    tier, ratio = rules.tier_for(params, score)
    passed = score >= rules.decimal_of(params["pass_score"], "pass_score")
    breakdown: dict[str, Any] = {
        "period": {"year_start": f.year_start.isoformat(), "year_end": f.year_end.isoformat(),
                   "measured_to": f.measured_to.isoformat(), "days": days, "full_days": f.full_days,
                   "final": f.final},
        "terms": terms,
        "indicators": indicators,
        "notes": notes,
    }  # fmt: skip
    missing = [t["label"] for t in terms[2:5] if t["value"] is None]
    if missing:
        notes.append(f"No budget: {', '.join(missing)} not set.")
        return Outcome(ResultStatus.INPUTS_MISSING, _q4(completion), score, tier, ratio, None, None, None,
                       Decimal(0), breakdown, completed=completed, passed=passed)  # fmt: skip
    fund_ratio, share, wap = fund[0], f.insured_share, f.baseline_price  # type: ignore[index]
    budget = _money(params, base * wap * fund_ratio * share)
    gross = counted_amount + f.non_winning_amount + f.offline_amount - off_excluded
    spend = _money(params, gross * fund_ratio * share)
    surplus_base = max(Decimal(0), budget - spend)
    term("budget", "Budget (3.1)", budget, "base × pre-tender price × pay ratio × insured share, to the fen",
         "rule 3.1")  # fmt: skip
    term("spend", "Actual insurance spending (3.2)", spend,
         "(winning spend counted + non-winning + off-platform counted) × pay ratio × insured share, to the fen",
         "rule 3.2 [P]: applying the pay ratio and insured share to spending is an inference; the sources say only "
         "that spending on the generic name is 'precisely computed' from these factors")  # fmt: skip
    term("surplus_base", "Surplus base (结余测算基数)", surplus_base, "max(0, budget − spending)", "rule 3.2")
    term("completion", "Completion of the agreed volume", _text(completion, "0.0001"),
         f"received ÷ agreed; completed when ≥ {threshold}", "rule 3.3")  # fmt: skip
    term("score", "Assessment score", score,
         f"Σ indicator score × weight ÷ 100, to {params['score_places']}", "rule 3.5")  # fmt: skip
    term("tier", "Tier and retention ratio", f"{tier} → {ratio}", "the tier the published score falls in",
         "rule 3.4")  # fmt: skip
    if not completed and params["completion_required"]:
        status, retained = ResultStatus.NOT_COMPLETED, Decimal(0)
        why = "the agreed volume was not completed, so nothing is paid (3.3)"
    elif not passed:
        status, retained = ResultStatus.NOT_PASSED, Decimal(0)
        why = f"the score {score} is below the pass mark {params['pass_score']} (3.3, 3.4)"
    elif surplus_base == 0:
        status, retained = ResultStatus.NO_SURPLUS, Decimal(0)
        why = "spending reached the budget: the surplus base is 0"
    else:
        # Rounded down: rounding half up could pay half a fen above the cap of 3.3 (1,000,000.01 × 0.50).
        status = ResultStatus.RETAINED
        retained = rules.quantize(surplus_base * ratio, params["money_places"], down=True)
        why = f"surplus base × {ratio}, rounded down to the fen (≤ {params['retention_cap']}, rule 3.3)"
    term("retained", "Retained (留用)", retained, why, "rule 3.3")
    allocations: list[dict[str, Any]] = []
    if f.members:
        allocations = split_among_members(retained, f.members, f.hospital_id)
        breakdown["member_split"] = [{**a, "share": _text(a["share"]), "amount": _text(a["amount"])}
                                     for a in allocations]  # fmt: skip
        notes.append(
            "Split among the medical community's member units by the general hospital's fixed shares (0.4); each "
            "part is rounded down to the fen and the remainder goes to the general hospital."
        )
    return Outcome(status, _q4(completion), score, tier, ratio, budget, spend, surplus_base, retained, breakdown,
                   allocations, completed, passed)  # fmt: skip


def _q4(value: Decimal | None) -> Decimal | None:
    return None if value is None else rules.quantize(value, "0.0001")
