"""What makes a round checkable by anyone: the frozen entry list, its fingerprint, the seed.

Pure code (standard library only), specified in docs/verification.md and pinned by known-answer
tests, so that a citizen can recompute every value with any SHA-256 tool:

- ``canonical(obj)``: the one byte encoding of a record (JSON, keys sorted, no spaces, ASCII);
- ``freeze_leaves(schools, entries)``: the leaves of the entry list, schools first (by id), then
  entries (by entry code), each ``canonical`` of its record;
- ``merkle_root(leaves)`` / ``inclusion_proof`` / ``verify_inclusion``: the Merkle tree of
  RFC 6962 (SHA-256, leaf prefix 0x00, node prefix 0x01);
- ``freeze_fingerprint(schools, entries)``: root plus counts (schools, entries, seats);
- ``derive_seed(secret, root, beacon_round, beacon_randomness)``: the lottery seed
  (``school-allocation-seed/1``);
- ``beacon_round_after(genesis, period, ts)``: the first round of a drand chain emitted after ``ts``;
- ``entry_code(key, application_id)``: the pseudonymous code on a family's receipt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence

__all__ = [
    "ENTRY_CODE_METHOD",
    "FREEZE_FORMAT",
    "SEED_METHOD",
    "beacon_round_after",
    "beacon_round_time",
    "canonical",
    "derive_seed",
    "entry_code",
    "entry_coder",
    "entry_record",
    "freeze_fingerprint",
    "freeze_leaves",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "school_record",
    "verify_inclusion",
]

FREEZE_FORMAT = "school-entry-freeze/1"
SEED_METHOD = "school-allocation-seed/1"
ENTRY_CODE_METHOD = "entry-code/1"


def canonical(obj) -> bytes:
    """JSON with keys sorted, no whitespace, non-ASCII escaped as \\uXXXX: one encoding per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def school_record(school_id: str, capacity: int) -> dict:
    return {"type": "school", "id": school_id, "capacity": int(capacity)}


def entry_record(code: str, choices: Sequence[str], catchment: str | None, siblings: Sequence[str]) -> dict:
    return {
        "type": "entry",
        "code": code,
        "choices": list(choices),
        "catchment": catchment,
        "siblings": list(siblings),
    }


def freeze_leaves(schools: Iterable[dict], entries: Iterable[dict]) -> list[bytes]:
    """Schools sorted by id, then entries sorted by code; each its canonical bytes."""
    out = [canonical(s) for s in sorted(schools, key=lambda s: s["id"])]
    out += [canonical(e) for e in sorted(entries, key=lambda e: e["code"])]
    return out


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, bottom up; an unpaired last node is carried up unchanged (this
    builds exactly the tree of RFC 6962, section 2.1)."""
    level = [leaf_hash(x) for x in leaves]
    levels = [level]
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


def merkle_root(leaves: Sequence[bytes]) -> str:
    """Hex Merkle root (RFC 6962); the empty list's root is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    return _levels(leaves)[-1][0].hex()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[str]:
    """The sibling hashes (hex) from leaf ``index`` up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(index)
    proof = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling].hex())
        index //= 2
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """Tell whether ``leaf`` is leaf ``index`` of a tree of ``size`` leaves with this ``root``."""
    if not 0 <= index < size:
        return False
    h = leaf_hash(leaf)
    steps = iter(proof)
    try:
        while size > 1:
            if index % 2:
                h = _node(bytes.fromhex(next(steps)), h)
            elif index + 1 < size:
                h = _node(h, bytes.fromhex(next(steps)))
            index //= 2
            size = (size + 1) // 2
    except (StopIteration, ValueError):
        return False
    return next(steps, None) is None and hmac.compare_digest(h.hex(), str(root).lower())


def freeze_fingerprint(schools: Sequence[dict], entries: Sequence[dict]) -> dict:
    """The published fingerprint: the Merkle root over ``freeze_leaves`` plus the counts."""
    return {
        "format": FREEZE_FORMAT,
        "root": merkle_root(freeze_leaves(schools, entries)),
        "schools": len(schools),
        "entries": len(entries),
        "seats": sum(int(s["capacity"]) for s in schools),
    }


def _field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(8, "big") + raw


def derive_seed(secret: str, root: str, beacon_round: int, beacon_randomness: str) -> str:
    """The lottery seed (hex SHA-256) of ``school-allocation-seed/1``::

    SHA-256( "school-allocation-seed/1" 0x00 ‖ F(secret) ‖ F(root) ‖ F(round) ‖ F(randomness) )

    with F(x) = length of UTF-8 x as 8-byte big-endian ‖ UTF-8 x; ``root`` and ``randomness`` in
    lower-case hex, ``round`` in decimal.
    """
    if not secret or not root or not beacon_randomness:
        raise ValueError("secret, root and beacon randomness are required")
    if isinstance(beacon_round, bool) or not isinstance(beacon_round, int) or beacon_round < 1:
        raise ValueError("beacon round must be a positive integer")
    h = hashlib.sha256(SEED_METHOD.encode("ascii") + b"\x00")
    for part in (secret, root.lower(), str(beacon_round), beacon_randomness.lower()):
        h.update(_field(part))
    return h.hexdigest()


def beacon_round_time(genesis: int, period: int, round_: int) -> int:
    """The unix time at which drand round ``round_`` is emitted (round 1 at genesis)."""
    return genesis + (round_ - 1) * period


def beacon_round_after(genesis: int, period: int, ts: float) -> int:
    """The first round emitted strictly after the unix time ``ts``."""
    if period <= 0:
        raise ValueError("period must be positive")
    if ts < genesis:
        return 1
    return int((ts - genesis) // period) + 2


_B32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud and typed without confusion


def entry_code(key: bytes, application_id: int) -> str:
    """HMAC-SHA-256(key, "entry-code/1:<id>"), first 50 bits in a 32-letter alphabet, ``XXXXX-XXXXX``."""
    return entry_coder(key)(application_id)


def entry_coder(key: bytes):
    """``entry_code`` with the key's HMAC state computed once (many codes in a row)."""
    base = hmac.new(key, f"{ENTRY_CODE_METHOD}:".encode("ascii"), "sha256")

    def code(application_id: int) -> str:
        h = base.copy()
        h.update(str(int(application_id)).encode("ascii"))
        return _letters(int.from_bytes(h.digest()[:8], "big") >> 14)

    return code


def _letters(n: int) -> str:
    chars = []
    for _ in range(10):
        chars.append(_B32[n & 31])
        n >>= 5
    s = "".join(reversed(chars))
    return f"{s[:5]}-{s[5:]}"
