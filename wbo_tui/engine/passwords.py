"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ValidationFailed


def default_hasher() -> PasswordHasher:
    """argon2id with the library's RFC 9106 low-memory profile."""
    return PasswordHasher()


def fast_hasher() -> PasswordHasher:
    """Still argon2id, with small costs: for tests and benchmarks only."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_strength(password: str, *, username: str, min_length: int, field: str = "Password") -> None:
    if len(password) < min_length:
        raise ValidationFailed(field, f"must be at least {min_length} characters long")
    if password.strip() != password:
        raise ValidationFailed(field, "must not start or end with a space")
    if username and username.lower() in password.lower():
        raise ValidationFailed(field, "must not contain the username")
