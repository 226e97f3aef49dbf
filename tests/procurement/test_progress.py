"""Agreed-volume progress against time (rulebook 1.7.5), its monthly alert, and the online-purchase share (0.2).

The hand-computed cases use a 100-day cycle starting 2026-05-07, so 2026-06-25 is day 50 (time progress 0.5).
The hospital's annual agreed volume of 10,220 tablets, prorated over 100 of the agreement year's 365 days, is
2,800 tablets: 100 packs of 28 (the award's product has 28 tablets a pack and a specification factor of 1).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.errors import DomainError
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.online_share import online_share
from procurement.orders.ordering import OrderLineIn, cancel_order, confirm_order, place_order
from procurement.orders.progress import ProgressStatus, agreement_period, agreement_progress, list_progress
from procurement.orders.progress_checks import check_progress
from procurement.orders.receiving import receive_shipment
from procurement.orders.rules import PROGRESS_BEHIND
from procurement.tenders.models import AgreedVolume
from tests.procurement.order_world import TODAY, build_order_world

START = dt.date(2026, 5, 7)
END = START + dt.timedelta(days=99)
DAY_50 = dt.date(2026, 6, 25)
CHECKED_AT = dt.datetime(2026, 7, 31, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _hundred_days(ow, db, hospital):
    """Put the hospital's award on the 100-day cycle, with 2,800 tablets due in it; return the award."""
    award = ow.award_of(hospital)
    award.cycle_start, award.cycle_end = START, END
    volume = db.exec(sa.select(AgreedVolume).where(AgreedVolume.hospital_id == hospital.org_id)).scalar_one()
    volume.agreed_volume = 10_220
    db.flush()
    return award


def _receive(ow, db, hospital, packs: int, *, at: dt.datetime = TODAY):
    """Order, ship and receive ``packs`` packs of the hospital's awarded product."""
    _, shipment, codes = ow.shipped(hospital, packs)
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=at)


def _row(db, actor, hospital, on=DAY_50):
    rows = agreement_progress(db, actor=actor, on=on, hospital_id=hospital.org_id)
    assert len(rows) == 1
    return rows[0]


def test_agreement_years_clip_to_the_cycle():
    assert agreement_period(START, END, DAY_50) == (period := agreement_period(START, END, START))
    assert (period.start, period.end, period.days, period.full_days) == (START, END, 100, 365)
    cycle = (dt.date(2026, 4, 1), dt.date(2027, 12, 31))  # batch 10: about 21 months
    first = agreement_period(*cycle, dt.date(2026, 6, 15))
    assert (first.start, first.end, first.days) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31), 365)
    last = agreement_period(*cycle, dt.date(2030, 1, 1))  # after the cycle: its last year
    assert (last.start, last.end, last.days, last.full_days) == (dt.date(2027, 4, 1), dt.date(2027, 12, 31), 275, 366)
    leap = agreement_period(dt.date(2028, 2, 29), dt.date(2030, 12, 31), dt.date(2029, 3, 1))
    assert (leap.start, leap.end) == (dt.date(2029, 3, 1), dt.date(2030, 2, 28))


def test_completion_against_time_moves_from_behind_to_over(ow, db):
    hospital = ow.hospital(0)
    award = _hundred_days(ow, db, hospital)
    _receive(ow, db, hospital, 30)
    row = _row(db, hospital, hospital)
    assert (row.agreed_volume, row.annual_volume, row.received_units) == (2800, 10_220, Decimal(840))
    assert (row.completion, row.time_progress, row.pace) == (Decimal("0.3"), Decimal("0.5"), Decimal("0.6"))
    assert row.status == ProgressStatus.BEHIND  # 0.30 < 0.80 × 0.50
    assert (row.period_start, row.period_end, row.warning_share) == (START, END, Decimal("0.80"))
    _receive(ow, db, hospital, 15)  # 45 packs: 0.45 ≥ 0.40 and ≤ 0.50
    assert (_row(db, hospital, hospital).status, _row(db, hospital, hospital).pace) == ("on_track", Decimal("0.9"))
    _receive(ow, db, hospital, 15)  # 60 packs: 0.60 > 0.50
    assert _row(db, hospital, hospital).status == ProgressStatus.AHEAD
    _receive(ow, db, hospital, 40)  # 100 packs: exactly 2,800 tablets
    assert _row(db, hospital, hospital).status == ProgressStatus.COMPLETE
    _receive(ow, db, hospital, 5)  # past the agreed volume the winning price still holds (1.7.1)
    row = _row(db, hospital, hospital)
    assert (row.status, row.completion, row.over_units) == (ProgressStatus.OVER, Decimal("1.05"), Decimal(140))
    assert row.received_amount == award.unit_price * 105 and row.unit_price == award.unit_price


def test_ordered_packs_are_shown_beside_received_ones(ow, db):
    hospital = ow.hospital(0)
    award = _hundred_days(ow, db, hospital)
    _receive(ow, db, hospital, 10)
    ow.confirmed_order(hospital, 20)  # ordered, not yet delivered
    cancelled, _ = place_order(
        db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 50)], actor=hospital, now=TODAY
    )
    cancel_order(db, order_id=cancelled.id, reason="重复下单", actor=hospital, now=TODAY)
    row = _row(db, hospital, hospital)
    assert (row.received_units, row.ordered_units) == (Decimal(280), Decimal(30 * 28))


def test_no_time_elapsed_means_no_verdict(ow, db):
    hospital = ow.hospital(0)
    _hundred_days(ow, db, hospital)
    before = _row(db, hospital, hospital, on=START - dt.timedelta(days=1))
    assert (before.status, before.time_progress, before.pace) == (ProgressStatus.NOT_STARTED, Decimal(0), None)
    first_day = _row(db, hospital, hospital, on=START)  # one day of 100 elapsed, nothing bought
    assert (first_day.time_progress, first_day.status) == (Decimal("0.01"), ProgressStatus.BEHIND)
    after = _row(db, hospital, hospital, on=dt.date(2027, 1, 1))
    assert (after.time_progress, after.period_end) == (Decimal(1), END)


def test_a_receipt_counts_on_its_day_in_china(ow, db):
    hospital = ow.hospital(0)
    _hundred_days(ow, db, hospital)
    _receive(ow, db, hospital, 10, at=dt.datetime(2026, 6, 24, 17, 30, tzinfo=dt.UTC))  # 01:30 on the 25th in China
    assert _row(db, hospital, hospital, on=dt.date(2026, 6, 24)).received_units == 0
    assert _row(db, hospital, hospital, on=DAY_50).received_units == 280


def test_a_shortened_last_year_is_prorated(ow, db):
    hospital = ow.hospital(0)  # batch 10: 2026-04-01 to 2027-12-31, 7,000 tablets a year
    row = _row(db, hospital, hospital, on=dt.date(2027, 6, 1))
    assert (row.period_start, row.period_end, row.annual_volume) == (dt.date(2027, 4, 1), dt.date(2027, 12, 31), 7000)
    assert row.agreed_volume == 5260  # 7,000 × 275 ÷ 366 = 5,259.56


def test_non_winning_purchases_of_the_generic_name_are_shown_apart(ow, db):
    hospital = ow.hospital(0)
    award = _hundred_days(ow, db, hospital)
    other = next(p for p in ow.world.products if p.id != award.product_id)
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=ow.distributor.org_id, price=Decimal("31.5000"),
        starts_on=dt.date(2026, 1, 1), actor=ow.world.organiser, region_prefix="35",
    )  # fmt: skip
    order, _ = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(other.id, 4)], actor=hospital, now=TODAY)
    confirm_order(db, order_id=order.id, actor=ow.distributor, now=TODAY)
    codes = ow.commission(other.id, 4)
    shipment, _ = ship_order(
        db, order_id=order.id, delivery_note_number="DN-NW-1", lines=[ShipLineIn(1, codes)], actor=ow.distributor,
        now=TODAY,
    )  # fmt: skip
    receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=TODAY)
    row = _row(db, hospital, hospital)
    assert (row.non_winning_packs, row.non_winning_amount, row.received_units) == (4, Decimal("126"), 0)


def test_each_party_sees_its_own_rows(ow, db, factory):
    hospitals = [ow.hospital(i) for i in range(3)]
    everyone = {h.org_id for h in hospitals}
    for overseer in (ow.world.auditor, ow.world.organiser):
        assert {r.hospital_id for r in agreement_progress(db, actor=overseer, on=TODAY.date())} == everyone
    assert [r.hospital_id for r in agreement_progress(db, actor=hospitals[1], on=TODAY.date())] == [hospitals[1].org_id]
    with pytest.raises(DomainError) as caught:
        agreement_progress(db, actor=hospitals[1], on=TODAY.date(), hospital_id=hospitals[0].org_id)
    assert caught.value.code == "foreign_organisation"
    award = ow.award_of(hospitals[2])
    maker = ow.maker_of(award.product_id)
    assert {r.award_id for r in agreement_progress(db, actor=maker, on=TODAY.date())} == {award.id}
    assert agreement_progress(db, actor=ow.distributor, on=TODAY.date()) == []  # it delivers; it won nothing
    page = list_progress(db, actor=ow.world.auditor, on=TODAY.date(), status="behind", per_page=2)
    assert (page.total, len(page.items)) == (3, 2)


def test_behind_time_is_alerted_once_a_month(ow, db):
    hospital = ow.hospital(0)
    _hundred_days(ow, db, hospital)
    _receive(ow, db, hospital, 30)
    auditor = ow.world.auditor
    alerts = check_progress(db, actor=auditor, on=DAY_50, now=CHECKED_AT)
    mine = [a for a in alerts if a.subject_org_id == hospital.org_id]
    assert len(mine) == 1 and mine[0].code == PROGRESS_BEHIND
    assert mine[0].evidence["completion"] == "0.3000" and mine[0].evidence["time_progress"] == "0.5000"
    assert mine[0].rule["values"] == {"progress_warning_share": "0.80"}
    assert check_progress(db, actor=auditor, on=DAY_50, now=CHECKED_AT) == []
    assert check_progress(db, actor=auditor, on=dt.date(2026, 6, 28), now=CHECKED_AT) == []  # same month
    july = check_progress(db, actor=auditor, on=dt.date(2026, 7, 10), now=CHECKED_AT)
    assert hospital.org_id in {a.subject_org_id for a in july}
    stored = db.exec(sa.select(Alert).where(Alert.code == PROGRESS_BEHIND, Alert.subject_org_id == hospital.org_id))
    assert len(stored.scalars().all()) == 2
    _receive(ow, db, hospital, 60)  # 90 packs: 0.90 against 87 of 100 days on 1 August is ahead, so no alert
    august = check_progress(db, actor=auditor, on=dt.date(2026, 8, 1), now=dt.datetime(2026, 8, 2, tzinfo=dt.UTC))
    assert august and hospital.org_id not in {a.subject_org_id for a in august}


def test_only_overseers_check_and_never_a_future_day(ow, db):
    for who in (ow.hospital(0), ow.distributor):
        with pytest.raises(DomainError) as caught:
            check_progress(db, actor=who, on=DAY_50, now=CHECKED_AT)
        assert caught.value.kind == "forbidden"
    with pytest.raises(DomainError) as caught:
        check_progress(db, actor=ow.world.auditor, on=dt.date(2026, 8, 1), now=CHECKED_AT)
    assert caught.value.errors == {"on": [caught.value.message]}


def test_online_share_by_amount_against_the_targets(ow, db):
    hospital, quiet = ow.hospital(0), ow.hospital(1)
    award = ow.award_of(hospital)
    _receive(ow, db, hospital, 30)  # 30 × 14.0000 = 420.0000 on the platform
    declare = lambda kind, amount, month=dt.date(2026, 6, 1): arrangements.declare_offline_purchase(  # noqa: E731
        db, hospital_id=hospital.org_id, month=month, product_kind=kind, description="急需", amount=Decimal(amount),
        reason="平台无货", actor=hospital,
    )  # fmt: skip
    declare("drug", "20")
    declare("consumable", "100")
    declare("drug", "1000", dt.date(2026, 5, 1))  # outside the period
    june = {"start": dt.date(2026, 6, 1), "end": dt.date(2026, 6, 30)}
    rows = {r.kind: r for r in online_share(db, actor=ow.world.auditor, **june)}
    drug, consumable = rows["drug"], rows["consumable"]
    assert award.unit_price == Decimal(14)
    assert (drug.platform_amount, drug.offline_amount, drug.total_amount) == (Decimal(420), Decimal(20), Decimal(440))
    assert (drug.share, drug.target, drug.meets_target) == (Decimal("0.9545"), Decimal("0.95"), True)  # 420 ÷ 440
    assert (consumable.share, consumable.target, consumable.meets_target) == (Decimal(0), Decimal("0.85"), False)
    declare("drug", "3")  # 420 ÷ 443 = 0.9481: now short of 95 %
    assert next(r for r in online_share(db, actor=hospital, **june) if r.kind == "drug").meets_target is False
    mid = online_share(db, actor=hospital, start=dt.date(2026, 6, 20), end=dt.date(2026, 6, 30))
    assert next(r for r in mid if r.kind == "drug").offline_amount == 23  # a month's declaration counts whole
    nothing = online_share(db, actor=quiet, **june)
    assert [(r.hospital_id, r.kind, r.share, r.meets_target) for r in nothing] == [
        (quiet.org_id, "drug", None, None),
        (quiet.org_id, "consumable", None, None),
    ]
    with pytest.raises(DomainError):
        online_share(db, actor=ow.distributor, **june)
    with pytest.raises(DomainError):
        online_share(db, actor=quiet, hospital_id=hospital.org_id, **june)
    with pytest.raises(DomainError) as caught:
        online_share(db, actor=ow.world.auditor, start=june["end"], end=june["start"])
    assert "end" in caught.value.errors
