"""Plain inputs and outputs of the tender rules: no database, so selectors are pure, testable and fast.

The tender services (``procurement/tenders``) build these from stored rows; the rules never see a session.
Prices are ``Decimal`` in yuan; ``ucp`` is the unit comparable price (单位可比价, rulebook 1.2.3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property


class Outcome(StrEnum):
    WON = "won"  # proposed winner (拟中选) at its own price
    WON_REVIVED = "won_revived"  # won after accepting the revival / negotiation price
    REVIVAL_OFFERED = "revival_offered"  # lost the first round but may win at ``offer_price`` (复活 / 议价)
    LOST = "lost"
    INVALID = "invalid"  # not a valid bid (e.g. above the ceiling): never ranked


class LotCategory(StrEnum):
    """Which agreed-volume ratio row applies (rulebook 1.4.2, 1.4.3)."""

    CHEMICAL = "chemical"
    SPECIAL_ANTI_INFECTIVE = "special_anti_infective"
    GLUCOCORTICOID = "glucocorticoid"
    CONSUMABLE = "consumable"


class DosageClass(StrEnum):
    """Dosage classes with their own absolute low-price thresholds (rulebook 1.3.4, 1.3.6)."""

    ORAL_SOLID = "oral_solid"
    SMALL_INJECTION = "small_injection"
    LARGE_INJECTION = "large_injection"
    OTHER = "other"


@dataclass(frozen=True)
class BidInput:
    """One opened, valid-shaped bid on one lot."""

    bid_id: int
    supplier_id: int
    product_id: int
    price: Decimal  # bid price per pack as submitted (申报价)
    ucp: Decimal  # unit comparable price used for ranking (rulebook 1.2.3)
    submitted_at: dt.datetime
    reported_demand: int = 0  # hospitals' reported volume for this brand (rulebook 1.3.6 revival, 2.4 ties)
    sales_coverage: int = 0  # the firm's sales volume in the alliance area (rulebook 1.3.1 ties)
    group: str | None = None  # Sanming alliance A/B group (rulebook 2.4); None elsewhere


@dataclass(frozen=True)
class LotInput:
    """One product group (同品种) with its ceiling and its bids."""

    lot_id: int
    ceiling_ucp: Decimal  # maximum valid bid price (最高有效申报价) in unit comparable terms, rulebook 1.2.1
    category: LotCategory = LotCategory.CHEMICAL
    dosage_class: DosageClass = DosageClass.ORAL_SOLID
    bids: tuple[BidInput, ...] = ()
    # Bids whose suppliers accepted the revival / negotiation price offered in an earlier round.
    revival_accepted: frozenset[int] = frozenset()


@dataclass(frozen=True)
class BidResult:
    """Exactly one outcome per bid, with the rule that decided it and a reason a person can check."""

    bid_id: int
    outcome: Outcome
    rule: str  # rulebook reference, e.g. "1.3.3(a)"
    reason_code: str  # stable code for translation, e.g. "within_spread"
    reason_params: dict = field(default_factory=dict)  # values quoted by the reason (JSON-friendly strings)
    reason: str = ""  # English sentence, e.g. "won: unit price 0.82 ≤ 1.8 × lowest 0.51"
    rank: int | None = None  # 1 = lowest UCP among ranked bids
    award_price: Decimal | None = None  # price the bid wins at (own price, or the revival price)
    offer_price: Decimal | None = None  # for REVIVAL_OFFERED: the price it may accept to win
    may_choose_regions: bool = True  # a non-shortlisted revival wins without choosing regions (rulebook 1.3.6)
    # The same two prices in unit comparable terms (revival prices are set on UCPs, rulebook 1.3.4, 1.3.6);
    # award_price / offer_price convert them to the bid's own price basis (× price / ucp).
    award_ucp: Decimal | None = None
    offer_ucp: Decimal | None = None
    product_id: int | None = None  # the bid's product, so allocation can match hospitals' reported brands (1.5.3)


@dataclass(frozen=True)
class LotResult:
    lot_id: int
    results: tuple[BidResult, ...]  # one per bid, in rank order then invalid ones
    anchor_ucp: Decimal | None  # lowest UCP, or batch 11's anchor
    cap: int  # the most winners allowed (rulebook 1.3.5)
    n_valid: int

    @cached_property  # read many times per lot by allocation; the result never changes (frozen)
    def winners(self) -> tuple[BidResult, ...]:
        """Winners in rank order."""
        return tuple(r for r in self.results if r.outcome in (Outcome.WON, Outcome.WON_REVIVED))


@dataclass(frozen=True)
class HospitalDemand:
    """One hospital's reported base (报量) for one lot, and where it sits for allocation."""

    hospital_id: int
    region: str  # supply region (e.g. a province or prefecture code)
    reported_base: int  # in the lot's smallest units
    reported_product_id: int | None = None  # the brand it reported (rulebook 1.5.3), None = generic name


@dataclass(frozen=True)
class Allocation:
    """Who supplies one hospital for one lot, and how much it agreed to buy."""

    hospital_id: int
    lot_id: int
    region: str
    supplier_bid_id: int  # winning bid that supplies it
    backup_bid_id: int | None  # backup supplier (备供, rulebook 1.5.2); None when there is one winner
    agreed_volume: int
    basis: str  # why this supplier: "region_pick" (1.5.1) or "reported_brand" (1.5.3)
