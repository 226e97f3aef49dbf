"""Sealed bids: nobody reads a price before opening, tampering is caught at opening, receipts prove the opening."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from decimal import Decimal
from functools import partial

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CONFLICT, INVALID, DomainError
from procurement import sealing

PASSPHRASE = "开标口令 correct horse"  # 20 characters, mixed scripts as organisers type them


def aad(lot_id: int = 3, supplier_id: int = 12) -> bytes:
    return f"yaolian-bid|tender:7|lot:{lot_id}|supplier:{supplier_id}|product:40".encode()


@pytest.fixture(scope="module")
def tender_key() -> sealing.TenderKey:
    return sealing.create_tender_key(PASSPHRASE)


@pytest.fixture(scope="module")
def private_key(tender_key):
    return sealing.unlock_tender_key(tender_key.encrypted_private_key, PASSPHRASE)


@pytest.fixture(scope="module")
def platform_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def payload(price: str = "12.3400", lot_id: int = 3) -> dict:
    return {"tender_id": 7, "lot_id": lot_id, "supplier_id": 12, "product_id": 40, "price": Decimal(price)}


def receipt_for(platform_key, sealed: sealing.SealedBid, **extra) -> dict:
    fields = {
        "tender_id": 7,
        "lot_id": 3,
        "bid_id": 501,
        "supplier_id": 12,
        "product_id": 40,
        "commitment": sealed.commitment,
        "ciphertext_sha256": sealed.ciphertext_sha256,
        "submitted_at": dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC).isoformat(),
        **extra,
    }
    return sealing.make_receipt(platform_key, fields)


def kind_and_code(call) -> tuple[str, str]:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.kind, caught.value.code


def test_a_sealed_bid_opens_to_what_the_supplier_sent(tender_key, private_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    opened = sealing.open_bid(private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    assert opened == {**payload(), "salt": sealed.salt}
    assert opened["price"] == Decimal("12.3400") and str(opened["price"]) == "12.3400"  # places kept
    assert isinstance(opened["tender_id"], int)
    assert sealed.commitment == hashlib.sha256(sealed.canonical).hexdigest()


def test_the_tender_key_is_raw_x25519_with_its_hash_as_id(tender_key):
    assert len(tender_key.public_key) == 32
    assert tender_key.key_id == hashlib.sha256(tender_key.public_key).hexdigest()
    assert "encrypted_private_key" not in repr(tender_key)


def test_no_stored_field_shows_the_price(tender_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload("8.7650"), aad=aad())
    stored = sealed.ciphertext + sealed.commitment.encode() + tender_key.encrypted_private_key
    for needle in (b"8.7650", b"8.765", b'"price":"8.7650"', b"price"):
        assert needle not in stored
    assert b'"price":"8.7650"' in sealed.canonical  # the in-memory plaintext does hold it
    assert "8.765" not in repr(sealed)  # nor does a log line of the sealed bid


def test_the_same_bid_sealed_twice_shares_nothing(tender_key):
    one = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    two = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    assert one.commitment != two.commitment and one.salt != two.salt  # the salt defeats price guessing
    assert one.ciphertext[:33] != two.ciphertext[:33]  # a fresh ephemeral key each time


def test_a_short_passphrase_is_refused_naming_the_field():
    with pytest.raises(DomainError) as caught:
        sealing.create_tender_key("x" * (sealing.PASSPHRASE_MIN_LENGTH - 1))
    assert caught.value.kind == INVALID and caught.value.code == "passphrase_too_short"
    assert "passphrase" in caught.value.errors


def test_a_wrong_passphrase_at_opening_is_a_clear_error(tender_key):
    with pytest.raises(DomainError) as caught:
        sealing.unlock_tender_key(tender_key.encrypted_private_key, PASSPHRASE + "!")
    error = caught.value
    assert (error.kind, error.code, error.message) == (INVALID, "wrong_passphrase", "wrong opening passphrase")
    assert error.errors == {"passphrase": ["wrong opening passphrase"]}


def test_an_altered_wrapped_key_does_not_open(tender_key):
    damaged = bytearray(tender_key.encrypted_private_key)
    damaged[-1] ^= 1
    assert kind_and_code(lambda: sealing.unlock_tender_key(bytes(damaged), PASSPHRASE)) == (
        INVALID,
        "wrong_passphrase",
    )


def test_a_flipped_ciphertext_byte_is_tampering(tender_key, private_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    for position in (0, 5, 40, len(sealed.ciphertext) - 1):
        flipped = bytearray(sealed.ciphertext)
        flipped[position] ^= 0x01
        opening = partial(sealing.open_bid, private_key, bytes(flipped), aad=aad(), commitment=sealed.commitment)
        assert kind_and_code(opening) == (CONFLICT, "bid_tampered"), position


def test_a_bid_moved_to_another_lot_or_firm_is_tampering(tender_key, private_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    for other in (aad(lot_id=4), aad(supplier_id=13)):
        opening = partial(sealing.open_bid, private_key, sealed.ciphertext, aad=other, commitment=sealed.commitment)
        assert kind_and_code(opening) == (CONFLICT, "bid_tampered")


def test_an_altered_commitment_is_tampering(tender_key, private_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    other = sealing.seal_bid(tender_key.public_key, payload("11.0000"), aad=aad())
    last = "1" if sealed.commitment.endswith("0") else "0"
    for commitment in (other.commitment, sealed.commitment[:-1] + last, sealed.commitment.upper(), ""):
        opening = partial(sealing.open_bid, private_key, sealed.ciphertext, aad=aad(), commitment=commitment)
        assert kind_and_code(opening) == (CONFLICT, "bid_tampered")


def test_a_bid_sealed_to_another_tender_does_not_open_here(private_key):
    elsewhere = sealing.create_tender_key("another tender's passphrase")
    sealed = sealing.seal_bid(elsewhere.public_key, payload(), aad=aad())
    opening = partial(sealing.open_bid, private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    assert kind_and_code(opening) == (CONFLICT, "bid_tampered")


def test_a_price_that_is_not_a_number_is_rejected_at_opening(tender_key, private_key):
    sealed = sealing.seal_bid(tender_key.public_key, {**payload(), "price": "twelve"}, aad=aad())
    opening = partial(sealing.open_bid, private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    assert kind_and_code(opening) == (CONFLICT, "bid_tampered")


def test_something_that_is_not_a_tender_key_is_refused_plainly():
    with pytest.raises(ValueError, match="not a Yaolian tender key"):
        sealing.unlock_tender_key(b"-----BEGIN ENCRYPTED PRIVATE KEY-----", PASSPHRASE)


def test_payload_values_must_be_text_integers_or_decimals(tender_key):
    for bad in ({"price": 12.34}, {"ok": True}, {"nested": {"a": 1}}):
        with pytest.raises(TypeError):
            sealing.seal_bid(tender_key.public_key, bad, aad=aad())
    with pytest.raises(ValueError):
        sealing.seal_bid(tender_key.public_key, {"salt": "mine"}, aad=aad())


def test_a_receipt_verifies_and_an_altered_one_does_not(tender_key, platform_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    receipt = receipt_for(platform_key, sealed)
    assert sealing.verify_receipt(raw(platform_key), receipt)
    assert receipt["kind"] == sealing.RECEIPT_KIND
    assert receipt["key_id"] == hashlib.sha256(raw(platform_key)).hexdigest()
    assert "salt" not in receipt and "price" not in receipt
    for field, value in (("commitment", "0" * 64), ("lot_id", 4), ("submitted_at", "2025-03-02T09:30:00+00:00")):
        assert not sealing.verify_receipt(raw(platform_key), {**receipt, field: value}), field
    assert not sealing.verify_receipt(raw(Ed25519PrivateKey.generate()), receipt)
    assert not sealing.verify_receipt(raw(platform_key), {**receipt, "signature": "not base64!"})
    assert not sealing.verify_receipt(raw(platform_key), {**receipt, "kind": "yaolian.checkpoint"})
    unsigned = dict(receipt)
    del unsigned["signature"]
    assert not sealing.verify_receipt(raw(platform_key), unsigned)


def test_a_receipt_needs_its_fields():
    with pytest.raises(ValueError, match="commitment"):
        sealing.make_receipt(Ed25519PrivateKey.generate(), {"tender_id": 1})


def test_the_supplier_can_check_the_opening_against_its_receipt(tender_key, private_key, platform_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload("9.5000"), aad=aad())
    receipt = receipt_for(platform_key, sealed)
    opened = sealing.open_bid(private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    key = raw(platform_key)
    assert sealing.check_opened_bid(receipt, opened, public_key_raw=key)
    published = {name: str(value) for name, value in opened.items()}  # as stored and shown after opening
    assert sealing.check_opened_bid(receipt, published, public_key_raw=key)
    assert not sealing.check_opened_bid(receipt, {**opened, "price": Decimal("9.4000")}, public_key_raw=key)
    assert not sealing.check_opened_bid(receipt, {**published, "price": "9.50"}, public_key_raw=key)
    assert not sealing.check_opened_bid(receipt, {**opened, "salt": "00" * 16}, public_key_raw=key)
    forged = {**receipt, "commitment": hashlib.sha256(b"other").hexdigest()}
    assert not sealing.check_opened_bid(forged, opened, public_key_raw=key)


def test_a_receipt_handed_only_to_the_supplier_may_carry_the_salt(tender_key, private_key, platform_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload(), aad=aad())
    receipt = receipt_for(platform_key, sealed, salt=sealed.salt)
    opened = sealing.open_bid(private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    without_salt = {name: value for name, value in opened.items() if name != "salt"}
    assert sealing.check_opened_bid(receipt, without_salt, public_key_raw=raw(platform_key))


def test_a_stored_bid_replaced_wholesale_fails_against_its_receipt(tender_key, private_key, platform_key):
    sealed = sealing.seal_bid(tender_key.public_key, payload("9.5000"), aad=aad())
    receipt = receipt_for(platform_key, sealed)
    key = raw(platform_key)
    assert sealing.check_stored_bid(
        receipt, ciphertext=sealed.ciphertext, commitment=sealed.commitment, public_key_raw=key
    )
    # Someone with write access re-seals a lower price: it decrypts cleanly, but the signed receipt disagrees.
    forged = sealing.seal_bid(tender_key.public_key, payload("1.0000"), aad=aad())
    assert sealing.open_bid(private_key, forged.ciphertext, aad=aad(), commitment=forged.commitment)
    assert not sealing.check_stored_bid(
        receipt, ciphertext=forged.ciphertext, commitment=forged.commitment, public_key_raw=key
    )
    assert not sealing.check_stored_bid(
        receipt, ciphertext=forged.ciphertext, commitment=sealed.commitment, public_key_raw=key
    )


def test_receipt_signatures_are_base64_ed25519(tender_key, platform_key):
    receipt = receipt_for(platform_key, sealing.seal_bid(tender_key.public_key, payload(), aad=aad()))
    assert len(base64.b64decode(receipt["signature"])) == 64


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999999.9999"), places=4, allow_nan=False)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda key: key not in ("salt", "price")),
    st.one_of(texts, st.integers(min_value=-(2**62), max_value=2**62)),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(price=prices, extra=extra_fields)
def test_any_price_and_payload_round_trip(tender_key, private_key, platform_key, price, extra):
    sent = {**extra, "price": price}
    sealed = sealing.seal_bid(tender_key.public_key, sent, aad=aad())
    opened = sealing.open_bid(private_key, sealed.ciphertext, aad=aad(), commitment=sealed.commitment)
    assert opened == {**sent, "salt": sealed.salt}
    assert str(opened["price"]) == str(price)
    assert f'"price":"{price}"'.encode() not in sealed.ciphertext
    receipt = receipt_for(platform_key, sealed)
    assert sealing.check_opened_bid(receipt, opened, public_key_raw=raw(platform_key))
