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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter

import numpy as np

from core.errors import INVALID, DomainError
from core.params import ParameterSet
from procurement.rules.outcomes import bulk_builder
from procurement.rules.types import Allocation, HospitalDemand, LotCategory, LotResult
from procurement.rules.volumes import volume_ratio

REGION_PICK = "region_pick"
REPORTED_BRAND = "reported_brand"

# Allocations are built in bulk (one per hospital and lot, ~50,000 for a batch), each given its finished dict in
# one step, in C loops (map): see outcomes.bulk_builder.
_new, _set = object.__new__, object.__setattr__
_HOSPITAL, _REGION = attrgetter("hospital_id"), attrgetter("region")
_BASE = attrgetter("reported_base")
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


@dataclass(frozen=True)
class DemandTable:
    """Every lot's demands, column by column, as one query returns them.

    A hospital that reported by generic name has product 0 (``COALESCE(product_id, 0)`` in the query).
    """

    lot_ids: Sequence[int]
    hospital_ids: Sequence[int]
    regions: Sequence[str]
    reported_bases: Sequence[int]
    reported_product_ids: Sequence[int]

    @classmethod
    def from_demands(cls, by_lot: Mapping[int, Sequence[HospitalDemand]]) -> DemandTable:
        """Split demand records, grouped by lot, into columns."""
        rows = [demand for demands in by_lot.values() for demand in demands]
        lots = [lot_id for lot_id, demands in by_lot.items() for _ in range(len(demands))]
        return cls(
            lots,
            list(map(_HOSPITAL, rows)),
            list(map(_REGION, rows)),
            list(map(_BASE, rows)),
            [demand.reported_product_id or 0 for demand in rows],
        )


@dataclass(frozen=True)
class BatchAllocation:
    """The allocation of a batch as columns, one position per hospital and lot (0 backup = none)."""

    lot_ids: np.ndarray
    hospital_ids: np.ndarray
    region_indices: np.ndarray  # positions in region_names
    region_names: list[str]
    supplier_bid_ids: np.ndarray
    backup_bid_ids: np.ndarray
    agreed_volumes: np.ndarray
    brand_supplied: np.ndarray  # True: supplied by its reported brand (1.5.3); False: its region's pick (1.5.1)

    def __len__(self) -> int:
        return len(self.hospital_ids)

    def rows(self) -> list[Allocation]:
        """Return one Allocation record per hospital and lot."""
        fields = [
            {
                **_EXTRA,
                "hospital_id": hospital,
                "lot_id": lot_id,
                "region": region,
                "supplier_bid_id": supplier,
                "backup_bid_id": backup or None,
                "agreed_volume": volume,
                "basis": REPORTED_BRAND if brand else REGION_PICK,
            }
            for lot_id, hospital, region, supplier, backup, volume, brand in zip(
                self.lot_ids.tolist(),
                self.hospital_ids.tolist(),
                map(self.region_names.__getitem__, self.region_indices.tolist()),
                self.supplier_bid_ids.tolist(),
                self.backup_bid_ids.tolist(),
                self.agreed_volumes.tolist(),
                self.brand_supplied.tolist(),
                strict=True,
            )
        ]
        allocations = list(map(_new, repeat(Allocation, len(fields))))
        deque(map(_set, allocations, repeat("__dict__"), fields), maxlen=0)
        return allocations


def allocate(
    rule_set: ParameterSet,
    lot_result: LotResult,
    demands: Sequence[HospitalDemand],
    *,
    category: LotCategory | str,
) -> list[Allocation]:
    """Assign every hospital of one lot a supplier, a backup and its agreed volume (rulebook 1.4, 1.5)."""
    table = DemandTable.from_demands({lot_result.lot_id: demands})
    return allocate_batch(rule_set, [lot_result], table, categories={lot_result.lot_id: category}).rows()


def allocate_batch(
    rule_set: ParameterSet,
    lot_results: Sequence[LotResult],
    demands: DemandTable,
    *,
    categories: Mapping[int, LotCategory | str],
) -> BatchAllocation:
    """Allocate every lot of a batch at once: decisions are taken per lot and region, then spread over hospitals."""
    results = {result.lot_id: result for result in lot_results}
    lot_keys = np.array(sorted(results), dtype=np.int64)
    n = len(demands.lot_ids)
    lots = np.fromiter(demands.lot_ids, dtype=np.int64, count=n)
    hospitals = np.fromiter(demands.hospital_ids, dtype=np.int64, count=n)
    bases = np.fromiter(demands.reported_bases, dtype=np.int64, count=n)
    products = np.fromiter(demands.reported_product_ids, dtype=np.int64, count=n)
    region_index = {region: index for index, region in enumerate(dict.fromkeys(demands.regions))}
    names = list(region_index)
    regions = np.fromiter(map(region_index.__getitem__, demands.regions), dtype=np.int64, count=n)
    if n and not len(lot_keys):
        raise DomainError(INVALID, f"demand for lot {int(lots[0])}, which has no evaluation", code="unknown_lot")
    at = _positions(lot_keys, lots)
    unknown = at < 0
    if unknown.any():
        lot_id = int(lots[np.argmax(unknown)])
        raise DomainError(INVALID, f"demand for lot {lot_id}, which has no evaluation", code="unknown_lot")
    for lot_id in np.unique(lots).tolist():
        if not results[lot_id].winners:
            raise DomainError(INVALID, f"lot {lot_id} has no winner to allocate", code="no_winner")
    if n and hospitals.min() < 0:
        raise DomainError(INVALID, "hospital ids must be positive", code="invalid")
    span = int(hospitals.max()) + 1 if n else 1
    if span * len(lot_keys) < 2**62:  # one sortable key per (lot, hospital)
        pairs = np.sort(at * span + hospitals)
        twice = pairs[1:] == pairs[:-1]
        repeated = int(lot_keys[pairs[1:][np.argmax(twice)] // span]) if twice.any() else None
    else:
        seen = set(zip(at.tolist(), hospitals.tolist(), strict=True))
        repeated = int(lots[0]) if len(seen) != n else None
    if repeated is not None:
        raise DomainError(INVALID, f"a hospital reports twice for lot {repeated}", code="duplicate_demand")
    if n and bases.min() < 0:
        raise DomainError(INVALID, f"a reported base of lot {int(lots[np.argmin(bases)])} is negative", code="invalid")
    branded, brand_bids = _reported_brands(rule_set, lot_keys, results, at, products)
    width = max(len(names), 1)
    cells = at * width + regions
    picked = np.zeros(len(lot_keys) * width, dtype=np.int64)  # brand-supplied volume is not the region's to pick
    np.add.at(picked, cells, np.where(branded, 0, bases))
    present = np.zeros(len(lot_keys) * width, dtype=bool)
    present[cells] = True
    primary_of = np.zeros(len(lot_keys) * width, dtype=np.int64)
    backup_of = np.zeros(len(lot_keys) * width, dtype=np.int64)
    numerators = np.ones(len(lot_keys), dtype=np.int64)
    divisors = np.ones(len(lot_keys), dtype=np.int64)
    unit = rule_set["volume_rounding_unit"]
    for position, lot_id in enumerate(lot_keys.tolist()):
        start = position * width
        here = np.flatnonzero(present[start : start + width]).tolist()
        if not here:
            continue
        result = results[lot_id]
        volumes = {names[r]: int(picked[start + r]) for r in here}
        for region, (primary, backup) in region_suppliers(rule_set, result, volumes).items():
            primary_of[start + region_index[region]] = primary
            backup_of[start + region_index[region]] = backup or 0
        ratio = volume_ratio(rule_set, category=categories[lot_id], n_winners=len(result.winners))
        numerators[position], divisors[position] = ratio.as_integer_ratio()
        divisors[position] *= unit
    primary, backup = primary_of[cells], backup_of[cells]
    supplier = primary.copy()
    if branded.any():
        bid = brand_bids[branded]
        supplier[branded] = bid
        if rule_set["backup_supply"]:
            backup[branded] = np.where(primary[branded] != bid, primary[branded], backup[branded])
        else:
            backup[branded] = 0
    volumes = _agreed(rule_set["volume_rounding"], bases, numerators[at], divisors[at], unit)
    return BatchAllocation(lots, hospitals, regions, names, supplier, backup, volumes, branded)


def _positions(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return each value's position in the sorted ``keys``, or -1 when absent."""
    if not len(keys):
        return np.full(len(values), -1, dtype=np.int64)
    if int(keys[0]) >= 0 and int(keys[-1]) < 4 * len(values) + 1024:  # small ids: one look-up table
        table = np.full(int(keys[-1]) + 1, -1, dtype=np.int64)
        table[keys] = np.arange(len(keys))
        inside = (values >= 0) & (values < len(table))
        return np.where(inside, table[np.where(inside, values, 0)], -1)
    index = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return np.where(keys[index] == values, index, -1)


def _reported_brands(rule_set, lot_keys, results, at, products) -> tuple[np.ndarray, np.ndarray]:
    """Return which rows reported a winning brand (1.5.3) and that brand's winning bid (0 elsewhere)."""
    n = len(at)
    if not rule_set["supply_reported_brand"] or not n:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    table: dict[tuple[int, int], int] = {}
    for position, lot_id in enumerate(lot_keys.tolist()):
        for winner in reversed(results[lot_id].winners):  # the better-ranked winner if two share a product
            if winner.product_id is not None:
                table[(position, winner.product_id)] = winner.bid_id
    if not table:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    span = max(int(products.max()), max(product for _, product in table)) + 1
    if span * (len(lot_keys) + 1) >= 2**62:  # keys would overflow: look up row by row instead
        bids = np.array([table.get(key, 0) for key in zip(at.tolist(), products.tolist(), strict=True)])
        return bids > 0, bids.astype(np.int64)
    keys = np.array([position * span + product for position, product in table], dtype=np.int64)
    values = np.array(list(table.values()), dtype=np.int64)
    sort = np.argsort(keys)
    keys, values = keys[sort], values[sort]
    rows = np.flatnonzero(products)  # only rows that reported a brand can be brand-supplied
    wanted = at[rows] * span + products[rows]
    index = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit = keys[index] == wanted
    found, bids = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    found[rows[hit]] = True
    bids[rows[hit]] = values[index[hit]]
    return found, bids


def _agreed(mode: str, bases: np.ndarray, numerators: np.ndarray, divisors: np.ndarray, unit: int) -> np.ndarray:
    """Return base × ratio rounded per the rule set (1.4.4), in exact integer arithmetic."""
    if len(bases) and int(bases.max()) * 2 * (int(numerators.max()) + int(divisors.max())) >= 2**62:
        # Too large for int64: the same formulas on Python integers.
        b, p, q = bases.astype(object), numerators.astype(object), divisors.astype(object)
    else:
        b, p, q = bases, numerators, divisors
    if mode == "half_up":
        return (2 * b * p + q) // (2 * q) * unit
    if mode == "ceil":
        return -(-b * p // q) * unit
    return b * p // q * unit
