"""Glue between HTTP and the traceability core: the platform key, request digests, pseudonyms on arrival."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from core.pseudonym import pseudonymise
from trace.canonical import canonical_bytes
from trace.signing import load_or_create_private_key

_KEY = "yaolian.platform_key"


def platform_key() -> Ed25519PrivateKey:
    """Return the platform's Ed25519 checkpoint key (created in the instance folder on first use)."""
    key = current_app.extensions.get(_KEY)
    if key is None:
        key = current_app.extensions[_KEY] = load_or_create_private_key(current_app.config["SIGNING_KEY_PATH"])
    return key


def signed_message(raw: dict[str, Any]) -> bytes:
    """Return the request's canonical bytes without its ``signature``: their SHA-256 is what a signature covers
    (``trace.capture.signature_message``) and what tells a retry from another batch with the same id."""
    return canonical_bytes({k: v for k, v in raw.items() if k != "signature"})


def patient_pseudonym(identifier: str | None) -> str | None:
    """Pseudonymise a patient identifier the moment it arrives; the clear value is never stored."""
    if identifier is None:
        return None
    return pseudonymise(current_app.config["PSEUDONYM_KEY"], identifier)
