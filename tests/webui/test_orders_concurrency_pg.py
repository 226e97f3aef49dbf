"""PostgreSQL-only: 100 concurrent orders and 100 concurrent receipts against the same lines, on a committed database.

Orders: 50 requests retry one Idempotency-Key and 50 carry keys of their own, all at once; exactly 51 orders exist
afterwards, each with its one line at the awarded price. Receipts: 100 requests at once scan the packs of one
shipment (every pack by two requests); each pack is received exactly once, the line's received count is exact and
the trace record holds one receive event per pack.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import new_session
from procurement.orders.fulfilment import ShipLineIn, ship_order
from procurement.orders.models import OrderLine, PurchaseOrder, Receipt, ShipmentPack
from tests.factories import Factory
from tests.procurement.order_world import TODAY, build_order_world
from trace.models import TraceEvent

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def committed(committed_pg):
    from core.models import User
    from webui import create_app

    url, engine = committed_pg("orders_concurrency")
    with new_session(engine) as session:
        factory = Factory(session)
        ow = build_order_world(session, factory)
        hospital = ow.hospital(0)
        award = ow.award_of(hospital)
        order, _ = ow.confirmed_order(hospital, quantity=50)
        codes = ow.commission(award.product_id, 50)
        shipment, _ = ship_order(
            session, order_id=order.id, delivery_note_number="DN-C", lines=[ShipLineIn(1, codes)],
            actor=ow.distributor, now=TODAY,
        )  # fmt: skip
        pharmacist = factory.token(session.get(User, hospital.user_id))
        session.commit()
        ids = {"order": order.id, "shipment": shipment.id, "product": award.product_id, "price": award.unit_price}
        ids["hospital"] = hospital.org_id
    app = create_app({"YAOLIAN_ENV": "test", "DATABASE_URL": url})
    yield app, engine, pharmacist, codes, ids
    app.extensions["yaolian.engine"].dispose()


def _at_once(requests: list) -> list:
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(index: int, call) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_hundred_concurrent_orders_and_receipts(committed):
    app, engine, token, codes, ids = committed
    headers = {"Authorization": f"Bearer {token}"}
    body = {"lines": [{"product_id": ids["product"], "quantity": 2}]}

    def order(key: str):
        def call():
            response = app.test_client().post("/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": key})
            return response.status_code, response.get_json()

        return call

    results = _at_once([order("same-key") if i % 2 == 0 else order(f"key-{i}") for i in range(100)])
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 51 and statuses.count(200) == 49, results[:3]
    same = {answer["id"] for (status, answer), i in zip(results, range(100), strict=True) if i % 2 == 0}
    assert len(same) == 1  # every retry of the one key answered with the same order
    with new_session(engine) as session:
        placed = sa.select(PurchaseOrder).where(
            PurchaseOrder.id != ids["order"], PurchaseOrder.hospital_id == ids["hospital"]
        )
        orders = session.exec(placed).scalars().all()
        assert len(orders) == 51
        lines = session.exec(sa.select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))).scalars().all()
        assert len(lines) == 51 and {(line.quantity, line.unit_price) for line in lines} == {(2, Decimal(ids["price"]))}

    def receive(part: list[str]):
        def call():
            response = app.test_client().post(
                f"/api/v1/orders/{ids['order']}/receive", json={"shipment_id": ids["shipment"], "codes": part},
                headers=headers,
            )  # fmt: skip
            return response.status_code, response.get_json()

        return call

    # 100 requests; request i scans pack i % 50: every pack is scanned by two requests racing each other.
    results = _at_once([receive([codes[i % 50]]) for i in range(100)])
    assert {status for status, _ in results} == {201}, [r for r in results if r[0] != 201][:2]
    accepted = sum(answer["accepted_count"] for _, answer in results)
    repeats = [r["reason"] for _, answer in results for r in answer["refusals"]]
    assert accepted == 50 and repeats == ["already_received"] * 50
    with new_session(engine) as session:
        line = session.exec(sa.select(OrderLine).where(OrderLine.order_id == ids["order"])).scalar_one()
        assert (line.shipped_qty, line.received_qty, line.refused_qty) == (50, 50, 0)
        received = session.exec(
            sa.select(sa.func.count()).select_from(TraceEvent).where(
                TraceEvent.type == "receive", TraceEvent.org_id == ids["hospital"]
            )
        ).one()[0]  # fmt: skip
        assert received == 50
        packs = session.exec(sa.select(ShipmentPack.status).where(ShipmentPack.shipment_id == ids["shipment"])).all()
        assert [row[0] for row in packs] == ["received"] * 50
        assert session.exec(sa.select(sa.func.count()).select_from(Receipt)).one()[0] == 100
