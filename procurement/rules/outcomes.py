"""The outcome helpers of winner selection: reason sentences, price formatting, ranking and revival slots.

Every bid gets exactly one :class:`BidResult` naming the rule that decided it, a stable ``reason_code``, the values
it quoted (``reason_params``, strings) and an English sentence built from them (``REASONS``). Bids above the
ceiling are invalid and never ranked (1.2.1). Valid bids are ranked by UCP, then the era's tie-break fields
(larger first), then the earliest ``submitted_at``, then ``bid_id``, so a result never depends on input order.
Revival offers are in UCP terms, rounded down to 4 places, never above the ceiling nor the bid's own UCP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from core.errors import INVALID, DomainError
from core.params import ParameterSet
from procurement.rules.types import BidInput, BidResult, LotInput, LotResult, Outcome

Q4 = Decimal("0.0001")
NOISE = Decimal("1E-12")
PERCENT = Decimal("0.01")
WON, REVIVED, OFFERED, LOST = Outcome.WON, Outcome.WON_REVIVED, Outcome.REVIVAL_OFFERED, Outcome.LOST

REASONS = {
    "above_ceiling": "invalid: {ucp} above ceiling {ceiling}",
    "non_positive_price": "invalid: unit price {ucp} is not positive",
    "missing_group": "invalid: the bid names no group of {groups}",
    "lowest_price": "won: lowest unit price {ucp} among {bidders} bidders",
    "not_lowest": "lost: unit price {ucp} above the lowest {lowest}",
    "pre_winner_direct": "won: pre-winner with reduction {reduction}%, ranked {position} ≤ {top} across the batch",
    "meets_min_reduction": "won: pre-winner with reduction {reduction}% ≥ minimum {min_reduction}%",
    "negotiation_offered": "lost: pre-winner with reduction {reduction}% < minimum {min_reduction}%; "
    "may win at {offer}",
    "negotiated": "won: accepted the negotiated price {offer} (minimum reduction {min_reduction}%)",
    "within_spread": "won: unit price {ucp} ≤ {spread} × lowest {lowest} = {limit}",
    "low_price": "won: unit price {ucp} ≤ low-price threshold {threshold}",
    "reduction": "won: unit price {ucp} is {reduction}% below ceiling {ceiling} (≥ {min_reduction}%)",
    "not_eligible": "lost: unit price {ucp} above {spread} × lowest {lowest} = {limit}, above low-price threshold "
    "{threshold}, and {reduction}% below ceiling < {min_reduction}%",
    "highest_eligible": "lost: unit price {ucp} is the highest eligible bid, which cannot win",
    "cap_reached": "lost: {cap} winner(s) allowed for {bidders} bidders; ranked {rank}",
    "above_spread_may_revive": "lost: unit price {ucp} above {spread} × lowest {lowest} = {limit}; "
    "may revive at {offer}",
    "revived": "won: accepted the revival price {offer}",
    "within_breaker": "won: unit price {ucp} ≤ {spread} × anchor {anchor} = {limit}",
    "breaker_exempt": "won: unit price {ucp} ≤ {threshold}, exempt from the circuit breaker",
    "above_breaker_may_revive": "lost: above circuit breaker {spread} × anchor {anchor} = {limit}; "
    "may revive at {offer}",
    "not_shortlisted_may_revive": "lost: not shortlisted (rank {rank} > {cap}); reported demand {demand} ≥ "
    "average {average}, may win at {offer} without choosing regions",
    "not_shortlisted_low_demand": "lost: not shortlisted (rank {rank} > {cap}); reported demand {demand} < "
    "average {average}",
    "not_shortlisted_highest": "lost: not shortlisted (rank {rank} > {cap}); the highest bid cannot revive",
    "group_share": "won: group {group} rank {position} of {firms} firms, within the cheapest {share}% ({count}), "
    "≤ {spread} × group lowest {lowest}",
    "one_place_per_firm": "lost: group {group} position {position}; the same firm's better-ranked bid already "
    "holds its place (one bidder, rule 1.1.5)",
    "outside_group_share": "lost: group {group} rank {position} of {firms} firms, outside the cheapest {share}% "
    "({count})",
    "group_spread": "lost: group {group} unit price {ucp} above {spread} × group lowest {lowest} = {limit}",
    "group_spread_may_revive": "lost: group {group} unit price {ucp} above {spread} × group lowest {lowest} = "
    "{limit}; may revive at {offer}",
    "above_group_a": "lost: group {group} unit price {ucp} above group {first} lowest winning price {first_lowest}",
    "above_group_a_may_revive": "lost: group {group} unit price {ucp} above group {first} lowest winning price "
    "{first_lowest}; may revive at {offer}",
    "negotiated_lowest": "won: negotiated unit price {negotiated} vs ceiling {ceiling}: {difference} less per unit",
}


def money(value: Decimal) -> str:
    """Format a price for a reason: rounded to 4 decimal places, at least 2 shown (0.9180 → "0.918")."""
    text = str(value.quantize(Q4, ROUND_HALF_UP))
    return text[:-2] if text.endswith("00") else text[:-1] if text.endswith("0") else text


def percent(ratio: Decimal) -> str:
    """Format a ratio as a percentage with 2 decimals (0.5 → "50.00")."""
    return f"{(ratio * 100).quantize(PERCENT, ROUND_HALF_UP):f}"


def settled(value: Decimal) -> Decimal:
    """Drop the noise a division leaves beyond 12 decimal places (1.8 × 6.10 / 12 must be 0.915, not 0.91499…)."""
    return value.quantize(NOISE, ROUND_HALF_UP)


def offer_price(rule_price: Decimal, lot: LotInput, bid: BidInput) -> Decimal:
    """Return a revival offer: the rule's price rounded down to 4 places, capped by the ceiling and the own UCP."""
    return min(settled(rule_price).quantize(Q4, ROUND_DOWN), lot.ceiling_ucp, bid.ucp)


def _pack(bid: BidInput, ucp: Decimal | None) -> Decimal | None:
    """Convert a UCP to the bid's own price basis."""
    if ucp is None or ucp == bid.ucp:
        return None if ucp is None else bid.price
    return (ucp * bid.price / bid.ucp).quantize(Q4, ROUND_HALF_UP)


def bulk_builder(cls: type, names: Sequence[str]) -> dict[str, Any]:
    """Return the defaults of ``cls``'s fields other than ``names``, for building instances from a finished dict.

    Results are built by the thousand: giving an instance its whole ``__dict__`` at once costs a third of the
    frozen dataclass's ``__init__`` (which sets each field through ``object.__setattr__``). The instances are
    ordinary (equal, hashable, printable); fields added later with a plain default are filled from here.
    """
    extra = {}
    for item in dataclasses.fields(cls):
        if item.name in names:
            continue
        if item.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{item.name} needs a plain default to be built in bulk")
        extra[item.name] = item.default
    return extra


_new, _set = object.__new__, object.__setattr__
_RESULT_EXTRA = bulk_builder(
    BidResult,
    ("bid_id", "outcome", "rule", "reason_code", "reason_params", "reason", "rank", "award_price", "offer_price",
     "may_choose_regions", "award_ucp", "offer_ucp", "product_id"),
)  # fmt: skip


def result(
    bid: BidInput,
    outcome: Outcome,
    rule: str,
    code: str,
    *,
    rank: int | None = None,
    award_ucp: Decimal | None = None,
    offer_ucp: Decimal | None = None,
    may_choose: bool = True,
    **params: str,
) -> BidResult:
    """Build one bid's outcome; the reason sentence is REASONS[code] filled with params (and the rank)."""
    if rank is not None:
        params["rank"] = str(rank)  # params is this call's own dict
    built = _new(BidResult)
    _set(built, "__dict__", {
        **_RESULT_EXTRA,
        "bid_id": bid.bid_id,
        "outcome": outcome,
        "rule": rule,
        "reason_code": code,
        "reason_params": params,
        "reason": REASONS[code].format_map(params),
        "rank": rank,
        "award_price": None if award_ucp is None else bid.price if award_ucp == bid.ucp else _pack(bid, award_ucp),
        "offer_price": None if offer_ucp is None else _pack(bid, offer_ucp),
        "may_choose_regions": may_choose,
        "award_ucp": award_ucp,
        "offer_ucp": offer_ucp,
        "product_id": bid.product_id,
    })  # fmt: skip
    return built


class Ranked:
    """One lot's valid bids in rank order, its invalid results and its rule-set values."""

    __slots__ = ("bidders", "bids", "invalid", "lot", "rule_set")

    def __init__(self, rule_set: ParameterSet, lot: LotInput, key: Callable, check: Callable | None) -> None:
        if lot.ceiling_ucp <= 0:
            raise DomainError(INVALID, f"lot {lot.lot_id} has no positive ceiling", code="invalid_ceiling")
        if len({bid.bid_id for bid in lot.bids}) != len(lot.bids):
            raise DomainError(INVALID, f"lot {lot.lot_id} has duplicate bid ids", code="duplicate_bid")
        self.rule_set, self.lot, self.invalid, valid = rule_set, lot, [], []
        ceiling = lot.ceiling_ucp
        for bid in lot.bids:
            refused = check(bid) if check else None
            if bid.ucp <= 0:
                self.invalid.append(result(bid, Outcome.INVALID, "1.2.3", "non_positive_price", ucp=money(bid.ucp)))
            elif bid.ucp > ceiling:
                self.invalid.append(
                    result(bid, Outcome.INVALID, "1.2.1", "above_ceiling", ucp=money(bid.ucp), ceiling=money(ceiling))
                )
            elif refused is not None:
                self.invalid.append(refused)
            else:
                valid.append(bid)
        valid.sort(key=key)
        self.bids = valid
        self.bidders = len({bid.supplier_id for bid in valid})  # qualifying bidders N (rulebook 1.3.5)

    def cap(self) -> int:
        """Return the most winners allowed for this lot's number of bidders (rulebook 1.3.5)."""
        if not self.bids:
            return 0
        table = self.rule_set["winner_caps"]
        cap = table[min(self.bidders, len(table)) - 1]
        ceiling = self.rule_set.values.get("max_winners")
        return min(cap, ceiling) if ceiling is not None else cap

    def done(self, results: Sequence[BidResult], anchor: Decimal | None, cap: int) -> LotResult:
        """Assemble the lot's result: ranked outcomes in rank order, then the invalid ones."""
        invalid = sorted(self.invalid, key=lambda outcome: outcome.bid_id)  # not ranked: in bid order
        return LotResult(self.lot.lot_id, (*results, *invalid), anchor, cap, len(self.bids))

    def over_cap(self, bid: BidInput, rank: int, cap: int, rule: str = "1.3.5") -> BidResult:
        """Refuse a bid that would win but for the cap (rulebook 1.3.5)."""
        return result(bid, LOST, rule, "cap_reached", rank=rank, cap=str(cap), bidders=str(self.bidders))


def sort_key(tie_break: Sequence[str]) -> Callable[[BidInput], tuple]:
    """Return the ranking key: UCP, the tie-break fields (larger first), earliest submission, bid id."""
    fields = tuple(tie_break)
    if not fields:
        return lambda bid: (bid.ucp, bid.submitted_at, bid.bid_id)
    return lambda bid: (bid.ucp, *[-getattr(bid, name) for name in fields], bid.submitted_at, bid.bid_id)


class Revival(NamedTuple):
    """A bid that may win at ``offer`` (a UCP) if it accepts, and the reason it was offered."""

    bid: BidInput
    rank: int
    offer: Decimal
    rule: str
    code: str
    params: dict[str, str]
    may_choose: bool = True  # may choose supply regions (rulebook 1.3.6)
    counted: bool = True  # counts toward the cap
    won_code: str = "revived"  # reason code once accepted


def revivals(ranked: Ranked, candidates: Sequence[Revival], slots: int, cap: int) -> dict[int, BidResult]:
    """Decide revival candidates: accepted ones win in priority order while slots last, the others are offered."""
    accepted, decided = ranked.lot.revival_accepted, {}
    for c in candidates:
        if c.bid.bid_id in accepted:
            if c.counted and slots <= 0:
                decided[c.bid.bid_id] = ranked.over_cap(c.bid, c.rank, cap)
                continue
            slots -= c.counted
            decided[c.bid.bid_id] = result(
                c.bid, REVIVED, c.rule, c.won_code, rank=c.rank, award_ucp=c.offer, may_choose=c.may_choose,
                **{**c.params, "offer": money(c.offer)},
            )  # fmt: skip
    for c in candidates:
        if c.bid.bid_id in decided:
            continue
        if c.counted and slots <= 0:
            decided[c.bid.bid_id] = ranked.over_cap(c.bid, c.rank, cap)
        else:
            decided[c.bid.bid_id] = result(
                c.bid, OFFERED, c.rule, c.code, rank=c.rank, offer_ucp=c.offer, may_choose=c.may_choose,
                **{**c.params, "offer": money(c.offer)},
            )  # fmt: skip
    return decided
