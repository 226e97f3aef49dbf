"""Supply services: monthly reports by the due day, stop notices, hospitals' problems and the monthly risk check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.actor import Actor
from core.alerts import Alert
from core.audit import AuditRecord
from core.errors import DomainError
from core.roles import OrgKind, Role
from procurement.orders import supply, supply_problems, supply_risks
from procurement.orders.models import OrderStatus
from procurement.orders.rules import (
    SUPPLY_PROBLEM,
    SUPPLY_REPORT_LATE,
    SUPPLY_REPORT_MISSING,
    SUPPLY_STOCK_OUT,
    SUPPLY_STOP_LATE_NOTICE,
)
from procurement.orders.supply_models import SupplyReport
from tests.procurement.supply_world import award_of, order_of, product_of

MARCH = dt.date(2026, 3, 1)  # due 2026-04-10, Beijing time
ON_TIME = dt.datetime(2026, 4, 10, 15, 0, tzinfo=dt.UTC)  # 23:00 on the 10th in Beijing
LATE = dt.datetime(2026, 4, 10, 17, 0, tzinfo=dt.UTC)  # still the 10th in UTC, but 01:00 on the 11th in Beijing
FIGURES = {"produced": 5000, "inventory": 1200, "reserve": 800}


@dataclass
class Cast:
    supplier: object
    rep: Actor
    products: list
    rival: object
    rival_rep: Actor
    rival_product: object
    hospital: object
    pharmacist: Actor
    other_pharmacist: Actor
    auditor: Actor


def _actor(factory, org, role: Role) -> Actor:
    return actor_for_user(factory.db, factory.user(org, roles=(role,)).id)


@pytest.fixture
def cast(factory) -> Cast:
    supplier, rival = factory.org(OrgKind.MANUFACTURER), factory.org(OrgKind.MANUFACTURER)
    products = [product_of(factory, supplier) for _ in range(2)]
    rival_product = product_of(factory, rival)
    cycle = {"cycle_start": dt.date(2026, 1, 1), "cycle_end": dt.date(2027, 12, 31)}
    for product in products:
        award_of(factory, supplier=supplier, product=product, **cycle)
    award_of(factory, supplier=rival, product=rival_product, **cycle)
    hospital = factory.org(OrgKind.HOSPITAL)
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    return Cast(
        supplier=supplier,
        rep=_actor(factory, supplier, Role.SUPPLIER_REP),
        products=products,
        rival=rival,
        rival_rep=_actor(factory, rival, Role.SUPPLIER_REP),
        rival_product=rival_product,
        hospital=hospital,
        pharmacist=_actor(factory, hospital, Role.PHARMACIST),
        other_pharmacist=_actor(factory, factory.org(OrgKind.HOSPITAL), Role.PHARMACY_MANAGER),
        auditor=_actor(factory, bureau, Role.AUDITOR),
    )


def _error(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def _alerts(db, code: str, subject_org_id: int) -> list[Alert]:
    stmt = sa.select(Alert).where(Alert.code == code, Alert.subject_org_id == subject_org_id).order_by(Alert.id)
    return list(db.exec(stmt).scalars())


def _audits(db, action: str, object_id) -> list[AuditRecord]:
    stmt = sa.select(AuditRecord).where(AuditRecord.action == action, AuditRecord.object_id == str(object_id))
    return list(db.exec(stmt).scalars())


def _report(db, cast, *, now=ON_TIME, product=None, month=MARCH, **figures):
    return supply.submit_supply_report(
        db, product_id=(product or cast.products[0]).id, month=month, actor=cast.rep, now=now, **(FIGURES | figures)
    )


def test_a_report_on_the_due_day_in_beijing_is_on_time(db, cast):
    report, created = _report(db, cast, month=dt.date(2026, 3, 17))  # any day names its month
    assert created and report.month == MARCH and report.due_on == dt.date(2026, 4, 10) and not report.late
    assert (report.produced, report.inventory, report.reserve) == (5000, 1200, 800)
    assert report.supplier_id == cast.supplier.id and report.submitted_by_id == cast.rep.user_id
    assert len(_audits(db, "supply.report_submitted", report.id)) == 1
    assert _alerts(db, SUPPLY_REPORT_LATE, cast.supplier.id) == []


def test_a_report_after_the_due_day_is_flagged_late_and_alerted(db, cast):
    report, _ = _report(db, cast, now=LATE)
    assert report.late
    [alert] = _alerts(db, SUPPLY_REPORT_LATE, cast.supplier.id)
    assert alert.source == "supply" and alert.severity == "low" and alert.object_id == str(report.id)
    assert alert.evidence["days_late"] == 1 and alert.evidence["due_on"] == "2026-04-10"
    assert alert.rule["values"] == {"report_due_day": 10}


def test_filing_a_month_again_amends_it_and_keeps_the_first_filing_s_lateness(db, cast):
    first, _ = _report(db, cast, now=LATE)
    amended, created = _report(db, cast, now=LATE + dt.timedelta(days=3), inventory=900)
    assert not created and amended.id == first.id and amended.inventory == 900 and amended.late
    assert amended.submitted_at == LATE
    [audit] = _audits(db, "supply.report_amended", first.id)
    assert audit.details["before"]["inventory"] == 1200 and audit.details["after"]["inventory"] == 900
    _report(db, cast, now=LATE + dt.timedelta(days=4), inventory=900)  # a retry of the same figures
    assert len(_audits(db, "supply.report_amended", first.id)) == 1
    assert len(_alerts(db, SUPPLY_REPORT_LATE, cast.supplier.id)) == 1
    assert db.exec(sa.select(sa.func.count()).select_from(SupplyReport)).one()[0] == 1


def test_a_bad_report_names_every_bad_field_and_saves_nothing(db, cast):
    error = _error(lambda: _report(db, cast, produced=-1, inventory="12", reserve=True))
    assert error.kind == "invalid" and set(error.errors) == {"produced", "inventory", "reserve"}
    error = _error(lambda: _report(db, cast, month=dt.date(2026, 5, 1)))
    assert set(error.errors) == {"month"}
    error = _error(lambda: _report(db, cast, product=cast.rival_product))
    assert set(error.errors) == {"product_id"} and "winning" in error.errors["product_id"][0]
    error = _error(lambda: _report(db, cast, month=dt.date(2025, 12, 1)))  # before the award's cycle
    assert set(error.errors) == {"product_id"}
    assert db.exec(sa.select(sa.func.count()).select_from(SupplyReport)).one()[0] == 0


def test_only_supplier_representatives_file_reports(db, cast):
    call = supply.submit_supply_report
    error = _error(lambda: call(db, product_id=cast.products[0].id, month=MARCH, actor=cast.pharmacist, **FIGURES))
    assert error.kind == "forbidden"


def test_a_missing_report_is_alerted_once_after_its_due_day(db, cast):
    _report(db, cast, product=cast.products[0])

    def check(now):
        return supply_risks.check_supply_risks(db, month=MARCH, actor=cast.auditor, now=now)

    assert check(ON_TIME) == []  # still the due day in Beijing
    raised = check(LATE)
    missing = [a for a in raised if a.code == SUPPLY_REPORT_MISSING]
    assert {(a.subject_org_id, a.evidence["product_id"]) for a in missing} == {
        (cast.supplier.id, cast.products[1].id),
        (cast.rival.id, cast.rival_product.id),
    }
    assert missing[0].severity == "high" and missing[0].evidence["due_on"] == "2026-04-10"
    assert check(LATE + dt.timedelta(days=1)) == []
    assert len(_alerts(db, SUPPLY_REPORT_MISSING, cast.supplier.id)) == 1
    [run, *_] = _audits(db, "supply.risks_checked", "2026-03")
    assert run.actor_user_id == cast.auditor.user_id


def test_the_risk_check_is_for_overseers_and_past_or_current_months(db, cast):
    call = supply_risks.check_supply_risks
    assert _error(lambda: call(db, month=MARCH, actor=cast.rep, now=LATE)).kind == "forbidden"
    error = _error(lambda: call(db, month=dt.date(2026, 5, 1), actor=cast.auditor, now=LATE))
    assert error.kind == "invalid" and set(error.errors) == {"month"}


def test_no_stock_against_open_orders_is_a_stock_out_alerted_once(db, cast, factory):
    empty, stocked = cast.products
    _report(db, cast, product=empty, inventory=0)
    _report(db, cast, product=stocked)
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=empty, quantity=300)
    order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=stocked)
    april = dt.datetime(2026, 4, 20, tzinfo=dt.UTC)
    raised = supply_risks.check_supply_risks(db, month=dt.date(2026, 4, 1), actor=cast.auditor, now=april)
    [alert] = [a for a in raised if a.code == SUPPLY_STOCK_OUT]  # April not yet reported: the last report counts
    assert alert.subject_org_id == cast.supplier.id and alert.evidence["product_id"] == empty.id
    assert alert.evidence["inventory"] == 0 and alert.evidence["inventory_month"] == "2026-03"
    assert alert.evidence["open_orders"] == 1 and alert.evidence["open_packs"] == 300
    assert supply_risks.check_supply_risks(db, month=dt.date(2026, 4, 1), actor=cast.auditor, now=april) == []
    assert order.status == OrderStatus.SUBMITTED


def test_no_stock_without_open_orders_is_no_stock_out(db, cast, factory):
    _report(db, cast, inventory=0)
    for status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.SHIPPED):
        order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0], status=status)
    raised = supply_risks.check_supply_risks(db, month=MARCH, actor=cast.auditor, now=ON_TIME)
    assert [a for a in raised if a.code == SUPPLY_STOCK_OUT] == []


def test_a_stop_in_force_against_confirmed_orders_is_a_stock_out(db, cast, factory):
    now = dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC)
    stop = supply.report_production_stop(
        db,
        product_id=cast.products[1].id,
        stops_on=dt.date(2026, 3, 19),
        planned=False,
        reason="原料药断供",
        actor=cast.rep,
        now=now,
    )
    order_of(
        factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[1], status=OrderStatus.CONFIRMED
    )
    raised = supply_risks.check_supply_risks(db, month=MARCH, actor=cast.auditor, now=now)
    [alert] = [a for a in raised if a.code == SUPPLY_STOCK_OUT]
    assert alert.evidence["stop_id"] == stop.id and alert.evidence["inventory"] is None


def test_a_past_month_is_judged_by_the_stops_of_that_month_not_those_of_today(db, cast, factory):
    stopped, running = cast.products
    # Production of the first stopped for March only; the second stops in May. Both have open orders.
    for product, stops_on, resumes_on in ((stopped, dt.date(2026, 3, 5), dt.date(2026, 4, 1)),
                                          (running, dt.date(2026, 5, 10), None)):  # fmt: skip
        supply.report_production_stop(db, product_id=product.id, stops_on=stops_on, resumes_on=resumes_on,
                                      planned=False, reason="设备检修", actor=cast.rep, now=dt.datetime(
                                          stops_on.year, stops_on.month, stops_on.day, 2, tzinfo=dt.UTC))  # fmt: skip
        order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=product)
    may = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)
    raised = supply_risks.check_supply_risks(db, month=MARCH, actor=cast.auditor, now=may)
    assert [a.evidence["product_id"] for a in raised if a.code == SUPPLY_STOCK_OUT] == [stopped.id]
    raised = supply_risks.check_supply_risks(db, month=dt.date(2026, 5, 1), actor=cast.auditor, now=may)
    assert [a.evidence["product_id"] for a in raised if a.code == SUPPLY_STOCK_OUT] == [running.id]


def test_a_planned_stop_needs_the_notice_the_rules_ask(db, cast):
    now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)

    def stop(product, stops_on, planned, **kwargs):
        return supply.report_production_stop(
            db,
            product_id=product.id,
            stops_on=stops_on,
            planned=planned,
            reason="产线改造",
            actor=cast.rep,
            now=now,
            **kwargs,
        )

    short = stop(cast.products[0], dt.date(2026, 3, 31), True, resumes_on=dt.date(2026, 6, 1))
    assert short.notice_days == 30 and supply.notice_is_late(short)
    [alert] = _alerts(db, SUPPLY_STOP_LATE_NOTICE, cast.supplier.id)
    assert alert.object_id == str(short.id) and alert.evidence["required_notice_days"] == 180
    ample = stop(cast.products[0], dt.date(2026, 9, 1), True)  # 184 days ahead, after the first stop ends
    assert ample.notice_days == 184 and not supply.notice_is_late(ample)
    assert len(_alerts(db, SUPPLY_STOP_LATE_NOTICE, cast.supplier.id)) == 1
    assert len(_audits(db, "supply.stop_reported", ample.id)) == 1


def test_an_unplanned_stop_is_reported_within_days_of_happening(db, cast):
    now = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
    call = supply.report_production_stop
    prompt = call(
        db,
        product_id=cast.products[0].id,
        stops_on=dt.date(2026, 3, 7),
        resumes_on=dt.date(2026, 3, 8),
        planned=False,
        reason="设备故障",
        actor=cast.rep,
        now=now,
    )
    assert prompt.notice_days == -3 and not supply.notice_is_late(prompt)
    tardy = call(
        db,
        product_id=cast.products[1].id,
        stops_on=dt.date(2026, 3, 6),
        planned=False,
        reason="设备故障",
        actor=cast.rep,
        now=now,
    )
    assert tardy.notice_days == -4 and supply.notice_is_late(tardy)
    assert [a.object_id for a in _alerts(db, SUPPLY_STOP_LATE_NOTICE, cast.supplier.id)] == [str(tardy.id)]


def test_bad_and_overlapping_stops_are_refused_naming_the_field(db, cast):
    now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    call = supply.report_production_stop
    error = _error(
        lambda: call(
            db,
            product_id=cast.rival_product.id,
            stops_on=dt.date(2026, 4, 1),
            planned="yes",
            resumes_on=dt.date(2026, 3, 1),
            reason="  ",
            actor=cast.rep,
            now=now,
        )
    )
    assert error.kind == "invalid" and set(error.errors) == {"product_id", "planned", "resumes_on", "reason"}
    call(
        db,
        product_id=cast.products[0].id,
        stops_on=dt.date(2026, 4, 1),
        planned=False,
        reason="停产",
        actor=cast.rep,
        now=now,
    )
    error = _error(
        lambda: call(
            db,
            product_id=cast.products[0].id,
            stops_on=dt.date(2026, 12, 1),
            planned=True,
            reason="again",
            actor=cast.rep,
            now=now,
        )
    )
    assert error.kind == "conflict" and set(error.errors) == {"stops_on"}


def test_a_hospital_reports_a_problem_against_its_own_order(db, cast, factory):
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0])
    call = supply_problems.report_supply_problem
    problem = call(db, order_id=order.id, kind="short", description="少送20盒", actor=cast.pharmacist)
    assert (problem.hospital_id, problem.supplier_id, problem.resolved_at) == (cast.hospital.id, cast.supplier.id, None)
    [alert] = _alerts(db, SUPPLY_PROBLEM, cast.supplier.id)
    assert alert.object_id == str(problem.id) and alert.evidence["order_number"] == order.number
    assert len(_audits(db, "supply.problem_reported", problem.id)) == 1
    error = _error(lambda: call(db, order_id=order.id, kind="shortish", description=" ", actor=cast.pharmacist))
    assert error.kind == "invalid" and set(error.errors) == {"kind", "description"}
    error = _error(lambda: call(db, order_id=order.id, kind="late", description="迟", actor=cast.other_pharmacist))
    assert error.kind == "not_found" and set(error.errors) == {"order_id"}
    cancelled = order_of(
        factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0], status=OrderStatus.CANCELLED
    )
    error = _error(lambda: call(db, order_id=cancelled.id, kind="late", description="迟", actor=cast.pharmacist))
    assert error.kind == "conflict" and set(error.errors) == {"order_id"}
    assert (
        _error(lambda: call(db, order_id=order.id, kind="late", description="迟", actor=cast.rep)).kind == "forbidden"
    )


def test_the_supplier_answers_a_problem_once(db, cast, factory):
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0])
    problem = supply_problems.report_supply_problem(
        db, order_id=order.id, kind="late", description="超过约定时间未送达", actor=cast.pharmacist
    )
    call = supply_problems.resolve_supply_problem
    assert _error(lambda: call(db, problem_id=problem.id, resolution="ok", actor=cast.rival_rep)).kind == "not_found"
    error = _error(lambda: call(db, problem_id=problem.id, resolution="", actor=cast.rep))
    assert error.kind == "invalid" and set(error.errors) == {"resolution"}
    done = call(db, problem_id=problem.id, resolution="已补发", actor=cast.rep, now=LATE)
    assert done.resolved_at == LATE and done.resolution == "已补发"
    assert len(_audits(db, "supply.problem_resolved", problem.id)) == 1
    assert _error(lambda: call(db, problem_id=problem.id, resolution="again", actor=cast.rep)).kind == "conflict"


def test_lists_show_each_party_its_own(db, cast, factory):
    _report(db, cast)
    supply.submit_supply_report(
        db, product_id=cast.rival_product.id, month=MARCH, actor=cast.rival_rep, now=ON_TIME, **FIGURES
    )
    reports = supply.list_supply_reports(db, actor=cast.rep).items
    assert {r.supplier_id for r in reports} == {cast.supplier.id}
    assert {r.supplier_id for r in supply.list_supply_reports(db, actor=cast.auditor, month=MARCH).items} >= {
        cast.supplier.id,
        cast.rival.id,
    }
    assert _error(lambda: supply.list_supply_reports(db, actor=cast.pharmacist)).kind == "forbidden"
    now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    for rep, product in ((cast.rep, cast.products[0]), (cast.rival_rep, cast.rival_product)):
        supply.report_production_stop(
            db, product_id=product.id, stops_on=dt.date(2026, 3, 2), planned=False, reason="停产", actor=rep, now=now
        )
    assert {s.supplier_id for s in supply.list_production_stops(db, actor=cast.rep).items} == {cast.supplier.id}
    seen = supply.list_production_stops(db, actor=cast.pharmacist, in_force_on=dt.date(2026, 3, 5)).items
    assert {s.supplier_id for s in seen} >= {cast.supplier.id, cast.rival.id}
    order = order_of(factory, hospital=cast.hospital, supplier=cast.supplier, product=cast.products[0])
    problem = supply_problems.report_supply_problem(
        db, order_id=order.id, kind="quality", description="外包装破损", actor=cast.pharmacist
    )
    listed = supply_problems.list_supply_problems
    assert [p.id for p in listed(db, actor=cast.pharmacist).items] == [problem.id]
    assert [p.id for p in listed(db, actor=cast.rep, status="open").items] == [problem.id]
    assert listed(db, actor=cast.rep, status="resolved").items == []
    assert listed(db, actor=cast.other_pharmacist).items == listed(db, actor=cast.rival_rep).items == []
    assert problem.id in [p.id for p in listed(db, actor=cast.auditor).items]
