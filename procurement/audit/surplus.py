"""Surplus retention (医保资金结余留用, rulebook 3; Sanming member shares, 0.4): compute, store, raise, list, export.

Per hospital × generic name (the lot of an agreed volume) × agreement year of the tender cycle:

    Budget      = agreed volume base × pre-tender weighted average price × fund pay ratio × insured share   (3.1)
    Spend       = (winning units up to the agreed volume × winning price + non-winning spend + off-platform spend,
                   its winning products too up to the agreed volume) × fund pay ratio × insured share        (3.2, 3.6)
    SurplusBase = max(0, Budget − Spend)                                                                     (3.2)
    Retained    = SurplusBase × ratio(tier(score)), rounded down to the fen, if the agreed volume is completed
                  and the assessment passed                                                                 (3.3)

The arithmetic lives in :mod:`surplus_calc`, the facts in :mod:`surplus_data`, the policy numbers in
:mod:`surplus_rules`. Each stored result keeps its breakdown and the parameter set's ``describe()``; computing a
period again replaces the results of the same agreed volume and year and raises each alert only once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import Severity, raise_alert_once
from core.audit import record_audit
from core.db import utcnow
from core.errors import FORBIDDEN, DomainError, invalid
from core.models import Organisation
from core.pagination import Page, paginate
from core.params import ParameterSet
from core.roles import OrgKind, Role
from procurement.audit import surplus_rules as rules
from procurement.audit.parts import PartSummary, Progress
from procurement.audit.surplus_calc import Facts, Outcome, ResultStatus, compute
from procurement.audit.surplus_data import gather_facts
from procurement.audit.surplus_models import SurplusAllocation, SurplusResult
from procurement.orders.ordering import HOSPITAL_ROLES

SOURCE = "surplus"
RUN_ROLES = (Role.AUDITOR, Role.ADMIN)


def compute_period(
    session: Session,
    *,
    actor: Actor,
    start: dt.date,
    end: dt.date,
    tender_id: int | None = None,
    params: ParameterSet | None = None,
    progress: Progress | None = None,
) -> list[tuple[SurplusResult, Outcome, Facts]]:
    """Compute and store the results of every agreed volume × agreement year overlapping [start, end)."""
    actor.require(*RUN_ROLES)
    if end <= start:
        raise invalid("end", "the period's end must come after its start (the end day is not included)")
    params = rules.check_rules(params or rules.surplus_rules())
    facts = gather_facts(session, actor=actor, start=start, end=end, tender_id=tender_id)
    out = []
    for done, fact in enumerate(facts, start=1):
        outcome = compute(fact, params, fund=rules.fund_pay_ratio(params, fact.region_code))
        earlier = _retained_before(session, fact) if params["retain_once_per_generic_name"] else None
        if earlier is not None and outcome.retained > 0:
            outcome = _not_again(outcome, earlier)
        out.append((_store(session, actor, fact, outcome, params), outcome, fact))
        if progress:
            progress(done, len(facts))
    return out


def _retained_before(session: Session, fact: Facts) -> SurplusResult | None:
    """Return a final result of an earlier tender that retained money for this hospital and generic name (3.6)."""
    stmt = (
        sa.select(SurplusResult)
        .where(
            SurplusResult.hospital_id == fact.hospital_id,
            SurplusResult.generic_name == fact.generic_name,
            SurplusResult.tender_id != fact.tender_id,
            SurplusResult.final.is_(True),
            SurplusResult.status == ResultStatus.RETAINED.value,
            SurplusResult.retained > 0,  # a result that retained nothing has not "completed a cycle with retention"
            SurplusResult.year_end <= fact.year_start,
        )
        .order_by(SurplusResult.year_end.desc(), SurplusResult.id.desc())
    )
    return session.exec(stmt).scalars().first()


def _not_again(outcome: Outcome, earlier: SurplusResult) -> Outcome:
    """The same outcome with nothing retained: the generic name already retained over a completed cycle (3.6)."""
    why = (
        f"{earlier.generic_name} already retained {earlier.retained} under tender {earlier.tender_id} "
        f"(result {earlier.id}, year to {earlier.year_end}); a generic name that completed a cycle with retention "
        "is not counted again in later rounds"
    )
    breakdown = {**outcome.breakdown, "not_counted_again": {"rule": "3.6", "earlier_result_id": earlier.id,
                                                            "why": why}}  # fmt: skip
    return replace(outcome, status=ResultStatus.ALREADY_RETAINED, retained=Decimal(0), breakdown=breakdown,
                   allocations=[])  # fmt: skip


def _store(session: Session, actor: Actor, fact: Facts, outcome: Outcome, params: ParameterSet) -> SurplusResult:
    result = session.exec(
        sa.select(SurplusResult).where(
            SurplusResult.agreed_volume_id == fact.agreed_volume_id, SurplusResult.year_start == fact.year_start
        )
    ).scalars().first()  # fmt: skip
    previous = None
    if result is None:
        result = SurplusResult(agreed_volume_id=fact.agreed_volume_id, year_start=fact.year_start)
    else:
        previous = _figures(session, result)
        session.execute(sa.delete(SurplusAllocation).where(SurplusAllocation.result_id == result.id))
    result.tender_id, result.lot_id, result.hospital_id = fact.tender_id, fact.lot_id, fact.hospital_id
    result.generic_name, result.unit, result.year_end = fact.generic_name, fact.unit, fact.year_end
    result.measured_to, result.final, result.status = fact.measured_to, fact.final, outcome.status.value
    result.completion, result.score, result.tier, result.ratio = (
        outcome.completion,
        outcome.score,
        outcome.tier,
        outcome.ratio,
    )
    result.budget, result.spend, result.surplus_base = outcome.budget, outcome.spend, outcome.surplus_base
    result.retained, result.breakdown, result.rule = outcome.retained, outcome.breakdown, params.describe()
    result.computed_by_id, result.computed_at = actor.user_id, utcnow()
    session.add(result)
    session.flush()
    for part in outcome.allocations:
        session.add(SurplusAllocation(result_id=result.id, hospital_id=part["hospital_id"], share=part["share"],
                                      amount=part["amount"], holds_remainder=part["holds_remainder"]))  # fmt: skip
    session.flush()
    details = {"status": result.status, "retained": str(result.retained), "year_start": fact.year_start.isoformat(),
               "measured_to": fact.measured_to.isoformat(), "rules": f"{params.name} {params.version}"}  # fmt: skip
    if previous is not None:  # a recomputation: the figures it replaces stay on the record, with what changed
        now = _figures(session, result)
        details["previous"] = previous
        details["changed"] = sorted(name for name in now if now[name] != previous.get(name))
    record_audit(session, actor=actor, action="surplus.computed", object_type="surplus_result", object_id=result.id,
                 details=details)  # fmt: skip
    return result


FIGURES = ("status", "final", "measured_to", "completion", "score", "tier", "ratio", "budget", "spend", "surplus_base",
           "retained")  # fmt: skip


def _figures(session: Session, result: SurplusResult) -> dict:
    """The result's headline figures, breakdown and member split as plain JSON (kept when a recomputation replaces
    them, so an auditor can show what an earlier figure was and why it changed)."""
    figures = {name: _plain(getattr(result, name)) for name in FIGURES}
    figures["rules"] = f"{result.rule.get('name')} {result.rule.get('version')}" if result.rule else None
    figures["breakdown"] = result.breakdown
    rows = session.exec(sa.select(SurplusAllocation).where(SurplusAllocation.result_id == result.id).order_by(
        SurplusAllocation.hospital_id)).scalars()  # fmt: skip
    figures["allocations"] = [{"hospital_id": a.hospital_id, "share": _plain(a.share), "amount": _plain(a.amount)}
                              for a in rows]  # fmt: skip
    return figures


def _plain(value):
    if isinstance(value, Decimal):  # one spelling per amount, whether read back (scale 4) or just computed
        return format(value.normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _alert(session, actor, params, *, code, key, title, object_type, object_id, evidence, subject) -> bool:
    _alert_row, new = raise_alert_once(
        session, dedupe_key=f"{code}|{key}", actor=actor, code=code, source=SOURCE,
        severity=Severity(params["severities"][code]), title=title, object_type=object_type, object_id=object_id,
        evidence=evidence, rule=params.describe(), subject_org_id=subject,
    )  # fmt: skip
    return new


def _raise_alerts(session: Session, actor: Actor, params: ParameterSet, result, outcome, fact) -> tuple[int, int]:
    """Raise the findings of one result; return (findings, new alerts)."""
    findings = raised = 0
    base = {"result_id": result.id, "agreed_volume_id": fact.agreed_volume_id, "tender_id": fact.tender_id,
            "lot_id": fact.lot_id, "year_start": fact.year_start.isoformat(), "receipt_ids": fact.receipt_ids,
            "non_winning_receipt_ids": fact.non_winning_receipt_ids}  # fmt: skip
    where = f"{fact.hospital_name} · {fact.generic_name} · {fact.year_start.isoformat()}"
    if fact.final and result.status == ResultStatus.NOT_COMPLETED:
        findings += 1
        raised += _alert(
            session, actor, params, code=rules.NOT_COMPLETED, key=f"agreed_volume:{fact.agreed_volume_id}|"
            f"{fact.year_start.isoformat()}", title=f"Agreed volume not completed ({result.completion}); no surplus "
            f"retained: {where}", object_type="surplus_result", object_id=result.id, subject=fact.hospital_id,
            evidence={**base, "completion": str(result.completion), "forfeited_surplus_base": str(result.surplus_base)},
        )  # fmt: skip
    elif fact.final and result.status == ResultStatus.NOT_PASSED:
        findings += 1
        raised += _alert(
            session, actor, params, code=rules.ASSESSMENT_FAILED, key=f"agreed_volume:{fact.agreed_volume_id}|"
            f"{fact.year_start.isoformat()}", title=f"Assessment score {result.score} below the pass mark: {where}",
            object_type="surplus_result", object_id=result.id, subject=fact.hospital_id,
            evidence={**base, "score": str(result.score), "indicators": outcome.breakdown["indicators"]},
        )  # fmt: skip
    factor = rules.decimal_of(params["base_above_history_factor"], "base_above_history_factor")
    if fact.historical_use and fact.annual_base >= factor * fact.historical_use:
        findings += 1
        raised += _alert(
            session, actor, params, code=rules.BASE_ABOVE_HISTORY, key=f"agreed_volume:{fact.agreed_volume_id}",
            title=f"Reported base {fact.annual_base} is ≥ {factor} × historical use {fact.historical_use}: "
            f"{fact.hospital_name} · {fact.generic_name}", object_type="agreed_volume",
            object_id=fact.agreed_volume_id, subject=fact.hospital_id,
            evidence={**base, "reported_base": fact.annual_base, "historical_use": fact.historical_use,
                      "demand_report_ids": fact.demand_report_ids, "factor": str(factor)},
        )  # fmt: skip
    return findings, raised


def run_period(
    session: Session, actor: Actor, *, start: dt.date, end: dt.date, progress: Progress | None = None
) -> PartSummary:
    """Compute surplus retention for the agreement years overlapping [start, end), raising each finding once."""
    params = rules.check_rules(rules.surplus_rules())
    computed = compute_period(session, actor=actor, start=start, end=end, params=params, progress=progress)
    summary = PartSummary("surplus", start, end, rows=len(computed))
    if not computed:
        summary.notes.append("No agreed volume has an agreement year in this period: nothing to compute.")
        return summary
    statuses: Counter[str] = Counter()
    for result, outcome, fact in computed:
        statuses[result.status] += 1
        findings, raised = _raise_alerts(session, actor, params, result, outcome, fact)
        summary.findings += findings
        summary.alerts_raised += raised
    provisional = sum(1 for result, _o, _f in computed if not result.final)
    if statuses[ResultStatus.INPUTS_MISSING]:
        summary.notes.append(
            f"{statuses[ResultStatus.INPUTS_MISSING]} results have no budget: set the pre-tender prices, insured "
            "shares or the region's pay ratio."
        )
    if provisional:
        summary.notes.append(f"{provisional} results cover an agreement year that has not ended (provisional).")
    summary.figures = {
        "rules": f"{params.name} {params.version}",
        "statuses": dict(statuses),
        "retained": str(sum((r.retained for r, _o, _f in computed), Decimal(0))),
        "surplus_base": str(sum((r.surplus_base or Decimal(0) for r, _o, _f in computed), Decimal(0))),
    }
    return summary


def _visible(actor: Actor, hospital_id: int | None) -> sa.ColumnElement[bool] | None:
    """Return the filter of results a caller may see (None: all), refusing callers who may see none."""
    if actor.is_system or actor.has(*RUN_ROLES):
        return None
    if not (actor.has(*HOSPITAL_ROLES) and actor.org_kind == OrgKind.HOSPITAL):
        raise DomainError(FORBIDDEN, "surplus results are for auditors and the hospitals concerned",
                          code="role_required")  # fmt: skip
    if hospital_id is not None and hospital_id != actor.org_id:
        raise DomainError(FORBIDDEN, "a hospital sees only its own surplus results", code="foreign_organisation")
    allocated = sa.select(SurplusAllocation.result_id).where(SurplusAllocation.hospital_id == actor.org_id)
    return sa.or_(SurplusResult.hospital_id == actor.org_id, SurplusResult.id.in_(allocated))


def results_query(
    *, actor: Actor, tender_id: int | None = None, hospital_id: int | None = None, generic_name: str | None = None
) -> sa.Select:
    """Select the stored results a caller may see, newest year first, filtered by tender, hospital, generic name."""
    stmt = sa.select(SurplusResult).order_by(
        SurplusResult.year_start.desc(), SurplusResult.tender_id, SurplusResult.hospital_id, SurplusResult.lot_id
    )
    scope = _visible(actor, hospital_id)
    if scope is not None:
        stmt = stmt.where(scope)
    if tender_id is not None:
        stmt = stmt.where(SurplusResult.tender_id == tender_id)
    if hospital_id is not None:
        allocated = sa.select(SurplusAllocation.result_id).where(SurplusAllocation.hospital_id == hospital_id)
        stmt = stmt.where(sa.or_(SurplusResult.hospital_id == hospital_id, SurplusResult.id.in_(allocated)))
    if generic_name:
        stmt = stmt.where(SurplusResult.generic_name == generic_name)
    return stmt


def list_results(
    session: Session,
    *,
    actor: Actor,
    tender_id: int | None = None,
    hospital_id: int | None = None,
    generic_name: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[SurplusResult]:
    """List stored results: auditors all; a hospital its own and those it has a member share of (0.4)."""
    stmt = results_query(actor=actor, tender_id=tender_id, hospital_id=hospital_id, generic_name=generic_name)
    return paginate(session, stmt, page=page, per_page=per_page)


def allocations_of(session: Session, result_ids: list[int]) -> dict[int, list[SurplusAllocation]]:
    """Return each result's member-unit allocations."""
    out: dict[int, list[SurplusAllocation]] = {result_id: [] for result_id in result_ids}
    if result_ids:
        stmt = (
            sa.select(SurplusAllocation)
            .where(SurplusAllocation.result_id.in_(result_ids))
            .order_by(SurplusAllocation.result_id, SurplusAllocation.hospital_id)
        )
        for row in session.exec(stmt).scalars():
            out[row.result_id].append(row)
    return out


def result_rows(session: Session, results: list[SurplusResult]) -> list[dict]:
    """Return results as plain rows with the hospital's name and the member-unit allocations, for the API and pages."""
    splits = allocations_of(session, [r.id for r in results])
    org_ids = {r.hospital_id for r in results} | {a.hospital_id for parts in splits.values() for a in parts}
    names = dict(session.exec(sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))).all())
    rows = []
    for r in results:
        row = {column: getattr(r, column) for column in SurplusResult.model_fields}
        row["hospital_name"] = names.get(r.hospital_id, "")
        row["allocations"] = [
            {"hospital_id": a.hospital_id, "hospital_name": names.get(a.hospital_id, ""), "share": a.share,
             "amount": a.amount, "holds_remainder": a.holds_remainder}
            for a in splits[r.id]
        ]  # fmt: skip
        rows.append(row)
    return rows


def retained_by_hospital(
    session: Session,
    *,
    actor: Actor,
    tender_id: int | None = None,
    hospital_id: int | None = None,
    generic_name: str | None = None,
) -> list[dict]:
    """Sum the retained money each hospital receives (final and provisional apart) and the base not retained.

    Where a general hospital splits its retained money among its member units (0.4), each unit is credited with its
    allocation and the general hospital with its own part; the surplus base not retained stays with the hospital
    the result is about. With ``hospital_id`` only that hospital's money is counted.
    """
    shown = results_query(
        actor=actor, tender_id=tender_id, hospital_id=hospital_id, generic_name=generic_name
    ).subquery()
    results = session.exec(
        sa.select(shown.c.id, shown.c.hospital_id, shown.c.final, shown.c.retained, shown.c.surplus_base)
    ).all()  # fmt: skip
    split: dict[int, list[tuple[int, Decimal]]] = {}
    ids = [row[0] for row in results]
    for start in range(0, len(ids), 500):
        stmt = sa.select(SurplusAllocation.result_id, SurplusAllocation.hospital_id, SurplusAllocation.amount).where(
            SurplusAllocation.result_id.in_(ids[start : start + 500])
        )
        for result_id, member, amount in session.exec(stmt).all():
            split.setdefault(result_id, []).append((member, amount))
    totals: dict[int, dict] = {}

    def row_of(org: int) -> dict:
        return totals.setdefault(org, {"hospital_id": org, "final": Decimal(0), "provisional": Decimal(0),
                                       "not_retained": Decimal(0)})  # fmt: skip

    for result_id, owner, final, retained, base in results:
        kind = "final" if final else "provisional"
        retained, base = retained or Decimal(0), base or Decimal(0)
        for org, amount in split.get(result_id, [(owner, retained)]):
            if hospital_id is None or org == hospital_id:
                row_of(org)[kind] += amount
        if hospital_id is None or owner == hospital_id:
            row_of(owner)["not_retained"] += base - retained
    stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(list(totals)))
    names = dict(session.exec(stmt).all())
    for org, row in totals.items():
        row["hospital_name"] = names.get(org, str(org))
    return sorted(totals.values(), key=lambda r: (-(r["final"] + r["provisional"]), r["hospital_name"]))
