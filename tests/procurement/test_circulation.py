"""Supply and circulation anomalies (issue 6 item 4): each check on a small hand-built case, and the finance indicators.

The world is ``build_order_world``: three grade-3A hospitals, four makers, one distributor named for every award,
trace captures dated 2026-06-14. The audit period is June 2026 ([2026-06-01, 2026-07-01) in China time). Boundary
rule: a value exactly at a limit passes — 12 % out of catalogue is not flagged, 13 % is; a revenue part exactly
0.05 from its target share is not flagged; purchases exactly 1.5 × the agreed volume are not flagged.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.alerts import Alert
from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.audit.circulation import run_period
from procurement.audit.circulation_rules import (
    ABOVE_AGREED,
    ABOVE_HISTORY,
    CIRCULATION_RULES,
    OFF_CHANNEL,
    PHANTOM_STOCK,
    circulation_rules,
)
from procurement.audit.circulation_stock import stock_anomalies
from procurement.orders import arrangements
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.receiving import receive_shipment
from procurement.tenders.models import AgreedVolume
from tests.procurement.order_world import TODAY, build_order_world
from trace.models import CaptureBatch, EventType, Item, TraceEvent
from trace.transitions import EventIn

JUNE = (dt.date(2026, 6, 1), dt.date(2026, 7, 1))
_n = itertools.count(1)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _run(db, ow, rules=CIRCULATION_RULES, period=JUNE):
    return run_period(db, ow.world.auditor, start=period[0], end=period[1], rules=rules)


def _alerts(db, code, kind=None) -> list[Alert]:
    stmt = sa.select(Alert).where(Alert.source == "circulation", Alert.code == code).order_by(Alert.id)
    return [a for a in db.exec(stmt).scalars() if kind is None or a.evidence["kind"] == kind]


def _event_ids(db, kind: EventType, codes) -> set[int]:
    items = sa.select(Item.id).where(Item.code_key.in_([f"cn20:{c[:20]}" for c in codes]))
    stmt = sa.select(TraceEvent.id).where(TraceEvent.type == kind.value, TraceEvent.item_id.in_(items))
    return set(db.exec(stmt).scalars())


def _received(ow, db, hospital, packs, *, at=TODAY, expiry=dt.date(2028, 6, 30)):
    """Order, ship and receive ``packs`` packs of the hospital's awarded product on the platform; return codes."""
    order, award = ow.confirmed_order(hospital, packs)
    codes = ow.commission(award.product_id, packs, expiry=expiry)
    shipment, _ = ship_order(
        db, order_id=order.id, delivery_note_number=f"DN-C{next(_n)}", lines=[ShipLineIn(1, codes)],
        actor=ow.distributor, now=TODAY,
    )  # fmt: skip
    receipt, _ = receive_shipment(db, shipment_id=shipment.id, codes=codes, actor=hospital, now=at)
    return codes, receipt


def _hospital_user(db, factory, **fields):
    org = factory.org(OrgKind.HOSPITAL, **fields)
    return actor_for_user(db, factory.user(org, roles=(Role.PHARMACIST,)).id)


def test_the_platform_channel_raises_nothing(ow, db):
    hospital = ow.hospital(0)
    codes, _ = _received(ow, db, hospital, 3)
    ow.capture(hospital, EventIn(EventType.DISPENSE, codes[0]))
    summary = _run(db, ow)
    assert summary.findings == 0 and summary.alerts_raised == 0 and not summary.no_data
    assert summary.figures["read"]["ship_events"] == 3 and summary.figures["read"]["dispense_events"] == 1


def test_shipment_without_order_its_dispensing_and_unordered_stock(ow, db):
    hospital = ow.hospital(1)
    product = ow.award_of(hospital).product_id
    codes = ow.commission(product, 3)
    ow.capture(ow.distributor, *(EventIn(EventType.SHIP, c, to_org_id=hospital.org_id) for c in codes))
    ow.capture(hospital, *(EventIn(EventType.RECEIVE, c) for c in codes))
    ow.capture(hospital, EventIn(EventType.DISPENSE, codes[0]))
    summary = _run(db, ow)
    [no_order] = _alerts(db, OFF_CHANNEL, "no_order")
    assert no_order.subject_org_id == ow.distributor.org_id and no_order.severity == "high"
    assert no_order.evidence["packs"] == 3 and no_order.evidence["receiver_org_id"] == hospital.org_id
    assert set(no_order.evidence["trace_event_ids"]) == _event_ids(db, EventType.SHIP, codes) - _maker_ships(db, ow)
    assert no_order.evidence["order_ids_between"] == []
    assert no_order.rule["name"] == "circulation.rules" and no_order.rule["values"]["above_agreed_factor"] == "1.5"
    [dispensed] = _alerts(db, OFF_CHANNEL, "dispensed_off_channel")
    assert dispensed.subject_org_id == hospital.org_id and dispensed.evidence["packs"] == 1
    assert set(dispensed.evidence["trace_event_ids"]) == _event_ids(db, EventType.DISPENSE, codes)
    assert dispensed.evidence["received_on_platform_by"] == []
    [never] = _alerts(db, PHANTOM_STOCK, "never_ordered")  # two packs left, of a product never ordered
    assert (never.subject_org_id, never.evidence["packs"], never.evidence["product_id"]) == (
        hospital.org_id,
        2,
        product,
    )
    assert _alerts(db, OFF_CHANNEL, "not_assigned_distributor") == []
    assert (summary.findings, summary.alerts_raised) == (3, 3)
    again = _run(db, ow)  # re-running the period raises nothing new
    assert (again.findings, again.alerts_raised) == (3, 0)
    # Declared as bought off the platform, the stock is explained (the shipment stays off channel).
    arrangements.declare_offline_purchase(
        db, hospital_id=hospital.org_id, month=dt.date(2026, 6, 1), product_kind="drug", description="急购",
        amount=Decimal("100"), reason="平台缺货", actor=hospital, product_id=product,
    )  # fmt: skip
    assert {f.kind for f in stock_anomalies(db, start=JUNE[0], end=JUNE[1], rules=CIRCULATION_RULES)} == set()


def _maker_ships(db, ow) -> set[int]:
    """Ship events from makers to the distributor (not into a hospital, so never judged)."""
    stmt = sa.select(TraceEvent.id).where(TraceEvent.type == "ship", TraceEvent.to_org_id == ow.distributor.org_id)
    return set(db.exec(stmt).scalars())


def test_delivery_by_a_distributor_the_winner_did_not_name(ow, db, factory):
    hospital = ow.hospital(0)
    product = ow.award_of(hospital).product_id
    maker = ow.maker_of(product)
    org = factory.org(OrgKind.DISTRIBUTOR)
    other = actor_for_user(db, factory.user(org, roles=(Role.SUPPLIER_REP,)).id)
    codes = [ow.code(product) for _ in range(2)]
    ow.capture(maker, *(EventIn(EventType.COMMISSION, c, batch="B1") for c in codes))
    ow.capture(maker, *(EventIn(EventType.SHIP, c, to_org_id=org.id) for c in codes))
    ow.capture(other, *(EventIn(EventType.RECEIVE, c) for c in codes))
    ow.capture(other, *(EventIn(EventType.SHIP, c, to_org_id=hospital.org_id) for c in codes))
    _run(db, ow)
    [wrong] = _alerts(db, OFF_CHANNEL, "not_assigned_distributor")
    assert wrong.subject_org_id == org.id and wrong.evidence["packs"] == 2
    assert wrong.evidence["expected_distributor_ids"] == [ow.distributor.org_id]
    [no_order] = _alerts(db, OFF_CHANNEL, "no_order")
    assert no_order.object_id == wrong.object_id  # the same delivery (capture batch), judged by both rules


def test_transfers_inside_a_medical_community_stay_in_channel(ow, db, factory):
    general = ow.hospital(0)
    member = _hospital_user(db, factory, parent_id=general.org_id, hospital_grade="1A")
    codes, _ = _received(ow, db, general, 3)
    ow.capture(general, EventIn(EventType.SHIP, codes[0], to_org_id=member.org_id))
    ow.capture(member, EventIn(EventType.RECEIVE, codes[0]))
    ow.capture(member, EventIn(EventType.DISPENSE, codes[0]))
    outsider = ow.hospital(1)
    ow.capture(general, EventIn(EventType.SHIP, codes[1], to_org_id=outsider.org_id))
    _run(db, ow)
    [no_order] = _alerts(db, OFF_CHANNEL, "no_order")
    assert (no_order.subject_org_id, no_order.evidence["receiver_org_id"]) == (general.org_id, outsider.org_id)
    assert no_order.evidence["packs"] == 1
    assert _alerts(db, OFF_CHANNEL, "dispensed_off_channel") == []
    strict = CIRCULATION_RULES.with_overrides("test", community_transfers_allowed=False)
    _run(db, ow, rules=strict)
    assert len(_alerts(db, OFF_CHANNEL, "no_order")) == 2
    [dispensed] = _alerts(db, OFF_CHANNEL, "dispensed_off_channel")
    assert dispensed.subject_org_id == member.org_id
    assert dispensed.evidence["received_on_platform_by"] == [general.org_id]


def test_stock_that_should_not_exist(ow, db):
    hospital, other = ow.hospital(0), ow.hospital(2)
    product = ow.award_of(hospital).product_id
    codes, _ = _received(ow, db, hospital, 4)
    ow.capture(ow.maker_of(product), EventIn(EventType.RECALL, codes[0]))
    _received(ow, db, hospital, 2, expiry=dt.date(2026, 6, 20))  # expired before the period's end
    at_distributor = ow.commission(product, 2)
    # A bulk load put one pack into the other hospital's stock, and a dispensing of another, with no receipt.
    moved = db.exec(sa.select(Item).where(Item.code_key == f"cn20:{at_distributor[0][:20]}")).scalar_one()
    moved.custodian_org_id = other.org_id
    sold = db.exec(sa.select(Item).where(Item.code_key == f"cn20:{at_distributor[1][:20]}")).scalar_one()
    batch = CaptureBatch(
        org_id=other.org_id, client_batch_id="bulk-1", request_sha256="0" * 64, accepted=True, event_count=1
    )
    db.add(batch)
    db.flush()
    phantom = TraceEvent(
        batch_id=batch.id, item_id=sold.id, type="dispense", org_id=other.org_id, at=TODAY, ledger_index=10**12
    )
    db.add(phantom)
    db.flush()
    _run(db, ow)
    [recalled] = _alerts(db, PHANTOM_STOCK, "recalled_in_stock")
    assert (recalled.subject_org_id, recalled.evidence["packs"]) == (hospital.org_id, 1)
    assert recalled.evidence["items"] == [f"cn20:{codes[0][:20]}"]
    assert recalled.evidence["trace_event_ids"] == sorted(_event_ids(db, EventType.RECALL, codes[:1]))
    [expired] = _alerts(db, PHANTOM_STOCK, "expired_in_stock")
    assert (expired.subject_org_id, expired.evidence["packs"], expired.evidence["as_of"]) == (
        hospital.org_id, 2, "2026-07-01",
    )  # fmt: skip
    [held] = _alerts(db, PHANTOM_STOCK, "held_unreceived")
    assert (held.subject_org_id, held.evidence["item_ids"]) == (other.org_id, [moved.id])
    [unreceived] = _alerts(db, PHANTOM_STOCK, "dispensed_unreceived")
    assert unreceived.subject_org_id == other.org_id and unreceived.evidence["trace_event_ids"] == [phantom.id]
    assert (unreceived.evidence["dispensed_packs_to_date"], unreceived.evidence["received_packs_to_date"]) == (1, 0)
    [never] = _alerts(db, PHANTOM_STOCK, "never_ordered")  # the moved pack: the other hospital never ordered it
    assert (never.subject_org_id, never.evidence["item_ids"]) == (other.org_id, [moved.id])


def _agreed(db, hospital, units: int) -> None:
    volume = db.exec(sa.select(AgreedVolume).where(AgreedVolume.hospital_id == hospital.org_id)).scalar_one()
    volume.agreed_volume = units
    db.flush()


def test_purchases_far_above_the_agreed_volume(ow, db):
    # Six packs of 28 tablets (factor 1) = 168 tablets received in the agreement year from 2026-04-01.
    flagged, boundary = ow.hospital(0), ow.hospital(1)
    _agreed(db, flagged, 100)  # 168 > 1.5 × 100 = 150
    _agreed(db, boundary, 112)  # 1.5 × 112 = 168: exactly at the factor, not flagged
    assert ow.award_of(boundary).product_id == ow.award_of(flagged).product_id
    _, receipt = _received(ow, db, flagged, 6)
    _received(ow, db, boundary, 6)
    _run(db, ow)
    [alert] = _alerts(db, ABOVE_AGREED)
    assert alert.subject_org_id == flagged.org_id and alert.severity == "medium"
    assert (alert.evidence["agreed_volume"], alert.evidence["received_units"]) == (100, "168")
    assert alert.evidence["ratio"] == "1.6800" and alert.evidence["order_ids"] == [receipt.order_id]
    assert alert.evidence["agreement_year"] == ["2026-04-01", "2027-03-31"]


def test_purchases_far_above_past_use(ow, db):
    rules = circulation_rules("test", history_min_packs=1, history_trailing_months=1)
    may = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)
    flagged, steady, yearly = ow.hospital(0), ow.hospital(1), ow.hospital(2)
    _received(ow, db, flagged, 2, at=may)
    _, june = _received(ow, db, flagged, 5)  # 5 > 2 × 2 (May, the one trailing month)
    _received(ow, db, steady, 2, at=may)
    _received(ow, db, steady, 4)  # 4 = 2 × 2: not above
    _received(ow, db, yearly, 2, at=dt.datetime(2025, 6, 10, 2, 0, tzinfo=dt.UTC))
    _received(ow, db, yearly, 5)  # 5 > 2 × 2 (June 2025); May 2026 bought nothing: no trailing baseline
    summary = _run(db, ow, rules=rules)
    alerts = {a.subject_org_id: a.evidence for a in _alerts(db, ABOVE_HISTORY)}
    assert set(alerts) == {flagged.org_id, yearly.org_id}
    evidence = alerts[flagged.org_id]
    assert (evidence["month"], evidence["packs"], evidence["trailing_mean"]) == ("2026-06", 5, "2.00")
    assert evidence["exceeded"] == ["trailing_mean"] and evidence["same_month_last_year"] is None
    assert evidence["receipt_ids"] == [june.id] and evidence["order_ids"] == [june.order_id]
    evidence = alerts[yearly.org_id]
    assert evidence["exceeded"] == ["same_month_last_year"] and evidence["same_month_last_year"] == 2
    assert evidence["trailing_mean"] is None
    assert summary.figures["read"]["receipts"] == 3  # June's three receipts judged
    # Six trailing months reach back before the first purchase (May) of the first two: no trailing baseline then.
    longer = circulation_rules("test6", history_min_packs=1, history_trailing_months=6)
    assert _run(db, ow, rules=longer).figures["findings_by_code"] == {ABOVE_HISTORY: 1}  # only the year-old baseline


def test_a_period_without_data_says_so(ow, db):
    summary = _run(db, ow, period=(dt.date(2020, 1, 1), dt.date(2020, 2, 1)))
    assert summary.no_data and summary.findings == 0
    assert any("no trace events" in note for note in summary.notes)


def test_inconsistent_rules_are_refused():
    cases = {
        "out_of_catalogue_limits": {"out_of_catalogue_limits": {"350104": Decimal("0.12")}},
        "revenue_target": {"revenue_target": {"service": 5, "tests": 2}},
        "revenue_tolerance": {"revenue_tolerance": Decimal("1.5")},
        "above_agreed_factor": {"above_agreed_factor": Decimal("0.9")},
        "history_trailing_months": {"history_trailing_months": 0},
        "revenue_grades": {"revenue_grades": ("5A",)},
    }
    for key, override in cases.items():
        with pytest.raises(DomainError) as caught:
            circulation_rules("bad", **override)
        assert caught.value.code == "inconsistent_rules" and f"rules.{key}" in caught.value.errors
    with pytest.raises(DomainError):
        circulation_rules("bad", no_such_parameter=1)
    with pytest.raises(DomainError) as caught:
        circulation_rules("bad", out_of_catalogue_limits={"": Decimal("1.2")})
    assert "between 0 and 1" in caught.value.message


def test_a_month_above_past_use_is_alerted_once_however_many_receipts_it_gains(ow, db):
    rules = circulation_rules("test", history_min_packs=1, history_trailing_months=1)
    hospital = ow.hospital(0)
    _received(ow, db, hospital, 2, at=dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC))
    _received(ow, db, hospital, 5)  # June: 5 > 2 × 2 (May)
    assert _run(db, ow, rules=rules).alerts_raised == 1
    _, late = _received(ow, db, hospital, 1, at=dt.datetime(2026, 6, 25, 2, 0, tzinfo=dt.UTC))
    again = _run(db, ow, rules=rules)  # June is judged again, with one more receipt: the same finding
    assert again.figures["findings_by_code"][ABOVE_HISTORY] == 1 and again.alerts_raised == 0
    [alert] = _alerts(db, ABOVE_HISTORY)
    assert (alert.evidence["month"], alert.evidence["packs"]) == ("2026-06", 5)
    assert alert.dedupe_key.endswith(f"org:{hospital.org_id}|product:{alert.object_id}|month:2026-06")
    assert late.id not in alert.evidence["receipt_ids"]  # the alert stands as raised; the month is not re-raised


def test_a_month_alerted_under_the_older_key_of_its_receipts_is_not_raised_again(ow, db):
    rules = circulation_rules("test", history_min_packs=1, history_trailing_months=1)
    hospital = ow.hospital(0)
    _received(ow, db, hospital, 2, at=dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC))
    _received(ow, db, hospital, 5)
    _run(db, ow, rules=rules)
    [alert] = _alerts(db, ABOVE_HISTORY)
    alert.dedupe_key = alert.dedupe_key.replace("|month:2026-06", "|0123456789abcdef")  # as keyed before
    db.flush()
    _received(ow, db, hospital, 1, at=dt.datetime(2026, 6, 25, 2, 0, tzinfo=dt.UTC))
    assert _run(db, ow, rules=rules).alerts_raised == 0
    assert [a.id for a in _alerts(db, ABOVE_HISTORY)] == [alert.id]
    # Another month of the same hospital and product is still its own finding.
    _received(ow, db, hospital, 13, at=dt.datetime(2026, 7, 10, 2, 0, tzinfo=dt.UTC))  # 13 > 2 × 6 (June)
    july = _run(db, ow, rules=rules, period=(dt.date(2026, 7, 1), dt.date(2026, 8, 1)))
    assert july.alerts_raised == 1
    assert [a.evidence["month"] for a in _alerts(db, ABOVE_HISTORY)] == ["2026-06", "2026-07"]


def test_off_channel_dispensing_in_overlapping_periods_is_alerted_once(ow, db):
    hospital = ow.hospital(1)
    product = ow.award_of(hospital).product_id
    early, late = ow.commission(product, 2)
    at = dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.UTC)
    ow.capture(ow.distributor, EventIn(EventType.SHIP, early, to_org_id=hospital.org_id, at=at))
    ow.capture(hospital, EventIn(EventType.RECEIVE, early, at=at), EventIn(EventType.DISPENSE, early, at=at))
    ow.capture(ow.distributor, EventIn(EventType.SHIP, late, to_org_id=hospital.org_id))
    ow.capture(hospital, EventIn(EventType.RECEIVE, late), EventIn(EventType.DISPENSE, late))  # 2026-06-14
    _run(db, ow, period=(dt.date(2026, 6, 1), dt.date(2026, 6, 10)))
    [first] = _alerts(db, OFF_CHANNEL, "dispensed_off_channel")
    assert (first.evidence["month"], first.evidence["packs"]) == ("2026-06", 1)
    summary = _run(db, ow)  # all of June: both dispensings, the same hospital, product and month
    assert summary.figures["read"]["dispense_events"] == 2
    assert [a.id for a in _alerts(db, OFF_CHANNEL, "dispensed_off_channel")] == [first.id]
