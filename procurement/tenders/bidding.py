"""Sealed bids: checked in memory, encrypted to the tender key, answered with a signed receipt (rulebook 1.1, 1.2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session

from core.actor import Actor
from core.audit import record_audit
from core.db import utcnow
from core.errors import CONFLICT, FORBIDDEN, INVALID, DomainError, not_found
from core.idempotency import key_hash
from core.roles import Role
from procurement import sealing
from procurement.catalogue import Product
from procurement.rules.types import Outcome
from procurement.tenders.bidders import refuse_linked_bid
from procurement.tenders.lifecycle import require_status
from procurement.tenders.models import Bid, BidOutcome, Lot, LotProduct, SupplierSanction, Tender, TenderStatus
from procurement.tenders.setup import get_tender, money_value, quantize4
from trace.canonical import canonical_bytes

_DIGEST_INFO = b"yaolian-bid-request-digest-v1"


def bid_aad(tender_id: int, lot_id: int, supplier_id: int, product_id: int) -> bytes:
    """Return the associated data a bid's ciphertext is bound to, so it cannot be moved to another lot or firm."""
    return f"yaolian-bid|tender:{tender_id}|lot:{lot_id}|supplier:{supplier_id}|product:{product_id}".encode()


def unit_comparable_price(price: Decimal, *, pack_quantity: int, spec_factor: Decimal) -> Decimal:
    """Convert a price per pack to the lot's comparable unit (单位可比价, rulebook 1.2.3), to four places."""
    return quantize4(price / pack_quantity / spec_factor)


def request_digest(
    signing_key: Ed25519PrivateKey,
    idempotency_key: str,
    *,
    tender_id: int,
    lot_id: int,
    supplier_id: int,
    product_id: int,
    price: Decimal,
) -> str:
    """Return the digest a retried bid must match: an HMAC of the request under a key only the platform holds.

    A plain SHA-256 would undo the sealing: anyone with the database could try every price up to the ceiling
    against it. The key comes from the platform's signing key; the raw Idempotency-Key (only its hash is stored)
    goes into the message too.
    """
    secret = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DIGEST_INFO).derive(secret)
    message = canonical_bytes(
        {
            "idempotency_key": idempotency_key,
            "tender_id": tender_id,
            "lot_id": lot_id,
            "supplier_id": supplier_id,
            "product_id": product_id,
            "price": str(quantize4(price)),
        }
    )
    return hmac.new(mac_key, message, hashlib.sha256).hexdigest()


def submit_bid(
    session: Session,
    *,
    tender_id: int,
    lot_id: int,
    actor: Actor,
    product_id: int,
    price: Decimal,
    signing_key: Ed25519PrivateKey,
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Bid, bool]:
    """Seal a supplier's bid on a lot and return it with its signed receipt; ``True`` when newly created.

    The price is checked against the ceiling in memory, then exists only inside the ciphertext: it is not stored,
    logged or audited in clear until the organiser opens the tender with the passphrase. A retry with the same
    Idempotency-Key and the same request answers with the first bid; the same key with another request is refused.
    """
    actor.require(Role.SUPPLIER_REP)
    # FOR SHARE on the tender waits for open_tender's FOR UPDATE and holds it off: a bid either commits before the
    # opening reads the bids, or finds the tender opened (a bid that slipped in between would stay sealed for ever).
    # Sharing lets bids on different lots run side by side; bids on one lot take turns on the lot row, so the
    # one-bid-per-bidder checks (1.1.5) and a racing retry see the bid that went first.
    tender = get_tender(session, tender_id=tender_id, actor=actor, share=True)
    lot = (
        session.exec(sa.select(Lot).where(Lot.id == lot_id, Lot.tender_id == tender.id).with_for_update())
        .scalars()
        .first()
    )
    if lot is None:
        raise not_found("Lot", lot_id)
    now = now or utcnow()  # read once the locks are held: the deadline is checked against it
    amount = money_value("price", price)
    digest = None
    if idempotency_key:
        digest = request_digest(
            signing_key, idempotency_key, tender_id=tender.id, lot_id=lot.id, supplier_id=actor.org_id,
            product_id=product_id, price=amount,
        )  # fmt: skip
        replayed = _replayed(session, actor=actor, hashed=key_hash(idempotency_key), digest=digest, lot=lot,
                             product_id=product_id)  # fmt: skip
        if replayed is not None:
            return replayed, False
    earlier = (
        session.exec(sa.select(Bid).where(Bid.lot_id == lot.id, Bid.supplier_id == actor.org_id)).scalars().first()
    )
    if earlier is not None:
        raise DomainError(
            CONFLICT,
            f"your firm already bid on lot {lot.number} (bid {earlier.id}); one bid per lot",
            code="duplicate_bid",
            errors={"lot_id": [f"already bid: {earlier.id}"]},
        )
    require_status(tender, TenderStatus.BIDDING, action="bid")
    if tender.bid_deadline is not None and now > tender.bid_deadline:
        raise DomainError(
            CONFLICT,
            f"bidding closed at {tender.bid_deadline.isoformat()}",
            code="bid_deadline_passed",
            errors={"submitted_at": [f"after the deadline {tender.bid_deadline.isoformat()}"]},
        )
    product, row = _qualified_product(
        session, lot=lot, product_id=product_id, actor=actor, on=now.date(), region_prefix=tender.region_prefix
    )
    refuse_linked_bid(session, lot=lot, product=product, actor=actor)
    if amount <= 0:
        raise DomainError(INVALID, "the price must be above zero", code="price_not_positive", errors={"price": []})
    ucp = unit_comparable_price(amount, pack_quantity=product.pack_quantity, spec_factor=row.spec_factor)
    if ucp > lot.ceiling_ucp:
        raise DomainError(
            INVALID,
            f"unit comparable price {ucp} is above the lot's ceiling {lot.ceiling_ucp} (rulebook 1.2.1)",
            code="above_ceiling",
            errors={"price": [f"comparable {ucp} > ceiling {lot.ceiling_ucp} (rule 1.2.1)"]},
        )
    payload = {
        "tender_id": tender.id,
        "lot_id": lot.id,
        "supplier_id": actor.org_id,
        "product_id": product.id,
        "price": str(amount),
    }
    aad = bid_aad(tender.id, lot.id, actor.org_id, product.id)
    sealed = sealing.seal_bid(tender.public_key, payload, aad=aad)
    bid = Bid(
        tender_id=tender.id,
        lot_id=lot.id,
        supplier_id=actor.org_id,
        product_id=product.id,
        ciphertext=sealed.ciphertext,
        commitment=sealed.commitment,
        ciphertext_sha256=hashlib.sha256(sealed.ciphertext).hexdigest(),
        submitted_by=actor.user_id,
        submitted_at=now,
        idempotency_key=key_hash(idempotency_key),
        request_sha256=digest,
    )
    session.add(bid)
    session.flush()
    # The receipt signs what the platform holds; the salt is in the ciphertext and is published at opening, so
    # the supplier can then recompute the commitment (it is never stored in clear before).
    bid.receipt = sealing.make_receipt(
        signing_key,
        {
            "tender_id": tender.id,
            "lot_id": lot.id,
            "bid_id": bid.id,
            "supplier_id": actor.org_id,
            "product_id": product.id,
            "commitment": bid.commitment,
            "ciphertext_sha256": bid.ciphertext_sha256,
            "tender_key_id": tender.key_id,
            "submitted_at": now.isoformat(),
        },
    )
    record_audit(
        session,
        actor=actor,
        action="tender.bid_sealed",
        object_type="tender_bid",
        object_id=bid.id,
        details={"tender_id": tender.id, "lot_id": lot.id, "commitment": bid.commitment},
    )
    return bid, True


def _replayed(
    session: Session, *, actor: Actor, hashed: str | None, digest: str, lot: Lot, product_id: int
) -> Bid | None:
    """Return the firm's bid made under this Idempotency-Key if the request is the same; refuse another request."""
    earlier = (
        session.exec(
            sa.select(Bid).where(Bid.supplier_id == actor.org_id, Bid.idempotency_key == hashed).order_by(Bid.id)
        )
        .scalars()
        .first()
    )
    if earlier is None:
        return None
    # Bids stored before the digest existed have none: their lot and product, in clear, are what can be compared.
    same = (earlier.lot_id, earlier.product_id) == (lot.id, product_id) and earlier.request_sha256 in (None, digest)
    if not same:
        raise DomainError(
            CONFLICT,
            f"this Idempotency-Key was already used for a different bid ({earlier.id}); a retry must repeat the "
            "same lot, product and price, and a new bid needs a new key",
            code="idempotency_key_reused",
            errors={"Idempotency-Key": [f"already used for bid {earlier.id} with another request"]},
        )
    return earlier


def _qualified_product(session: Session, *, lot: Lot, product_id: int, actor: Actor, on: dt.date, region_prefix: str):
    row = (
        session.exec(sa.select(LotProduct).where(LotProduct.lot_id == lot.id, LotProduct.product_id == product_id))
        .scalars()
        .first()
    )
    product = session.get(Product, product_id)
    if row is None or product is None:
        raise DomainError(
            INVALID,
            f"product {product_id} is not in lot {lot.number} ({lot.generic_name} {lot.dosage_form})",
            code="product_not_in_lot",
            errors={"product_id": ["not in this lot"]},
        )
    holders = {product.manufacturer_id, getattr(product, "mah_id", None)}
    if actor.org_id not in holders:
        raise DomainError(
            FORBIDDEN,
            "a firm may only bid its own products (manufacturer or marketing-authorisation holder)",
            code="not_your_product",
            errors={"product_id": ["not made or held by your firm"]},
        )
    if not product.gqce_passed:
        raise DomainError(
            INVALID,
            "the product has not passed the consistency evaluation and is not the reference drug (rulebook 1.1.1)",
            code="product_not_qualified",
            errors={"product_id": ["not GQCE-passed (rule 1.1.1)"]},
        )
    # A disposal reaches the marketing-authorisation holder and the maker (6.7): either one's bar stops the bid.
    firms = sorted({actor.org_id, product.manufacturer_id, getattr(product, "mah_id", None)} - {None})
    sanction = next(
        (
            found
            for firm in firms
            if (found := active_sanction(session, supplier_id=firm, product_id=product_id, on=on,
                                         region_prefix=region_prefix)) is not None
        ),
        None,
    )  # fmt: skip
    if sanction is not None:
        until = sanction.ends_on.isoformat() if sanction.ends_on else "further notice"
        raise DomainError(
            FORBIDDEN,
            f"your firm is suspended from bidding until {until} (rulebook {sanction.rule}): {sanction.reason}",
            code="supplier_suspended",
            errors={"supplier_id": [f"suspended under rule {sanction.rule} until {until}"]},
        )
    return product, row


def regions_overlap(a: str, b: str) -> bool:
    """Return whether two region-code prefixes cover common ground ("" covers everything)."""
    return a.startswith(b) or b.startswith(a)


def active_sanction(
    session: Session, *, supplier_id: int, product_id: int | None, on: dt.date, region_prefix: str = ""
):
    """Return a sanction barring the supplier (for all products or this one) on a date in a region, or None.

    A sanction limited to a region (a province's credit disposal, 6.7) bars only tenders whose region overlaps it.
    """
    stmt = sa.select(SupplierSanction).where(
        SupplierSanction.supplier_id == supplier_id,
        SupplierSanction.starts_on <= on,
        sa.or_(SupplierSanction.ends_on.is_(None), SupplierSanction.ends_on >= on),
        sa.or_(SupplierSanction.product_id.is_(None), SupplierSanction.product_id == product_id),
    )
    for sanction in session.exec(stmt.order_by(SupplierSanction.id)).scalars():
        if regions_overlap(sanction.region_prefix or "", region_prefix):
            return sanction
    return None


def add_sanction(
    session: Session,
    *,
    actor: Actor,
    supplier_id: int,
    rule: str,
    reason: str,
    starts_on: dt.date,
    ends_on: dt.date | None = None,
    product_id: int | None = None,
    region_prefix: str = "",
) -> SupplierSanction:
    """Put a supplier on the violation list (1.8.1) or apply a credit disposal (6.7); auditors and admins only."""
    actor.require(Role.AUDITOR, Role.ADMIN)
    if ends_on is not None and ends_on < starts_on:
        raise DomainError(INVALID, "the sanction ends before it starts", code="invalid", errors={"ends_on": []})
    sanction = SupplierSanction(
        supplier_id=supplier_id, product_id=product_id, rule=rule, reason=reason, starts_on=starts_on,
        ends_on=ends_on, region_prefix=region_prefix,
    )  # fmt: skip
    session.add(sanction)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="supplier.sanctioned",
        object_type="supplier_sanction",
        object_id=sanction.id,
        details={"supplier_id": supplier_id, "rule": rule, "product_id": product_id, "region_prefix": region_prefix},
        org_id=supplier_id,
    )
    return sanction


def bids_of(session: Session, *, tender: Tender, actor: Actor) -> list[Bid]:
    """Return the bids the actor may see: a supplier its own, the organiser, auditors and admins all."""
    stmt = sa.select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.lot_id, Bid.id)
    if not (actor.has(Role.ADMIN, Role.AUDITOR) or actor.org_id == tender.organiser_org_id):
        stmt = stmt.where(Bid.supplier_id == actor.org_id)
    return list(session.exec(stmt).scalars())


def accept_revival(
    session: Session, *, tender_id: int, lot_id: int, bid_id: int, actor: Actor, now: dt.datetime | None = None
) -> Bid:
    """Accept the revival or negotiation price the evaluation offered (复活 / 议价, rulebook 1.3.1, 1.3.4, 1.3.6)."""
    actor.require(Role.SUPPLIER_REP)
    tender = get_tender(session, tender_id=tender_id, actor=actor)
    bid = session.get(Bid, bid_id)
    if bid is None or bid.tender_id != tender.id or bid.lot_id != lot_id or bid.supplier_id != actor.org_id:
        raise not_found("Bid", bid_id)
    require_status(tender, TenderStatus.EVALUATED, action="accept a revival offer")
    outcome = session.exec(sa.select(BidOutcome).where(BidOutcome.bid_id == bid.id)).scalars().first()
    if outcome is None or outcome.outcome != Outcome.REVIVAL_OFFERED.value:
        raise DomainError(
            CONFLICT, "this bid has no revival offer to accept", code="no_revival_offer", errors={"bid_id": []}
        )
    if bid.revival_accepted_at is None:
        bid.revival_accepted_at = now or utcnow()
        record_audit(
            session,
            actor=actor,
            action="tender.revival_accepted",
            object_type="tender_bid",
            object_id=bid.id,
            details={"tender_id": tender.id, "offer_price": str(outcome.offer_price)},
        )
    return bid
