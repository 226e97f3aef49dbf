"""Sealed bids: hybrid encryption to a tender key, a salted commitment, and signed receipts a supplier can check.

A tender gets an X25519 key pair when bidding opens. Its private half is wrapped under the organiser's opening
passphrase (scrypt, then AES-256-GCM), so the database holds nothing that decrypts a bid without the passphrase:
not an administrator, not a backup. Each bid is encrypted to the public half with an ephemeral X25519 key, HKDF-SHA256
and AES-256-GCM, with associated data naming the tender, lot and supplier, so a ciphertext cannot be moved to
another lot or firm. The commitment is the SHA-256 of the payload's canonical JSON with a random salt inside it, so
the small space of plausible prices cannot be searched from the commitment alone.

Opening once, after the deadline, is the caller's rule (``procurement/tenders/opening.py``); this module is pure.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.errors import CONFLICT, INVALID, DomainError, invalid
from trace.canonical import canonical_bytes

# An opening passphrase guards every price of a tender against anyone who can read the database, who may guess
# offline without limit; behind scrypt, 12 characters is the least that keeps such a search out of practical reach.
PASSPHRASE_MIN_LENGTH = 12

# scrypt cost for wrapping the tender key: N = 2**17, r = 8, p = 1 (OWASP's password-storage minimum; 128 MiB and
# well under a second per unlock, which happens once per tender). The cost is stored in the wrapped key, so a
# later increase does not strand keys made before it, and a test suite may lower it (monkeypatch) to run fast.
SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P = 17, 8, 1
_SCRYPT_BOUNDS = {"log2_n": (14, 22), "r": (1, 16), "p": (1, 4)}  # refuse absurd costs read from a damaged key

_KEY_MAGIC = b"YLTK1"  # Yaolian tender key, envelope version 1
_KEY_AAD = b"yaolian-tender-key-v1"
_SEAL_VERSION = 1
_SEAL_INFO = b"yaolian-bid-seal-v1"
_NONCE_BYTES = 12
_SALT_BYTES = 16

# Payload keys restored from their canonical text to Decimal when a bid is opened.
DECIMAL_FIELDS = frozenset({"price"})
SALT_FIELD = "salt"

RECEIPT_KIND = "yaolian.bid-receipt.v1"  # signed with the receipt, so it cannot pass for a checkpoint signature
RECEIPT_FIELDS = ("tender_id", "lot_id", "bid_id", "supplier_id", "commitment", "ciphertext_sha256", "submitted_at")


@dataclass(frozen=True)
class TenderKey:
    """A tender's sealing key: the raw X25519 public key, the passphrase-wrapped private key, and its id."""

    public_key: bytes
    encrypted_private_key: bytes = field(repr=False)
    key_id: str


@dataclass(frozen=True)
class SealedBid:
    """A sealed bid. Store ``ciphertext`` and ``commitment``; never store ``salt`` or ``canonical`` in clear.

    ``salt`` also travels inside the ciphertext and is disclosed with the opened payload; holding it beside the
    commitment before opening would let anyone with the database test candidate prices against the commitment.
    ``canonical`` is the committed bytes (the salted payload as canonical JSON, every value as text), for the
    caller's checks in memory only.
    """

    ciphertext: bytes
    commitment: str
    salt: str = field(repr=False)
    canonical: bytes = field(repr=False)

    @property
    def ciphertext_sha256(self) -> str:
        """Return the SHA-256 of the ciphertext, hex, as quoted in the receipt."""
        return hashlib.sha256(self.ciphertext).hexdigest()


def create_tender_key(passphrase: str) -> TenderKey:
    """Make a tender's X25519 key pair, its private half wrapped under the opening passphrase."""
    secret = _passphrase_bytes(passphrase)
    if len(unicodedata.normalize("NFC", passphrase)) < PASSPHRASE_MIN_LENGTH:
        raise invalid(
            "passphrase",
            f"the opening passphrase needs at least {PASSPHRASE_MIN_LENGTH} characters",
            code="passphrase_too_short",
        )
    private = X25519PrivateKey.generate()
    public = _raw_public(private.public_key())
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    params = bytes((SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P))
    header = _KEY_MAGIC + params + public + salt + nonce
    kek = _scrypt(secret, salt, SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
    wrapped = AESGCM(kek).encrypt(nonce, raw, _KEY_AAD + header)
    return TenderKey(public_key=public, encrypted_private_key=header + wrapped, key_id=key_id(public))


def unlock_tender_key(encrypted_private_key: bytes, passphrase: str) -> X25519PrivateKey:
    """Unwrap a tender's private key with the opening passphrase, or refuse with ``wrong_passphrase``.

    The refusal is ``invalid`` (422 with a message on the passphrase field), not ``forbidden``: the organiser is
    allowed to open; the value typed is what is wrong, and the form shows the error where it was typed.
    """
    envelope = bytes(encrypted_private_key)
    fixed = len(_KEY_MAGIC) + 3 + 32 + _SALT_BYTES + _NONCE_BYTES
    if not envelope.startswith(_KEY_MAGIC) or len(envelope) <= fixed:
        raise ValueError("not a Yaolian tender key (unknown format or truncated)")
    log2_n, r, p = envelope[len(_KEY_MAGIC) : len(_KEY_MAGIC) + 3]
    for name, value in (("log2_n", log2_n), ("r", r), ("p", p)):
        low, high = _SCRYPT_BOUNDS[name]
        if not low <= value <= high:
            raise ValueError(f"tender key scrypt {name}={value} is outside {low}..{high}")
    offset = len(_KEY_MAGIC) + 3
    public = envelope[offset : offset + 32]
    salt = envelope[offset + 32 : offset + 32 + _SALT_BYTES]
    nonce = envelope[offset + 32 + _SALT_BYTES : fixed]
    kek = _scrypt(_passphrase_bytes(passphrase), salt, log2_n, r, p)
    try:
        raw = AESGCM(kek).decrypt(nonce, envelope[fixed:], _KEY_AAD + envelope[:fixed])
    except InvalidTag:
        # A damaged key fails the same way; with authenticated encryption the two cannot be told apart.
        message = "wrong opening passphrase"
        raise DomainError(INVALID, message, code="wrong_passphrase", errors={"passphrase": [message]}) from None
    private = X25519PrivateKey.from_private_bytes(raw)
    if not hmac.compare_digest(_raw_public(private.public_key()), public):
        raise ValueError("the tender key's private half does not match its public half")
    return private


def seal_bid(public_key: bytes, payload: dict[str, Any], *, aad: bytes) -> SealedBid:
    """Encrypt a bid to the tender's public key, bound to ``aad``, and commit to it under a fresh salt.

    ``payload`` is flat: text keys; values ``str``, ``int`` or ``Decimal`` (floats are refused: money is never
    binary). ``aad`` names where the bid belongs, e.g. ``b"yaolian-bid|tender:7|lot:3|supplier:12|product:40"``.
    """
    if SALT_FIELD in payload:
        raise ValueError(f"{SALT_FIELD!r} is reserved in a bid payload")
    salt = os.urandom(_SALT_BYTES).hex()
    typed = {**{key: _typed(key, value) for key, value in payload.items()}, SALT_FIELD: salt}
    committed = commitment_bytes(typed)
    plaintext = canonical_bytes(typed)
    recipient = X25519PublicKey.from_public_bytes(bytes(public_key))
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw_public(ephemeral.public_key())
    key = _bid_key(ephemeral.exchange(recipient), ephemeral_raw, bytes(public_key), aad)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return SealedBid(
        ciphertext=bytes((_SEAL_VERSION,)) + ephemeral_raw + nonce + sealed,
        commitment=hashlib.sha256(committed).hexdigest(),
        salt=salt,
        canonical=committed,
    )


def open_bid(private_key: X25519PrivateKey, sealed_ciphertext: bytes, *, aad: bytes, commitment: str) -> dict:
    """Decrypt a sealed bid and check it against its stored commitment; any alteration raises ``bid_tampered``.

    Returns the payload with its ``salt`` (publish both: the supplier checks its receipt with them), the values of
    :data:`DECIMAL_FIELDS` as ``Decimal`` and integers as integers.
    """
    blob = bytes(sealed_ciphertext)
    if len(blob) < 1 + 32 + _NONCE_BYTES + 16 or blob[0] != _SEAL_VERSION:
        raise _tampered("the sealed bid is truncated or of an unknown format")
    ephemeral_raw, nonce, sealed = blob[1:33], blob[33 : 33 + _NONCE_BYTES], blob[33 + _NONCE_BYTES :]
    own_public = _raw_public(private_key.public_key())
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        plaintext = AESGCM(_bid_key(shared, ephemeral_raw, own_public, aad)).decrypt(nonce, sealed, aad)
    except (InvalidTag, ValueError):
        raise _tampered("the sealed bid does not decrypt for this tender, lot and supplier") from None
    try:
        payload = json.loads(plaintext)
        if not isinstance(payload, dict) or not isinstance(payload.get(SALT_FIELD), str):
            raise ValueError("no salted object")
        recomputed = hashlib.sha256(commitment_bytes(payload)).hexdigest()
        opened = {key: Decimal(value) if key in DECIMAL_FIELDS else value for key, value in payload.items()}
    except (TypeError, ValueError, ArithmeticError):  # decimal.InvalidOperation is an ArithmeticError
        raise _tampered("the sealed bid's contents are malformed") from None
    if not hmac.compare_digest(recomputed, str(commitment)):
        raise _tampered("the sealed bid does not match the commitment in its receipt")
    return opened


def commitment_bytes(payload: dict[str, Any]) -> bytes:
    """Return the committed bytes: canonical JSON of the salted payload with every value as text.

    Text values make the check indifferent to a publisher that stored the opened payload as strings
    (``5`` and ``"5"`` commit alike); the payload is flat, so nothing else is lost.
    """
    return canonical_bytes({str(key): _text(key, value) for key, value in payload.items()})


def key_id(public_key: bytes) -> str:
    """Return a raw public key's id: its SHA-256, hex."""
    return hashlib.sha256(bytes(public_key)).hexdigest()


def make_receipt(signing_key: Ed25519PrivateKey, fields: dict[str, Any]) -> dict[str, Any]:
    """Sign a bid receipt: the fields plus ``kind`` and ``key_id``, with an Ed25519 ``signature`` (base64).

    ``fields`` must hold :data:`RECEIPT_FIELDS` (more may be added, e.g. ``product_id``). A receipt kept by the
    platform must not carry the salt (see :class:`SealedBid`); a receipt handed only to the supplier may.
    """
    missing = [name for name in RECEIPT_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"a bid receipt needs {', '.join(missing)}")
    if {"kind", "key_id", "signature"} & set(fields):
        raise ValueError("kind, key_id and signature are set by make_receipt")
    body = {key: _receipt_value(value) for key, value in fields.items()}
    public = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body.update(kind=RECEIPT_KIND, key_id=key_id(public))
    signature = signing_key.sign(canonical_bytes(body))
    return {**body, "signature": base64.b64encode(signature).decode("ascii")}


def verify_receipt(public_key_raw: bytes, receipt: dict[str, Any]) -> bool:
    """Return whether the receipt is unaltered and signed by the platform key given as 32 raw bytes."""
    try:
        body = {key: value for key, value in receipt.items() if key != "signature"}
        if body.get("kind") != RECEIPT_KIND or body.get("key_id") != key_id(public_key_raw):
            return False
        signature = base64.b64decode(str(receipt["signature"]), validate=True)
        Ed25519PublicKey.from_public_bytes(bytes(public_key_raw)).verify(signature, canonical_bytes(body))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


def check_opened_bid(receipt: dict[str, Any], opened_payload: dict[str, Any], *, public_key_raw: bytes) -> bool:
    """Return whether a published opened bid is the one the receipt committed to, under a valid platform signature.

    The supplier's check after opening: the salt comes from the opened payload (or the receipt when it carries
    one), the commitment is recomputed from the payload as published and compared with the signed one.
    """
    if not verify_receipt(public_key_raw, receipt):
        return False
    salt = opened_payload.get(SALT_FIELD, receipt.get(SALT_FIELD))
    if not isinstance(salt, str):
        return False
    try:
        committed = commitment_bytes({**opened_payload, SALT_FIELD: salt})
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(hashlib.sha256(committed).hexdigest(), str(receipt.get("commitment", "")))


def check_stored_bid(receipt: dict[str, Any], *, ciphertext: bytes, commitment: str, public_key_raw: bytes) -> bool:
    """Return whether a stored bid is still the one its signed receipt describes (ciphertext and commitment).

    Run at opening beside :func:`open_bid`: someone who can write the database could replace a ciphertext and its
    commitment together with a fresh seal of their own, which decrypts cleanly; without the platform's signing key
    they cannot re-sign the receipt to match.
    """
    digest = hashlib.sha256(bytes(ciphertext)).hexdigest()
    return (
        verify_receipt(public_key_raw, receipt)
        and hmac.compare_digest(str(receipt.get("commitment", "")), str(commitment))
        and hmac.compare_digest(str(receipt.get("ciphertext_sha256", "")), digest)
    )


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise invalid("passphrase", "the opening passphrase is required", code="passphrase_required")
    # NFC, as RFC 8265 prescribes for passwords: the same passphrase typed through another input method still opens.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _scrypt(secret: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(secret)


def _bid_key(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes, aad: bytes) -> bytes:
    # Both public keys and the aad go into the derivation (as in HPKE), binding the key to this bid's context.
    info = _SEAL_INFO + b"|" + ephemeral_raw + recipient_raw + b"|" + bytes(aad)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _typed(key: str, value: Any) -> str | int:
    if not isinstance(key, str):
        raise TypeError("bid payload keys must be text")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"bid payload value {key!r} must be str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"bid payload value {key!r} is not a finite number")
        return str(value)  # str() round-trips a Decimal exactly, exponent included
    return value


def _text(key: str, value: Any) -> str:
    typed = _typed(key, value)
    return typed if isinstance(typed, str) else str(typed)


def _receipt_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _tampered(why: str) -> DomainError:
    return DomainError(CONFLICT, f"sealed bid rejected at opening: {why}", code="bid_tampered")
