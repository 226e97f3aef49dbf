"""Credit-rating cases on the demo suppliers (rulebook 6): one 严重 bribery case and one 一般 case that penetrates.

Shaxi Pharmaceutical was convicted of paying kickbacks on one of its products (2020 rules, single bribe 320,000
yuan ≥ 300,000 → 严重): the product is suspended from listing and bidding until the case leaves its window, and the
firm has started its repair (two of the five measures reported). Ludao, a distributor, was fined for small
kickbacks (cumulative 64,000 → 一般) on a Minhai product that Minhai controlled: both are warned. Load it after the
tenders and orders, so the suspension does not stop the demo's own bidding.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.db import utcnow
from core.models import Organisation
from procurement.audit import credit, credit_disposal
from procurement.catalogue import Product
from scripts.demo.world import INSURANCE_BUREAU, LUDAO, MINHAI, SHAXI

LAST_2020_DECISION = dt.date(2025, 6, 20)  # both cases are rated under the 2020 rules (the 2025 ones start 07-01)


def _org(session: Session, name: str) -> Organisation:
    return session.exec(sa.select(Organisation).where(Organisation.name == name)).scalars().one()


def _first_product(session: Session, maker: Organisation) -> int:
    stmt = sa.select(Product.id).where(Product.manufacturer_id == maker.id).order_by(Product.id)
    return session.exec(stmt).scalars().first()


def load_demo_credit(session: Session, actor: Actor, *, now: dt.datetime | None = None) -> str:
    """Record the demo's credit cases as ``actor`` (an auditor or the system) and return a summary; never commits."""
    today = (now or utcnow()).date()
    province = _org(session, INSURANCE_BUREAU).region_code[:2]
    shaxi, ludao, minhai = _org(session, SHAXI), _org(session, LUDAO), _org(session, MINHAI)
    serious_on = min(LAST_2020_DECISION - dt.timedelta(days=94), today - dt.timedelta(days=90))
    mild_on = min(LAST_2020_DECISION - dt.timedelta(days=281), today - dt.timedelta(days=200))
    serious, _new = credit.record_case(
        session,
        data=credit.CaseIn(
            supplier_id=shaxi.id,
            category="bribery",
            rule_set_version="2020",
            conduct_date=serious_on - dt.timedelta(days=420),
            decision_date=serious_on,
            evidence_source="court_judgment",
            decision_number=f"({serious_on.year})闽0403刑初118号",
            single_amount=Decimal("320000"),
            cumulative_amount=Decimal("860000"),
            product_ids=(_first_product(session, shaxi),),
            documents=("三明市三元区人民法院刑事判决书.pdf",),
            summary="销售人员向两家医院药剂科负责人给予回扣,单笔最高 32 万元,累计 86 万元。",
            province=province,
        ),
        actor=actor,
        today=today,
    )
    mild, _new = credit.record_case(
        session,
        data=credit.CaseIn(
            supplier_id=ludao.id,
            controlling_org_id=minhai.id,
            category="bribery",
            rule_set_version="2020",
            conduct_date=mild_on - dt.timedelta(days=300),
            decision_date=mild_on,
            evidence_source="administrative_penalty",
            decision_number=f"厦市监处罚〔{mild_on.year}〕2031号",
            single_amount=Decimal("18000"),
            cumulative_amount=Decimal("64000"),
            product_ids=(_first_product(session, minhai),),
            documents=("厦门市市场监督管理局行政处罚决定书.pdf",),
            summary="以学术推广名义向医生支付费用,单笔最高 1.8 万元,累计 6.4 万元,受闽海制药安排。",
            province=province,
        ),
        actor=actor,
        today=today,
    )
    credit_disposal.record_repair(
        session,
        case=serious,
        measures=[
            {"measure": "stop_conduct", "evidence": "已终止涉事销售合同,停止向涉事医院供货推广。", "documents": []},
            {"measure": "compliance_report", "evidence": "提交合规整改报告并接受省医保局现场检查。", "documents": []},
        ],
        note="整改进行中",
        actor=actor,
        on=today,
    )
    return (
        f"Credit: case {serious.decision_number} ({serious.level}, {serious.rule_set_version} rules) suspends "
        f"Shaxi's case product; case {mild.decision_number} ({mild.level}) warns Ludao and Minhai."
    )
