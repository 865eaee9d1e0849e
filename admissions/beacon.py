"""The public randomness beacon, read over HTTP in drand's format (docs/verification.md).

``GET {BEACON_URL}/public/{round}`` answers ``{"round": n, "randomness": "<hex>", "signature":
"<hex>", "previous_signature": "<hex>", ...}``. A short timeout; any failure (down, not emitted
yet, a malformed answer, a signature that does not verify) is ``BeaconUnavailable``, and the
round waits. Every drand value is SHA-256 of its signature, and the signature is a BLS12-381
signature (on G2, public key on G1) of SHA-256(previous signature ‖ round) for drand's chained
scheme, of SHA-256(round) for the unchained one, checked against ``BEACON_PUBLIC_KEY``.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from flask import current_app

TIMEOUT = 5.0
HEX = re.compile(r"^[0-9a-f]{32,128}$")
SIGNATURE = re.compile(r"^(?:[0-9a-f]{2}){48,96}$")
SCHEMES = ("pedersen-bls-chained", "pedersen-bls-unchained")


class BeaconUnavailable(Exception):
    pass


@dataclass
class BeaconValue:
    round: int
    randomness: str
    signature: str | None
    source: str


def configured_url() -> str | None:
    return (current_app.config.get("BEACON_URL") or "").rstrip("/") or None


def chain() -> tuple[int, int]:
    """(genesis unix time, period in seconds) of the chain BEACON_URL serves."""
    return int(current_app.config.get("BEACON_GENESIS", 1595431050)), int(
        current_app.config.get("BEACON_PERIOD", 30)
    )


def fetch(round_: int, url: str | None = None) -> BeaconValue:
    """Fetch one round's value; raise ``BeaconUnavailable`` on any failure."""
    base = url or configured_url()
    if not base:
        raise BeaconUnavailable("no BEACON_URL")
    source = f"{base}/public/{int(round_)}"
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT) as resp:  # noqa: S310 (configured URL)
            data = json.loads(resp.read(65536))
    except (OSError, ValueError, urllib.error.URLError) as err:
        raise BeaconUnavailable(str(err)) from err
    if not isinstance(data, dict) or data.get("round") != int(round_):
        raise BeaconUnavailable("wrong round")
    randomness = str(data.get("randomness", "")).lower()
    if not HEX.match(randomness):
        raise BeaconUnavailable("malformed randomness")
    signature = str(data.get("signature") or "").lower()
    key = (current_app.config.get("BEACON_PUBLIC_KEY") or "").strip().lower()
    if key or signature:
        check_signature(int(round_), randomness, signature, str(data.get("previous_signature") or ""), key)
    return BeaconValue(int(round_), randomness, signature or None, source)


def round_message(round_: int, previous_signature: str, scheme: str) -> bytes:
    """What the chain signs for a round: SHA-256(previous signature ‖ round as 8 bytes, big-endian)
    (chained), SHA-256(round) (unchained)."""
    prefix = bytes.fromhex(previous_signature) if scheme == "pedersen-bls-chained" else b""
    return hashlib.sha256(prefix + int(round_).to_bytes(8, "big")).digest()


def check_signature(round_: int, randomness: str, signature: str, previous_signature: str, key: str) -> None:
    """Raise ``BeaconUnavailable`` unless ``randomness`` is SHA-256 of ``signature`` and, with a
    public key ``key`` (hex), the signature verifies for the round under BEACON_SCHEME."""
    if not SIGNATURE.match(signature):
        raise BeaconUnavailable("malformed signature")
    if hashlib.sha256(bytes.fromhex(signature)).hexdigest() != randomness:
        raise BeaconUnavailable("the randomness is not the SHA-256 of the signature")
    if not key:
        return
    scheme = current_app.config.get("BEACON_SCHEME") or SCHEMES[0]
    if scheme not in SCHEMES:
        raise BeaconUnavailable(f"unsupported BEACON_SCHEME {scheme}")
    previous_signature = previous_signature.lower()
    if scheme == "pedersen-bls-chained" and not SIGNATURE.match(previous_signature):
        raise BeaconUnavailable("malformed previous_signature")
    from py_ecc.bls import G2Basic  # lazy: 0.27 s to import; only a beacon fetch needs it

    try:
        ok = G2Basic.Verify(
            bytes.fromhex(key), round_message(round_, previous_signature, scheme), bytes.fromhex(signature)
        )
    except (ValueError, TypeError, AssertionError):
        ok = False
    if not ok:
        raise BeaconUnavailable("the signature does not verify with BEACON_PUBLIC_KEY")
