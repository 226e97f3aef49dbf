"""Allocation of one lot's hospitals among its winners (rulebook 1.5) with their agreed volumes (1.4).

Regions go to winners in rank order (1.5.1): the lowest winner picks first, then every winner that may choose
regions picks one region per round, in rank order, round after round, until every region is assigned. A pick is
the unassigned region with the largest remaining reported volume (ties by region code); since picking does not
change the other regions' volumes, the picks are simply the regions in that order dealt out round-robin. Winners
that may not choose regions (batch 11's non-shortlisted revivals, 1.3.6) supply only the hospitals that reported
their brand (1.5.3). The backup supplier of a region (1.5.2) is the next winner after the primary in rank order,
wrapping round; None with a single winner.

Where the rule set enables 1.5.3, a hospital that reported a winning brand is supplied by it ("reported_brand"),
its backup being the region's primary (or the region's backup when the brand is the primary); its volume does not
count toward the region's volume for picking. Every other hospital is supplied by its region's primary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter

from core.errors import INVALID, DomainError
from core.params import ParameterSet
from procurement.rules.outcomes import bulk_builder
from procurement.rules.types import Allocation, HospitalDemand, LotCategory, LotResult
from procurement.rules.volumes import agreed_volumes

REGION_PICK = "region_pick"
REPORTED_BRAND = "reported_brand"

# Allocations are built in bulk (one per hospital and lot, ~50,000 for a batch), each given its finished dict in
# one step, in C loops (map): see outcomes.bulk_builder.
_new, _set = object.__new__, object.__setattr__
_HOSPITAL, _REGION = attrgetter("hospital_id"), attrgetter("region")
_BASE, _PRODUCT = attrgetter("reported_base"), attrgetter("reported_product_id")
_EXTRA = bulk_builder(
    Allocation,
    ("hospital_id", "lot_id", "region", "supplier_bid_id", "backup_bid_id", "agreed_volume", "basis"),
)


def region_suppliers(
    rule_set: ParameterSet, lot_result: LotResult, region_volumes: dict[str, int]
) -> dict[str, tuple[int, int | None]]:
    """Return each region's (primary, backup) winning bid ids by rank-order picking (rulebook 1.5.1, 1.5.2)."""
    winners = lot_result.winners
    if not winners:
        raise DomainError(INVALID, f"lot {lot_result.lot_id} has no winner to allocate", code="no_winner")
    pickers = [winner.bid_id for winner in winners if winner.may_choose_regions] or [winners[0].bid_id]
    backups = pickers if len(pickers) > 1 else [winner.bid_id for winner in winners]
    after = {bid_id: backups[(index + 1) % len(backups)] for index, bid_id in enumerate(backups)}
    with_backup = rule_set["backup_supply"] and len(backups) > 1
    order = sorted(region_volumes, key=lambda region: (-region_volumes[region], region))
    return {
        region: (pickers[turn % len(pickers)], after[pickers[turn % len(pickers)]] if with_backup else None)
        for turn, region in enumerate(order)
    }


def allocate(
    rule_set: ParameterSet,
    lot_result: LotResult,
    demands: Sequence[HospitalDemand],
    *,
    category: LotCategory | str,
) -> list[Allocation]:
    """Assign every hospital of a lot a supplier, a backup and its agreed volume (rulebook 1.4, 1.5)."""
    winners, lot_id = lot_result.winners, lot_result.lot_id
    if not winners:
        raise DomainError(INVALID, f"lot {lot_id} has no winner to allocate", code="no_winner")
    # Column-wise from here: one C-level pass per attribute, then per-region look-ups (this runs ~50,000 times).
    hospitals, regions = list(map(_HOSPITAL, demands)), list(map(_REGION, demands))
    bases, products = list(map(_BASE, demands)), list(map(_PRODUCT, demands))
    if len(set(hospitals)) != len(hospitals):
        raise DomainError(INVALID, f"a hospital reports twice for lot {lot_id}", code="duplicate_demand")
    brands = {}
    if rule_set["supply_reported_brand"]:  # 1.5.3; the better-ranked winner if two share a product
        brands = {w.product_id: w.bid_id for w in reversed(winners) if w.product_id is not None}
    region_volumes = dict.fromkeys(regions, 0)
    for region, base, product in zip(regions, bases, products, strict=True):
        if product not in brands:  # brand-supplied volume is not the region's to pick
            region_volumes[region] += base
    suppliers = region_suppliers(rule_set, lot_result, region_volumes)
    volumes = agreed_volumes(rule_set, category=category, n_winners=len(winners), reported_bases=bases)
    # Everything but the hospital and its volume is decided once per region (and per reported brand).
    by_region = {region: (primary, backup, REGION_PICK) for region, (primary, backup) in suppliers.items()}
    rows = list(map(by_region.__getitem__, regions))
    if brands:
        backups_on = rule_set["backup_supply"]
        for index, product in enumerate(products):
            bid = brands.get(product)
            if bid is not None:
                primary, backup, _ = rows[index]
                rows[index] = (bid, (primary if bid != primary else backup) if backups_on else None, REPORTED_BRAND)
    fields = [
        {
            **_EXTRA,
            "hospital_id": hospital,
            "lot_id": lot_id,
            "region": region,
            "supplier_bid_id": row[0],
            "backup_bid_id": row[1],
            "agreed_volume": volume,
            "basis": row[2],
        }
        for hospital, region, row, volume in zip(hospitals, regions, rows, volumes, strict=True)
    ]
    allocations = list(map(_new, repeat(Allocation, len(fields))))
    deque(map(_set, allocations, repeat("__dict__"), fields), maxlen=0)
    return allocations
