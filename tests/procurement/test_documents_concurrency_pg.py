"""PostgreSQL-only: uploads to one shipment at once take turns, so a racing retry finds the first upload and the
per-shipment cap holds.

Without the shipment's row lock, two identical uploads both pass the duplicate check and the second fails on the
unique constraint instead of answering with the first document; and uploads at once all pass the count.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.db import new_session
from core.errors import DomainError
from procurement.orders import documents
from procurement.orders.document_models import ShipmentDocument
from procurement.orders.fulfilment import ShipLineIn, ship_order
from tests.factories import Factory
from tests.procurement.order_world import TODAY, build_order_world

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def shipped(committed_pg):
    _, engine = committed_pg("documents_concurrency")
    with new_session(engine) as session:
        ow = build_order_world(session, Factory(session))
        hospital = ow.hospital(0)
        order, _ = ow.confirmed_order(hospital, quantity=2)
        codes = ow.commission(ow.award_of(hospital).product_id, 2)
        shipment, _ = ship_order(session, order_id=order.id, delivery_note_number="DN-D", lines=[ShipLineIn(1, codes)],
                                 actor=ow.distributor, now=TODAY)  # fmt: skip
        session.commit()
        shipment_id = shipment.id
    return engine, ow.distributor, shipment_id


def _upload_at_once(engine, supplier, shipment_id, files: list[bytes]) -> list:
    barrier = threading.Barrier(len(files))
    outcomes: list = [None] * len(files)

    def upload(index: int) -> None:
        with new_session(engine) as session:
            barrier.wait()
            try:
                document, created = documents.upload_document(
                    session, shipment_id=shipment_id, kind="delivery_note", filename=f"dn{index}.pdf",
                    data=files[index], actor=supplier,
                )  # fmt: skip
                session.commit()
                outcomes[index] = ("ok", document.id, created)
            except DomainError as exc:
                session.rollback()
                outcomes[index] = ("error", exc.code, None)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _count(engine, shipment_id) -> int:
    with new_session(engine) as session:
        stmt = (
            sa.select(sa.func.count()).select_from(ShipmentDocument).where(ShipmentDocument.shipment_id == shipment_id)
        )
        return session.exec(stmt).scalar_one()


def test_identical_uploads_at_once_store_one_document_and_answer_with_it(shipped):
    engine, supplier, shipment_id = shipped
    outcomes = _upload_at_once(engine, supplier, shipment_id, [b"%PDF-1.7\nsame\n%%EOF\n"] * 8)
    assert {kind for kind, _, _ in outcomes} == {"ok"}, outcomes  # no conflict error for a retry
    assert len({ident for _, ident, _ in outcomes}) == 1 and sum(created for _, _, created in outcomes) == 1
    assert _count(engine, shipment_id) == 1


def test_uploads_at_once_cannot_pass_the_cap_together(shipped, monkeypatch):
    engine, supplier, shipment_id = shipped
    monkeypatch.setattr(documents, "MAX_DOCUMENTS_PER_SHIPMENT", 3)
    files = [f"%PDF-1.7\nfile {n}\n%%EOF\n".encode() for n in range(8)]
    outcomes = _upload_at_once(engine, supplier, shipment_id, files)
    assert sum(kind == "ok" for kind, _, _ in outcomes) == 3
    assert _count(engine, shipment_id) == 3
