"""Argon2 password hashing, off the event loop (hashing is deliberately slow).

Production hashes with argon2id at the library's recommended cost. A test suite may swap in
a cheaper argon2 (`use_hasher`): still real argon2id hashing, verifiable by either hasher,
since every hash carries its own parameters.
"""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class _Hashing:
    """The hasher in use, and a hash of its own to check unknown users' passwords against."""

    def __init__(self) -> None:
        self.use(Argon2Hasher())

    def use(self, hasher: Argon2Hasher) -> None:
        self._hasher = PasswordHash((hasher,))
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Check a password; with no hash (unknown user) spend the same time and say False."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash("not-a-real-password")
            self._hasher.verify(password, self._dummy_hash)
            return False
        return self._hasher.verify(password, password_hash)


_hashing = _Hashing()


def use_hasher(hasher: Argon2Hasher) -> None:
    """Hash with `hasher` from now on (tests: a low-cost argon2)."""
    _hashing.use(hasher)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hashing.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash (unknown user) spend the same time and answer False."""
    return await asyncio.to_thread(_hashing.verify, password, password_hash)
