"""Documents filed with a shipment (issue 5, rulebook 4): the delivery note (随货同行单) that travels with the goods and
the original files of its invoices, uploaded by the supplier and read by the hospital, the supplier and auditors.

The platform keeps the bytes as uploaded and identifies them by SHA-256: attaching the same file to a shipment
again returns the document already filed (a retried upload adds nothing). The file type is judged by its first
bytes, not by its name: PDF, OFD (the national e-invoice format, a ZIP package), PNG or JPEG. The structured
delivery (packs, batches, expiry) and invoices (lines, totals) are recorded separately; these are the documents
that prove them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, DomainError, invalid, not_found
from core.roles import Role
from procurement.orders.document_models import DocumentKind, ShipmentDocument
from procurement.orders.models import Shipment
from procurement.orders.money_models import Invoice
from procurement.orders.ordering import get_order

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS_PER_SHIPMENT = 50
MEDIA_TYPES = {"pdf": "application/pdf", "ofd": "application/ofd", "png": "image/png", "jpeg": "image/jpeg"}
LISTED = (ShipmentDocument.id, ShipmentDocument.shipment_id, ShipmentDocument.kind, ShipmentDocument.invoice_id,
          ShipmentDocument.filename, ShipmentDocument.media_type, ShipmentDocument.size, ShipmentDocument.sha256,
          ShipmentDocument.uploaded_by_id, ShipmentDocument.uploaded_at)  # fmt: skip


def sniff(data: bytes) -> str | None:
    """Return the document's type from its first bytes (``MEDIA_TYPES`` key), or None when it is none of them."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, NotImplementedError, UnicodeDecodeError, ValueError, EOFError, OSError):
            return None  # a damaged or unreadable package is no OFD
        if any(name.upper() == "OFD.XML" for name in names):  # GB/T 33190: the package's entry file
            return "ofd"
    return None


def _shipment(session: Session, shipment_id: int, actor: Actor, order_id: int | None) -> Shipment:
    shipment = session.get(Shipment, shipment_id)
    if shipment is None or (order_id is not None and shipment.order_id != order_id):
        raise not_found("Shipment", shipment_id)
    try:
        get_order(session, order_id=shipment.order_id, actor=actor)
    except DomainError:
        raise not_found("Shipment", shipment_id) from None
    return shipment


def upload_document(
    session: Session,
    *,
    shipment_id: int,
    kind: str,
    order_id: int | None = None,
    filename: str,
    data: bytes,
    actor: Actor,
    invoice_id: int | str | None = None,
    now: dt.datetime | None = None,
) -> tuple[ShipmentDocument, bool]:
    """File a document with a shipment (its supplier only); return it and whether it is new.

    The caller's right to file is judged first, then the fields (``invoice_id`` may arrive as form text).
    """
    shipment = _shipment(session, shipment_id, actor, order_id)
    actor.require(Role.SUPPLIER_REP, org_id=shipment.supplier_id)
    if kind not in {k.value for k in DocumentKind}:
        known = ", ".join(k.value for k in DocumentKind)
        raise invalid("kind", f"unknown document kind {kind!r}; known: {known}" if kind else f"required: {known}")
    if isinstance(invoice_id, str):
        if not invoice_id.strip().isdigit():
            raise invalid("invoice_id", f"must be an invoice id (a whole number), got {invoice_id!r}")
        invoice_id = int(invoice_id)
    name = PurePath((filename or "").replace("\\", "/")).name.strip()[:200]
    if not data:
        raise invalid("file", "the file is empty (or no file was sent in the 'file' field)")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise invalid("file", f"the file has {len(data):,} bytes; at most {MAX_DOCUMENT_BYTES:,} are accepted")
    detected = sniff(data)
    if detected is None:
        raise invalid("file", f"{name or 'the file'} is not a PDF, OFD, PNG or JPEG file (judged by its content)")
    if invoice_id is not None:
        if kind != DocumentKind.INVOICE:
            raise invalid("invoice_id", "only an invoice document names an invoice")
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.shipment_id != shipment.id:
            raise invalid("invoice_id", f"invoice {invoice_id} is not an invoice of shipment {shipment.id}")
    digest = hashlib.sha256(data).hexdigest()
    # Uploads to one shipment take turns from here (its row locked until commit), so a retry racing the first upload
    # finds it, and two uploads at once cannot both pass the per-shipment cap.
    session.exec(sa.select(Shipment.id).where(Shipment.id == shipment.id).with_for_update()).first()
    earlier = session.exec(
        sa.select(*LISTED).where(ShipmentDocument.shipment_id == shipment.id, ShipmentDocument.sha256 == digest)
    ).first()
    if earlier is not None:
        if (earlier.kind, earlier.invoice_id) != (kind, invoice_id):
            raise DomainError(
                CONFLICT,
                f"this file is already filed with shipment {shipment.id} as document {earlier.id} ({earlier.kind})",
                code="document_exists",
            )
        return session.get(ShipmentDocument, earlier.id), False
    count = session.exec(
        sa.select(sa.func.count()).select_from(ShipmentDocument).where(ShipmentDocument.shipment_id == shipment.id)
    ).scalar_one()
    if count >= MAX_DOCUMENTS_PER_SHIPMENT:
        raise invalid("file", f"shipment {shipment.id} already has {count} documents, the most one shipment keeps")
    suffix = {"jpeg": "jpg"}.get(detected, detected)
    document = ShipmentDocument(
        shipment_id=shipment.id,
        kind=kind,
        invoice_id=invoice_id,
        filename=name or f"{kind}-{shipment.delivery_note_number}.{suffix}",
        media_type=MEDIA_TYPES[detected],
        size=len(data),
        sha256=digest,
        content=data,
        uploaded_by_id=actor.user_id,
        uploaded_at=now or utcnow(),
    )
    session.add(document)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="shipment.document_filed",
        object_type="shipment",
        object_id=shipment.id,
        details={
            "document_id": document.id,
            "kind": kind,
            "sha256": digest,
            "size": len(data),
            "invoice_id": invoice_id,
        },
    )
    return document, True


def list_documents(
    session: Session, *, shipment_id: int, actor: Actor, order_id: int | None = None
) -> list[dict[str, Any]]:
    """Return the shipment's documents without their bytes, oldest first (those who may see the order)."""
    shipment = _shipment(session, shipment_id, actor, order_id)
    rows = session.exec(sa.select(*LISTED).where(ShipmentDocument.shipment_id == shipment.id).order_by(
        ShipmentDocument.id)).all()  # fmt: skip
    return [dict(row._mapping) for row in rows]


def get_document(
    session: Session, *, shipment_id: int, document_id: int, actor: Actor, order_id: int | None = None
) -> ShipmentDocument:
    """Return one document with its bytes (those who may see the order)."""
    shipment = _shipment(session, shipment_id, actor, order_id)
    document = session.get(ShipmentDocument, document_id)
    if document is None or document.shipment_id != shipment.id:
        raise not_found("Document", document_id)
    return document
