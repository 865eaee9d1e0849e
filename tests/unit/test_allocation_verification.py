"""The pure parts of a checkable round: canonical encoding, Merkle tree, fingerprint, seed
derivation, beacon round, entry codes (docs/verification.md). Known answers pin every method."""

from __future__ import annotations

import hashlib
import random

import pytest

from admissions.allocation import draw_lottery
from admissions.allocation.verification import (
    beacon_round_after,
    beacon_round_time,
    canonical,
    derive_seed,
    entry_code,
    entry_record,
    freeze_fingerprint,
    freeze_leaves,
    inclusion_proof,
    merkle_root,
    school_record,
    verify_inclusion,
)

SCHOOLS = [school_record("TH-B", 2), school_record("TH-A", 1)]
ENTRIES = [
    entry_record("BBBBB-22222", ["TH-A", "TH-B"], "TH-B", []),
    entry_record("AAAAA-33333", ["TH-A"], None, ["TH-A"]),
    entry_record("CCCCC-44444", ["TH-B", "TH-A"], "TH-A", []),
]
ROOT = "544b0a3308ec397f83a9dae1058099826ed9e8832baf5251ed50bd71537c2a61"
SEED = "ed2215cb0c96f3960171caa1a99ee21985bfcad53d3669b459517c275af1e4d3"


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def test_canonical_encoding_is_sorted_compact_ascii():
    assert canonical({"b": 1, "a": ["Đ", None]}) == b'{"a":["\\u0110",null],"b":1}'
    assert freeze_leaves(SCHOOLS, ENTRIES) == [
        b'{"capacity":1,"id":"TH-A","type":"school"}',
        b'{"capacity":2,"id":"TH-B","type":"school"}',
        b'{"catchment":null,"choices":["TH-A"],"code":"AAAAA-33333","siblings":["TH-A"],"type":"entry"}',
        b'{"catchment":"TH-B","choices":["TH-A","TH-B"],"code":"BBBBB-22222","siblings":[],"type":"entry"}',
        b'{"catchment":"TH-A","choices":["TH-B","TH-A"],"code":"CCCCC-44444","siblings":[],"type":"entry"}',
    ]


def test_merkle_root_is_rfc6962_known_answers():
    leaves = freeze_leaves(SCHOOLS, ENTRIES)
    lh = [sha(b"\x00" + x) for x in leaves]
    node = lambda a, b: sha(b"\x01" + a + b)  # noqa: E731
    by_hand = node(node(node(lh[0], lh[1]), node(lh[2], lh[3])), lh[4])  # RFC 6962: split 4 | 1
    assert merkle_root(leaves) == by_hand.hex() == ROOT
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert merkle_root([b"a"]) == "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c"
    assert freeze_fingerprint(SCHOOLS, ENTRIES) == {
        "format": "school-entry-freeze/1",
        "root": ROOT,
        "schools": 2,
        "entries": 3,
        "seats": 3,
    }
    # Order of the input does not matter; any change of a record does.
    assert freeze_fingerprint(SCHOOLS[::-1], ENTRIES[::-1])["root"] == ROOT
    moved = [*ENTRIES[:2], entry_record("CCCCC-44444", ["TH-A", "TH-B"], "TH-A", [])]
    assert freeze_fingerprint(SCHOOLS, moved)["root"] != ROOT
    assert freeze_fingerprint([school_record("TH-A", 1), school_record("TH-B", 3)], ENTRIES)["root"] != ROOT


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_leaf_has_an_inclusion_proof_and_a_forgery_has_none(n):
    leaves = [f"leaf {i}".encode() for i in range(n)]
    root = merkle_root(leaves)
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert verify_inclusion(leaves[i], i, n, proof, root)
        assert not verify_inclusion(leaves[i] + b"x", i, n, proof, root)
        if n > 1:
            assert not verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
            assert not verify_inclusion(leaves[i], i, n, proof[:-1], root)
    assert not verify_inclusion(leaves[0], n, n, [], root)


def test_seed_derivation_known_answer():
    secret = "0123456789abcdef0123456789abcdef"
    assert derive_seed(secret, ROOT, 1000, "ab" * 32) == SEED
    manual = hashlib.sha256(b"school-allocation-seed/1\x00")
    for part in (secret, ROOT, "1000", "ab" * 32):
        manual.update(len(part).to_bytes(8, "big") + part.encode())
    assert manual.hexdigest() == SEED
    # Each input moves the seed; upper-case hex is the same value.
    assert derive_seed(secret, ROOT, 1000, "AB" * 32) == SEED
    assert len({SEED, derive_seed(secret + "0", ROOT, 1000, "ab" * 32)}) == 2
    assert derive_seed(secret, ROOT, 1001, "ab" * 32) != SEED
    assert derive_seed(secret, ROOT, 1000, "ac" * 32) != SEED
    assert derive_seed(secret, "0" * 64, 1000, "ab" * 32) != SEED
    # The lottery over the entry codes.
    assert draw_lottery(SEED, [e["code"] for e in ENTRIES]) == {
        "AAAAA-33333": 1,
        "BBBBB-22222": 2,
        "CCCCC-44444": 3,
    }
    for bad in [
        ("", ROOT, 1, "ab"),
        (secret, ROOT, 0, "ab"),
        (secret, ROOT, True, "ab"),
        (secret, ROOT, 1, ""),
    ]:
        with pytest.raises(ValueError):
            derive_seed(*bad)


def test_beacon_round_after_the_close():
    genesis, period = 1595431050, 30
    assert beacon_round_time(genesis, period, 1) == genesis
    assert beacon_round_after(genesis, period, genesis) == 2  # round 1 is at the close, not after
    assert beacon_round_after(genesis, period, genesis + 61) == 4  # rounds at +60, +90: +90 is next
    assert beacon_round_after(genesis, period, genesis - 5) == 1
    rng = random.Random(7)
    for _ in range(200):
        ts = genesis + rng.uniform(0, 10**8)
        r = beacon_round_after(genesis, period, ts)
        assert beacon_round_time(genesis, period, r) > ts >= beacon_round_time(genesis, period, r - 1)


def test_entry_codes_are_keyed_stable_and_distinct():
    assert entry_code(b"key", 42) == "A3GCD-7AHMP"
    assert entry_code(b"key", 42) != entry_code(b"other key", 42)
    codes = {entry_code(b"key", i) for i in range(5000)}
    assert len(codes) == 5000
    assert all(len(c) == 11 and c[5] == "-" and not set(c) & set("IO01") for c in codes)
