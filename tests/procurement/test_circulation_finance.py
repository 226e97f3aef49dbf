"""Finance reports and the indicators read from them: out-of-catalogue share (0.11), revenue structure (0.16).

Hand-computed cases: 13 out of 100 insured yuan outside the catalogue is 13 % > 12 % (flagged); 12 of 100 is exactly
the cap (not flagged). Service 40, drugs 30 + consumables 10, tests 20 of 100 is 0.40 : 0.40 : 0.20, drugs and
consumables 0.10 above 0.30 (flagged, tolerance 0.05); 45 : 35 : 20 is 0.05 off, exactly the tolerance (not flagged).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.accounts import actor_for_user
from core.alerts import Alert
from core.errors import DomainError
from core.models import AuditRecord
from core.roles import OrgKind, Role
from procurement.audit.circulation import run_period
from procurement.audit.circulation_finance import indicators, list_reports, submit_report
from procurement.audit.circulation_rules import OUT_OF_CATALOGUE, REVENUE_STRUCTURE, circulation_rules

NOW = dt.datetime(2026, 7, 5, 2, 0, tzinfo=dt.UTC)
MAY, JUNE = dt.date(2026, 5, 1), dt.date(2026, 6, 1)


def _amounts(service=50, drug=20, consumable=10, test=20, inside=88, outside=12) -> dict[str, Decimal]:
    return {
        "service_income": Decimal(service), "drug_income": Decimal(drug), "consumable_income": Decimal(consumable),
        "test_income": Decimal(test), "insured_in_catalogue": Decimal(inside),
        "insured_out_of_catalogue": Decimal(outside),
    }  # fmt: skip


@pytest.fixture
def people(db, factory):
    def user(kind, role, **fields):
        org = factory.org(kind, **fields)
        return actor_for_user(db, factory.user(org, roles=(role,)).id)

    return {
        "big": user(OrgKind.HOSPITAL, Role.PHARMACY_MANAGER, hospital_grade="3A", region_code="350104"),
        "small": user(OrgKind.HOSPITAL, Role.PHARMACIST, hospital_grade="1A"),
        "auditor": user(OrgKind.INSURANCE_BUREAU, Role.AUDITOR),
        "supplier": user(OrgKind.DISTRIBUTOR, Role.SUPPLIER_REP),
    }


def _file(db, actor, hospital, month, **amounts):
    return submit_report(
        db, actor=actor, hospital_id=hospital.org_id, month=month, amounts=_amounts(**amounts), now=NOW
    )


def test_shares_and_structure_per_hospital_month(db, people):
    big, small, auditor = people["big"], people["small"], people["auditor"]
    _file(db, big, big, MAY, inside=87, outside=13, service=40, drug=30)
    _file(db, auditor, big, JUNE, service=45, drug=25)  # at the cap and at the tolerance: passes
    _file(db, small, small, JUNE, service=10, drug=60, inside=0, outside=0)  # grade I: structure not judged
    rows = indicators(db, actor=auditor, start=MAY, end=dt.date(2026, 7, 1))
    table = {(r.hospital_id, r.month): r for r in rows}
    may = table[(big.org_id, MAY)]
    assert (may.out_of_catalogue_share, may.out_of_catalogue_limit, may.above_limit) == (
        Decimal("0.1300"), Decimal("0.12"), True,
    )  # fmt: skip
    assert may.structure == {"service": Decimal("0.4"), "drugs_consumables": Decimal("0.4"), "tests": Decimal("0.2")}
    assert may.structure_deviation["drugs_consumables"] == Decimal("0.1") and may.off_target is True
    june = table[(big.org_id, JUNE)]
    assert (june.out_of_catalogue_share, june.above_limit, june.off_target) == (Decimal("0.1200"), False, False)
    assert june.structure_deviation == {
        "service": Decimal("-0.05"), "drugs_consumables": Decimal("0.05"), "tests": Decimal("0"),
    }  # fmt: skip
    small_june = table[(small.org_id, JUNE)]
    assert not small_june.structure_applies and small_june.structure is None and small_june.off_target is None
    assert small_june.out_of_catalogue_share is None and small_june.above_limit is None  # 0 ÷ 0 is missing
    assert table[(small.org_id, MAY)].no_data and table[(small.org_id, MAY)].report_id is None
    summary = run_period(db, auditor, start=MAY, end=dt.date(2026, 7, 1))
    stmt = sa.select(Alert).where(Alert.source == "circulation").order_by(Alert.id)
    alerts = [(a.code, a.subject_org_id, a.evidence["month"]) for a in db.exec(stmt).scalars()]
    assert alerts == [(OUT_OF_CATALOGUE, big.org_id, "2026-05"), (REVENUE_STRUCTURE, big.org_id, "2026-05")]
    assert summary.figures["read"]["finance_reports"] == 3 and not summary.no_data


def test_a_regional_cap_applies_by_the_longest_prefix(db, people):
    big, auditor = people["big"], people["auditor"]
    _file(db, big, big, JUNE, inside=89, outside=11)
    rules = circulation_rules("cangshan-10", out_of_catalogue_limits={"": Decimal("0.12"), "3501": Decimal("0.10")})
    [row] = indicators(db, actor=auditor, start=JUNE, end=dt.date(2026, 7, 1), hospital_id=big.org_id, rules=rules)
    assert (row.out_of_catalogue_share, row.out_of_catalogue_limit, row.above_limit) == (
        Decimal("0.1100"), Decimal("0.10"), True,
    )  # fmt: skip


def test_filing_again_replaces_and_keeps_the_old_figures(db, people):
    big = people["big"]
    first, created = _file(db, big, big, JUNE, outside=12)
    assert created and first.source == "hospital"
    same, created = _file(db, big, big, JUNE, outside=12)
    assert not created and same.id == first.id
    second, created = _file(db, people["auditor"], big, JUNE, outside=20)
    assert not created and second.id == first.id and second.insured_out_of_catalogue == Decimal(20)
    assert second.source == "auditor" and second.updated_at is not None
    actions = sa.select(AuditRecord.action, AuditRecord.details).where(
        AuditRecord.object_type == "hospital_finance_report"
    )
    records = db.exec(actions.order_by(AuditRecord.id)).all()
    assert [r[0] for r in records] == ["finance_report.submitted", "finance_report.replaced"]
    assert records[1][1]["was"]["insured_out_of_catalogue"] == "12.0000"


def test_bad_reports_are_refused_naming_the_field(db, people):
    big, small = people["big"], people["small"]

    def refused(actor, hospital, month=JUNE, **amounts) -> DomainError:
        with pytest.raises(DomainError) as caught:
            _file(db, actor, hospital, month, **amounts)
        return caught.value

    assert "drug_income" in refused(big, big, drug=-1).errors
    assert "month" in refused(big, big, month=dt.date(2026, 6, 2)).errors
    assert "month" in refused(big, big, month=dt.date(2026, 8, 1)).errors  # a future month (now is 2026-07-05)
    assert refused(small, big).code == "foreign_organisation"
    assert refused(people["supplier"], big).code == "role_required"
    assert "hospital_id" in refused(people["auditor"], people["supplier"]).errors
    with pytest.raises(DomainError) as caught:
        list_reports(db, actor=small, hospital_id=big.org_id)
    assert caught.value.code == "foreign_organisation"
    _file(db, big, big, JUNE)
    assert list_reports(db, actor=small).total == 0 and list_reports(db, actor=people["auditor"]).total == 1
