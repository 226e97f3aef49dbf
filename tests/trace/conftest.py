"""A small supply chain for trace tests: a maker, a distributor, two hospitals, an auditor, registered products."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from stdnum import ean

from core.accounts import actor_for_user
from core.actor import Actor
from core.db import utcnow
from core.roles import OrgKind, Role
from trace import capture
from trace.canonical import canonical_bytes
from trace.items import register_trade_item
from trace.models import EventType
from trace.transitions import EventIn

SYSTEM = Actor.system("tests")
_serials = itertools.count(100_000_001)


def cn20(product_id: str) -> str:
    """Return a fresh 20-digit trace code of a product identifier."""
    return f"{product_id}{next(_serials):09d}1234"


def gs1(gtin: str, expiry: str = "281231", batch: str = "B2401") -> str:
    """Return a fresh GS1 element string (GS-separated) of a GTIN."""
    return f"01{gtin}17{expiry}10{batch}\x1d21S{next(_serials)}"


@dataclass
class Chain:
    maker: object
    distributor: object
    hospital: object
    other_hospital: object
    bureau: object
    actors: dict[str, Actor]
    pack: object  # trade item, level 1, 28 tablets
    case: object  # trade item, level 3
    gs1_pack: object
    db: object

    def run(self, who: str, *events: EventIn, batch_id: str | None = None, now: dt.datetime | None = None):
        """Capture events as one of the chain's organisations; return the result."""
        body = {"events": [repr(e) for e in events]}
        batch = capture.BatchIn(
            client_batch_id=batch_id or f"b{next(_serials)}",
            events=list(events),
            request_sha256=capture.request_digest(canonical_bytes(body)),
        )
        return capture.capture(self.db, actor=self.actors[who], batch=batch, now=now or utcnow())

    def ok(self, who: str, *events: EventIn, **kwargs):
        result = self.run(who, *events, **kwargs)
        assert result.accepted, result.body
        return result

    def delivered(self, code: str, to: str = "hospital"):
        """Commission a pack at the maker and deliver it to a hospital through the distributor."""
        target = getattr(self, to)
        ship = EventIn(EventType.SHIP, code, to_org_id=self.distributor.id)
        self.ok("maker", EventIn(EventType.COMMISSION, code), ship)
        self.ok("distributor", EventIn(EventType.RECEIVE, code), EventIn(EventType.SHIP, code, to_org_id=target.id))
        self.ok(to, EventIn(EventType.RECEIVE, code))
        return code


@pytest.fixture
def chain(db, factory) -> Chain:
    maker = factory.org(OrgKind.MANUFACTURER)
    distributor = factory.org(OrgKind.DISTRIBUTOR)
    hospital, other = factory.org(OrgKind.HOSPITAL), factory.org(OrgKind.HOSPITAL)
    bureau = factory.org(OrgKind.INSURANCE_BUREAU)
    users = {
        "maker": factory.user(maker),
        "distributor": factory.user(distributor),
        "hospital": factory.user(hospital, roles=(Role.PHARMACIST,)),
        "other_hospital": factory.user(other, roles=(Role.PHARMACIST,)),
        "auditor": factory.user(bureau),
    }
    actors = {name: actor_for_user(db, user.id) for name, user in users.items()}
    n = next(_serials) % 10**5
    pack = register_trade_item(
        db, actor=SYSTEM, name="阿托伐他汀钙片 10mg×7片×4板", holder_org_id=maker.id, pack_size=28, unit="片",
        product_id=f"8{n:05d}1", insurance_code="XC10AAA101A001010101351",
    )  # fmt: skip
    case = register_trade_item(
        db, actor=SYSTEM, name="阿托伐他汀钙片 箱 (200盒)", holder_org_id=maker.id, pack_size=5600, unit="片",
        product_id=f"8{n:05d}3", level=3,
    )  # fmt: skip
    body = f"0069{n:05d}1234"
    gtin = body + ean.calc_check_digit(body)
    gs1_pack = register_trade_item(
        db, actor=SYSTEM, name="氯吡格雷片 75mg×7片", holder_org_id=maker.id, pack_size=7, unit="片", gtin=gtin
    )
    return Chain(maker, distributor, hospital, other, bureau, actors, pack, case, gs1_pack, db)
