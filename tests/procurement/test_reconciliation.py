"""Two-invoice reconciliation on small hand-built chains (rulebook 4).

Hospital 0 (region 350203, Siming, Xiamen) orders its awarded product at 14.0000 a pack, tax included. A correct
chain is the maker's first invoice to the distributor (5 × 11.5000 = 57.50 + 7.48 tax) and the distributor's
second invoice to the hospital (5 × 12.3894 = 61.95 + 8.05 tax = 70.00, i.e. 14.00 a pack). Each test changes one
thing and checks the finding it causes, the ids in its evidence and the verdict on the second invoice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.errors import DomainError
from core.roles import OrgKind
from procurement.audit import reconciliation_registry as registry
from procurement.audit import reconciliation_rules as r
from procurement.audit.reconciliation import run_period
from procurement.audit.reconciliation_models import ReconciliationVerdict, ReconciliationViolation
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.invoices import InvoiceLineIn, upload_invoice
from procurement.orders.models import ShipmentPack
from procurement.orders.money_models import Payment
from procurement.orders.receiving import RefusalIn, receive_shipment
from tests.procurement.order_world import TODAY, build_order_world

D = Decimal
START, END = dt.date(2026, 6, 1), dt.date(2026, 7, 1)
AFTER_GRACE = TODAY + dt.timedelta(days=31)


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _line(product_id, quantity=5, *, price="12.3894", batch="B2601"):
    amount = (D(price) * quantity).quantize(D("0.01"))
    tax = (amount * D("0.13")).quantize(D("0.01"))
    return InvoiceLineIn(product_id, batch, quantity, D(price), D("0.13"), amount, tax)


def _invoice(ow, shipment, kind, seller, buyer, lines, number):
    amount = sum((x.amount for x in lines), D(0))
    tax = sum((x.tax for x in lines), D(0))
    return upload_invoice(
        ow.db, shipment_id=shipment.id, kind=kind, number=number, issued_on=TODAY.date(), seller_org_id=seller,
        buyer_org_id=buyer, lines=lines, amount=amount, tax=tax, total=amount + tax, actor=ow.distributor, now=TODAY,
    )  # fmt: skip


class Chain:
    """A shipment of 5 packs to hospital 0, received in full, and helpers to invoice it."""

    def __init__(self, ow, hospital_index=0, quantity=5, receive=True):
        self.ow, self.db = ow, ow.db
        self.hospital = ow.hospital(hospital_index)
        _order, self.shipment, self.codes = ow.shipped(self.hospital, quantity)
        self.product = ow.award_of(self.hospital).product_id
        self.maker = ow.maker_of(self.product).org_id
        self.receipt = None
        if receive:
            self.receipt, _ = receive_shipment(
                self.db, shipment_id=self.shipment.id, codes=self.codes, actor=self.hospital, now=TODAY
            )

    def first(self, seller=None, buyer=None, lines=None, number="F-1"):
        lines = lines or [_line(self.product, price="11.5000")]
        return _invoice(self.ow, self.shipment, "first", seller or self.maker, buyer or self.ow.distributor.org_id,
                        lines, number)  # fmt: skip

    def hop(self, kind, seller, buyer, number):
        return _invoice(self.ow, self.shipment, kind, seller, buyer, [_line(self.product, price="11.9000")], number)

    def second(self, lines=None, number="S-1"):
        lines = lines or [_line(self.product)]
        return _invoice(self.ow, self.shipment, "second", self.ow.distributor.org_id, self.hospital.org_id, lines,
                        number)  # fmt: skip


def _run(ow, now=TODAY, **kwargs):
    return run_period(ow.db, ow.world.auditor, start=START, end=END, now=now, **kwargs)


def _violations(db, code=None):
    stmt = sa.select(ReconciliationViolation).order_by(ReconciliationViolation.id)
    if code:
        stmt = stmt.where(ReconciliationViolation.code == code)
    return db.exec(stmt).scalars().all()


def _verdict(db, invoice):
    return db.exec(sa.select(ReconciliationVerdict).where(ReconciliationVerdict.invoice_id == invoice.id)).scalar_one()


def _distributor(factory, region="350200"):
    return factory.org(OrgKind.DISTRIBUTOR, region_code=region, region_name="厦门市")


def test_a_correct_chain_is_paid_and_rerunning_adds_nothing(ow, db):
    c = Chain(ow)
    first, second = c.first(), c.second()
    summary = _run(ow)
    assert (summary.rows, summary.findings, summary.alerts_raised) == (3, 0, 0)  # 2 invoice lines + 1 pack group
    assert summary.figures["pay"] == 1 and summary.figures["hold"] == 0
    verdict = _verdict(db, second)
    assert verdict.verdict == "pay" and verdict.reasons == []
    [line] = verdict.lines
    assert (line["quantity"], line["received"], line["matched_quantity"], line["first_invoiced"]) == (5, 5, 5, 5)
    assert (line["price"], line["order_price"], line["award_price"]) == ("14.00", "14.00", "14.00")
    assert (line["price_check"], line["batch_check"]) == ("ok", "ok")
    assert first.kind == "first"
    _run(ow)
    assert db.exec(sa.select(sa.func.count()).select_from(ReconciliationVerdict)).one()[0] == 1


def test_three_invoices_outside_a_remote_area_are_one_too_many(ow, db, factory):
    c = Chain(ow)
    middle = _distributor(factory)
    first = c.first(buyer=middle.id)
    extra = c.hop("extra", middle.id, ow.distributor.org_id, "X-1")
    second = c.second()
    summary = _run(ow)
    [found] = _violations(db, r.CHAIN_TOO_LONG)
    assert (found.shipment_id, found.product_id, found.subject_org_id) == (
        c.shipment.id,
        c.product,
        ow.distributor.org_id,
    )
    assert found.evidence["invoice_ids"] == sorted([first.id, extra.id, second.id])
    assert found.evidence["receipt_ids"] == [c.receipt.id] and found.evidence["shipment_pack_count"] == 5
    assert found.evidence["order_id"] == c.shipment.order_id and len(found.evidence["shipment_pack_ids"]) == 5
    assert "3 invoices, 3 counted, 2 allowed" in found.title
    assert summary.findings == 1 and summary.alerts_raised == 1
    verdict = _verdict(db, second)
    assert verdict.verdict == "hold" and verdict.reasons == ["chain_too_long"]
    alert = db.get(Alert, found.alert_id)
    assert (alert.code, alert.source, alert.subject_org_id) == (
        r.CHAIN_TOO_LONG,
        "reconciliation",
        ow.distributor.org_id,
    )
    again = _run(ow)  # a re-run raises nothing new
    assert again.alerts_raised == 0 and len(_violations(db)) == 1


def test_three_invoices_are_allowed_where_the_hospital_is_on_the_remote_list(ow, db, factory):
    registry.add_remote_area(
        db, region_prefix="3502", name="厦门市 (test)", listed_by="福建省医保局 2026-1", valid_from=dt.date(2026, 1, 1),
        actor=ow.world.auditor,
    )  # fmt: skip
    c = Chain(ow)
    middle = _distributor(factory)
    c.first(buyer=middle.id)
    c.hop("extra", middle.id, ow.distributor.org_id, "X-1")
    second = c.second()
    assert _run(ow).findings == 0
    assert _verdict(db, second).verdict == "pay"


def _three_invoice_chain_shipped_at(ow, db, factory, shipped_at: dt.datetime):
    c = Chain(ow)
    c.shipment.shipped_at = shipped_at
    db.flush()
    middle = _distributor(factory)
    c.first(buyer=middle.id)
    c.hop("extra", middle.id, ow.distributor.org_id, "X-1")
    return c.second()


def test_the_remote_list_is_read_on_the_china_calendar_day_a_shipment_left(ow, db, factory):
    """A listing from 2026-06-15 covers a shipment at 07:30 Beijing time that day (23:30 UTC the day before)."""
    registry.add_remote_area(
        db, region_prefix="3502", name="厦门市 (test)", listed_by="福建省医保局 2026-2",
        valid_from=dt.date(2026, 6, 15), actor=ow.world.auditor,
    )  # fmt: skip
    second = _three_invoice_chain_shipped_at(ow, db, factory, dt.datetime(2026, 6, 14, 23, 30, tzinfo=dt.UTC))
    assert _run(ow).findings == 0
    assert _verdict(db, second).verdict == "pay"


def test_a_remote_listing_ends_at_the_start_of_its_last_china_day(ow, db, factory):
    """A listing valid to 2026-06-15 (not included) no longer covers a shipment at 07:30 Beijing time that day."""
    registry.add_remote_area(
        db, region_prefix="3502", name="厦门市 (test)", listed_by="福建省医保局 2026-1", valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 6, 15), actor=ow.world.auditor,
    )  # fmt: skip
    second = _three_invoice_chain_shipped_at(ow, db, factory, dt.datetime(2026, 6, 14, 23, 30, tzinfo=dt.UTC))
    _run(ow)
    assert [v.code for v in _violations(db)] == [r.CHAIN_TOO_LONG]
    assert _verdict(db, second).verdict == "hold"


def test_a_receipt_belongs_to_the_period_of_its_china_calendar_day(ow, db):
    c = Chain(ow, receive=False)
    at = dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC)  # 2026-07-01 01:00 Beijing time
    receive_shipment(db, shipment_id=c.shipment.id, codes=c.codes, actor=c.hospital, now=at)
    assert _run(ow, now=at).no_data  # June holds nothing of it
    july = run_period(db, ow.world.auditor, start=END, end=dt.date(2026, 8, 1), now=at)
    assert july.rows == 1  # its pack group


def test_one_transfer_inside_a_group_is_allowed_but_not_two(ow, db, factory):
    west, east = _distributor(factory), _distributor(factory)
    registry.create_group(db, name="国药 (test)", member_org_ids=[west.id, east.id, ow.distributor.org_id],
                          actor=ow.world.auditor)  # fmt: skip
    one = Chain(ow)
    one.first(buyer=west.id, number="F-1")
    one.hop("transfer", west.id, ow.distributor.org_id, "T-1")
    one.second(number="S-1")
    two = Chain(ow)
    two.first(buyer=west.id, number="F-2")
    two.hop("transfer", west.id, east.id, "T-2")
    two.hop("transfer", east.id, ow.distributor.org_id, "T-3")
    second = two.second(number="S-2")
    _run(ow)
    found = _violations(db)
    assert [(v.code, v.shipment_id) for v in found] == [(r.CHAIN_TOO_LONG, two.shipment.id)]
    assert "4 invoices, 3 counted, 2 allowed" in found[0].title
    assert _verdict(db, second).verdict == "hold"


def test_a_first_invoice_from_a_distributor_is_flagged_unless_it_is_a_registered_equivalent(ow, db, factory):
    c = Chain(ow)
    trader = _distributor(factory)
    first = c.first(seller=trader.id)
    second = c.second()
    _run(ow)
    [found] = _violations(db, r.FIRST_SELLER)
    assert (found.invoice_id, found.subject_org_id) == (first.id, ow.distributor.org_id)
    assert found.evidence["invoice_ids"] == sorted([first.id, second.id])
    assert _verdict(db, second).reasons == ["first_seller_not_manufacturer"]
    # The maker's sales company, registered as its one nationwide equivalent (4.2), may issue the first invoice.
    sales = factory.org(OrgKind.DISTRIBUTOR)
    registry.register_equivalent(db, org_id=sales.id, principal_org_id=c.maker, kind="sales_company",
                                 valid_from=dt.date(2026, 1, 1), actor=ow.world.auditor)  # fmt: skip
    ok = Chain(ow)
    ok.first(seller=sales.id, number="F-2")
    paid = ok.second(number="S-2")
    _run(ow)
    assert [v.shipment_id for v in _violations(db, r.FIRST_SELLER)] == [c.shipment.id]
    assert _verdict(db, paid).verdict == "pay"


def test_one_nationwide_equivalent_per_manufacturer(ow, db, factory):
    maker = ow.maker_of(ow.world.products[0].id).org_id
    first, second = factory.org(OrgKind.DISTRIBUTOR), factory.org(OrgKind.DISTRIBUTOR)
    register = lambda org, principal=maker, valid_from=dt.date(2026, 1, 1), **kw: registry.register_equivalent(  # noqa: E731
        db, org_id=org, principal_org_id=principal, kind="sales_company", valid_from=valid_from,
        actor=ow.world.auditor, **kw,
    )  # fmt: skip
    register(first.id, valid_to=dt.date(2026, 7, 1))
    with pytest.raises(DomainError) as caught:
        register(second.id, valid_from=dt.date(2026, 6, 1))
    assert caught.value.code == "equivalent_taken" and list(caught.value.errors) == ["principal_org_id"]
    # After the first registration ends, another company may take over.
    assert register(second.id, valid_from=dt.date(2026, 7, 1)).org_id == second.id
    other_maker = ow.maker_of(ow.world.products[1].id).org_id
    with pytest.raises(DomainError) as caught:
        register(first.id, principal=other_maker)
    assert caught.value.code == "equivalent_elsewhere"
    with pytest.raises(DomainError) as caught:
        registry.register_equivalent(db, org_id=first.id, principal_org_id=maker, kind="sales_company",
                                     valid_from=dt.date(2026, 1, 1), actor=ow.hospital(0))  # fmt: skip
    assert caught.value.code == "role_required"


def _two_batches(ow, hospital, counts):
    order, award = ow.confirmed_order(hospital, sum(counts.values()))
    codes = {batch: ow.commission(award.product_id, n, batch=batch) for batch, n in counts.items()}
    shipment, _ = ship_order(ow.db, order_id=order.id, delivery_note_number="DN-BATCH",
                             lines=[ShipLineIn(1, [c for cs in codes.values() for c in cs])], actor=ow.distributor,
                             now=TODAY)  # fmt: skip
    return shipment, award.product_id, codes


def test_a_batch_billed_on_the_second_invoice_but_not_on_the_first(ow, db):
    hospital = ow.hospital(0)
    shipment, product, codes = _two_batches(ow, hospital, {"B1": 3, "B2": 2})
    receive_shipment(db, shipment_id=shipment.id, codes=codes["B1"] + codes["B2"], actor=hospital, now=TODAY)
    maker = ow.maker_of(product).org_id
    _invoice(ow, shipment, "first", maker, ow.distributor.org_id, [_line(product, 3, price="11.5000", batch="B1")],
             "F-B")  # fmt: skip
    second = _invoice(ow, shipment, "second", ow.distributor.org_id, hospital.org_id,
                      [_line(product, 3, batch="B1"), _line(product, 2, batch="B2")], "S-B")  # fmt: skip
    _run(ow)
    [found] = _violations(db)
    assert (found.code, found.batch) == (r.BATCH_MISMATCH, "B2")
    assert found.evidence["shipment_pack_count"] == 2 and "first invoice 0, second invoice 2" in found.title
    lines = {line["batch"]: line for line in _verdict(db, second).lines}
    assert lines["B1"]["reasons"] == [] and lines["B2"]["batch_check"] == "not_on_first_invoice"
    assert _verdict(db, second).verdict == "hold"


def test_refused_packs_on_a_second_invoice_are_a_quantity_mismatch_or_an_invoice_without_goods(ow, db):
    part = Chain(ow, receive=False)
    part.first(number="F-1")
    billed = part.second(number="S-1")  # billed while in transit, before the hospital refused two packs
    refusals = [RefusalIn(code, "破损") for code in part.codes[3:]]
    receive_shipment(db, shipment_id=part.shipment.id, codes=part.codes[:3], refusals=refusals, actor=part.hospital,
                     now=TODAY)  # fmt: skip
    none = Chain(ow, receive=False)
    none.first(number="F-2")
    unpaid = none.second(number="S-2")
    receive_shipment(db, shipment_id=none.shipment.id, codes=[],
                     refusals=[RefusalIn(code, "破损") for code in none.codes], actor=none.hospital,
                     now=TODAY)  # fmt: skip
    _run(ow)
    found = {(v.code, v.shipment_id) for v in _violations(db)}
    assert found == {(r.QTY_MISMATCH, part.shipment.id), (r.INVOICE_WITHOUT_GOODS, none.shipment.id)}
    [line] = _verdict(db, billed).lines
    assert (line["quantity"], line["received"], line["matched_quantity"], line["reasons"]) == (
        5,
        3,
        3,
        ["not_received"],
    )
    assert _verdict(db, unpaid).lines[0]["matched_quantity"] == 0


def test_a_price_above_the_award_is_flagged_with_the_line(ow, db):
    c = Chain(ow)
    c.first()
    dear = c.second(lines=[_line(c.product, price="13.0000")])  # 13.00 × 1.13 = 14.69 a pack against 14.00
    _run(ow)
    [found] = _violations(db)
    assert (found.code, found.invoice_id) == (r.PRICE_ABOVE_AWARD, dear.id)
    assert "14.69 a pack, order 14.00, award 14.00" in found.title
    [line] = _verdict(db, dear).lines
    assert (line["price"], line["price_check"], line["reasons"]) == ("14.69", "above_award", ["price_above_award"])


def test_received_goods_wait_for_their_invoices_until_the_grace_period_ends(ow, db):
    bare = Chain(ow)  # received, no invoice at all
    copyless = Chain(ow)  # received, second invoice only: no copy of the first (4.5)
    second = copyless.second()
    _run(ow)
    assert _violations(db) == []
    _run(ow, now=AFTER_GRACE)
    found = [(v.code, v.shipment_id, v.batch) for v in _violations(db)]
    assert found == [
        (r.GOODS_WITHOUT_INVOICE, bare.shipment.id, "B2601"),
        (r.GOODS_WITHOUT_INVOICE, copyless.shipment.id, None),
    ]
    assert _verdict(db, second).reasons == ["no_first_invoice"]


def test_a_payment_against_a_first_invoice_has_no_invoice_behind_it(ow, db):
    c = Chain(ow)
    first, second = c.first(), c.second()
    # Imported from the hospital's finance system as it was: paid to the maker against the first invoice's copy.
    wrong = Payment(invoice_id=first.id, hospital_id=c.hospital.org_id, payee_org_id=c.maker, amount=D("64.98"),
                    paid_on=dt.date(2026, 6, 20))  # fmt: skip
    db.add(wrong)
    db.flush()
    _run(ow)
    [found] = _violations(db)
    assert (found.code, found.subject_org_id, found.hospital_id) == (r.PAYMENT_WITHOUT_INVOICE, c.hospital.org_id,
                                                                    c.hospital.org_id)  # fmt: skip
    assert found.evidence["payment_ids"] == [wrong.id] and found.evidence["payment_id"] == wrong.id
    assert _verdict(db, second).verdict == "pay"


def test_a_period_with_nothing_in_it_says_so(ow, db):
    summary = run_period(db, ow.world.auditor, start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1), now=TODAY)
    assert summary.no_data and summary.notes == ["no receipts, invoices or payments in the period"]
    with pytest.raises(DomainError) as caught:
        run_period(db, ow.hospital(0), start=START, end=END)
    assert caught.value.code == "role_required"


def test_inconsistent_parameter_sets_are_refused(ow, db):
    bad = r.RECONCILIATION_RULES.with_overrides("bad", remote_extra_invoices=2, price_tolerance=D("-0.01"))
    with pytest.raises(DomainError) as caught:
        _run(ow, rules=bad)
    assert caught.value.code == "bad_parameter_set"
    assert set(caught.value.errors) == {"remote_extra_invoices", "price_tolerance"}
    missing = r.RECONCILIATION_RULES.with_overrides("gap", severities={r.CHAIN_TOO_LONG: "high"})
    with pytest.raises(DomainError) as caught:
        r.check_rules(missing)
    assert "RECON-BATCH-MISMATCH" in caught.value.errors["severities"][0]


def test_remote_areas_and_groups_refuse_bad_input(ow, db, factory):
    auditor = ow.world.auditor
    with pytest.raises(DomainError) as caught:
        registry.add_remote_area(db, region_prefix="35020", name="x", listed_by="y", valid_from=dt.date(2026, 1, 1),
                                 actor=auditor)  # fmt: skip
    assert list(caught.value.errors) == ["region_prefix"]
    a, b = _distributor(factory), _distributor(factory)
    registry.create_group(db, name="G1", member_org_ids=[a.id, b.id], actor=auditor)
    with pytest.raises(DomainError) as caught:
        registry.create_group(db, name="G2", member_org_ids=[b.id, ow.hospital(0).org_id], actor=auditor)
    assert set(caught.value.errors) == {"member_org_ids.0", "member_org_ids.1"}
    assert db.exec(sa.select(sa.func.count()).select_from(ShipmentPack)).one()[0] == 0


def test_a_first_invoice_to_a_distributor_who_never_sells_on_breaks_the_chain(ow, db, factory):
    c = Chain(ow)
    elsewhere = _distributor(factory)
    first = c.first(buyer=elsewhere.id)  # maker → a distributor that never invoices the shipment's supplier
    second = c.second()
    _run(ow)
    # Both ends of the break: the first invoice's buyer sells on to nobody, the second's seller bought from nobody.
    found = _violations(db)
    assert [(v.code, v.invoice_id) for v in found] == [(r.PARTY_MISMATCH, first.id), (r.PARTY_MISMATCH, second.id)]
    assert f"first invoice from {c.maker} to {elsewhere.id} does not link" in found[0].title
    assert _verdict(db, second).reasons == ["party_mismatch"]


def test_a_second_invoice_below_the_order_price_differs_from_the_order(ow, db):
    c = Chain(ow)
    c.first()
    cheap = c.second(lines=[_line(c.product, price="12.0000")])  # 12.00 × 1.13 = 13.56 a pack against 14.00
    _run(ow)
    [found] = _violations(db)
    assert (found.code, found.invoice_id) == (r.PRICE_MISMATCH, cheap.id)
    assert _verdict(db, cheap).lines[0]["price_check"] == "differs_from_order"


def test_a_shipment_billed_on_two_second_invoices_is_matched_in_line_order(ow, db):
    c = Chain(ow)
    c.first()
    three = c.second(lines=[_line(c.product, 3)], number="S-3")
    two = c.second(lines=[_line(c.product, 2)], number="S-2")
    _run(ow)
    assert _violations(db) == []  # the same hop on two invoices is one hop, and the chain stays linked
    assert [(v.lines[0]["received"], v.lines[0]["matched_quantity"], v.verdict) for v in
            (_verdict(db, three), _verdict(db, two))] == [(5, 3, "pay"), (5, 2, "pay")]  # fmt: skip
