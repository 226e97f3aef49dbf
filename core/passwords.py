"""Password hashing with Argon2id (argon2-cffi, RFC 9106 parameters) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import invalid

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verifying against this keeps the time of an unknown-user login equal to a wrong-password one.
_DUMMY_HASH = _hasher.hash("timing equaliser for unknown users")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash in constant-ish time; an absent hash never matches."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Return whether a hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def check_password_policy(password: str, *, username: str) -> None:
    """Refuse passwords that are short or merely the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters", code="weak_password")
    if password.casefold() == username.casefold():
        raise invalid("password", "must not be the username", code="weak_password")
