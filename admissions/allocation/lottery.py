"""Lottery numbers drawn from a recorded seed, verifiable by anyone.

Why not ``random``: its generator and its shuffling/sampling code are implementation details
that have changed between Python versions; a lottery that decides school places must be
re-computable years later on any machine. This module uses only SHA-256 and sorting, both
fully specified.

Method ("school-allocation-lottery/1"):

1. The seed is a text string (e.g. ``secrets.token_hex(16)``), encoded as UTF-8: ``S``.
2. For every student id (a string, UTF-8 encoded: ``I``) compute the 32-byte digest::

       D(id) = SHA-256( b"school-allocation-lottery/1" || 0x00 ||
                        len(S) as 8-byte big-endian || S || I )

   The length prefix makes the split between seed and id unambiguous.
3. Sort the students by ``(D(id), I)`` ascending (bytewise; the id only breaks a tie between
   equal digests, which in practice never happens).
4. The student in position ``k`` (1-based) of that order gets lottery number ``k``; lower wins.

The result depends only on the seed and the *set* of ids, never on the order they are given in.
Because SHA-256 behaves like a random function, every ordering of the students is equally likely
for a seed nobody could predict.

Publishing protocol: draw an unpredictable seed (``new_seed()``), publish
``seed_commitment(seed)`` (hex SHA-256 of the UTF-8 seed) *before* the application window
closes, and publish the seed itself with the results. Anyone can then check
``seed_commitment(seed)`` against the published hash and recompute the lottery with
``draw_lottery(seed, ids)`` (or with any SHA-256 tool following the steps above).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

__all__ = ["LOTTERY_METHOD", "draw_lottery", "new_seed", "seed_commitment", "verify_commitment"]

LOTTERY_METHOD = "school-allocation-lottery/1"
_DOMAIN = LOTTERY_METHOD.encode("ascii") + b"\x00"


def _seed_bytes(seed: str) -> bytes:
    if not isinstance(seed, str) or not seed:
        raise ValueError("lottery seed must be a non-empty string")
    return seed.encode("utf-8")


def new_seed() -> str:
    """Return a fresh unpredictable seed (128 bits from the OS, as 32 hex digits)."""
    return secrets.token_hex(16)


def seed_commitment(seed: str) -> str:
    """Return the hex SHA-256 of the UTF-8 seed, to publish before the round."""
    return hashlib.sha256(_seed_bytes(seed)).hexdigest()


def verify_commitment(seed: str, commitment: str) -> bool:
    """Tell whether ``seed`` matches a previously published ``commitment``."""
    return hmac.compare_digest(seed_commitment(seed), str(commitment).strip().lower())


def draw_lottery(seed: str, student_ids: Iterable[str]) -> dict[str, int]:
    """Draw lottery numbers 1..n for ``student_ids`` from ``seed`` (method in the module doc).

    Return a dict id -> lottery number (lower wins), with keys in lottery order. The input order
    of the ids does not matter. Raise ``ValueError`` on an empty seed, a non-string id or a
    repeated id.
    """
    prefix = _DOMAIN + len(_seed_bytes(seed)).to_bytes(8, "big") + _seed_bytes(seed)
    base = hashlib.sha256(prefix)
    keyed = []
    seen = set()
    for sid in student_ids:
        if not isinstance(sid, str):
            raise ValueError(f"student id must be a string, got {sid!r}")
        if sid in seen:
            raise ValueError(f'student id "{sid}" is repeated')
        seen.add(sid)
        raw = sid.encode("utf-8")
        h = base.copy()
        h.update(raw)
        keyed.append((h.digest(), raw, sid))
    keyed.sort()
    return {sid: k for k, (_, _, sid) in enumerate(keyed, start=1)}
