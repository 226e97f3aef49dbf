"""Three months of prescription and dispensing records for the demo hospitals, with the anomalies rulebook 7 watches.

Every demo hospital with pharmacy staff registers its physicians and imports its records month by month through the
import service (JSON rows, as a hospital system would send them), so the rows pass every check a real upload does.
Routine lines dispense only what the hospital received through the trace record (its packs in stock), choosing
the winning product of each generic name, so the rules find the planted anomalies and little else; the number of
lines therefore follows the demo's scale (about 4,300 at scale 1). Patients are pseudonymised on import.

Planted for the monitoring rules (rulebook 7.2, 7.4, 7.5, 7.7, 5.6.7 R7, 7.11), all in the first hospital:

* physician ``D009`` writes three unjustified abnormal prescriptions (超常处方), then two more (the 3-then-2 of 7.2);
* one outpatient prescription holds six drugs (7.7: more than five);
* one outpatient line covers 10 days with no reason recorded (7.4);
* one chronic patient's line covers 16 weeks (112 days; 7.5 allows at most 12);
* an antimicrobial on a 30-day long prescription (7.5 excludes antimicrobials);
* a non-winning product dispensed where the winning one of its generic name is in stock (3.6);
* one pack's trace code dispensed to two different patients (5.6.7 R7);
* one inpatient case using six coronary stents where its peers use one (7.11).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.models import Organisation, User, UserRole
from core.roles import OrgKind, Role
from procurement.audit.physician_registry import register_physicians
from procurement.audit.prescriptions import import_prescriptions
from procurement.catalogue_models import Product, ProductKind
from procurement.orders.buyable import IN_FORCE
from procurement.tenders.models import AgreedVolume, Award, Tender
from trace.models import Item, TradeItem

SEED = 20260707
CHINA = dt.timezone(dt.timedelta(hours=8))
DEPARTMENTS = ("心内科", "内分泌科", "呼吸科", "神经内科", "急诊科", "感染科", "心外科")
TITLES = ("住院医师", "主治医师", "副主任医师", "主任医师")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
ANTIMICROBIAL = ("头孢", "沙星", "霉素", "培南", "阿莫西林")  # name fragments of the demo's antimicrobials


@dataclass
class _Hospital:
    org: Organisation
    staff: Actor
    physicians: list[dict[str, str]]
    winners: dict[str, int]  # generic name → winning product id
    stock: dict[int, list[str]] = field(default_factory=dict)  # product id → pack keys held
    budget: dict[int, float] = field(default_factory=dict)  # product id → packs left to dispense
    rows: list[dict[str, Any]] = field(default_factory=list)
    serial: int = 0


def _staff(session: Session, org_id: int) -> Actor | None:
    roles = (Role.PHARMACIST.value, Role.PHARMACY_MANAGER.value)
    stmt = (
        sa.select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.organisation_id == org_id, UserRole.role.in_(roles))
        .order_by(User.id)
    )
    user_id = session.exec(stmt).scalars().first()
    return actor_for_user(session, user_id) if user_id is not None else None


def _hospitals(session: Session, rng: random.Random) -> list[_Hospital]:
    stmt = sa.select(Organisation).where(Organisation.kind == OrgKind.HOSPITAL.value).order_by(Organisation.id)
    found = []
    for org in session.exec(stmt).scalars():
        staff = _staff(session, org.id)
        if staff is None:
            continue
        physicians = [
            {
                "code": f"D{n:03d}",
                "name": rng.choice(SURNAMES) + rng.choice(("伟", "敏", "静", "磊", "芳", "军")),
                "department": DEPARTMENTS[(n - 1) % len(DEPARTMENTS)],
                "title": rng.choice(TITLES),
            }
            for n in range(1, 10)
        ]
        rows = session.execute(
            sa.select(Product.generic_name, Award.product_id)
            .select_from(AgreedVolume)
            .join(Award, Award.id == AgreedVolume.award_id)
            .join(Tender, Tender.id == AgreedVolume.tender_id)
            .join(Product, Product.id == Award.product_id)
            .where(AgreedVolume.hospital_id == org.id, Tender.status.in_(IN_FORCE))
            .order_by(Award.product_id)
        ).all()
        winners: dict[str, int] = {}
        for name, product_id in rows:
            winners.setdefault(name, product_id)
        hospital = _Hospital(org, staff, physicians, winners)
        held = session.execute(
            sa.select(TradeItem.catalogue_ref, Item.code_key)
            .join(TradeItem, TradeItem.id == Item.trade_item_id)
            .where(Item.custodian_org_id == org.id, TradeItem.level == 1, TradeItem.catalogue_ref.is_not(None))
            .order_by(Item.id)
        ).all()
        for product_id, key in held:
            hospital.stock.setdefault(product_id, []).append(key)
        hospital.budget = {pid: float(len(keys)) for pid, keys in hospital.stock.items()}
        found.append(hospital)
    return found


def _patient(hospital: _Hospital, rng: random.Random, pool: int = 600) -> str:
    return f"{hospital.org.id:03d}-MZ{rng.randrange(1, pool):06d}"


def _prescription(
    hospital: _Hospital,
    *,
    physician: str,
    on: dt.date,
    setting: str,
    patient: str,
    lines: list[dict[str, Any]],
    chronic: bool = False,
    case_id: str | None = None,
) -> None:
    hospital.serial += 1
    number = f"RX{on:%Y%m%d}{hospital.serial:05d}"
    for line_no, line in enumerate(lines, start=1):
        hospital.rows.append(
            {
                "prescription_no": number,
                "line_no": line_no,
                "patient_id": patient,
                "physician_code": physician,
                "setting": setting,
                "prescribed_on": on.isoformat(),
                "chronic": chronic,
                "case_id": case_id,
                **line,
            }
        )


def _line(product: Product, packs: float, days: int | None, *, price: float | None = None, **extra) -> dict[str, Any]:
    price = price if price is not None else 8 + (product.id * 37) % 90  # a steady price per product
    drug_class = "antimicrobial" if any(f in product.generic_name for f in ANTIMICROBIAL) else ""
    return {
        "product_id": product.id,
        "quantity": packs,
        "days_supply": days,
        "amount": f"{packs * price:.2f}",
        "drug_class": drug_class,
        **extra,
    }


def _routine(hospital: _Hospital, products: dict[int, Product], drugs: list[Product], day: dt.date, rng) -> None:
    """Write one ordinary prescription: 1–4 lines of mostly winning products within the day limits."""
    setting = rng.choices(("outpatient", "emergency", "inpatient"), weights=(80, 10, 10))[0]
    chronic = setting == "outpatient" and rng.random() < 0.3
    choices = [
        products[pid]
        for pid, left in hospital.budget.items()
        if left >= 1 and pid in products and hospital.winners.get(products[pid].generic_name, pid) == pid
    ]  # stocked, and the winner of its generic name where there is one: the non-winning choice is planted once
    if not choices:
        return  # a hospital dispenses only what it received: nothing is left to dispense
    picked = rng.sample(choices, k=min(len(choices), rng.randint(1, 4)))
    limit = {"outpatient": 7, "emergency": 3, "inpatient": 5}[setting]
    days = 28 if chronic else limit
    lines = []
    for product in picked:
        packs = min(rng.choice((1, 1, 2, 0.5)), hospital.budget[product.id])
        hospital.budget[product.id] -= packs
        stock = hospital.stock.get(product.id)
        code = stock.pop() if stock and packs >= 1 and rng.random() < 0.5 else None
        reason = "慢病稳定期长期处方" if chronic else None  # 7.4: longer than 7 days with the reason recorded
        lines.append(_line(product, packs, days, trace_code=code and _code_text(code), reason=reason))
    physician = rng.choice(hospital.physicians[:8])["code"]
    case = f"ZY{hospital.serial:06d}" if setting == "inpatient" else None
    _prescription(
        hospital,
        physician=physician,
        on=day,
        setting=setting,
        patient=_patient(hospital, rng),
        lines=lines,
        chronic=chronic,
        case_id=case,
    )


def _code_text(code_key: str) -> str:
    """Turn a stored pack key back into the code a scanner reads (20 digits, or bracketed GS1)."""
    kind, key = code_key.split(":", 1)
    return key if kind == "cn20" else f"(01){key[:14]}(21){key[14:]}"


def _plant(
    hospital: _Hospital,
    products: dict[int, Product],
    drugs: list[Product],
    stents: list[Product],
    days: list[dt.date],
    rng: random.Random,
) -> list[str]:
    """Plant the anomalies of the module docstring in the first hospital; return what was planted."""
    planted = []
    days = [days[min(n, len(days) - 1)] for n in range(32)]  # short demos reuse the last day
    by_stock = sorted(hospital.budget, key=lambda pid: -hospital.budget[pid])
    stocked = [products[pid] for pid in by_stock if pid in products and products[pid].kind == ProductKind.DRUG.value]
    winner = (stocked or drugs)[0]
    for n, day in enumerate(days[5:30:5]):  # five abnormal prescriptions, in time order
        line = _line(winner, 2, 7, abnormal=True, abnormal_justified=False)
        _prescription(
            hospital, physician="D009", on=day, setting="outpatient", patient=_patient(hospital, rng), lines=[line]
        )
        planted.append(f"D009 abnormal #{n + 1}")
    pool = stocked if len(stocked) >= 6 else drugs
    six = [pool[n % len(pool)] for n in rng.sample(range(max(len(pool), 6)), 6)]  # distinct where it can
    _prescription(
        hospital,
        physician="D001",
        on=days[10],
        setting="outpatient",
        patient=_patient(hospital, rng),
        lines=[_line(p, 1, 7) for p in six],
    )
    _prescription(
        hospital,
        physician="D002",
        on=days[12],
        setting="outpatient",
        patient=_patient(hospital, rng),
        lines=[_line(winner, 2, 10)],
    )
    _prescription(
        hospital,
        physician="D002",
        on=days[14],
        setting="outpatient",
        patient=_patient(hospital, rng),
        chronic=True,
        lines=[_line(winner, 8, 112, reason="高血压稳定期，患者签字确认")],
    )
    antimicrobial = next((p for p in [*stocked, *drugs] if any(f in p.generic_name for f in ANTIMICROBIAL)), drugs[0])
    _prescription(
        hospital,
        physician="D006",
        on=days[16],
        setting="outpatient",
        patient=_patient(hospital, rng),
        chronic=True,
        lines=[_line(antimicrobial, 3, 30, drug_class="antimicrobial")],  # no chronic infection recorded (7.5)
    )
    planted += [
        "6 drugs on one outpatient prescription",
        "10 days outpatient without reason",
        "112-day prescription",
        "antimicrobial on a long prescription",
    ]
    for name, winning_id in [(name, pid) for name, pid in hospital.winners.items() if hospital.stock.get(pid)]:
        rival = next((p for p in drugs if p.generic_name == name and p.id != winning_id), None)
        if rival is not None:
            _prescription(
                hospital,
                physician="D003",
                on=days[18],
                setting="outpatient",
                patient=_patient(hospital, rng),
                lines=[_line(rival, 1, 7)],
            )
            planted.append(f"non-winning {name} while the winner was stocked")
            break
    keys = next((keys for keys in hospital.stock.values() if keys), None)
    if keys:
        code = _code_text(keys.pop())
        product_id = next(pid for pid, ks in hospital.stock.items() if ks is keys)
        for n, patient in enumerate(("DUP-A", "DUP-B")):
            _prescription(
                hospital,
                physician="D004",
                on=days[20 + n],
                setting="outpatient",
                patient=patient,
                lines=[_line(products[product_id], 1, 7, trace_code=code)],
            )
        planted.append("one trace code dispensed to two patients")
    if stents:
        for n in range(8):  # peers: one stent per case
            _prescription(
                hospital,
                physician="D007",
                on=days[22 + n],
                setting="inpatient",
                patient=_patient(hospital, rng),
                case_id=f"PCI{n:03d}",
                lines=[_line(stents[0], 1, None, price=7800.0)],
            )
        _prescription(
            hospital,
            physician="D007",
            on=days[31],
            setting="inpatient",
            patient=_patient(hospital, rng),
            case_id="PCI999",
            lines=[_line(stents[0], 6, None, price=7800.0)],
        )
        planted.append("a case with six stents where peers use one")
    for row in hospital.rows:  # the routine lines dispense only what the planted ones left
        if row["product_id"] in hospital.budget:
            hospital.budget[row["product_id"]] -= row["quantity"]
    return planted


def load_demo_prescriptions(
    session: Session,
    actor: Actor,
    *,
    pseudonym_key: bytes,
    now: dt.datetime | None = None,
    scale: float = 1.0,
    days: int = 90,
) -> str:
    """Import ``days`` of prescriptions (before ``now``) for every demo hospital with pharmacy staff; plant the
    anomalies of the module docstring; return a summary; never commits.

    ``actor`` is the job's actor (recorded in the summary only): each hospital's own pharmacy staff register its
    physicians and import its records, since only a hospital may import for itself.
    """
    now = now or utcnow()
    rng = random.Random(SEED)
    hospitals = _hospitals(session, rng)
    if not hospitals:
        return "Prescriptions: no hospital with pharmacy staff."
    all_products = session.exec(sa.select(Product).order_by(Product.id)).scalars().all()
    products = {p.id: p for p in all_products}
    drugs = [p for p in all_products if p.kind == ProductKind.DRUG.value]
    stents = [p for p in all_products if p.kind == ProductKind.CONSUMABLE.value and "支架" in p.generic_name]
    today = now.astimezone(CHINA).date()
    calendar = [today - dt.timedelta(days=n) for n in range(days, 0, -1)]
    per_day = max(int(4 * scale), 1)
    planted: list[str] = []
    for index, hospital in enumerate(hospitals):
        register_physicians(session, actor=hospital.staff, hospital_id=hospital.org.id, physicians=hospital.physicians)
        if index == 0:  # before the routine lines take their packs: the winner must still be in stock
            planted = _plant(hospital, products, drugs, stents, calendar, rng)
        for day in calendar:
            for _ in range(per_day):
                _routine(hospital, products, drugs, day, rng)
    lines = prescriptions = 0
    for hospital in hospitals:
        for month in sorted({row["prescribed_on"][:7] for row in hospital.rows}):
            rows = [row for row in hospital.rows if row["prescribed_on"].startswith(month)]
            record, _ = import_prescriptions(
                session,
                actor=hospital.staff,
                hospital_id=hospital.org.id,
                pseudonym_key=pseudonym_key,
                rows=rows,
                idempotency_key=f"demo-{hospital.org.id}-{month}",
            )
            lines, prescriptions = lines + record.line_count, prescriptions + record.prescription_count
    return (
        f"Prescriptions ({actor.username}): {prescriptions} prescriptions with {lines} lines in {len(hospitals)} "
        f"hospitals over {days} days; planted in {hospitals[0].org.name}: {'; '.join(planted)}."
    )
