"""Credit disposals (rulebook 6.7) stop what already exists: listings, awards, orders and distribution, by date."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from core.accounts import actor_for_user
from core.roles import OrgKind, Role
from procurement.audit import credit, credit_disposal
from procurement.audit.credit import CaseIn
from procurement.orders import arrangements
from procurement.orders.buyable import buyable_products
from procurement.orders.models import PriceBasis
from procurement.orders.ordering import OrderLineIn, place_order
from tests.errors import domain_error
from tests.procurement.order_world import TODAY, build_order_world
from tests.procurement.tender_world import build_world

D = Decimal
SANCTIONED_ON = dt.date(2026, 3, 1)
SERIOUS_MEASURES = ["stop_conduct", "discipline_staff", "compliance_report", "remove_inflated_margin", "return_gains"]
_numbers = itertools.count(1)


def _bribery(supplier_id: int, *, product_ids=(), single="300000", province=None) -> CaseIn:
    """A 2020-rules bribery case: a single bribe of 300,000 is 严重 (case products), 2,000,000 特别严重 (province)."""
    return CaseIn(supplier_id=supplier_id, category="bribery", conduct_date=dt.date(2024, 5, 1),
                  decision_date=dt.date(2025, 3, 1), evidence_source="administrative_penalty",
                  decision_number=f"闽市监罚〔2025〕{next(_numbers)}号", single_amount=D(single),
                  product_ids=tuple(product_ids), province=province)  # fmt: skip


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC)  # 10:00 in Beijing, the same day


@pytest.fixture
def world(db, factory):
    return build_world(db, factory)


@pytest.fixture
def admin(db, factory):
    return actor_for_user(db, factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,)).id)


def test_a_serious_case_stops_an_existing_listing_until_the_repair_without_ending_it(world, db, admin):
    maker, product, other = world.makers[2], world.products[2], world.products[1]
    listing = arrangements.create_listing(
        db, product_id=product.id, supplier_id=maker.org_id, price=D("9.5"), starts_on=dt.date(2026, 1, 1),
        actor=admin, region_prefix="35",
    )  # fmt: skip
    arrangements.create_listing(
        db, product_id=other.id, supplier_id=world.makers[1].org_id, price=D("8.0"), starts_on=dt.date(2026, 1, 1),
        actor=admin, region_prefix="35",
    )  # fmt: skip
    hospital = world.hospitals[0]
    case, _ = credit.record_case(
        db, data=_bribery(maker.org_id, product_ids=[product.id]), actor=world.auditor, today=SANCTIONED_ON
    )
    assert (case.rule_set_version, case.level) == ("2020", "serious")

    def offer(day: dt.date):
        return buyable_products(db, hospital_id=hospital.org_id, on=day)

    assert product.id in offer(dt.date(2026, 2, 28))  # the day before the sanction
    during = offer(dt.date(2026, 3, 10))
    assert product.id not in during and during[other.id].supplier_id == world.makers[1].org_id
    error = domain_error(
        lambda: place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(product.id, 1)], actor=hospital,
                            now=_at(dt.date(2026, 3, 10))),
        "bad_order_line",
    )  # fmt: skip
    [message] = error.errors["lines.0.product_id"]
    assert "suspended" in message and "6.7" in message and "2028-02-29" in message
    measures = [{"measure": m, "evidence": "证明"} for m in SERIOUS_MEASURES]
    credit_disposal.record_repair(db, case=case, actor=maker, measures=measures, note="", on=dt.date(2026, 3, 15))
    credit_disposal.approve_repair(db, case=case, actor=world.auditor, on=dt.date(2026, 3, 20))
    assert product.id not in offer(dt.date(2026, 3, 19))
    assert offer(dt.date(2026, 3, 20))[product.id].listing_id == listing.id  # the same listing, never ended
    assert listing.ends_on is None
    order, created = place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(product.id, 1)], actor=hospital,
                                 now=_at(dt.date(2026, 3, 20)))  # fmt: skip
    assert created and order.supplier_id == maker.org_id


def test_each_sanction_stops_the_listings_it_reaches_and_the_next_cheapest_is_offered(world, db, admin, factory):
    distributor = factory.org(OrgKind.DISTRIBUTOR, region_code="350200", region_name="厦门市")
    for index, product in enumerate(world.products[:2]):
        for supplier_id, price in ((distributor.id, "7.0"), (world.makers[index].org_id, "8.0")):
            arrangements.create_listing(
                db, product_id=product.id, supplier_id=supplier_id, price=D(price), starts_on=dt.date(2026, 1, 1),
                actor=admin,
            )  # fmt: skip
    first, second = world.products[0].id, world.products[1].id
    hospital = world.hospitals[0].org_id

    def offer():
        return buyable_products(db, hospital_id=hospital, on=dt.date(2026, 3, 10))

    assert {offer()[first].supplier_id, offer()[second].supplier_id} == {distributor.id}  # the cheapest listings
    # The maker's sanction reaches every listing of its product, whoever delivers it.
    credit.record_case(db, data=_bribery(world.makers[0].org_id, product_ids=[first]), actor=world.auditor,
                       today=SANCTIONED_ON)  # fmt: skip
    assert first not in offer()
    # The distributor's sanction reaches only what it delivers: the maker's own listing is offered instead.
    credit.record_case(db, data=_bribery(distributor.id, product_ids=[second]), actor=world.auditor,
                       today=SANCTIONED_ON)  # fmt: skip
    item = offer()[second]
    assert (item.supplier_id, item.price) == (world.makers[1].org_id, D("8.0"))


def test_an_all_products_disposal_stops_listings_only_in_its_province(world, db, admin):
    maker, product = world.makers[1], world.products[1]
    arrangements.create_listing(
        db, product_id=product.id, supplier_id=maker.org_id, price=D("9.5"), starts_on=dt.date(2026, 1, 1),
        actor=admin,
    )  # fmt: skip
    hospital = world.hospitals[0].org_id  # in 35 (Fujian)
    elsewhere, _ = credit.record_case(db, data=_bribery(maker.org_id, single="2000000", province="44"),
                                      actor=world.auditor, today=SANCTIONED_ON)  # fmt: skip
    assert elsewhere.level == "most_serious"
    assert product.id in buyable_products(db, hospital_id=hospital, on=dt.date(2026, 3, 10))
    credit.record_case(db, data=_bribery(maker.org_id, single="2000000", province="35"), actor=world.auditor,
                       today=SANCTIONED_ON)  # fmt: skip
    assert product.id not in buyable_products(db, hospital_id=hospital, on=dt.date(2026, 3, 10))


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def test_a_winners_case_stops_its_award_and_orders_for_it(ow, db):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    maker = ow.maker_of(award.product_id)
    others = {ow.award_of(h).product_id for h in ow.world.hospitals} - {award.product_id}
    assert buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())[award.product_id].award_id == award.id
    credit.record_case(db, data=_bribery(maker.org_id, product_ids=[award.product_id]), actor=ow.world.auditor,
                       today=dt.date(2026, 5, 1))  # fmt: skip
    assert award.product_id not in buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())
    error = domain_error(
        lambda: place_order(db, hospital_id=hospital.org_id, lines=[OrderLineIn(award.product_id, 2)],
                            actor=hospital, now=TODAY),
        "bad_order_line",
    )  # fmt: skip
    assert list(error.errors) == ["lines.0.product_id"] and f"organisation {maker.org_id}" in error.message
    for index, other in enumerate(ow.world.hospitals):
        product_id = ow.award_of(other).product_id
        if product_id in others:  # another winner's award is untouched
            assert product_id in buyable_products(db, hospital_id=other.org_id, on=TODAY.date()), index


def test_a_sanctioned_distributor_cannot_deliver_nor_be_named_until_another_is(ow, db, factory):
    hospital = ow.hospital(0)
    award = ow.award_of(hospital)
    maker = ow.maker_of(award.product_id)
    credit.record_case(db, data=_bribery(ow.distributor.org_id, product_ids=[award.product_id]),
                       actor=ow.world.auditor, today=dt.date(2026, 6, 1))  # fmt: skip
    assert award.product_id not in buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())
    assert award.product_id in buyable_products(db, hospital_id=hospital.org_id, on=dt.date(2026, 5, 31))
    error = domain_error(
        lambda: arrangements.assign_distributor(db, award_id=award.id, hospital_id=hospital.org_id,
                                                distributor_id=ow.distributor.org_id, actor=maker, on=TODAY.date()),
        "supplier_suspended",
    )  # fmt: skip
    assert list(error.errors) == ["distributor_id"] and "6.7" in error.message
    clean = factory.org(OrgKind.DISTRIBUTOR, region_code="350200", region_name="厦门市")
    arrangements.assign_distributor(db, award_id=award.id, hospital_id=hospital.org_id, distributor_id=clean.id,
                                    actor=maker, on=TODAY.date())  # fmt: skip
    item = buyable_products(db, hospital_id=hospital.org_id, on=TODAY.date())[award.product_id]
    assert (item.price_basis, item.supplier_id, item.price) == (PriceBasis.AWARDED, clean.id, award.unit_price)
