"""Password hashing with argon2id."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ValidationFailed


def default_hasher() -> PasswordHasher:
    """argon2id at the OWASP Password Storage Cheat Sheet's first configuration
    (m = 19 MiB, t = 2, p = 1).  Roughly 20-40 ms per check on a server core: slow for
    a guesser with a stolen hash, fast enough that login and unlock feel instant.  Each
    hash stores its parameters, so raising them later re-hashes nothing in place."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def fast_hasher() -> PasswordHasher:
    """Still argon2id, with small costs: for tests and benchmarks only."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# argon2 is slow by design and releases the GIL: run it on a worker thread so a
# console's event loop keeps drawing while a password is checked.


async def verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, hasher, stored_hash, password)


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


def check_strength(password: str, *, username: str, min_length: int, field: str = "Password") -> None:
    if len(password) < min_length:
        raise ValidationFailed(field, f"must be at least {min_length} characters long")
    if password.strip() != password:
        raise ValidationFailed(field, "must not start or end with a space")
    if username and username.lower() in password.lower():
        raise ValidationFailed(field, "must not contain the username")
