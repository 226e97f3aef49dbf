"""Excel export of surplus-retention results with every term of their breakdown, for the bureau's files."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation
from procurement.audit.surplus import allocations_of, results_query
from procurement.spreadsheets import SheetOut, workbook_bytes
from procurement.tenders.models import Tender

RESULT_HEADER = (
    "结果ID result id", "招采 tender", "医院 hospital", "通用名 generic name", "单位 unit",
    "协议年起 year start", "协议年止 year end", "计至 measured to", "终值 final", "状态 status",
    "完成率 completion", "得分 score", "档次 tier", "留用比例 ratio", "预算 budget",
    "医保支出 spend", "结余测算基数 surplus base", "留用金额 retained", "参数 rules",
)  # fmt: skip
TERM_HEADER = ("结果ID result id", "医院 hospital", "项目 term", "说明 label", "值 value", "公式 formula",
               "来源 source")  # fmt: skip
INDICATOR_HEADER = ("结果ID result id", "医院 hospital", "指标 indicator", "值 value", "得分 score", "权重 weight",
                    "实际权重 effective weight", "公式 formula", "来源 source")  # fmt: skip
SPLIT_HEADER = ("结果ID result id", "总医院 general hospital", "成员单位 member unit", "份额 share", "金额 amount",
                "承担尾差 holds remainder")  # fmt: skip


def _text(value) -> str:
    return "" if value is None else str(value)


def results_workbook(
    session: Session,
    *,
    actor: Actor,
    tender_id: int | None = None,
    hospital_id: int | None = None,
    generic_name: str | None = None,
) -> bytes:
    """Write the results a caller may see into a workbook: results, breakdown terms, indicators, member splits."""
    stmt = results_query(actor=actor, tender_id=tender_id, hospital_id=hospital_id, generic_name=generic_name)
    results = list(session.exec(stmt).scalars())
    org_ids = {r.hospital_id for r in results}
    splits = allocations_of(session, [r.id for r in results])
    org_ids |= {a.hospital_id for parts in splits.values() for a in parts}
    names = dict(session.exec(sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))).all())
    tenders = dict(
        session.exec(sa.select(Tender.id, Tender.title).where(Tender.id.in_({r.tender_id for r in results}))).all()
    )
    rows, terms, indicators, members = [], [], [], []
    for r in results:
        hospital = names.get(r.hospital_id, str(r.hospital_id))
        rows.append((
            r.id, tenders.get(r.tender_id, str(r.tender_id)), hospital, r.generic_name, r.unit,
            r.year_start.isoformat(), r.year_end.isoformat(), r.measured_to.isoformat(), "是" if r.final else "否",
            r.status, _text(r.completion), _text(r.score), _text(r.tier), _text(r.ratio), _text(r.budget),
            _text(r.spend), _text(r.surplus_base), _text(r.retained),
            f"{r.rule.get('name', '')} {r.rule.get('version', '')}",
        ))  # fmt: skip
        for term in r.breakdown.get("terms", []):
            terms.append((r.id, hospital, term["name"], term["label"], _text(term["value"]), term["formula"],
                          term["source"]))  # fmt: skip
        for ind in r.breakdown.get("indicators", []):
            indicators.append((r.id, hospital, ind["name"], _text(ind["value"]), _text(ind["score"]), ind["weight"],
                               ind["effective_weight"], ind["formula"], ind["source"]))  # fmt: skip
        for part in splits.get(r.id, []):
            members.append((r.id, hospital, names.get(part.hospital_id, str(part.hospital_id)), str(part.share),
                            str(part.amount), "是" if part.holds_remainder else "否"))  # fmt: skip
    return workbook_bytes(
        [
            SheetOut("结余留用 results", RESULT_HEADER, rows, widths=(10, 24, 24, 20) + (12,) * 15),
            SheetOut("测算明细 breakdown", TERM_HEADER, terms, widths=(10, 24, 24, 40, 18, 60, 60)),
            SheetOut("考核指标 indicators", INDICATOR_HEADER, indicators, widths=(10, 24, 20, 12, 10, 10, 12, 50, 60)),
            SheetOut("成员单位分配 member split", SPLIT_HEADER, members, widths=(10, 24, 24, 10, 14, 12)),
        ]
    )
