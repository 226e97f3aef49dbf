"""The demo's traceability flow: thousands of packs from commissioning to dispensing, and a few planted anomalies.

Every event goes through :func:`trace.capture.capture` as a demo user: the three makers commission production lots
(20-digit codes for some products, GS1 element strings for the others; a few products packed in cases), ship them
to the two distributors, who ship them on to the seven hospitals, who dispense most packs (some split, to
pseudonymised patients) over the last 90 days. Each step of a pack falls on a later day than the one before and
batches are captured in time order, so the ledger reads like the real history. The planted anomalies come last, each
in its own batch, and raise the alerts of rules R1–R7 and the recall rule. A checkpoint is signed every week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.pseudonym import pseudonymise
from procurement.catalogue import Product
from scripts.demo.world import BAMIN, FZ_CANGSHAN, FZ_UNION, LUDAO, SM_FIRST, SM_XINKOU, XM_FIRST, XM_JIMEI, XM_TCM
from trace import capture, ledger, rules
from trace.canonical import canonical_bytes
from trace.items import register_trade_item
from trace.models import EventType, TradeItem
from trace.transitions import EventIn

CST = dt.timezone(dt.timedelta(hours=8), "CST")
DAYS = 90  # the flow covers the 90 days before the load
PACKS = 3000  # at scale 1
LOT_PACKS = (40, 110)
CASE_SIZE = 20
CASE_PRODUCTS = 4  # products that also travel in cases (大码)
DISPENSED_SHARE = 0.85
HELD_BACK_SHARE = 0.1  # of the loose packs a distributor receives: its stock
SPLIT_EVERY = 8  # every 8th dispensed pack of 3+ units is split (拆零); every other split pack keeps units
CHECKPOINT_EVERY_DAYS = 7
SEED = 20250701
# Each distributor serves the hospitals of its region, the bigger ones more often.
ROUTES: dict[str, tuple[tuple[str, int], ...]] = {
    LUDAO: ((XM_FIRST, 4), (XM_TCM, 2), (XM_JIMEI, 1)),
    BAMIN: ((FZ_UNION, 4), (FZ_CANGSHAN, 1), (SM_FIRST, 3), (SM_XINKOU, 1)),
}
COMMISSION, SHIP, RECEIVE, DELIVER, ACCEPT, DISPENSE = range(6)  # the stages of a day, in capture order
EXPECTED_ALERTS = (
    rules.DUPLICATE_SALE, rules.TWO_INSTITUTIONS, rules.SPLIT_OVER_DISPENSE, rules.PRODUCT_MISMATCH,
    rules.CHAIN_BREAK, rules.SAME_CODE_TWO_PATIENTS, rules.RECALLED_DISPENSE,
)  # fmt: skip


@dataclass
class PlannedPack:
    code: str
    product: Product
    lot: int
    fate: str = "maker"  # transit, distributor, stock (at a hospital), dispensed, partial
    holder: str = ""  # the organisation that holds it (or it was shipped to) at the end
    remaining: int = 0
    patient: str | None = None


@dataclass
class TraceSummary:
    packs: int = 0
    cases: int = 0
    batches: int = 0
    entries: int = 0
    checkpoints: int = 0
    alerts: list[str] = field(default_factory=list)


def case_product_id(product_id: str) -> str:
    """Return the 7-digit identifier of a product's case: its item number moved into the 9000s."""
    return f"{product_id[:3]}9{product_id[4:]}"


def register_trade_items(session: Session, *, products: list[Product], actor: Actor) -> dict[int, TradeItem]:
    """Register every product as a sales unit (小码) and a few at case level (大码); return the cases by product."""
    by_maker: dict[int, list[Product]] = defaultdict(list)
    for product in products:
        register_trade_item(
            session, actor=actor, name=f"{product.generic_name} {product.package_spec}",
            holder_org_id=product.manufacturer_id, pack_size=product.pack_quantity, unit=product.unit,
            product_id=product.trace_product_id, gtin=product.gtin, insurance_code=product.insurance_code,
            catalogue_ref=product.id,
        )  # fmt: skip
        by_maker[product.manufacturer_id].append(product)
    firsts = [group[0] for group in by_maker.values()]
    seconds = [group[1] for group in by_maker.values() if len(group) > 1]
    cases = {}
    for product in (firsts + seconds)[:CASE_PRODUCTS]:
        cases[product.id] = register_trade_item(
            session, actor=actor, name=f"{product.generic_name} {product.strength} 箱 ({CASE_SIZE}盒)",
            holder_org_id=product.manufacturer_id, pack_size=product.pack_quantity * CASE_SIZE, unit=product.unit,
            level=3, product_id=case_product_id(product.trace_product_id), catalogue_ref=product.id,
        )  # fmt: skip
    return cases


class Plan:
    """The flow as events grouped into batches by (day, stage, organisation), and where each pack ends up."""

    def __init__(self, *, start: dt.date, last_day: int, key: bytes, org_ids: dict[str, int], makers: dict[int, str]):
        self.rng = random.Random(SEED)
        self.start, self.last_day, self.key = start, last_day, key
        self.org_ids, self.makers = org_ids, makers
        self.batches: dict[tuple[int, int, str], list[EventIn]] = defaultdict(list)
        self.packs: list[PlannedPack] = []
        self.cases = 0
        self._serial = 0
        self._dispensed = 0

    def at(self, day: int, minute: int | None = None) -> dt.datetime:
        """Return a time on a day of the flow, in working hours (China Standard Time) unless a minute is given."""
        minute = self.rng.randrange(8 * 60, 18 * 60) if minute is None else minute
        midnight = dt.datetime.combine(self.start + dt.timedelta(days=day), dt.time(), CST)
        return midnight + dt.timedelta(minutes=minute, seconds=self.rng.randrange(60))

    def add(self, day: int, stage: int, org: str, event: EventIn) -> None:
        self.batches[(day, stage, org)].append(event)

    def _code(self, product: Product, lot: int, batch: str, expiry: dt.date, gs1: bool) -> str:
        self._serial += 1
        if gs1:
            return f"01{product.gtin}17{expiry:%y%m%d}10{batch}\x1d21{lot:03d}{self._serial:06d}"
        body = f"{product.trace_product_id}{lot:03d}{self._serial:06d}"
        return body + f"{int(hashlib.sha256(body.encode()).hexdigest()[:8], 16) % 10_000:04d}"  # made-up check

    def lot(self, number: int, product: Product, size: int, day: int, case_item: TradeItem | None) -> None:
        """Plan one production lot from commissioning to its patients."""
        maker = self.makers[product.manufacturer_id]
        made = self.start + dt.timedelta(days=day)
        batch, expiry = f"{made:%y%m%d}{number:02d}", made + dt.timedelta(days=730)  # two years' shelf life
        gs1 = int(product.trace_product_id) % 3 == 2  # a deterministic mix of the two code families
        packs = [PlannedPack(self._code(product, number, batch, expiry, gs1), product, number) for _ in range(size)]
        self.packs.extend(packs)
        when = self.at(day, self.rng.randrange(8 * 60, 16 * 60))
        for pack in packs:
            extra = {} if gs1 else {"batch": batch, "expiry": expiry}  # GS1 codes carry them
            self.add(day, COMMISSION, maker, EventIn(EventType.COMMISSION, pack.code, at=when, **extra))
        units: list[tuple[str, list[PlannedPack]]] = [(p.code, [p]) for p in packs]
        if case_item is not None:
            units = []
            for first in range(0, size, CASE_SIZE):
                case, inside = f"{case_item.product_id}{number:03d}{first:06d}0000", packs[first : first + CASE_SIZE]
                self.cases += 1
                later = when + dt.timedelta(minutes=30)
                self.add(day, COMMISSION, maker, EventIn(EventType.COMMISSION, case, at=later))
                children = tuple(p.code for p in inside)
                self.add(day, COMMISSION, maker, EventIn(EventType.AGGREGATE, case, at=later, children=children))
                units.append((case, inside))
        distributor = (LUDAO, BAMIN)[number % 2]
        self._move(units, maker, distributor, day + 1 + number % 2, (SHIP, RECEIVE))
        if day + 2 + number % 2 <= self.last_day:
            self._distribute(units, distributor, day + 2 + number % 2)

    def _move(self, units: list, sender: str, receiver: str, day: int, stages: tuple[int, int]) -> bool:
        """Ship units on a day and receive them the next; return whether they were received."""
        if day > self.last_day:
            return False
        to_org_id = self.org_ids[receiver]
        for code, inside in units:
            self.add(day, stages[0], sender, EventIn(EventType.SHIP, code, at=self.at(day), to_org_id=to_org_id))
            for pack in inside:
                pack.fate, pack.holder = "transit", receiver
        if day + 1 > self.last_day:
            return False
        for code, inside in units:
            self.add(day + 1, stages[1], receiver, EventIn(EventType.RECEIVE, code, at=self.at(day + 1, 9 * 60)))
            for pack in inside:
                pack.fate = "distributor" if receiver in ROUTES else "stock"
        return True

    def _distribute(self, units: list, distributor: str, received: int) -> None:
        """Unpack every other case, keep some stock, and spread the rest over the distributor's hospitals."""
        loose: list[PlannedPack] = []
        whole = []
        for position, (code, inside) in enumerate(units):
            if len(inside) == 1:
                loose.extend(inside)
            elif position % 2 == 0:
                unpack = EventIn(EventType.DISAGGREGATE, code, at=self.at(received, 10 * 60))
                self.add(received, RECEIVE, distributor, unpack)
                loose.extend(inside)
            else:
                whole.append((code, inside))
        self.rng.shuffle(loose)
        hospitals, weights = zip(*ROUTES[distributor], strict=True)
        deliveries: dict[str, list] = defaultdict(list)
        for unit in [(p.code, [p]) for p in loose[int(len(loose) * HELD_BACK_SHARE) :]] + whole:
            deliveries[self.rng.choices(hospitals, weights)[0]].append(unit)
        for index, hospital in enumerate(sorted(deliveries)):
            shipped = received + 1 + index % 3
            if not self._move(deliveries[hospital], distributor, hospital, shipped, (DELIVER, ACCEPT)):
                continue
            for code, inside in deliveries[hospital]:
                if len(inside) > 1:
                    unpack = EventIn(EventType.DISAGGREGATE, code, at=self.at(shipped + 1, 9 * 60 + 30))
                    self.add(shipped + 1, ACCEPT, hospital, unpack)
                for pack in inside:
                    self._dispense(pack, hospital, shipped + 2)

    def _dispense(self, pack: PlannedPack, hospital: str, first: int) -> None:
        """Dispense most packs once, in full; split every few into portions for one patient."""
        if first > self.last_day or self.rng.random() >= DISPENSED_SHARE:
            return
        self._dispensed += 1
        size, code = pack.product.pack_quantity, pack.product.insurance_code
        day = self.rng.randint(first, min(self.last_day, first + 40))
        patient = pseudonymise(self.key, f"{hospital_tag(hospital)}-MZ{self.rng.randrange(1, 400):06d}")
        if size >= 3 and self._dispensed % SPLIT_EVERY == 0 and day + 2 <= self.last_day:
            portion = size // 3
            keeps = self._dispensed % (2 * SPLIT_EVERY) == 0
            quantities = [portion, portion] if keeps else [portion, portion, size - 2 * portion]
            for step, quantity in enumerate(quantities):
                at = self.at(day + step)
                sale = EventIn(
                    EventType.DISPENSE, pack.code, at, quantity=quantity, patient_ref=patient, insurance_code=code
                )
                self.add(day + step, DISPENSE, hospital, sale)
            pack.fate = "partial" if keeps else "dispensed"
            pack.remaining, pack.patient = size - sum(quantities), patient
            return
        named = patient if self.rng.random() < 0.6 else None  # not every sale names the patient
        sale = EventIn(EventType.DISPENSE, pack.code, self.at(day), patient_ref=named, insurance_code=code)
        self.add(day, DISPENSE, hospital, sale)
        pack.fate = "dispensed"


def hospital_tag(name: str) -> str:
    """Return a short tag of a hospital for its synthetic outpatient numbers (门诊号)."""
    return hashlib.sha256(name.encode()).hexdigest()[:4].upper()


def plan_flow(
    *,
    products: list[Product],
    cases: dict[int, TradeItem],
    scale: float,
    key: bytes,
    today: dt.date,
    org_ids: dict[str, int],
    makers: dict[int, str],
) -> Plan:
    """Plan production lots until the packs reach the target, spread over the days of the flow."""
    plan = Plan(start=today - dt.timedelta(days=DAYS), last_day=DAYS - 1, key=key, org_ids=org_ids, makers=makers)
    order = sorted(products, key=lambda p: p.trace_product_id)
    plan.rng.shuffle(order)
    target, lots = max(int(PACKS * scale), 100), []
    while sum(size for _, size in lots) < target:
        product = order[len(lots) % len(order)]
        size = max(4, round(plan.rng.randint(*LOT_PACKS) * min(1.0, max(scale, 0.1))))
        if product.id in cases:
            size = CASE_SIZE * max(1, round(size / CASE_SIZE))
        lots.append((product, size))
    last_lot_day = plan.last_day - 4  # the last lots are still on their way when the flow ends
    for number, (product, size) in enumerate(lots, start=1):
        day = round((number - 1) * last_lot_day / max(1, len(lots) - 1))
        plan.lot(number, product, size, day, cases.get(product.id))
    return plan


def _batch(client_id: str, events: list[EventIn]) -> capture.BatchIn:
    listing = [[e.type.value, e.code, e.at.isoformat() if e.at else None] for e in events]
    digest = capture.request_digest(canonical_bytes({"batch": client_id, "events": listing}))
    return capture.BatchIn(client_batch_id=client_id, events=events, request_sha256=digest)


def run_flow(
    session: Session, *, plan: Plan, actors: dict[str, Actor], key: Ed25519PrivateKey, summary: TraceSummary
) -> None:
    """Capture the planned batches in time order, signing a checkpoint at the end of every week."""
    by_day: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for batch_key in sorted(plan.batches):
        by_day[batch_key[0]].append(batch_key)
    for day in range(plan.last_day + 1):
        for batch_key in by_day[day]:
            _, stage, org = batch_key
            batch = _batch(f"demo-{day:02d}-{stage}", plan.batches[batch_key])
            result = capture.capture(session, actor=actors[org], batch=batch, now=plan.at(day, 20 * 60))
            if not result.accepted:
                raise RuntimeError(f"demo batch of {org} on day {day} refused: {result.body['rejected'][:3]}")
            summary.batches += 1
        if (day + 1) % CHECKPOINT_EVERY_DAYS == 0:
            checkpoint(session, key=key, now=plan.at(day, 23 * 60), summary=summary)


def checkpoint(session: Session, *, key: Ed25519PrivateKey, now: dt.datetime, summary: TraceSummary) -> None:
    """Sign the ledger's tree head, as the scheduled ledger-checkpoint job does."""
    signed = ledger.sign_checkpoint(session, key=key, now=now)
    record_audit(
        session,
        actor=Actor.system("demo"),
        action="ledger.checkpoint_signed",
        object_type="checkpoint",
        object_id=signed.tree_size,
    )
    summary.checkpoints += 1


def plan_anomalies(plan: Plan) -> list[tuple[str, str, list[EventIn]]]:
    """Pick packs for the planted anomalies: (expected alert, acting organisation, events), in capture order."""
    rng = random.Random(SEED + 1)
    recalled_lot = next(p.lot for p in plan.packs if p.fate == "stock")
    recalled = [p for p in plan.packs if p.lot == recalled_lot and p.fate in ("stock", "distributor", "transit")]
    unused = [p for p in plan.packs if p.lot != recalled_lot]

    def pick(fate: str, minimum: int = 0) -> PlannedPack:
        found = rng.choice([p for p in unused if p.fate == fate and p.remaining >= minimum])
        unused.remove(found)
        return found

    twice, elsewhere, over, mismatch = pick("dispensed"), pick("dispensed"), pick("partial", 1), pick("stock")
    unreceived, second_patient = pick("distributor"), pick("partial", 2)
    other_hospital = next(h for h, _ in ROUTES[BAMIN] + ROUTES[LUDAO] if h != elsewhere.holder)
    other_code = next(p.product.insurance_code for p in plan.packs if p.product.id != mismatch.product.id)
    stranger = pseudonymise(plan.key, f"{hospital_tag(second_patient.holder)}-MZ{rng.randrange(400, 800):06d}")

    def sale(pack: PlannedPack, **fields) -> list[EventIn]:
        return [EventIn(EventType.DISPENSE, pack.code, insurance_code=pack.product.insurance_code, **fields)]

    victim = next(p for p in recalled if p.fate == "stock")
    maker = plan.makers[victim.product.manufacturer_id]
    return [
        (rules.DUPLICATE_SALE, twice.holder, sale(twice)),
        (rules.TWO_INSTITUTIONS, other_hospital, sale(elsewhere)),
        (rules.SPLIT_OVER_DISPENSE, over.holder, sale(over, quantity=over.remaining + 1, patient_ref=over.patient)),
        (
            rules.PRODUCT_MISMATCH,
            mismatch.holder,
            [EventIn(EventType.DISPENSE, mismatch.code, insurance_code=other_code)],
        ),
        (rules.CHAIN_BREAK, ROUTES[unreceived.holder][0][0], sale(unreceived)),
        (rules.SAME_CODE_TWO_PATIENTS, second_patient.holder, sale(second_patient, quantity=1, patient_ref=stranger)),
        ("recall", maker, [EventIn(EventType.RECALL, p.code) for p in recalled]),
        (rules.RECALLED_DISPENSE, victim.holder, sale(victim)),
    ]


def plant_anomalies(session: Session, *, plan: Plan, actors: dict[str, Actor], summary: TraceSummary) -> None:
    """Attempt each anomaly in its own batch after the regular flow; refused batches keep their alerts."""
    for number, (expected, org, events) in enumerate(plan_anomalies(plan), start=1):
        when = plan.at(plan.last_day, 18 * 60 + 10 * number)
        timed = [replace(e, at=when) for e in events]
        result = capture.capture(
            session,
            actor=actors[org],
            batch=_batch(f"demo-anomaly-{number}", timed),
            now=when + dt.timedelta(minutes=1),
        )
        raised = [a["code"] for a in result.body["alerts"]]
        if expected != "recall" and raised != [expected]:
            raise RuntimeError(f"planted anomaly {expected} raised {raised}: {result.body}")
        summary.alerts.extend(raised)
        summary.batches += 1


def load_trace_flow(
    session: Session,
    *,
    products: list[Product],
    org_ids: dict[str, int],
    actors: dict[str, Actor],
    signing_key: Ed25519PrivateKey,
    pseudonym_key: bytes,
    now: dt.datetime,
    scale: float = 1.0,
) -> TraceSummary:
    """Register the trade items, capture the flow and the anomalies, and sign a checkpoint; never commits."""
    cases = register_trade_items(session, products=products, actor=Actor.system("demo"))
    makers = {org_id: name for name, org_id in org_ids.items() if org_id in {p.manufacturer_id for p in products}}
    plan = plan_flow(
        products=products, cases=cases, scale=scale, key=pseudonym_key, today=now.astimezone(CST).date(),
        org_ids=org_ids, makers=makers,
    )  # fmt: skip
    summary = TraceSummary(packs=len(plan.packs), cases=plan.cases)
    run_flow(session, plan=plan, actors=actors, key=signing_key, summary=summary)
    plant_anomalies(session, plan=plan, actors=actors, summary=summary)
    checkpoint(session, key=signing_key, now=now, summary=summary)
    summary.entries = ledger.size(session)
    return summary
