#!/usr/bin/env python3
"""Check a published admission round from its transcript — one file, Python 3.9+ standard library.

Kiểm tra một vòng tuyển sinh đã công bố từ bản ghi (transcript) của nó.

    python3 verify_round.py round-12-transcript.json [--entry XXXXX-XXXXX]
    python3 verify_round.py round-13-transcript.json --previous round-12-transcript.json

(In the source tree: admissions/allocation/verify_round.py; the public page of a round links it.)

It re-derives, from the transcript alone (docs/verification.md):
  1. the fingerprint (RFC 6962 Merkle root) of the frozen entry list, and its counts;
  2. that the secret seed matches the SHA-256 published before registration opened;
  3. the lottery seed from the secret, the fingerprint and the beacon round and value;
  4. every lottery number (school-allocation-lottery/1 over the entry codes);
  5. the allocation: student-proposing deferred acceptance, priority = (class, lottery) with
     class 0 catchment, 1 sibling, 2 other; each child placed only at a school she listed.
A later round (2, 3, …) keeps round 1's lottery numbers, drawn over round 1's entry list (the
transcript's "lottery_draw"); it re-runs deferred acceptance over the children still in the
season from where each stood ("standing": a seat a round gave her is kept unless she gets one
she ranked higher; an office seat takes one seat and she may move only above it), and checks
that every other entry is listed in "left_out" with its reason.
It prints "KHỚP / MATCHES" and exits 0, or names the first difference and exits 1 (2: the file
cannot be read). With --entry CODE it also shows that family's line and checks its inclusion
proof against the fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import json
import sys

SEED_METHOD = b"school-allocation-seed/1\x00"
LOTTERY_METHOD = b"school-allocation-lottery/1\x00"


class Mismatch(Exception):
    pass


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def leaves_of(schools, entries):
    return [canonical(s) for s in sorted(schools, key=lambda s: s["id"])] + [
        canonical(e) for e in sorted(entries, key=lambda e: e["code"])
    ]


def levels_of(leaves):
    level = [hashlib.sha256(b"\x00" + x).digest() for x in leaves]
    out = [level]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        out.append(nxt)
        level = nxt
    return out


def merkle_root(leaves) -> str:
    return levels_of(leaves)[-1][0].hex() if leaves else hashlib.sha256(b"").hexdigest()


def proof_of(leaves, index):
    proof = []
    for level in levels_of(leaves)[:-1]:
        if index ^ 1 < len(level):
            proof.append(level[index ^ 1])
        index //= 2
    return proof


def check_proof(leaf, index, size, proof, root) -> bool:
    h = hashlib.sha256(b"\x00" + leaf).digest()
    steps = iter(proof)
    while size > 1:
        if index % 2:
            h = hashlib.sha256(b"\x01" + next(steps) + h).digest()
        elif index + 1 < size:
            h = hashlib.sha256(b"\x01" + h + next(steps)).digest()
        index //= 2
        size = (size + 1) // 2
    return hmac.compare_digest(h.hex(), root)


def field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(8, "big") + raw


def derive_seed(secret, root, beacon_round, randomness) -> str:
    h = hashlib.sha256(SEED_METHOD)
    for part in (secret, root.lower(), str(beacon_round), randomness.lower()):
        h.update(field(part))
    return h.hexdigest()


def draw_lottery(seed, codes):
    s = seed.encode("utf-8")
    base = hashlib.sha256(LOTTERY_METHOD + len(s).to_bytes(8, "big") + s)
    keyed = []
    for code in codes:
        h = base.copy()
        h.update(code.encode("utf-8"))
        keyed.append((h.digest(), code.encode("utf-8"), code))
    keyed.sort()
    return {code: k for k, (_d, _r, code) in enumerate(keyed, start=1)}


def deferred_acceptance(capacity, entries, lottery):
    """Student-proposing deferred acceptance; returns code -> school id or None."""

    def priority(e, school):
        cls = 0 if e["catchment"] == school else 1 if school in e["siblings"] else 2
        return (cls, lottery[e["code"]])

    by_code = {e["code"]: e for e in entries}
    held = {s: [] for s in capacity}  # max-heap of (-class, -lottery, code)
    nxt = dict.fromkeys(by_code, 0)
    free = list(by_code)
    while free:
        code = free.pop()
        e = by_code[code]
        if nxt[code] >= len(e["choices"]):
            continue
        school = e["choices"][nxt[code]]
        nxt[code] += 1
        cls, lot = priority(e, school)
        heap = held[school]
        if capacity[school] <= 0:
            free.append(code)
            continue
        heapq.heappush(heap, (-cls, -lot, code))
        if len(heap) > capacity[school]:
            free.append(heapq.heappop(heap)[2])
    result = dict.fromkeys(by_code)
    for school, heap in held.items():
        for _c, _l, code in heap:
            result[code] = school
    return result


def later_round_entries(t: dict, entries: list) -> list:
    """The children a later round ran on, with their lists cut where they stood: a child holding a
    seat from a round proposes down to that seat at most (she keeps it if nothing better); a child
    on an office seat proposes only to schools she ranked above it."""
    standing, left_out = t["standing"], t["left_out"]
    by_code = {e["code"]: e for e in entries}
    for code in standing:
        if code not in by_code:
            raise Mismatch(f"standing of {code}: not in the entry list")
        if code in left_out:
            raise Mismatch(f"entry {code}: both in the round and left out")
    for code in by_code:
        if code not in standing and code not in left_out:
            raise Mismatch(f"entry {code}: neither in the round nor listed as left out")
    for code in left_out:
        if code not in by_code:
            raise Mismatch(f"left_out {code}: not in the entry list")
    out = []
    for code in sorted(standing):
        e, where = by_code[code], standing[code]
        choices = list(e["choices"])
        if "held" in where:
            seat = where["held"]
            choices = choices[: choices.index(seat) + 1] if seat in choices else [*choices, seat]
        elif "office" in where:
            seat = where["office"]
            if seat in choices:
                choices = choices[: choices.index(seat)]
        out.append({**e, "choices": choices})
    return out


def later_round_capacity(capacity: dict, standing: dict) -> dict:
    """Seats a later round fills: a school's seats less the office's seats in it, never fewer than
    the round-given seats it must keep."""
    held, office = {}, {}
    for where in standing.values():
        for kind, counter in (("held", held), ("office", office)):
            if kind in where:
                if where[kind] not in capacity:
                    raise Mismatch(f"standing: unknown school {where[kind]}")
                counter[where[kind]] = counter.get(where[kind], 0) + 1
    return {s: max(cap - office.get(s, 0), held.get(s, 0), 0) for s, cap in capacity.items()}


def check_chain(t: dict, previous: dict) -> None:
    """A later round against the round before it (its transcript): the same season and randomness,
    and each child's standing is what that round gave her: its seat ("held"), or no seat from it
    (none, or a seat the office gave), or left out (she declined or let the offer lapse)."""
    if previous["round"] != t["round"] - 1:
        raise Mismatch(f"--previous: round {previous['round']} does not come just before round {t['round']}")
    for k in ("level", "district_id"):
        if previous[k] != t[k]:
            raise Mismatch(f"--previous: {k} {previous[k]} differs from {t[k]}")
    if previous["randomness"] != t["randomness"] or previous["lottery_seed"] != t["lottery_seed"]:
        raise Mismatch("--previous: the randomness or the lottery seed differs between the rounds")
    before = previous["result"]
    for code, where in sorted(t["standing"].items()):
        got = before.get(code)
        if code not in before:
            raise Mismatch(f"standing of {code}: not in round {previous['round']}")
        if "held" in where and where["held"] != got:
            raise Mismatch(f"standing of {code}: holds {where['held']}, round {previous['round']} gave {got}")
        if "held" not in where and got is not None:
            raise Mismatch(
                f"standing of {code}: round {previous['round']} gave {got}, the transcript says none"
            )
    for code in t["left_out"]:
        if code in before and before[code] is None and code not in previous.get("left_out", {}):
            raise Mismatch(f"left_out {code}: had no seat to decline after round {previous['round']}")


def verify(t: dict, entry: str | None = None, say=print, previous: dict | None = None) -> None:
    fr = t["entries"]
    schools, entries = fr["schools"], fr["entries"]
    leaves = leaves_of(schools, entries)
    root = merkle_root(leaves)
    fp = fr["fingerprint"]
    if root != fp["root"]:
        raise Mismatch(f"fingerprint: computed {root}, published {fp['root']}")
    counts = {"schools": len(schools), "entries": len(entries), "seats": sum(s["capacity"] for s in schools)}
    for k, v in counts.items():
        if fp[k] != v:
            raise Mismatch(f"fingerprint {k}: counted {v}, published {fp[k]}")
    say(
        f"1. fingerprint {root} ({counts['entries']} entries, {counts['schools']} schools, {counts['seats']} seats): ok"
    )
    r = t["randomness"]
    if hashlib.sha256(r["secret"].encode("utf-8")).hexdigest() != r["secret_sha256"]:
        raise Mismatch("secret seed: its SHA-256 is not the published commitment")
    say(f"2. secret seed matches the commitment published at {r['committed_at']}: ok")
    seed = derive_seed(r["secret"], root, r["beacon_round"], r["beacon_randomness"])
    if seed != t["lottery_seed"]:
        raise Mismatch(f"lottery seed: computed {seed}, published {t['lottery_seed']}")
    say(f"3. lottery seed {seed} (beacon round {r['beacon_round']}, from {r['beacon_source']}): ok")
    if r.get("beacon_signature"):
        if hashlib.sha256(bytes.fromhex(r["beacon_signature"])).hexdigest() != r["beacon_randomness"]:
            raise Mismatch("beacon: the randomness is not the SHA-256 of the beacon's signature")
        say("   the beacon value is the SHA-256 of its signature (the app checked the signature itself")
        say("   against the chain's public key; drand's own tools can check it again): ok")
    elif r.get("beacon_typed_by_office"):
        say("   the beacon value was typed by the office: compare it with the beacon's own page")
    if t["round"] == 1:
        codes, participants = [e["code"] for e in entries], entries
    else:
        draw = t["lottery_draw"]
        codes = draw["codes"]
        if draw["entries_root"] == root and sorted(codes) != sorted(e["code"] for e in entries):
            raise Mismatch("lottery_draw: its entry codes are not those of the fingerprinted list")
        participants = later_round_entries(t, entries)
        say(
            f"   round {t['round']}: round 1's lottery, drawn over its entry list (fingerprint "
            f"{draw['entries_root']}{', the same list' if draw['entries_root'] == root else ''}); "
            f"{len(participants)} still in, {len(t['left_out'])} left out: ok"
        )
        if previous is not None:
            check_chain(t, previous)
            say(f"   each child's standing is what round {previous['round']} gave her: ok")
    drawn = draw_lottery(seed, codes)
    lottery = {e["code"]: drawn.get(e["code"]) for e in participants}
    for code in sorted(set(lottery) | set(t["lottery"])):
        if lottery.get(code) is None or lottery.get(code) != t["lottery"].get(code):
            raise Mismatch(
                f"lottery of {code}: computed {lottery.get(code)}, published {t['lottery'].get(code)}"
            )
    say(f"4. {len(lottery)} lottery numbers: ok")
    capacity = {s["id"]: s["capacity"] for s in schools}
    if t["round"] != 1:
        capacity = later_round_capacity(capacity, t["standing"])
    placed = deferred_acceptance(capacity, participants, lottery)
    for code in sorted(set(placed) | set(t["result"])):
        if placed.get(code) != t["result"].get(code):
            raise Mismatch(
                f"result of {code}: computed {placed.get(code)}, published {t['result'].get(code)}"
            )
    say(f"5. deferred acceptance: {sum(1 for v in placed.values() if v)} placed, result identical: ok")
    if entry:
        ordered = sorted(entries, key=lambda e: e["code"])
        index = next((i for i, e in enumerate(ordered) if e["code"] == entry), None)
        if index is None:
            raise Mismatch(f"entry {entry}: not in the entry list")
        i = len(schools) + index
        if not check_proof(leaves[i], i, len(leaves), proof_of(leaves, i), root):
            raise Mismatch(f"entry {entry}: its inclusion proof does not lead to the fingerprint")
        e = ordered[index]
        say(f"Hồ sơ của bạn có trong danh sách / your entry is included: {entry}")
        say(f"   choices {e['choices']}, catchment {e['catchment']}, siblings {e['siblings']}")
        if entry in lottery:
            say(f"   lottery {lottery[entry]}, placed at {placed[entry] or '—'}")
        else:
            say(f"   not in this round: {t['left_out'].get(entry, '?')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check a published admission round from its transcript.")
    parser.add_argument("transcript", help="round-N-transcript.json from the round's public page")
    parser.add_argument("--entry", help="your entry code (on your receipt): show your line and its proof")
    parser.add_argument(
        "--previous",
        help="a later round: the transcript of the round before it, to check where each child stood",
    )
    args = parser.parse_args(argv)
    try:
        with open(args.transcript, encoding="utf-8") as fh:
            data = json.load(fh)
        previous = None
        if args.previous:
            with open(args.previous, encoding="utf-8") as fh:
                previous = json.load(fh)
    except (OSError, ValueError) as err:
        print(f"cannot read the transcript: {err}", file=sys.stderr)
        return 2
    try:
        verify(data, args.entry, previous=previous)
    except Mismatch as err:
        print(f"KHÔNG KHỚP / DOES NOT MATCH: {err}")
        return 1
    except (KeyError, TypeError, ValueError) as err:
        print(f"KHÔNG KHỚP / DOES NOT MATCH: malformed transcript ({err!r})")
        return 1
    print("KHỚP / MATCHES")
    return 0


if __name__ == "__main__":
    sys.exit(main())
