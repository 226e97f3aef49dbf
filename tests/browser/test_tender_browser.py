"""In a real browser, a whole tender: the organiser creates it from a rule set and adds a lot, a hospital reports
demand, two suppliers seal bids and keep their receipts, the organiser sees only counts until the deadline, opens
with the passphrase (a wrong one is refused on the page), evaluates and publishes, and the hospital sees its award."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from core import accounts
from core.actor import Actor
from core.db import make_engine, new_session, utcnow
from core.models import User
from core.roles import OrgKind, Role, UserGroup
from procurement import sealing
from procurement.catalogue import GqceStatus, Product
from procurement.tenders.models import Bid
from tests.browser.conftest import SEED
from tests.factories import PASSWORD, make_uscc
from trace.signing import load_or_create_private_key, public_raw

pytestmark = pytest.mark.browser

DRUG, FORM = "瑞舒伐他汀钙片", "片剂"
PASSPHRASE = "browser-opening-phrase-2026"
# From creating the tender to its bid deadline: the steps before the deadline take about 15 s; then the test polls
# the clock until the deadline has passed.
BIDDING_TIME = dt.timedelta(seconds=40)


@dataclass(frozen=True)
class Parties:
    second_supplier: str  # a competing maker's representative, beside the seeded supplier
    products: dict[str, str]  # username of the supplier → label of its product in the lot ("strength · spec")


@pytest.fixture(scope="session")
def parties(live_server) -> Parties:
    """A second maker with a representative, and one product of each maker in the lot's generic name."""
    engine = make_engine(live_server.database_url)
    actor = Actor.system("tests")
    seeded = SEED[UserGroup.SUPPLIER]
    try:
        with new_session(engine) as session:
            org = accounts.create_organisation(
                session, actor=actor, name="厦门鹭岛制药有限公司", kind=OrgKind.MANUFACTURER, uscc=make_uscc(880101),
                region_code="350200", region_name="厦门市",
            )  # fmt: skip
            accounts.create_user(
                session, actor=actor, username="wu.supplier", password=PASSWORD, display_name="吴经理",
                organisation_id=org.id, roles=(Role.SUPPLIER_REP,),
            )  # fmt: skip
            makers = {seeded.username: _org_id(session, seeded.username), "wu.supplier": org.id}
            specs = {seeded.username: ("10mg", 28, "10mg×7片×4板"), "wu.supplier": ("20mg", 14, "20mg×7片×2板")}
            for serial, (username, (strength, pack, spec)) in enumerate(specs.items(), start=1):
                session.add(
                    Product(
                        generic_name=DRUG,
                        dosage_form=FORM,
                        strength=strength,
                        pack_quantity=pack,
                        unit="片",
                        package_spec=spec,
                        manufacturer_id=makers[username],
                        mah_id=makers[username],
                        approval_number=f"国药准字H2026{8800 + serial:04d}",
                        gqce_status=GqceStatus.PASSED.value,
                    )
                )
            session.commit()
    finally:
        engine.dispose()
    return Parties("wu.supplier", {user: f"{s} · {spec}" for user, (s, _pack, spec) in specs.items()})


def _org_id(session, username: str) -> int:
    return session.exec(sa.select(User.organisation_id).where(User.username == username)).one()[0]


def _stage(tab: Page, status: str) -> None:
    expect(tab.get_by_test_id("tender-status")).to_have_class(re.compile(rf"\b{status}\b"))


def _local(moment: dt.datetime) -> str:
    """Format a UTC time for a datetime-local field (the form reads it as UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def test_organiser_supplier_and_hospital_run_a_tender_to_its_award(as_user, live_server, parties):
    organiser_name = SEED[UserGroup.ORGANISER].username
    supplier_name = SEED[UserGroup.SUPPLIER].username
    hospital = SEED[UserGroup.PHARMACY]

    # The organiser creates a draft from the batch-10 rule set and adds one lot.
    organiser = as_user(organiser_name)
    organiser.goto("/tenders/new")
    organiser.fill("#title", f"浏览器测试批次 {live_server.backend}")
    organiser.select_option("#kind", "national_vbp")
    organiser.select_option("#rule_set", "vbp.batch10")
    organiser.fill("#region_prefix", "35")
    deadline = (utcnow() + BIDDING_TIME).replace(microsecond=0)
    if deadline.second == 0:  # the browser drops ":00" seconds, which Playwright reads as a malformed value
        deadline += dt.timedelta(seconds=1)
    organiser.fill("#bid_deadline", _local(deadline))
    organiser.get_by_test_id("new-tender").locator("button[type=submit]").click()
    organiser.wait_for_url(re.compile(r".*/tenders/\d+$"))
    tender_url = organiser.url
    _stage(organiser, "draft")
    lot_form = organiser.get_by_test_id("add-lot")
    lot_form.locator("#generic_name").select_option(f"{DRUG}|{FORM}")
    lot_form.locator("#reference_strength").fill("10mg")
    lot_form.locator("#ceiling_ucp").fill("1.0000")
    lot_form.locator("#category").select_option("chemical")
    lot_form.locator("#dosage_class").select_option("oral_solid")
    lot_form.locator("button[type=submit]").click()
    lot_row = organiser.get_by_test_id("lots").locator("tbody tr")
    expect(lot_row).to_have_count(1)
    expect(lot_row).to_contain_text(DRUG)
    organiser.get_by_test_id("start-demand").click()
    _stage(organiser, "demand_collection")

    # The hospital reports its demand on the tender page, by brand.
    pharmacy = as_user(hospital.username)
    pharmacy.goto(tender_url)
    demand_form = pharmacy.get_by_test_id("demand-form-1")
    demand_form.locator("select[name$='-product_id']").select_option(label=parties.products[supplier_name])
    demand_form.locator("input[name$='-quantity']").fill("50000")
    demand_form.locator("input[name$='-historical_use']").fill("48000")
    demand_form.locator("button[type=submit]").click()
    expect(pharmacy.get_by_test_id("my-demand")).to_contain_text("50000")

    # The organiser sees the demand, freezes the rules and opens bidding under a passphrase.
    organiser.reload()
    expect(organiser.get_by_test_id("demand-total")).to_have_text("50000 (1)")
    organiser.locator("#passphrase").fill(PASSPHRASE)
    organiser.get_by_test_id("open-bidding").click()
    _stage(organiser, "bidding")

    # Each supplier seals a bid and sees its receipt: the commitment and the platform's signature.
    prices = {supplier_name: "14.0000", parties.second_supplier: "10.0000"}  # 0.50 and 0.4202 per 10 mg
    receipts = {}
    for username, price in prices.items():
        supplier = as_user(username)
        supplier.goto(tender_url)
        assert utcnow() < deadline - dt.timedelta(seconds=2), "too slow for the bid deadline: raise BIDDING_TIME"
        bid_form = supplier.get_by_test_id("bid-form-1")
        bid_form.locator("select[name$='-product_id']").select_option(label=parties.products[username])
        bid_form.locator("input[name$='-price']").fill(price)
        bid_form.locator("button[type=submit]").click()
        receipt = supplier.get_by_test_id("receipt-1")
        expect(receipt).to_contain_text(re.compile(r"\b[0-9a-f]{64}\b"))
        receipts[username] = receipt.inner_text()
        assert price not in supplier.content()  # the price is nowhere in the page, sealed
    _check_receipts(live_server, receipts)

    # Before opening the organiser sees how many bids there are, never a price; opening early is refused.
    organiser.reload()
    expect(organiser.get_by_test_id("bid-count")).to_have_text("2")
    expect(organiser.get_by_test_id("outcomes")).to_have_count(0)
    assert not any(price in organiser.content() for price in prices.values())
    if utcnow() < deadline - dt.timedelta(seconds=3):
        _open(organiser, PASSPHRASE)
        expect(organiser.get_by_role("alert")).to_contain_text(deadline.strftime("%Y-%m-%dT%H:%M:%S"))
        _stage(organiser, "bidding")

    # After the deadline: a wrong passphrase opens nothing, the right one opens every bid.
    while utcnow() <= deadline:
        organiser.wait_for_timeout(500)
    _open(organiser, "not-the-opening-phrase")
    expect(organiser.get_by_role("alert")).to_be_visible()
    _stage(organiser, "bidding")
    _open(organiser, PASSPHRASE)
    _stage(organiser, "opened")

    # Evaluation: every bid with its outcome, rule and reason; then the award is published.
    organiser.get_by_test_id("evaluate").click()
    _stage(organiser, "evaluated")
    rows = organiser.get_by_test_id("outcomes").locator("tbody tr")
    expect(rows).to_have_count(2)
    for index in range(2):
        row = rows.nth(index)
        expect(row.get_by_test_id("outcome")).to_have_class(re.compile(r"\bwon\b"))
        expect(row).to_contain_text("1.3.4(1)")
        expect(row).to_contain_text("1.8 ×")
    expect(rows.first).to_contain_text(prices[parties.second_supplier])  # the lowest comparable price ranks first
    organiser.get_by_test_id("publish-award").click()
    _stage(organiser, "awarded")

    # The hospital sees the product it is supplied with, its price and its agreed volume (2 winners: 60 %).
    pharmacy.reload()
    _stage(pharmacy, "awarded")
    volume = pharmacy.get_by_test_id("agreed-volumes").locator("tbody tr")
    expect(volume).to_have_count(1)
    expect(volume.get_by_test_id("agreed")).to_have_text("30000")
    expect(volume.get_by_test_id("awarded-product")).to_contain_text(parties.products[parties.second_supplier])
    expect(volume.get_by_test_id("awarded-price")).to_have_text(prices[parties.second_supplier])


def _open(organiser: Page, passphrase: str) -> None:
    organiser.locator("#passphrase").fill(passphrase)
    organiser.get_by_test_id("open-bids").click()
    organiser.wait_for_load_state()


def _check_receipts(live_server, receipts: dict[str, str]) -> None:
    """The receipts on the pages are the stored ones, signed with the platform key."""
    key = public_raw(load_or_create_private_key(live_server.signing_key_path).public_key())
    engine = make_engine(live_server.database_url)
    try:
        with new_session(engine) as session:
            bids = session.exec(sa.select(Bid).order_by(Bid.id.desc()).limit(len(receipts))).scalars().all()
    finally:
        engine.dispose()
    assert len(bids) == len(receipts)
    for bid in bids:
        assert sealing.verify_receipt(key, bid.receipt)
        shown = [text for text in receipts.values() if bid.commitment in text]
        assert len(shown) == 1 and bid.receipt["signature"] in shown[0]
