import datetime as dt
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from stdnum import ean
from stdnum.cn import uscc as uscc_std

import core.accounts
from core.accounts import LoginPolicy, authenticate, user_roles
from core.alerts import Alert
from core.db import make_engine, new_session, utcnow
from core.errors import DomainError
from core.models import AuditRecord, Organisation, User, UserRole
from core.passwords import check_password_policy
from core.roles import OrgKind, Role
from procurement import sealing
from procurement.catalogue import Product
from procurement.rules.types import Outcome
from procurement.tenders.models import (
    AgreedVolume,
    Award,
    Bid,
    BidOutcome,
    DemandReport,
    Lot,
    LotProduct,
    Tender,
    TenderKind,
    TenderStatus,
)
from procurement.tenders.reads import OPENED, PUBLISHED
from scripts.demo.tenders import COMPETITORS, DEMO_OPENING_PASSPHRASE
from scripts.demo.trace_flow import EXPECTED_ALERTS
from scripts.demo_data import DEFAULT_DEMO_PASSWORD, DEMO_USERS, demo_password, load_demo
from trace import ledger
from trace.models import CaptureBatch, Checkpoint, Item, LedgerEntry, TraceEvent, TradeItem
from trace.signing import public_raw
from trace.verify import verify_export

ROOT = Path(__file__).resolve().parents[2]
CITIES = {"3501": "Fuzhou", "3502": "Xiamen", "3504": "Sanming"}
# Unified social credit code: government organ 11, public institution (事业单位) 12, enterprise 91.
PREFIXES = {
    OrgKind.INSURANCE_BUREAU: "11",
    OrgKind.PROCUREMENT_OFFICE: "12",
    OrgKind.HOSPITAL: "12",
    OrgKind.MANUFACTURER: "91",
    OrgKind.DISTRIBUTOR: "91",
}


SMALL = 0.05  # of the trace flow: about 150 packs keeps each load near a second; the command-line test loads it all
KEY = Ed25519PrivateKey.generate()
PSEUDONYM_KEY = b"demo-tests-pseudonym-key-0123456789"


@pytest.fixture
def loaded(db, monkeypatch):
    """Load the demo world into the test's database, hashing the shared password once to stay fast."""
    # The command-line test below loads with a hash per user, as create_user does outside tests.
    monkeypatch.setattr(core.accounts, "hash_password", functools.cache(core.accounts.hash_password))
    return load_demo(db, signing_key=KEY, pseudonym_key=PSEUDONYM_KEY, scale=SMALL)


def _all(db, model):
    return db.exec(sa.select(model)).scalars().all()


def test_loads_the_promised_world(db, loaded):
    orgs = _all(db, Organisation)
    by_kind = {kind: [o for o in orgs if o.kind == kind] for kind in OrgKind}
    hospitals = by_kind[OrgKind.HOSPITAL]
    assert len(hospitals) >= 6
    assert {CITIES.get(h.region_code[:4]) for h in hospitals} == set(CITIES.values())
    assert len({h.hospital_grade for h in hospitals}) >= 3
    assert len(by_kind[OrgKind.MANUFACTURER]) == 3
    assert len(by_kind[OrgKind.DISTRIBUTOR]) == 2
    assert [o.name for o in by_kind[OrgKind.INSURANCE_BUREAU]] == ["福建省医疗保障局"]
    assert {"福建省药械联合采购中心", "三明采购联盟办公室"} <= {o.name for o in by_kind[OrgKind.PROCUREMENT_OFFICE]}

    products = _all(db, Product)
    assert len(products) >= 30
    assert {p.manufacturer_id for p in products} == {o.id for o in by_kind[OrgKind.MANUFACTURER]}
    assert sum(p.gqce_passed for p in products) > len(products) * 0.8

    held = set(db.exec(sa.select(UserRole.role)).scalars().all())
    assert held == {role.value for role in Role}
    assert len(_all(db, User)) == len(DEMO_USERS)
    base = len(products) - len(COMPETITORS)  # the tenders' competing products are counted with the tenders
    assert f"{len(orgs)} organisations" in loaded and f"{base} products" in loaded
    assert f"{len(COMPETITORS)} competing products" in loaded


def test_every_code_is_well_formed_and_unique(db, loaded):
    for org in _all(db, Organisation):
        assert uscc_std.is_valid(org.uscc), org.name
        assert org.uscc[2:8] == org.region_code
        assert org.uscc[:2] == PREFIXES[OrgKind(org.kind)], org.name
    products = [p for p in _all(db, Product) if p.kind == "drug"]
    for p in products:
        assert len(p.gtin) == 14 and p.gtin.startswith("069") and ean.is_valid(p.gtin), p.gtin
        assert re.fullmatch(r"X[A-Z]\d{2}[A-Z]{2}[A-Z]\d{3}[A-Z]\d{3}\d{9}", p.insurance_code), p.insurance_code
        assert re.fullmatch(r"\d{7}", p.trace_product_id)
        assert re.fullmatch(r"国药准字H\d{8}", p.approval_number)
    for field in ("insurance_code", "trace_product_id", "gtin", "approval_number"):
        values = [getattr(p, field) for p in products]
        assert len(set(values)) == len(values), field
    consumables = [p for p in _all(db, Product) if p.kind == "consumable"]
    assert len(consumables) >= 3 and len({p.udi_di for p in consumables}) == len(consumables)
    for p in consumables:
        assert p.udi_di.startswith("069") and ean.is_valid(p.udi_di), p.udi_di
        assert re.fullmatch(r"国械注准\d{4}3\d{6}", p.registration_number), p.registration_number
        assert re.fullmatch(r"C\d{26}", p.insurance_code) and p.gqce_status == "not_applicable"


def test_member_hospital_belongs_to_the_general_hospital(db, loaded):
    members = db.exec(sa.select(Organisation).where(Organisation.parent_id.is_not(None))).scalars().all()
    assert members, "the demo needs a medical community member unit"
    for member in members:
        parent = db.get(Organisation, member.parent_id)
        assert parent.name == "三明市第一医院" and parent.kind == OrgKind.HOSPITAL
        assert member.hospital_grade in ("1A", "2A")


def test_audit_records_every_organisation_user_and_product_batch(db, loaded):
    def count(action):
        return db.exec(sa.select(sa.func.count()).where(AuditRecord.action == action)).one()[0]

    assert count("organisation.created") == len(_all(db, Organisation))
    assert count("user.created") == len(DEMO_USERS)
    batches = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "product.batch_created")).scalars().all()
    assert len(batches) == 3
    # The base catalogue in one batch per maker; the tenders' competing products one by one, by the catalogue.
    assert sum(b.details["count"] for b in batches) + count("catalogue.product_created") == len(_all(db, Product))
    assert count("catalogue.product_created") == len(COMPETITORS)
    assert {b.actor_name for b in batches} == {"system:demo"}


def test_a_second_load_is_refused(db, loaded):
    with pytest.raises(DomainError, match="empty database") as refused:
        load_demo(db)
    assert refused.value.kind == "conflict"


def test_every_demo_user_can_sign_in(db, loaded):
    now = utcnow()
    for demo in DEMO_USERS:
        user = authenticate(
            db, username=demo.username, password=demo_password(demo.username), ip="127.0.0.1",
            policy=LoginPolicy(), now=now,
        )  # fmt: skip
        assert user.display_name == demo.display_name
        assert db.get(Organisation, user.organisation_id).name == demo.org_name
        assert user_roles(db, user.id) == frozenset(demo.roles)


def test_demo_password_meets_the_policy_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("YAOLIAN_DEMO_PASSWORD", raising=False)
    for demo in DEMO_USERS:
        assert demo_password(demo.username) == DEFAULT_DEMO_PASSWORD
        check_password_policy(DEFAULT_DEMO_PASSWORD, username=demo.username)
        assert demo.role_label and demo.roles
    monkeypatch.setenv("YAOLIAN_DEMO_PASSWORD", "another-long-password")
    assert demo_password("admin") == "another-long-password"
    assert len({d.username for d in DEMO_USERS}) == len(DEMO_USERS)


def test_manage_commands_load_once_and_print_every_login(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("YAOLIAN_")}
    env |= {
        "YAOLIAN_ENV": "development",
        "YAOLIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "YAOLIAN_INSTANCE_PATH": str(tmp_path / "instance"),
    }

    def manage(*args):
        done = subprocess.run(
            [sys.executable, "-m", "scripts.manage", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate")
    summary = manage("load-demo", "--if-empty")
    assert "demo world loaded" in summary
    assert "already has data" in manage("load-demo", "--if-empty")
    manage("ledger-export", str(tmp_path / "export"))
    report = verify_export(tmp_path / "export")
    assert report.ok and report.checkpoints > 10, report.problems
    engine = make_engine(env["YAOLIAN_DATABASE_URL"])
    with new_session(engine) as db:
        packs = db.exec(sa.select(sa.func.count()).select_from(Item).join(TradeItem).where(TradeItem.level == 1))
        assert packs.one()[0] >= 2000
        assert count(db, TraceEvent) == count(db, LedgerEntry) == ledger.latest_checkpoint(db).tree_size
        traced = db.exec(sa.select(Alert.code).where(Alert.source == "trace")).scalars().all()
        assert sorted(traced) == sorted(EXPECTED_ALERTS)
    engine.dispose()
    logins = manage("demo-logins")
    for demo in DEMO_USERS:
        assert re.search(rf"^\s+{re.escape(demo.username)}\s+{DEFAULT_DEMO_PASSWORD}\s", logins, re.M), demo.username
    assert DEMO_OPENING_PASSPHRASE in logins


def count(db, model, *where) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model).where(*where)).one()[0]


def check_trace_flow(db, summary: str, export_dir: Path) -> int:
    """Check the trace flow a demo load captured; return its number of packs."""
    # The demo orders (scripts/demo/orders.py) and the audit demo's off-channel delivery capture after the trace
    # flow: count the flow's own packs and events.
    later = ("demo-orders-", "shipment-", "receipt-", "take-back-", "demo-off-channel-")
    ordering = sa.select(CaptureBatch.id).where(sa.or_(*(CaptureBatch.client_batch_id.like(f"{p}%") for p in later)))
    made_for_orders = sa.select(TraceEvent.item_id).where(TraceEvent.batch_id.in_(ordering))
    packs = count(
        db, Item, Item.trade_item_id.in_(sa.select(TradeItem.id).where(TradeItem.level == 1)),
        Item.id.not_in(made_for_orders),
    )  # fmt: skip
    events = count(db, TraceEvent)
    flow_events = count(db, TraceEvent, TraceEvent.batch_id.not_in(ordering))
    assert ledger.size(db) == count(db, LedgerEntry) == events
    assert f"{packs} packs" in summary and f"{flow_events} ledger entries" in summary
    traced = db.exec(sa.select(Alert.code).where(Alert.source == "trace")).scalars().all()
    assert sorted(traced) == sorted(EXPECTED_ALERTS)
    assert f"{len(EXPECTED_ALERTS)} alerts" in summary
    latest = ledger.latest_checkpoint(db)
    assert latest.tree_size == events and count(db, Checkpoint) > 10  # weekly, and one at the end
    kinds = db.exec(sa.select(sa.func.substr(Item.code_key, 1, 4)).distinct()).scalars().all()
    assert sorted(kinds) == ["cn20", "gs1:"]
    statuses = set(db.exec(sa.select(Item.status).distinct()).scalars())
    assert {"active", "dispensed", "partial"} <= statuses
    refs = db.exec(sa.select(TraceEvent.patient_ref).where(TraceEvent.patient_ref.is_not(None))).scalars().all()
    assert refs and all(re.fullmatch(r"[0-9a-f]{64}", ref) for ref in refs)
    # Every step of a pack comes after the one before, and all of them before now.
    later = sa.orm.aliased(TraceEvent)
    backwards = sa.select(TraceEvent.id).join(later, later.item_id == TraceEvent.item_id)
    backwards = backwards.where(later.id > TraceEvent.id, later.at < TraceEvent.at)
    assert db.exec(backwards.limit(1)).first() is None
    first, last = db.exec(sa.select(sa.func.min(TraceEvent.at), sa.func.max(TraceEvent.at))).one()
    assert dt.timedelta(days=80) < last - first < dt.timedelta(days=91) and last < utcnow()
    counts = ledger.export(db, export_dir, key=KEY)
    assert counts["entries"] == events
    return packs


def test_the_trace_flow_captures_packs_alerts_and_checkpoints(db, loaded, tmp_path):
    packs = check_trace_flow(db, loaded, tmp_path / "export")
    assert packs >= 100
    report = verify_export(tmp_path / "export")
    assert report.ok, report.problems
    traced = {i for b in _audits(db, "product.batch_created") for i in b.details["product_ids"]}
    products = [p for p in _all(db, Product) if p.kind == "drug" and p.id in traced]  # trace codes are for drugs
    units = db.exec(sa.select(TradeItem).where(TradeItem.level == 1, TradeItem.catalogue_ref.in_(traced))).scalars()
    assert {(u.product_id, u.gtin, u.catalogue_ref) for u in units} == {
        (p.trace_product_id, p.gtin, p.id) for p in products
    }
    cases = db.exec(sa.select(TradeItem).where(TradeItem.level == 3)).scalars().all()
    assert len(cases) == 4 and all(re.fullmatch(r"\d{7}", c.product_id) for c in cases)


def _audits(db, action: str) -> list[AuditRecord]:
    return db.exec(sa.select(AuditRecord).where(AuditRecord.action == action)).scalars().all()


def _tenders(db) -> dict[str, Tender]:
    return {t.status: t for t in _all(db, Tender)}


def test_demo_tenders_show_every_stage(db, loaded):
    tenders = _tenders(db)
    assert set(tenders) == {"in_force", "awarded", "bidding", "demand_collection"}
    national, sanming = tenders["in_force"], tenders["awarded"]
    assert (national.kind, national.rule_set_name, national.region_prefix) == ("national_vbp", "vbp.batch10", "35")
    assert (sanming.kind, sanming.rule_set_name) == (TenderKind.ALLIANCE, "alliance.sanming-ab")
    organisers = {t.status: db.get(Organisation, t.organiser_org_id).name for t in tenders.values()}
    assert organisers["in_force"] == "福建省药械联合采购中心" and organisers["awarded"] == "三明采购联盟办公室"
    # Every stage happened in the past except the deadlines still to come.
    assert all(t.published_at < utcnow() for t in (national, sanming))
    assert tenders["bidding"].bid_deadline > utcnow() + dt.timedelta(days=20)
    assert tenders["demand_collection"].demand_deadline > utcnow()

    # Each of the national batch's lots has competing products of all three makers, of different strengths.
    def lot_products(tender):
        stmt = sa.select(LotProduct, Product).join(Product, Product.id == LotProduct.product_id)
        rows = db.exec(stmt.where(LotProduct.lot_id.in_(sa.select(Lot.id).where(Lot.tender_id == tender.id)))).all()
        by_lot: dict[int, list] = {}
        for row, product in rows:
            by_lot.setdefault(row.lot_id, []).append((row, product))
        return by_lot

    national_lots = lot_products(national)
    assert len(national_lots) == 2
    for products in national_lots.values():
        assert len({p.manufacturer_id for _, p in products}) == 3
        assert len({row.spec_factor for row, _ in products}) >= 2 and all(p.gqce_passed for _, p in products)
    assert [{row.group for row, _ in rows} for rows in lot_products(sanming).values()] == [{"A", "B"}]


def test_demo_demand_comes_from_every_hospital_with_its_flags(db, loaded):
    national = _tenders(db)["in_force"]
    reports = db.exec(sa.select(DemandReport).where(DemandReport.tender_id == national.id)).scalars().all()
    hospitals = {o.id for o in _all(db, Organisation) if o.kind == OrgKind.HOSPITAL}
    assert {r.hospital_id for r in reports} == hospitals and len(hospitals) == 7
    assert any(r.product_id for r in reports) and any(r.product_id is None for r in reports)  # brand and generic
    assert [r.flags for r in reports if "over_reported" in r.flags] == [["over_reported"]]
    excused = [r for r in reports if "below_history_excused" in r.flags]
    assert len(excused) == 1 and excused[0].exception_reason and excused[0].quantity < excused[0].historical_use


def test_every_demo_bid_is_signed_and_has_exactly_one_outcome_once_opened(db, loaded):
    tenders = _tenders(db)
    key = public_raw(KEY.public_key())
    for tender in tenders.values():
        bids = db.exec(sa.select(Bid).where(Bid.tender_id == tender.id)).scalars().all()
        assert all(sealing.verify_receipt(key, bid.receipt) for bid in bids)  # the platform key load_demo got
        outcomes = db.exec(sa.select(BidOutcome.bid_id).where(BidOutcome.tender_id == tender.id)).scalars().all()
        if tender.status in OPENED:
            assert bids and sorted(outcomes) == sorted(bid.id for bid in bids), tender.title
            assert all(bid.price is not None for bid in bids)
        else:
            assert outcomes == [] and all(bid.price is None for bid in bids)  # still sealed
    assert len(db.exec(sa.select(Bid).where(Bid.tender_id == tenders["bidding"].id)).scalars().all()) == 2
    assert db.exec(sa.select(Bid).where(Bid.tender_id == tenders["demand_collection"].id)).first() is None
    # Batch 10: a bid lost on the 1.8× rule, accepted the revival price and won in the second evaluation.
    national = tenders["in_force"]
    revived = (
        db.exec(
            sa.select(BidOutcome).where(BidOutcome.tender_id == national.id, BidOutcome.outcome == Outcome.WON_REVIVED)
        )
        .scalars()
        .one()
    )
    assert revived.round == 2 and revived.rule == "1.3.4(2)"
    assert db.get(Bid, revived.bid_id).revival_accepted_at < national.published_at
    award = db.exec(sa.select(Award).where(Award.bid_id == revived.bid_id)).scalars().one()
    assert award.revived and award.award_ucp < db.get(Bid, revived.bid_id).ucp
    assert {e.details["round"] for e in _audits(db, "tender.evaluated") if e.object_id == str(national.id)} == {1, 2}


def test_awarded_demo_tenders_give_every_reporting_hospital_its_agreed_volume(db, loaded):
    awarded = [t for t in _all(db, Tender) if t.status in PUBLISHED]
    assert {t.status for t in awarded} == {TenderStatus.IN_FORCE, TenderStatus.AWARDED}
    for tender in awarded:
        reported = set(
            db.exec(
                sa.select(DemandReport.lot_id, DemandReport.hospital_id).where(DemandReport.tender_id == tender.id)
            ).all()
        )
        volumes = db.exec(sa.select(AgreedVolume).where(AgreedVolume.tender_id == tender.id)).scalars().all()
        assert {(v.lot_id, v.hospital_id) for v in volumes} == reported, tender.title
        assert all(0 < v.agreed_volume <= v.reported_base for v in volumes)
        winners = {a.id for a in db.exec(sa.select(Award).where(Award.tender_id == tender.id)).scalars()}
        assert {v.award_id for v in volumes} <= winners


def test_demo_orders_run_from_order_to_payment_with_the_planted_problems(db, loaded):
    from procurement.orders.models import PurchaseOrder, Receipt
    from procurement.orders.money_models import Invoice, Payment
    from procurement.orders.supply_models import SupplyProblem, SupplyReport

    orders = _all(db, PurchaseOrder)
    assert orders and {o.status for o in orders} == {"completed"}
    assert {"first", "second"} <= {i.kind for i in _all(db, Invoice)}  # the audit demo adds an "extra" invoice
    assert len(_all(db, Receipt)) == len(orders) and _all(db, Payment)
    refused = [r for r in _all(db, Receipt) if r.refused_count]
    assert refused and refused[0].refusals[0]["reason"] == "refused_by_pharmacist"
    from procurement.orders.models import ShipmentPack

    taken_back = [p for p in _all(db, ShipmentPack) if p.status == "refused"]
    assert taken_back and all(p.taken_back_at is not None for p in taken_back)  # back in the distributor's stock
    codes = set(db.exec(sa.select(Alert.code).where(Alert.source != "trace")).scalars())
    assert {"ORDERS-INVOICE-SHIPMENT-MISMATCH", "ORDERS-PAYMENT-OVERDUE", "SUPPLY-REPORT-MISSING"} <= codes
    assert any(r.late for r in _all(db, SupplyReport)) and _all(db, SupplyProblem)
    # Every ordered shipment carries its delivery note as a PDF the hospital can open.
    from procurement.orders.document_models import ShipmentDocument
    from procurement.orders.documents import sniff
    from procurement.orders.models import Shipment

    notes = {d.shipment_id: d for d in _all(db, ShipmentDocument) if d.kind == "delivery_note"}
    ordered = [s for s in _all(db, Shipment) if s.delivery_note_number.startswith("SX")]
    assert ordered and {s.id for s in ordered} <= set(notes)
    note = notes[ordered[0].id]
    assert sniff(note.content) == "pdf" and note.filename == f"{ordered[0].delivery_note_number}.pdf"


def test_demo_audit_run_fills_the_alerts_queue_from_every_part(db, loaded):
    from procurement.audit.run_models import AuditRun

    runs = _all(db, AuditRun)
    assert len(runs) == 1 and runs[0].status == "done", runs[0].progress if runs else None
    assert set(runs[0].parts) == {"payments", "progress", "supply", "reconciliation", "monitoring", "circulation",
                                  "surplus", "credit"}  # fmt: skip
    sources = set(db.exec(sa.select(Alert.source)).scalars())
    assert {"trace", "orders", "reconciliation", "monitoring", "circulation", "surplus", "credit"} <= sources
    codes = set(db.exec(sa.select(Alert.code)).scalars())
    assert {"RECON-CHAIN-TOO-LONG", "RECON-FIRST-SELLER-NOT-MANUFACTURER", "RECON-BATCH-MISMATCH"} <= codes
    assert {"RX-TOO-MANY-DRUGS", "RX-ABNORMAL-RESTRICT", "RX-TRACE-CODE-MULTI-PATIENT"} <= codes
    assert {"CIRC-OUT-OF-CATALOGUE-SHARE", "CIRC-REVENUE-STRUCTURE", "CREDIT-SUSPENDED"} <= codes
    assert "loaded" in loaded and "Audit run" in loaded
