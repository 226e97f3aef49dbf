"""Surplus retention over real purchases: inputs, a period's run, alerts raised once, member splits, export.

The world is ``surplus_world``: hospital 0 on a 100-day cycle, agreed 2,800 tablets, base 4,000, budget 3,360.00.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal as D

import openpyxl
import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.errors import DomainError
from procurement.audit import surplus
from procurement.audit.surplus_export import results_workbook
from procurement.audit.surplus_inputs import BaselinePriceIn, InsuredShareIn, MemberSharesIn, save_inputs
from procurement.audit.surplus_models import (
    SurplusAllocation,
    SurplusBaselinePrice,
    SurplusMemberShare,
    SurplusResult,
)
from procurement.audit.surplus_rules import ASSESSMENT_FAILED, BASE_ABOVE_HISTORY, NOT_COMPLETED
from procurement.orders import arrangements
from procurement.tenders.models import AgreedVolume
from tests.procurement.order_world import build_order_world
from tests.procurement.surplus_world import PERIOD, START, buy_non_winning, receive, setup_hospital


@pytest.fixture
def ow(db, factory):
    return build_order_world(db, factory)


def _result(db, hospital) -> SurplusResult:
    return db.exec(sa.select(SurplusResult).where(SurplusResult.hospital_id == hospital.org_id)).scalar_one()


def _sources(result) -> dict[str, str]:
    return {t["name"]: t["source"] for t in result.breakdown["terms"]}


def _terms(result) -> dict[str, str]:
    return {t["name"]: t["value"] for t in result.breakdown["terms"]}


def test_a_final_year_is_computed_term_by_term(ow, db):
    hospital, award, volume = setup_hospital(ow, db)
    assert award.unit_price == D("14.0000")  # 14 a pack of 28 tablets: 0.50 a tablet
    receipt = receive(ow, db, hospital, 110)  # 3,080 tablets: 280 above the agreed 2,800
    stand_in = buy_non_winning(ow, db, hospital, award, 4)  # 4 × 31.50 = 126.00
    summary = surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    terms = _terms(result)
    assert (terms["agreed_volume_base"], terms["agreed_volume"]) == ("4000", "2800")
    assert (terms["winning_units_received"], terms["winning_units_counted"]) == ("3080", "2800")
    assert (terms["winning_spend"], terms["excluded_above_agreed"]) == ("1400.0000", "140.0000")
    assert terms["non_winning_spend"] == "126.0000"
    # Spend = (1,400 + 126) × 0.56 = 854.56; base = 3,360.00 − 854.56 = 2,505.44.
    assert (result.budget, result.spend, result.surplus_base) == (D("3360.00"), D("854.56"), D("2505.44"))
    # Completion 1.1 → 100; the receipt due 2026-07-15 is unpaid → on time 0; spending 1,666 against 10,000 ×
    # 1.5 × 100/365 = 4,109.59 → growth < 0 → 100; nothing off-platform → 100: (4,000 + 1,500 + 1,500) ÷ 100 = 70.
    assert (result.completion, result.score, result.tier, result.ratio) == (D("1.1"), D("70"), "B", D("0.4"))
    assert (result.status, result.retained, result.final) == (
        "retained",
        D("1002.17"),
        True,
    )  # 2,505.44 × 0.40 = 1,002.176, rounded down so that it never passes the cap
    sources = {t["name"]: t["source"] for t in result.breakdown["terms"]}
    assert f"#{receipt.id}" in sources["winning_units_received"] and f"#{stand_in.id}" in sources["non_winning_spend"]
    assert f"tender_agreed_volumes #{volume.id}" in sources["agreed_volume_base"]
    assert "surplus_baseline_prices #" in sources["pre_vbp_wap"] and "2025年挂网" in sources["pre_vbp_wap"]
    assert result.rule["name"] == "audit.surplus" and result.rule["version"] == "2024-shenzhen"
    assert summary.rows >= 1 and summary.figures["rules"] == "audit.surplus 2024-shenzhen"
    assert summary.figures["statuses"]["retained"] == 1


def test_an_unfinished_agreed_volume_is_alerted_once(ow, db):
    hospital, _award, volume = setup_hospital(ow, db)
    receipt = receive(ow, db, hospital, 50)  # 1,400 of 2,800 tablets
    first = surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    assert (result.status, result.completion, result.retained) == ("not_completed", D("0.5"), D(0))
    assert result.surplus_base > 0
    alerts = db.exec(sa.select(Alert).where(Alert.code == NOT_COMPLETED)).scalars().all()
    assert len(alerts) == 1 and first.alerts_raised >= 1
    alert = alerts[0]
    assert (alert.source, alert.subject_org_id, alert.object_id) == ("surplus", hospital.org_id, str(result.id))
    assert alert.evidence["receipt_ids"] == [receipt.id] and alert.evidence["agreed_volume_id"] == volume.id
    assert alert.rule["version"] == "2024-shenzhen"
    again = surplus.run_period(db, ow.world.auditor, **PERIOD)
    assert again.alerts_raised == 0
    assert len(db.exec(sa.select(Alert).where(Alert.code == NOT_COMPLETED)).scalars().all()) == 1
    assert db.exec(sa.select(sa.func.count()).select_from(SurplusResult)).scalar_one() == first.rows


def test_a_failed_assessment_is_alerted_with_its_indicators(ow, db):
    hospital, award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    declared = arrangements.declare_offline_purchase(
        db, hospital_id=hospital.org_id, month=dt.date(2026, 6, 1), product_kind="drug", description="急诊临时采购",
        amount=D("5000.00"), reason="平台断货", actor=hospital, today=dt.date(2026, 6, 20), product_id=award.product_id,
    )  # fmt: skip
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    indicators = {i["name"]: (i["value"], i["score"]) for i in result.breakdown["indicators"]}
    # Off-platform 5,000 of 6,540 (76 %) → 0; on time 0; spending 1,540 + 5,000 against 4,109.59 (+59 %) → 0 …
    assert indicators["offline_share"] == ("0.7645", "0.00") and indicators["cost_growth"] == ("0.5914", "0.00")
    # … so the score is 40 × 100 ÷ 100 = 40.00: tier D, nothing paid although the volume was completed.
    assert (result.score, result.tier, result.status, result.retained) == (D("40"), "D", "not_passed", D(0))
    # The declared purchase names the winning product: spending on the generic name (3.2), but the platform
    # receipts already passed the agreed volume, so all of it lies above it and is excluded (3.6): 1,400 × 0.56.
    terms = _terms(result)
    assert terms["offline_spend"] == "5000.0000" and result.spend == D("784.00")
    assert terms["excluded_above_agreed"] == "5140.0000"  # 140.00 on the platform + 5,000.00 off it
    assert f"offline_purchases #{declared.id}" == _sources(result)["offline_spend"]
    alert = db.exec(sa.select(Alert).where(Alert.code == ASSESSMENT_FAILED)).scalar_one()
    assert alert.subject_org_id == hospital.org_id and alert.evidence["score"] == "40.00"
    assert [i["name"] for i in alert.evidence["indicators"]][:1] == ["volume_completion"]


def test_provisional_years_raise_no_completion_alert(ow, db):
    hospital, *_ = setup_hospital(ow, db)
    summary = surplus.run_period(db, ow.world.auditor, start=START, end=dt.date(2026, 7, 1))
    result = _result(db, hospital)
    assert (result.final, result.measured_to, result.status) == (False, dt.date(2026, 6, 30), "not_completed")
    assert _terms(result)["agreed_volume"] == "1540"  # 10,220 × 55 ÷ 365 = 1,539.97
    assert db.exec(sa.select(Alert).where(Alert.code == NOT_COMPLETED)).first() is None
    assert any("provisional" in note for note in summary.notes)


def test_a_base_far_above_history_is_flagged(ow, db):
    hospital, _award, volume = setup_hospital(ow, db, base=15_000)  # ≥ 1.5 × the reported historical use of 10,000
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    alert = db.exec(sa.select(Alert).where(Alert.code == BASE_ABOVE_HISTORY)).scalar_one()
    assert (alert.object_type, alert.object_id, alert.subject_org_id) == ("agreed_volume", str(volume.id),
                                                                          hospital.org_id)  # fmt: skip
    assert alert.evidence["historical_use"] == 10_000 and len(alert.evidence["demand_report_ids"]) == 1


def test_member_units_get_their_share_and_see_it(ow, db, factory):
    hospital, award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    buy_non_winning(ow, db, hospital, award, 4)
    member_org = factory.org(parent_id=hospital.org_id)
    from core.accounts import actor_for_user

    member = actor_for_user(db, factory.user(member_org).id)
    save_inputs(db, actor=ow.world.auditor, member_shares=[
        MemberSharesIn(hospital.org_id, ((hospital.org_id, D("0.6667")), (member_org.id, D("0.3333"))))
    ])  # fmt: skip
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    parts = {a.hospital_id: (a.amount, a.holds_remainder) for a in db.exec(
        sa.select(SurplusAllocation).where(SurplusAllocation.result_id == result.id)).scalars()}  # fmt: skip
    # 1,002.17 × 0.3333 = 334.02 (334.0233 down); the general hospital 668.14 (668.1468 down) + the 0.01 left.
    assert parts == {member_org.id: (D("334.02"), False), hospital.org_id: (D("668.15"), True)}
    # Retained money by hospital credits each unit with its part; the base not retained stays with the result's.
    by_org = {r["hospital_id"]: r for r in surplus.retained_by_hospital(db, actor=ow.world.auditor)}
    kind = "final" if result.final else "provisional"
    assert (by_org[member_org.id][kind], by_org[hospital.org_id][kind]) == (D("334.02"), D("668.15"))
    assert by_org[member_org.id]["not_retained"] == D(0)
    assert by_org[hospital.org_id]["not_retained"] == result.surplus_base - result.retained
    mine = surplus.retained_by_hospital(db, actor=member, hospital_id=member_org.id)
    assert [(r["hospital_id"], r[kind]) for r in mine] == [(member_org.id, D("334.02"))]
    assert [r.id for r in surplus.list_results(db, actor=member).items] == [result.id]
    other = ow.hospital(1)
    assert result.id not in [r.id for r in surplus.list_results(db, actor=other).items]
    with pytest.raises(DomainError) as caught:
        surplus.list_results(db, actor=other, hospital_id=hospital.org_id)
    assert caught.value.code == "foreign_organisation"
    with pytest.raises(DomainError):
        surplus.list_results(db, actor=ow.distributor)
    # Recomputed from the same inputs, read back from the database: the split has not changed, and says so.
    db.expire_all()
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    from core.models import AuditRecord

    last = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "surplus.computed",
                                                AuditRecord.object_id == str(result.id)).order_by(
        AuditRecord.id.desc())).scalars().first()  # fmt: skip
    assert last.details["changed"] == [] and len(last.details["previous"]["allocations"]) == 2


def test_a_period_without_agreed_volumes_says_so(ow, db):
    summary = surplus.run_period(db, ow.world.auditor, start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31))
    assert (summary.rows, summary.no_data) == (0, True)
    assert summary.notes == ["No agreed volume has an agreement year in this period: nothing to compute."]
    with pytest.raises(DomainError) as caught:
        surplus.run_period(db, ow.world.organiser, start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31))
    assert caught.value.code == "role_required"


def test_bad_inputs_are_refused_whole_and_retries_change_nothing(ow, db, factory):
    hospital, *_ = setup_hospital(ow, db)
    stranger = factory.org()
    before = db.exec(sa.select(sa.func.count()).select_from(SurplusBaselinePrice)).scalar_one()
    with pytest.raises(DomainError) as caught:
        save_inputs(
            db, actor=ow.world.auditor,
            baseline_prices=[BaselinePriceIn(ow.tender.id, "阿托伐他汀钙片", ow.lot.unit, D("2"), "3502"),
                             BaselinePriceIn(ow.tender.id, "不存在", ow.lot.unit, D("2"))],
            insured_shares=[InsuredShareIn(ow.tender.id, hospital.org_id, ow.lot.generic_name, D("1.2"))],
            member_shares=[MemberSharesIn(hospital.org_id, ((hospital.org_id, D("0.5")), (stranger.id, D("0.4"))))],
        )  # fmt: skip
    errors = caught.value.errors
    assert set(errors) == {"baseline_prices[1].generic_name", "insured_shares[0].share",
                           "member_shares[0].members[1].hospital_id", "member_shares[0].members"}  # fmt: skip
    assert "exactly 100 %" in errors["member_shares[0].members"][0]
    assert db.exec(sa.select(sa.func.count()).select_from(SurplusBaselinePrice)).scalar_one() == before
    again = save_inputs(db, actor=ow.world.auditor, baseline_prices=[
        BaselinePriceIn(ow.tender.id, ow.lot.generic_name, ow.lot.unit, D("1.5000"), "35", "2025年挂网")])  # fmt: skip
    assert db.exec(sa.select(sa.func.count()).select_from(SurplusBaselinePrice)).scalar_one() == before
    assert again["baseline_prices"][0].price == D("1.5000")
    with pytest.raises(DomainError) as caught:
        save_inputs(db, actor=hospital, insured_shares=[])
    assert caught.value.code == "role_required"


def test_export_holds_results_terms_and_indicators(ow, db):
    hospital, *_ = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    book = openpyxl.load_workbook(io.BytesIO(results_workbook(db, actor=ow.world.auditor,
                                                              hospital_id=hospital.org_id)))  # fmt: skip
    assert book.sheetnames == [
        "结余留用 results",
        "测算明细 breakdown",
        "考核指标 indicators",
        "成员单位分配 member split",
    ]
    rows = list(book["结余留用 results"].values)
    assert len(rows) == 2 and rows[1][0] == result.id and rows[1][17] == str(result.retained)
    terms = list(book["测算明细 breakdown"].values)[1:]
    assert ("budget", "3360.00") in {(row[2], row[4]) for row in terms}
    assert len(list(book["考核指标 indicators"].values)) == 5


def test_demo_inputs_and_first_computation(ow, db, factory):
    from scripts.demo.audit_surplus import load_demo_surplus
    from tests.procurement.order_world import TODAY

    general = ow.hospital(0)
    member = factory.org(parent_id=general.org_id)
    receive(ow, db, general, 10)
    text = load_demo_surplus(db, ow.world.auditor, now=TODAY)
    assert text.startswith("Surplus retention: 1 pre-tender prices, 3 insured shares, 1 medical communities split;")
    price = db.exec(sa.select(SurplusBaselinePrice)).scalar_one()
    assert (price.price, price.region_code) == (D("2.0000"), "35")  # the lot's ceiling 1.0000 × 2
    result = _result(db, general)
    assert (result.final, result.year_start, result.measured_to) == (False, dt.date(2026, 4, 1), TODAY.date())
    # 10 packs (280 tablets) of the 1,458 due in the first 76 days (7,000 × 76 ÷ 365): not completed so far.
    assert (result.status, result.retained, _terms(result)["agreed_volume"]) == ("not_completed", D(0), "1458")
    shares = db.exec(sa.select(SurplusMemberShare.member_id, SurplusMemberShare.share)).all()
    assert sorted(shares) == sorted([(general.org_id, D("0.8")), (member.id, D("0.2"))])


def test_a_generic_name_retained_over_an_earlier_cycle_is_not_counted_again(ow, db):
    """3.6: once a generic name has completed a cycle with retention, a later round retains nothing for it."""
    hospital, _award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    now = _result(db, hospital)
    base = now.surplus_base
    assert (now.status, now.retained) == ("retained", D("1030.40"))  # (3,360 − 1,400 × 0.56) × 0.40, no stand-ins
    earlier_tender, _lot = ow.world.tender()
    year = dt.timedelta(days=365)
    earlier = SurplusResult(
        agreed_volume_id=now.agreed_volume_id, year_start=now.year_start - year, year_end=now.year_start,
        measured_to=now.year_start, final=True, status="retained", tender_id=earlier_tender.id, lot_id=now.lot_id,
        hospital_id=now.hospital_id, generic_name=now.generic_name, unit=now.unit, retained=D("800.00"),
        budget=D("2000.00"), spend=D("400.00"), surplus_base=D("1600.00"), breakdown={}, rule={},
    )  # fmt: skip
    db.add(earlier)
    db.flush()
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    db.refresh(now)
    assert (now.status, now.retained) == ("already_retained", D(0))
    assert now.breakdown["not_counted_again"]["earlier_result_id"] == earlier.id
    assert now.surplus_base == base  # the computation stands; only the payout is withheld


def test_a_recomputation_keeps_the_figures_it_replaces_on_the_audit_record(ow, db):
    """Results are recomputed in place (one per agreed volume and year); the audit record of a recomputation keeps
    the earlier figures, breakdown and split, and names what changed, so an earlier figure can still be shown."""
    from core.models import AuditRecord

    hospital, award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    first = _result(db, hospital)
    before = (first.retained, first.spend, _terms(first)["non_winning_spend"])
    again = surplus.run_period(db, ow.world.auditor, **PERIOD)  # nothing new: the same figures
    assert again.rows >= 1
    buy_non_winning(ow, db, hospital, award, 4)  # 126.00 of a non-winning product lowers the surplus
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    db.expire_all()
    latest = _result(db, hospital)
    assert latest.id == first.id and latest.retained < before[0]
    records = db.exec(sa.select(AuditRecord).where(AuditRecord.action == "surplus.computed",
                                                   AuditRecord.object_id == str(first.id)).order_by(
        AuditRecord.id)).scalars().all()  # fmt: skip
    assert len(records) == 3 and "previous" not in records[0].details
    assert records[1].details["changed"] == []  # the same inputs give the same result
    last = records[2].details
    assert D(last["previous"]["retained"]) == before[0] and D(last["previous"]["spend"]) == before[1]
    assert {"retained", "spend", "surplus_base", "breakdown"} <= set(last["changed"])
    earlier_terms = {t["name"]: t["value"] for t in last["previous"]["breakdown"]["terms"]}
    assert D(earlier_terms["non_winning_spend"]) == D(before[2]) == 0


def _declare(ow, db, hospital, month: dt.date, amount: str, product_id: int):
    return arrangements.declare_offline_purchase(
        db, hospital_id=hospital.org_id, month=month, product_kind="drug", description="线下采购", amount=D(amount),
        reason="平台断货", actor=hospital, product_id=product_id,
    )  # fmt: skip


def _facts_of(db, ow, hospital, start, end):
    from procurement.audit.surplus_data import gather_facts

    found = gather_facts(db, actor=ow.world.auditor, start=start, end=end, tender_id=ow.tender.id)
    return sorted((f for f in found if f.hospital_id == hospital.org_id), key=lambda f: (f.year_start, f.lot_id))


def test_off_platform_months_count_in_one_agreement_year_each(ow, db):
    """3.7's cycle starts 2022-11-30: November 2023 has 29 days in the first year and 1 in the second, so it counts in
    the first only; November 2022 (1 day in the cycle) counts in neither, November 2024 (28 of 30) in the second."""
    hospital, award, _volume = setup_hospital(ow, db)
    award.cycle_start, award.cycle_end = dt.date(2022, 11, 30), dt.date(2024, 11, 28)
    db.flush()
    other = next(p for p in ow.world.products if p.id != award.product_id)
    nov22, nov23, nov24 = (
        _declare(ow, db, hospital, dt.date(y, 11, 1), "100.00", other.id) for y in (2022, 2023, 2024)
    )
    first, second = _facts_of(db, ow, hospital, dt.date(2022, 11, 30), dt.date(2024, 11, 29))
    assert (first.year_start, second.year_start) == (dt.date(2022, 11, 30), dt.date(2023, 11, 30))
    assert (first.offline_ids, first.offline_amount) == ([nov23.id], D("100.00"))
    assert (second.offline_ids, second.offline_amount) == ([nov24.id], D("100.00"))
    assert nov22.id not in first.offline_ids + second.offline_ids


def _product(ow, award, form: str, unit: str, pack_quantity: int, number: int):
    from procurement.catalogue import Product

    return Product(generic_name=ow.lot.generic_name, dosage_form=form, strength="10mg", pack_quantity=pack_quantity,
                   unit=unit, package_spec=f"10mg×{pack_quantity}{unit}", approval_number=f"国药准字H2026990{number}",
                   manufacturer_id=ow.maker_of(award.product_id).org_id, gqce_status="passed")  # fmt: skip


def _capsule_lot(ow, db, hospital, award):
    """A second lot of the same generic name (capsules) in the same tender, with hospital 0's agreed volume."""
    from procurement.tenders.models import Award, Lot, LotProduct

    lot = Lot(tender_id=ow.tender.id, number=2, generic_name=ow.lot.generic_name, dosage_form="胶囊剂",
              reference_strength="10mg", unit="粒", ceiling_ucp=D("2.0000"), category=ow.lot.category,
              dosage_class=ow.lot.dosage_class)  # fmt: skip
    capsule = _product(ow, award, "胶囊剂", "粒", 20, 1)
    db.add_all([lot, capsule])
    db.flush()
    won = Award(tender_id=ow.tender.id, lot_id=lot.id, bid_id=award.bid_id, supplier_id=award.supplier_id,
                product_id=capsule.id, rank=1, award_ucp=D("0.5000"), unit_price=D("10.0000"),
                ceiling_ucp=D("2.0000"), difference_per_unit=D("1.5000"), cycle_start=award.cycle_start,
                cycle_end=award.cycle_end)  # fmt: skip
    db.add_all([LotProduct(lot_id=lot.id, product_id=capsule.id, spec_factor=D("1")), won])
    db.flush()
    db.add(AgreedVolume(tender_id=ow.tender.id, lot_id=lot.id, hospital_id=hospital.org_id, award_id=won.id,
                        region="350203", reported_base=1000, agreed_volume=800, basis="test"))  # fmt: skip
    db.flush()
    return lot, capsule


def test_off_platform_purchases_count_in_the_lot_of_their_product_only(ow, db):
    hospital, award, _volume = setup_hospital(ow, db)
    lot, capsule = _capsule_lot(ow, db, hospital, award)
    tablet = _product(ow, award, "片剂", "片", 30, 2)  # in neither lot's table: the lot of its dosage form
    db.add(tablet)
    db.flush()
    capsules = _declare(ow, db, hospital, dt.date(2026, 6, 1), "300.00", capsule.id)
    tablets = _declare(ow, db, hospital, dt.date(2026, 6, 1), "200.00", tablet.id)
    tablet_lot, capsule_lot = _facts_of(db, ow, hospital, **PERIOD)
    assert (tablet_lot.lot_id, capsule_lot.lot_id) == (ow.lot.id, lot.id)
    assert (tablet_lot.offline_ids, tablet_lot.offline_amount) == ([tablets.id], D("200.00"))
    assert (capsule_lot.offline_ids, capsule_lot.offline_amount) == ([capsules.id], D("300.00"))
    # The capsule is the second lot's winning product: 300.00 at 10.00 a pack of 20 is 600 capsules.
    assert (capsule_lot.offline_winning_amount, capsule_lot.offline_winning_units) == (D("300.00"), D(600))
    assert tablet_lot.offline_winning_amount == 0


def test_off_platform_purchases_of_the_winning_product_fill_only_what_is_left_of_the_agreed_volume(ow, db):
    hospital, award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 90)  # 2,520 of the agreed 2,800 tablets, for 1,260.00
    declared = _declare(ow, db, hospital, dt.date(2026, 6, 1), "420.00", award.product_id)  # 30 packs: 840 tablets
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    result = _result(db, hospital)
    terms = _terms(result)
    # 280 tablets were left: 280 ÷ 840 × 420.00 = 140.00 counts, 280.00 is above the agreed volume (3.6).
    assert terms["offline_spend"] == "420.0000" and terms["excluded_above_agreed"] == "280.0000"
    assert result.spend == D("784.00")  # (1,260 + 140) × 0.56
    assert _sources(result)["offline_spend"] == f"offline_purchases #{declared.id}"


def test_a_result_that_retained_nothing_does_not_stop_a_later_round(ow, db):
    """3.6 withholds a later round only after money was retained: a retained result of 0.00 retained nothing."""
    hospital, _award, _volume = setup_hospital(ow, db)
    receive(ow, db, hospital, 110)
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    now = _result(db, hospital)
    earlier_tender, _lot = ow.world.tender()
    year = dt.timedelta(days=365)
    db.add(SurplusResult(
        agreed_volume_id=now.agreed_volume_id, year_start=now.year_start - year, year_end=now.year_start,
        measured_to=now.year_start, final=True, status="retained", tender_id=earlier_tender.id, lot_id=now.lot_id,
        hospital_id=now.hospital_id, generic_name=now.generic_name, unit=now.unit, retained=D("0.00"),
        budget=D("2000.00"), spend=D("1999.99"), surplus_base=D("0.01"), breakdown={}, rule={},
    ))  # fmt: skip
    db.flush()
    surplus.run_period(db, ow.world.auditor, **PERIOD)
    db.refresh(now)
    assert (now.status, now.retained) == ("retained", D("1030.40"))
