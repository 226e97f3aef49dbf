"""Winner selection by era (rulebook 1.3, 2.4, 0.6), dispatched on the rule set's ``selector``.

``evaluate_batch`` gives every bid exactly one outcome (see ``outcomes.py`` for the reasons, the ranking and the
revival slots). The 4+7 pilot needs the whole batch at once: its negotiation price comes from the average reduction
of the drugs that had ≥3 bidders (1.3.1). The others decide each lot on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.errors import INVALID, DomainError
from core.params import ParameterSet
from procurement.rules.outcomes import (
    LOST,
    WON,
    Ranked,
    Revival,
    money,
    offer_price,
    percent,
    result,
    revivals,
    settled,
    sort_key,
)
from procurement.rules.types import BidInput, BidResult, LotInput, LotResult, Outcome


def _decimal(rule_set: ParameterSet, key: str) -> Decimal | None:
    value = rule_set.values.get(key)
    return None if value is None else Decimal(value)


def _in_rank_order(ranked: Ranked, decided: dict[int, BidResult]) -> list[BidResult]:
    return [decided[bid.bid_id] for bid in ranked.bids]


# ---------------------------------------------------------------- batches 2–9 and 7: the 1.8× rule (1.3.3)


def _spread(ranked: Ranked) -> LotResult:
    rule_set, ceiling, bids = ranked.rule_set, ranked.lot.ceiling_ucp, ranked.bids
    spread, threshold = _decimal(rule_set, "spread_multiple"), _decimal(rule_set, "low_price_threshold")
    min_reduction, cap = _decimal(rule_set, "min_reduction"), ranked.cap()
    lowest = bids[0].ucp
    limit = spread * lowest
    base = {"spread": str(spread), "lowest": money(lowest), "limit": money(limit)}
    met: list[tuple[str, str, dict] | None] = []
    for bid in bids:
        ucp = money(bid.ucp)
        if bid.ucp <= limit:
            met.append(("1.3.3(a)", "within_spread", {**base, "ucp": ucp}))
        elif threshold is not None and bid.ucp <= threshold:
            met.append(("1.3.3(b)", "low_price", {"ucp": ucp, "threshold": money(threshold)}))
        elif min_reduction is not None and ceiling - bid.ucp >= min_reduction * ceiling:
            reduction = percent((ceiling - bid.ucp) / ceiling)
            params = {"ucp": ucp, "reduction": reduction, "min_reduction": percent(min_reduction)}
            met.append(("1.3.3(c)", "reduction", {**params, "ceiling": money(ceiling)}))
        else:
            met.append(None)
    eligible = {bid.ucp for bid, why in zip(bids, met, strict=True) if why}
    # Batch 7 (1.3.3): the highest eligible bid cannot win; read as void when every eligible bid has one price.
    highest = max(eligible) if rule_set["exclude_highest"] and len(eligible) > 1 else None
    results, won = [], 0
    for rank, (bid, why) in enumerate(zip(bids, met, strict=True), 1):
        if why is None:
            results.append(
                result(
                    bid, LOST, "1.3.3", "not_eligible", rank=rank, **base, ucp=money(bid.ucp),
                    threshold=money(threshold) if threshold is not None else "none",
                    reduction=percent((ceiling - bid.ucp) / ceiling),
                    min_reduction=percent(min_reduction) if min_reduction is not None else "none",
                )
            )  # fmt: skip
        elif bid.ucp == highest:
            results.append(result(bid, LOST, "1.3.3", "highest_eligible", rank=rank, ucp=money(bid.ucp)))
        elif won >= cap:
            results.append(ranked.over_cap(bid, rank, cap))
        else:
            won += 1
            results.append(result(bid, WON, why[0], why[1], rank=rank, award_ucp=bid.ucp, **why[2]))
    return ranked.done(results, lowest, cap)


# ---------------------------------------------------------------- batch 10: rule 1 and revival (1.3.4)


def _revival(ranked: Ranked) -> LotResult:
    rule_set, lot, bids, cap = ranked.rule_set, ranked.lot, ranked.bids, ranked.cap()
    spread, lowest = _decimal(rule_set, "spread_multiple"), bids[0].ucp
    limit = spread * lowest
    threshold = rule_set["low_price_thresholds"][lot.dosage_class]
    threshold = Decimal(threshold) if threshold is not None else None
    base = {"spread": str(spread), "lowest": money(lowest), "limit": money(limit)}
    decided, winners, losers = {}, [], []
    for rank, bid in enumerate(bids, 1):
        ucp = money(bid.ucp)
        if bid.ucp <= limit or (threshold is not None and bid.ucp <= threshold):
            if len(winners) >= cap:
                decided[bid.bid_id] = ranked.over_cap(bid, rank, cap)
                continue
            winners.append(bid)
            decided[bid.bid_id] = (
                result(bid, WON, "1.3.4(1)", "within_spread", rank=rank, award_ucp=bid.ucp, **base, ucp=ucp)
                if bid.ucp <= limit
                else result(bid, WON, "1.3.4(1)", "low_price", rank=rank, award_ucp=bid.ucp, ucp=ucp,
                            threshold=money(threshold))
            )  # fmt: skip
        else:
            losers.append((rank, bid))
    # Rule 2: the highest rule-1 winning UCP; with a single rule-1 winner, 1.8 × its UCP.
    price = max(bid.ucp for bid in winners) if len(winners) > 1 else spread * winners[0].ucp
    candidates = [
        Revival(bid, rank, offer_price(price, lot, bid), "1.3.4(2)", "above_spread_may_revive",
                {**base, "ucp": money(bid.ucp)})
        for rank, bid in losers
    ]  # fmt: skip
    decided.update(revivals(ranked, candidates, cap - len(winners), cap))
    return ranked.done(_in_rank_order(ranked, decided), lowest, cap)


# ---------------------------------------------------------------- batch 11: anchor, breaker, revivals (1.3.6)


def _anchor(ranked: Ranked) -> LotResult:
    rule_set, lot, bids, cap = ranked.rule_set, ranked.lot, ranked.bids, ranked.cap()
    shortlist, spread = bids[:cap], _decimal(rule_set, "spread_multiple")
    # anchor = max(lowest, 0.5 × mean), kept as anchor × n so that the breaker compares exactly, without division.
    n, lowest = len(shortlist), bids[0].ucp
    half_sum = _decimal(rule_set, "anchor_mean_share") * sum(bid.ucp for bid in shortlist)
    scaled = max(lowest * n, half_sum)
    anchor = lowest if lowest * n >= half_sum else settled(half_sum / n)
    limit, scaled_limit = settled(spread * scaled / n), spread * scaled
    exempt = rule_set["breaker_exempt"][lot.dosage_class]
    exempt = Decimal(exempt) if exempt is not None else None
    base = {"spread": str(spread), "anchor": money(anchor), "limit": money(limit)}
    decided, proposed, cut = {}, [], []
    for rank, bid in enumerate(shortlist, 1):
        ucp = money(bid.ucp)
        if bid.ucp * n <= scaled_limit:
            decided[bid.bid_id] = result(
                bid, WON, "1.3.6", "within_breaker", rank=rank, award_ucp=bid.ucp, **base, ucp=ucp
            )
            proposed.append(bid)
        elif exempt is not None and bid.ucp <= exempt:
            decided[bid.bid_id] = result(
                bid, WON, "1.3.6", "breaker_exempt", rank=rank, award_ucp=bid.ucp, ucp=ucp, threshold=money(exempt)
            )
            proposed.append(bid)
        else:
            cut.append((rank, bid))
    # Revival price: the highest proposed UCP not cut off; with one proposed winner, 1.8 × anchor.
    price = max(bid.ucp for bid in proposed) if len(proposed) > 1 else limit
    candidates = [
        Revival(bid, rank, offer_price(price, lot, bid), "1.3.6", "above_breaker_may_revive", base) for rank, bid in cut
    ]
    total_demand, count, highest = sum(bid.reported_demand for bid in bids), len(bids), bids[-1].ucp
    average = f"{Decimal(total_demand) / count:.2f}"
    counted = rule_set["revival_within_cap"]
    for rank, bid in enumerate(bids[cap:], cap + 1):
        params = {"cap": str(cap), "demand": str(bid.reported_demand), "average": average}
        if bid.reported_demand * count < total_demand:
            decided[bid.bid_id] = result(bid, LOST, "1.3.6(i)", "not_shortlisted_low_demand", rank=rank, **params)
        elif bid.ucp == highest:
            decided[bid.bid_id] = result(bid, LOST, "1.3.6(ii)", "not_shortlisted_highest", rank=rank, **params)
        else:
            offer = offer_price(price, lot, bid)
            candidates.append(
                Revival(bid, rank, offer, "1.3.6(iii)", "not_shortlisted_may_revive", params, False, counted)
            )
    decided.update(revivals(ranked, candidates, cap - len(proposed), cap))
    return ranked.done(_in_rank_order(ranked, decided), anchor, cap)


# ---------------------------------------------------------------- hospital-led negotiation (0.6, 2.6)


def _lowest_negotiated(ranked: Ranked) -> LotResult:
    ceiling, cap = ranked.lot.ceiling_ucp, ranked.cap()
    results = [
        result(bid, WON, "0.6", "negotiated_lowest", rank=rank, award_ucp=bid.ucp, negotiated=money(bid.ucp),
               ceiling=money(ceiling), difference=money(ceiling - bid.ucp))
        if rank <= cap
        else ranked.over_cap(bid, rank, cap, "2.6")
        for rank, bid in enumerate(ranked.bids, 1)
    ]  # fmt: skip
    return ranked.done(results, ranked.bids[0].ucp if ranked.bids else None, cap)


def _per_lot(select: Callable[[Ranked], LotResult]) -> Callable[[ParameterSet, Sequence[LotInput]], list[LotResult]]:
    def evaluate(rule_set: ParameterSet, lots: Sequence[LotInput]) -> list[LotResult]:
        key = sort_key(rule_set["tie_break"])
        out = []
        for lot in lots:
            ranked = Ranked(rule_set, lot, key, None)
            out.append(select(ranked) if ranked.bids else ranked.done((), None, 0))
        return out

    return evaluate


# ---------------------------------------------------------------- the 4+7 pilot, across the batch (1.3.1)


def _four_plus_seven(rule_set: ParameterSet, lots: Sequence[LotInput]) -> list[LotResult]:
    key, min_bidders = sort_key(rule_set["tie_break"]), rule_set["min_bidders_direct"]
    rows: list[tuple[Ranked, dict[int, BidResult]]] = []
    direct: list[Decimal] = []  # reductions of the winners of drugs with ≥ min_bidders bidders
    pre: list[tuple[Decimal, BidInput, Ranked, dict[int, BidResult]]] = []
    for lot in lots:
        ranked, decided = Ranked(rule_set, lot, key, None), {}
        rows.append((ranked, decided))
        if not ranked.bids:
            continue
        first, ceiling = ranked.bids[0], lot.ceiling_ucp
        reduction = settled((ceiling - first.ucp) / ceiling)
        if ranked.bidders >= min_bidders:
            decided[first.bid_id] = result(
                first, WON, "1.3.1", "lowest_price", rank=1, award_ucp=first.ucp, ucp=money(first.ucp),
                bidders=str(ranked.bidders),
            )  # fmt: skip
            direct.append(reduction)
        else:
            pre.append((reduction, first, ranked, decided))
        for rank, bid in enumerate(ranked.bids[1:], 2):
            decided[bid.bid_id] = result(
                bid, LOST, "1.3.1", "not_lowest", rank=rank, ucp=money(bid.ucp), lowest=money(first.ucp)
            )
    # Pre-winners, ranked by reduction across the batch: the top ones win, the others negotiate (议价).
    min_reduction = settled(sum(direct) / len(direct)) if direct else Decimal(rule_set["default_min_reduction"])
    top = rule_set["max_direct_pre_winners"]
    pre.sort(key=lambda item: (-item[0], key(item[1])))
    for position, (reduction, bid, ranked, decided) in enumerate(pre, 1):
        params = {"reduction": percent(reduction), "min_reduction": percent(min_reduction)}
        if position <= top:
            extra = {"position": str(position), "top": str(top)}
            decided[bid.bid_id] = result(
                bid, WON, "1.3.1", "pre_winner_direct", rank=1, award_ucp=bid.ucp, **params, **extra
            )
        elif reduction >= min_reduction:
            decided[bid.bid_id] = result(bid, WON, "1.3.1", "meets_min_reduction", rank=1, award_ucp=bid.ucp, **params)
        else:
            offer = offer_price(ranked.lot.ceiling_ucp * (1 - min_reduction), ranked.lot, bid)
            candidate = Revival(bid, 1, offer, "1.3.1", "negotiation_offered", params, won_code="negotiated")
            decided.update(revivals(ranked, [candidate], 1, 1))
    return [
        ranked.done(_in_rank_order(ranked, decided), ranked.bids[0].ucp if ranked.bids else None, ranked.cap())
        for ranked, decided in rows
    ]


# ---------------------------------------------------------------- Sanming alliance groups A and B (2.4)


def _share_count(share: Decimal, firms: int, rounding: str) -> int:
    """Return how many of ``firms`` firms "the cheapest share" means (floored or rounded, at least 1)."""
    mode = {"floor_min_1": ROUND_FLOOR, "half_up_min_1": ROUND_HALF_UP, "ceil": ROUND_CEILING}[rounding]
    count = int((share * firms).to_integral_value(mode))
    return min(firms, max(count, 1 if firms else 0))


def _alliance_lot(ranked: Ranked, shares: dict[str, Decimal]) -> LotResult:
    rule_set, lot = ranked.rule_set, ranked.lot
    spread, revive = _decimal(rule_set, "spread_multiple"), rule_set["group_revival"]
    first, first_lowest = min(shares), None  # the first group (A); later groups may not win above its lowest
    decided, total_cap = {}, 0
    for group in sorted(shares):
        members = [(rank, bid) for rank, bid in enumerate(ranked.bids, 1) if bid.group == group]
        if not members:
            continue
        suppliers = list(dict.fromkeys(bid.supplier_id for _, bid in members))
        count = _share_count(shares[group], len(suppliers), rule_set["group_share_rounding"])
        inside, total_cap = set(suppliers[:count]), total_cap + count
        lowest = members[0][1].ucp
        limit = spread * lowest
        base = {"group": group, "spread": str(spread), "lowest": money(lowest), "limit": money(limit)}
        share = {"firms": str(len(suppliers)), "share": percent(shares[group]), "count": str(count)}
        winners, losers, firms_seen = [], [], set()
        for position, (rank, bid) in enumerate(members, 1):
            params = {**base, "ucp": money(bid.ucp), "position": str(position)}
            seen_before = bid.supplier_id in firms_seen
            firms_seen.add(bid.supplier_id)
            if seen_before and bid.supplier_id in inside:
                decided[bid.bid_id] = result(bid, LOST, "1.1.5", "one_place_per_firm", rank=rank, **params)
                continue
            if bid.supplier_id not in inside:
                decided[bid.bid_id] = result(bid, LOST, "2.4", "outside_group_share", rank=rank, **params, **share)
            elif bid.ucp > limit:
                losers.append((rank, bid, "group_spread", params))
            elif group != first and first_lowest is not None and bid.ucp > first_lowest:
                params.update(first=first, first_lowest=money(first_lowest))
                losers.append((rank, bid, "above_group_a", params))
            else:
                winners.append(bid)
                params.update(share)
                decided[bid.bid_id] = result(bid, WON, "2.4", "group_share", rank=rank, award_ucp=bid.ucp, **params)
        if group == first and winners:
            first_lowest = winners[0].ucp
        # Revival [U]: a loser inside the share may take the group's highest winning UCP (for later groups at most
        # the first group's lowest winning UCP).
        price = max((bid.ucp for bid in winners), default=first_lowest)
        for rank, bid, code, params in losers:
            if not revive or price is None:
                decided[bid.bid_id] = result(bid, LOST, "2.4", code, rank=rank, **params)
        if revive and price is not None:
            if group != first and first_lowest is not None:
                price = min(price, first_lowest)
            candidates = [
                Revival(bid, rank, offer_price(price, lot, bid), "2.4", f"{code}_may_revive", params)
                for rank, bid, code, params in losers
            ]
            decided.update(revivals(ranked, candidates, count - len(winners), count))
    return ranked.done(_in_rank_order(ranked, decided), ranked.bids[0].ucp if ranked.bids else None, total_cap)


def _alliance(rule_set: ParameterSet, lots: Sequence[LotInput]) -> list[LotResult]:
    shares = {group: Decimal(share) for group, share in rule_set["group_shares"].items()}
    names = "/".join(sorted(shares))

    def check(bid: BidInput) -> BidResult | None:
        if bid.group in shares:
            return None
        return result(bid, Outcome.INVALID, "2.4", "missing_group", groups=names)

    key = sort_key(rule_set["tie_break"])
    return [_alliance_lot(Ranked(rule_set, lot, key, check), shares) for lot in lots]


SELECTORS: dict[str, Callable[[ParameterSet, Sequence[LotInput]], list[LotResult]]] = {
    "vbp_4plus7": _four_plus_seven,
    "vbp_spread": _per_lot(_spread),
    "vbp_revival": _per_lot(_revival),
    "vbp_anchor": _per_lot(_anchor),
    "alliance_groups": _alliance,
    "lowest_negotiated": _per_lot(_lowest_negotiated),
}


def evaluate_batch(rule_set: ParameterSet, lots: Sequence[LotInput]) -> list[LotResult]:
    """Evaluate every lot of a tender batch under one rule set: one outcome per bid (rulebook 1.3, 2.4, 0.6)."""
    select = SELECTORS.get(rule_set.values.get("selector"))
    if select is None:
        raise DomainError(INVALID, f"rule set {rule_set.name} names no known selector", code="unknown_selector")
    return select(rule_set, lots)
