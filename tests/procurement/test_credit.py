"""The credit rating (rulebook 6) on recorded cases: the window, consequences that bar bidding and listing, repair."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.actor import Actor
from core.alerts import Alert
from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.audit import credit, credit_disposal
from procurement.audit.credit import CaseIn
from procurement.audit.credit_rules import CREDIT_SUSPENDED, CREDIT_WARNING
from procurement.audit.credit_run import run_period
from procurement.catalogue import Product
from procurement.orders import arrangements
from procurement.tenders.models import SupplierSanction
from tests.procurement.order_world import build_order_world
from tests.procurement.tender_world import T0, build_world

D = Decimal
TODAY = dt.date(2026, 3, 1)  # the tender world's first day: sanctions start here, bids come a day later
ALL_SIX = ["stop_conduct", "discipline_staff", "public_apology", "compliance_report", "remove_inflated_margin",
           "return_gains"]  # fmt: skip
_numbers = itertools.count(1)


@pytest.fixture
def world(db, factory):
    return build_world(db, factory)


def _case(world, maker: int = 0, **fields) -> CaseIn:
    values = {
        "supplier_id": world.makers[maker].org_id,
        "category": "bribery",
        "conduct_date": dt.date(2024, 5, 1),
        "decision_date": dt.date(2025, 3, 1),
        "evidence_source": "administrative_penalty",
        "decision_number": f"厦市监罚〔2025〕{next(_numbers)}号",
        "cumulative_amount": D("400000"),
        "product_ids": (world.products[maker].id,),
    }
    values.update(fields)
    return CaseIn(**values)


def _record(world, data: CaseIn, today: dt.date = TODAY):
    return credit.record_case(world.db, data=data, actor=world.auditor, today=today)[0]


def _alerts(db, case_id: int) -> list[Alert]:
    stmt = sa.select(Alert).where(Alert.object_type == "credit_case", Alert.object_id == str(case_id))
    return list(db.exec(stmt.order_by(Alert.id)).scalars())


def test_a_2020_serious_case_suspends_its_products_and_bidding_refuses_them(world, db):
    case = _record(world, _case(world, 2, single_amount=D("300000"), cumulative_amount=None))
    assert (case.rule_set_version, case.level, case.basis["min"], case.province) == ("2020", "serious", "300000", "35")
    sanctions = db.exec(sa.select(SupplierSanction).where(SupplierSanction.supplier_id == world.makers[2].org_id))
    rows = sanctions.scalars().all()
    assert [(s.product_id, s.rule, s.starts_on, s.ends_on) for s in rows] == [
        (world.products[2].id, "6.7", TODAY, dt.date(2028, 2, 29))  # the window's last day: 2025-03-01 + 3y − 1d
    ]
    [alert] = _alerts(db, case.id)
    assert (alert.code, alert.subject_org_id, alert.evidence["sanction_ids"]) == (
        CREDIT_SUSPENDED, world.makers[2].org_id, [rows[0].id],
    )  # fmt: skip
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    with pytest.raises(DomainError) as caught:
        world.bid(tender, lot, 2, "10.0000")
    assert caught.value.code == "supplier_suspended" and "6.7" in caught.value.message
    world.bid(tender, lot, 1, "10.0000")  # another firm bids as usual


def test_a_2020_most_serious_case_bars_bidding_in_its_province_only(world, db):
    from procurement.tenders.bidding import active_sanction

    maker = world.makers[1]
    case = _record(world, _case(world, 1, single_amount=D("2000000"), cumulative_amount=None))
    assert (case.level, case.province) == ("most_serious", "35")
    [sanction] = db.exec(sa.select(SupplierSanction).where(SupplierSanction.supplier_id == maker.org_id)).scalars()
    assert (sanction.product_id, sanction.region_prefix) == (None, "35")  # all products, in the rating province

    def barred(region):
        return active_sanction(db, supplier_id=maker.org_id, product_id=world.products[1].id, on=TODAY,
                               region_prefix=region)  # fmt: skip

    assert barred("3502") is not None and barred("35") is not None and barred("") is not None  # national covers 35
    assert barred("44") is None and barred("4403") is None  # a tender in another province is open to it
    tender, lot = world.tender()
    assert tender.region_prefix == "" or tender.region_prefix.startswith("35")
    world.to_bidding(tender, lot)
    with pytest.raises(DomainError) as caught:
        world.bid(tender, lot, 1, "10.0000")
    assert caught.value.code == "supplier_suspended"


def test_lower_levels_warn_the_supplier_without_sanctions(world, db):
    case = _record(world, _case(world, 0, cumulative_amount=D("20000")))
    assert case.level == "general"
    assert db.exec(sa.select(SupplierSanction)).scalars().all() == []
    [alert] = _alerts(db, case.id)
    assert (alert.code, alert.severity, alert.subject_org_id) == (CREDIT_WARNING, "low", world.makers[0].org_id)


def test_conduct_before_august_2020_is_kept_but_never_rated(world, db):
    before = _record(world, _case(world, 0, conduct_date=dt.date(2020, 8, 27), decision_date=dt.date(2024, 1, 5)))
    on_day = _record(world, _case(world, 1, conduct_date=dt.date(2020, 8, 28), decision_date=dt.date(2024, 1, 5)))
    assert (before.counts, on_day.counts) == (False, True)
    assert "2020-08-28" in before.excluded_reason and _alerts(db, before.id) == []
    rated = credit.ratings(db, actor=world.auditor, on=TODAY)
    assert [(r["supplier_id"], r["level"]) for r in rated] == [(world.makers[1].org_id, "medium")]


def test_a_case_leaves_the_rating_after_three_years(world, db):
    case = _record(world, _case(world, 0, conduct_date=dt.date(2021, 6, 1), decision_date=dt.date(2023, 3, 10)))
    assert case.window_ends_on == dt.date(2026, 3, 10)
    assert [r["level"] for r in credit.ratings(db, actor=world.auditor, on=dt.date(2026, 3, 9))] == ["medium"]
    assert credit.ratings(db, actor=world.auditor, on=dt.date(2026, 3, 10)) == []
    summary = run_period(db, actor=world.auditor, start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 1))
    assert (summary.rows, summary.findings, summary.alerts_raised) == (1, 0, 1)  # the window-expired notice
    again = run_period(db, actor=world.auditor, start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 1))
    assert again.alerts_raised == 0
    empty = run_period(db, actor=world.auditor, start=dt.date(2019, 1, 1), end=dt.date(2019, 2, 1))
    assert empty.no_data


def test_run_period_raises_each_case_alert_once(world, db):
    case = _record(world, _case(world, 0, cumulative_amount=D("2000000")))
    summary = run_period(db, actor=world.auditor, start=dt.date(2026, 1, 1), end=dt.date(2026, 4, 1))
    assert (summary.rows, summary.findings, summary.alerts_raised) == (1, 1, 0)  # raised when recorded
    assert summary.figures["levels"] == {"2020:most_serious": 1}
    assert len(_alerts(db, case.id)) == 1


def test_2025_most_serious_bars_all_products_in_the_province_and_case_products_everywhere(world, db, factory):
    maker = world.makers[3]
    second = Product(generic_name="瑞舒伐他汀钙片", dosage_form="片剂", strength="10mg", pack_quantity=28, unit="片",
                     package_spec="10mg×7片×4板", manufacturer_id=maker.org_id)  # fmt: skip
    db.add(second)
    db.flush()
    case = _record(world, _case(world, 3, cumulative_amount=D("1000000"), decision_date=dt.date(2025, 9, 1)))
    assert (case.rule_set_version, case.level) == ("2025", "most_serious")
    state = credit_disposal.repair_state(db, case=case, on=TODAY)
    assert sorted((s["product_id"] or 0, s["scope"], s["province"]) for s in state["sanctions"]) == [
        (0, "all_products_in_province", "35"), (world.products[3].id, "case_products", None),
    ]  # fmt: skip
    admin = actor_for_user(db, factory.user(factory.org(OrgKind.PROCUREMENT_OFFICE), roles=(Role.ADMIN,)).id)

    def listing(product, region):
        return arrangements.create_listing(
            db, product_id=product.id, supplier_id=maker.org_id, price=D("9.5"), starts_on=dt.date(2026, 3, 2),
            actor=admin, region_prefix=region,
        )  # fmt: skip

    for product, region in ((world.products[3], "44"), (second, "3502"), (second, "")):
        with pytest.raises(DomainError) as caught:
            listing(product, region)
        assert caught.value.code == "supplier_suspended"
    assert listing(second, "44").region_prefix == "44"  # outside the rating province, not a case product


def test_a_distributors_disposal_penetrates_to_the_controlling_manufacturer(world, db, factory):
    distributor = factory.org(OrgKind.DISTRIBUTOR, region_code="350200", region_name="厦门市")
    data = _case(world, 0, supplier_id=distributor.id, controlling_org_id=world.makers[0].org_id,
                 single_amount=D("2500000"), cumulative_amount=None)  # fmt: skip
    case = _record(world, data)
    targets = {s.supplier_id for s in db.exec(sa.select(SupplierSanction)).scalars()}
    assert targets == {distributor.id, world.makers[0].org_id}
    assert {a.subject_org_id for a in _alerts(db, case.id)} == targets
    rated = {r["supplier_id"]: r["penetrated"] for r in credit.ratings(db, actor=world.auditor, on=TODAY)}
    assert rated == {distributor.id: False, world.makers[0].org_id: True}
    maker_view = credit.list_cases(db, actor=world.makers[0]).items
    assert [c.id for c in maker_view] == [case.id]
    assert credit.list_cases(db, actor=world.makers[1]).items == []


def test_repair_with_every_required_measure_clears_the_level_and_ends_the_sanctions(world, db):
    case = _record(world, _case(world, 2, cumulative_amount=D("1200000"), decision_date=dt.date(2025, 9, 1)))
    maker = world.makers[2]
    with pytest.raises(DomainError) as caught:
        donation = [{"measure": "charitable_donation", "evidence": "捐赠 100 万元"}]
        credit_disposal.record_repair(db, case=case, actor=maker, on=TODAY, note="", measures=donation)
    assert caught.value.code == "measure_not_accepted"
    five = [{"measure": m, "evidence": f"证明 {m}"} for m in ALL_SIX if m != "remove_inflated_margin"]
    credit_disposal.record_repair(db, case=case, actor=maker, measures=five, note="整改", on=TODAY)
    _again, created = credit_disposal.record_repair(db, case=case, actor=maker, measures=five, note="整改", on=TODAY)
    assert not created  # a retried report is recorded once
    approval_day = dt.date(2026, 3, 5)
    with pytest.raises(DomainError) as caught:
        credit_disposal.approve_repair(db, case=case, actor=world.auditor, on=approval_day)
    assert caught.value.code == "repair_incomplete" and "remove_inflated_margin" in caught.value.message
    with pytest.raises(DomainError):
        credit_disposal.approve_repair(db, case=case, actor=maker, on=approval_day)  # suppliers cannot approve
    margin = [{"measure": "remove_inflated_margin", "evidence": "降价至 9.8 元"}]
    credit_disposal.record_repair(db, case=case, actor=maker, measures=margin, note="", on=TODAY)
    credit_disposal.approve_repair(db, case=case, actor=world.auditor, on=approval_day)
    ends = {s.ends_on for s in db.exec(sa.select(SupplierSanction)).scalars()}
    assert ends == {approval_day - dt.timedelta(days=1)}  # barred until the day before; free on the approval day
    assert credit.ratings(db, actor=world.auditor, on=approval_day) == []
    tender, lot = world.tender()
    world.to_bidding(tender, lot)
    assert world.bid(tender, lot, 2, "10.0000", now=T0 + dt.timedelta(days=4)).id  # on the approval day itself


def test_2020_accepts_a_donation_on_record_but_it_replaces_no_measure(world, db):
    case = _record(world, _case(world, 0, cumulative_amount=D("20000")))
    donation = [{"measure": "charitable_donation", "evidence": "捐赠"}]
    credit_disposal.record_repair(db, case=case, actor=world.makers[0], measures=donation, note="", on=TODAY)
    state = credit_disposal.repair_state(db, case=case, on=TODAY)
    assert state["missing_measures"] == ["stop_conduct", "compliance_report", "remove_inflated_margin", "return_gains"]


def test_vbp_winning_products_count_as_having_removed_the_inflated_margin(db, factory):
    ow = build_order_world(db, factory)
    award = ow.awards[0]
    world = ow.world
    data = CaseIn(supplier_id=award.supplier_id, category="bribery", conduct_date=dt.date(2025, 8, 1),
                  decision_date=dt.date(2025, 12, 1), evidence_source="audit_report", decision_number="审7号",
                  cumulative_amount=D("30000"), product_ids=(award.product_id,))  # fmt: skip
    case = credit.record_case(db, data=data, actor=world.auditor, today=dt.date(2026, 5, 1))[0]
    on = dt.date(2026, 5, 2)
    state = credit_disposal.repair_state(db, case=case, on=on)
    assert state["margin_removed_by_awards"] == [award.id]
    assert state["missing_measures"] == ["stop_conduct", "compliance_report", "return_gains"]
    three = [{"measure": m, "evidence": "证明"} for m in ("stop_conduct", "compliance_report", "return_gains")]
    maker = ow.maker_of(award.product_id)
    credit_disposal.record_repair(db, case=case, actor=maker, measures=three, note="", on=on)
    assert credit_disposal.approve_repair(db, case=case, actor=world.auditor, on=on).repaired_on == on


def test_bad_and_repeated_cases(world, db, factory):
    data = _case(world, 0)
    first, created = credit.record_case(db, data=data, actor=world.auditor, today=TODAY)
    again, created_again = credit.record_case(db, data=data, actor=world.auditor, today=TODAY)
    assert created and not created_again and again.id == first.id
    changed = CaseIn(**{**data.__dict__, "cumulative_amount": D("900000")})
    for bad, code_or_field in (
        (changed, "duplicate_case"),
        (_case(world, 1, decision_date=dt.date(2024, 1, 1), conduct_date=dt.date(2024, 2, 1)), "decision_date"),
        (_case(world, 1, decision_date=dt.date(2026, 3, 2)), "decision_date"),  # in the future
        (_case(world, 1, evidence_source="audit_report"), "evidence_source"),  # a 2025 source on a 2020 case
        (_case(world, 1, single_amount=D("500"), cumulative_amount=D("400")), "cumulative_amount"),
        (_case(world, 1, product_ids=(999999,)), "product_ids"),
        (_case(world, 1, supplier_id=world.hospitals[0].org_id), "supplier_id"),
        (_case(world, 1, single_amount=D("300000"), product_ids=()), "product_ids"),  # serious needs case products
    ):
        with pytest.raises(DomainError) as caught:
            credit.record_case(db, data=bad, actor=world.auditor, today=TODAY)
        assert code_or_field in (caught.value.code, *caught.value.errors), caught.value.message
    with pytest.raises(DomainError):
        credit.record_case(db, data=_case(world, 1), actor=world.makers[1], today=TODAY)
    with pytest.raises(DomainError):
        credit.list_cases(db, actor=world.hospitals[0])


def test_a_case_is_rated_under_the_rule_set_in_force_on_its_decision_date(world, db):
    decided_2026 = {"conduct_date": dt.date(2025, 9, 1), "decision_date": dt.date(2026, 1, 10),
                    "cumulative_amount": D("1200000")}  # fmt: skip
    for version, fields in (("2020", decided_2026), ("2025", {})):  # the milder 2020 set; 2025 before 07-01
        with pytest.raises(DomainError) as caught:
            _record(world, _case(world, 1, rule_set_version=version, **fields))
        assert caught.value.code == "rule_set_not_in_force" and list(caught.value.errors) == ["rule_set_version"]
        assert "2025-07-01" in caught.value.message
    case = _record(world, _case(world, 1, rule_set_version="2025", **decided_2026))
    assert (case.rule_set_version, case.level) == ("2025", "most_serious")  # 2020 would have rated it serious


def test_a_decision_dated_today_in_china_is_not_in_the_future(world, db, monkeypatch):
    monkeypatch.setattr(credit, "utcnow", lambda: dt.datetime(2026, 3, 4, 23, 30, tzinfo=dt.UTC))  # 07:30 Beijing
    data = _case(world, 0, conduct_date=dt.date(2025, 9, 1), decision_date=dt.date(2026, 3, 5),
                 cumulative_amount=D("20000"))  # fmt: skip
    case, created = credit.record_case(db, data=data, actor=world.auditor)
    assert created and (case.decision_date, case.level) == (dt.date(2026, 3, 5), "dishonest")


def test_the_demo_cases_rate_shaxi_serious_and_warn_ludao_and_minhai(db, factory):
    from scripts.demo.audit_credit import load_demo_credit
    from scripts.demo.world import INSURANCE_BUREAU, LUDAO, MINHAI, SHAXI

    factory.org(OrgKind.INSURANCE_BUREAU, name=INSURANCE_BUREAU, region_code="350000", region_name="福建省")
    orgs = {name: factory.org(kind, name=name) for name, kind in (
        (SHAXI, OrgKind.MANUFACTURER), (MINHAI, OrgKind.MANUFACTURER), (LUDAO, OrgKind.DISTRIBUTOR))}  # fmt: skip
    for name in (SHAXI, MINHAI):
        db.add(Product(generic_name="二甲双胍片", dosage_form="片剂", strength="0.5g", pack_quantity=30, unit="片",
                       package_spec="0.5g×30片", manufacturer_id=orgs[name].id))  # fmt: skip
    db.flush()
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    summary = load_demo_credit(db, Actor.system("demo"), now=now)
    assert "serious" in summary and "general" in summary
    rated = {r["supplier_id"]: r["level"] for r in credit.ratings(db, actor=Actor.system("t"), on=now.date())}
    assert rated == {orgs[SHAXI].id: "serious", orgs[LUDAO].id: "general", orgs[MINHAI].id: "general"}
    assert [r["supplier_name"] for r in credit.public_ratings(db, on=now.date())] == [SHAXI]


def test_the_audit_run_finds_the_credit_part(world, db):
    from procurement.audit.runs import part_function

    _record(world, _case(world, 0, cumulative_amount=D("20000")))
    progress: list[tuple[int, int]] = []
    summary = part_function("credit")(
        db,
        world.auditor,
        start=dt.date(2026, 2, 1),
        end=dt.date(2026, 3, 1),
        progress=lambda d, t: progress.append((d, t)),
    )
    assert (summary.part, summary.rows, summary.findings, progress) == ("credit", 1, 1, [(1, 1)])
