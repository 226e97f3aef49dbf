"""Demo inputs for surplus retention, and a first computation over the demo's awarded tenders (rulebook 3, 0.4).

The platform cannot know pre-tender prices or insured shares; the bureau supplies them. The demo invents plausible
ones: each lot's pre-tender weighted average price is twice its ceiling price (VBP cut prices by half and more),
insured shares between 72 % and 88 % by hospital, and every general hospital (总医院) with member units keeps 80 %
of what it retains and splits 20 % among them (Sanming, 0.4). All of it goes through the same services as the API.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.db import utcnow
from core.models import Organisation
from core.roles import OrgKind
from procurement.audit import surplus
from procurement.audit.surplus_inputs import BaselinePriceIn, InsuredShareIn, MemberSharesIn, save_inputs
from procurement.ocds_codes import CHINA_TIME
from procurement.tenders.models import AgreedVolume, Award, Lot

PRICE_FACTOR = Decimal(2)  # demo only: pre-tender price = twice the ceiling
INSURED_SHARES = (Decimal("0.85"), Decimal("0.80"), Decimal("0.76"), Decimal("0.88"), Decimal("0.72"))
GENERAL_KEEPS = Decimal("0.80")  # demo only: a general hospital's own share; its members split the rest
SHARE_PLACES = Decimal("0.0001")


def _member_groups(session: Session, hospital_ids: set[int]) -> list[MemberSharesIn]:
    members: dict[int, list[int]] = defaultdict(list)
    stmt = sa.select(Organisation.parent_id, Organisation.id).where(
        Organisation.parent_id.in_(hospital_ids), Organisation.kind == OrgKind.HOSPITAL.value
    )
    for parent, child in session.exec(stmt.order_by(Organisation.id)).all():
        members[parent].append(child)
    groups = []
    for general, children in sorted(members.items()):
        each = ((1 - GENERAL_KEEPS) / len(children)).quantize(SHARE_PLACES, rounding=ROUND_DOWN)
        own = 1 - each * len(children)  # the rounding goes to the general hospital, so the shares sum to exactly 1
        groups.append(MemberSharesIn(general, ((general, own), *((child, each) for child in children))))
    return groups


def load_demo_surplus(session: Session, actor: Actor, *, now: dt.datetime | None = None) -> str:
    """Set demo prices, insured shares and member splits for every agreed volume, compute to today; return a summary.

    ``actor`` must be an auditor (the inputs are the insurance bureau's). The computation covers the agreement years
    from the earliest cycle start to today (China), so results of years still running are provisional.
    """
    rows = session.exec(
        sa.select(AgreedVolume.tender_id, AgreedVolume.hospital_id, Lot.generic_name, Lot.unit, Lot.ceiling_ucp,
                  Award.cycle_start)
        .join(Lot, Lot.id == AgreedVolume.lot_id)
        .join(Award, Award.id == AgreedVolume.award_id)
        .order_by(AgreedVolume.tender_id, AgreedVolume.hospital_id, Lot.number)
    ).all()  # fmt: skip
    if not rows:
        return "Surplus retention: no agreed volumes, nothing to set up."
    prices: dict[tuple[int, str, str], Decimal] = {}
    shares: dict[tuple[int, int, str], Decimal] = {}
    hospitals = sorted({hospital for _t, hospital, *_ in rows})
    for tender, hospital, name, unit, ceiling, _start in rows:
        prices.setdefault((tender, name, unit), ceiling * PRICE_FACTOR)
        shares.setdefault((tender, hospital, name), INSURED_SHARES[hospitals.index(hospital) % len(INSURED_SHARES)])
    groups = _member_groups(session, set(hospitals))
    save_inputs(
        session,
        actor=actor,
        baseline_prices=[
            BaselinePriceIn(tender, name, unit, price, "35", "演示数据：最高有效申报价 × 2")
            for (tender, name, unit), price in prices.items()
        ],
        insured_shares=[
            InsuredShareIn(tender, hospital, name, share, "演示数据")
            for (tender, hospital, name), share in shares.items()
        ],
        member_shares=groups,
    )
    today = (now or utcnow()).astimezone(CHINA_TIME).date()
    start = min(cycle_start for *_rest, cycle_start in rows)
    if start > today:
        return f"Surplus retention: inputs set for {len(shares)} hospital × generic name pairs; no cycle has begun."
    summary = surplus.run_period(session, actor, start=start, end=today + dt.timedelta(days=1))
    retained = summary.figures.get("retained", "0")
    return (
        f"Surplus retention: {len(prices)} pre-tender prices, {len(shares)} insured shares, {len(groups)} medical "
        f"communities split; {summary.rows} results from {start.isoformat()} (retained so far {retained} yuan, "
        f"{summary.alerts_raised} alerts)."
    )
