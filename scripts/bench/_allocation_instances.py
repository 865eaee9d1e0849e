"""The allocation bench's instances: seeded, realistic `school-allocation-instance/1` dicts
(`generate`), the worst case of long rejection chains (`chain_instance`), and their description."""

from __future__ import annotations

import math

import numpy as np
import orjson

SEED = 20250701


def generate(n_students: int, seed: int = SEED, students_per_school: int = 150) -> dict:
    """Return a realistic ``school-allocation-instance/1`` dict (deterministic for a seed).

    Schools sit on a square grid (one per cell, ~150 students each), each with a popularity and a
    catchment size drawn independently of its capacity, so some catchments are oversubscribed.
    Total capacity is about 1.05 x students. A student lives in a catchment (95% have one, 5% are
    null) and ranks 1-5 schools (mean ~3.6) among the 25 around home, favouring near and popular
    ones; ~15% have a sibling at a nearby school. Lottery numbers are a random permutation.
    """
    rng = np.random.default_rng(seed)
    n = n_students
    n_schools = max(1, round(n / students_per_school))
    gx = math.ceil(math.sqrt(n_schools))
    sx = np.arange(n_schools) % gx
    sy = np.arange(n_schools) // gx
    popularity = rng.lognormal(0.0, 0.6, n_schools)
    catchment_weight = rng.lognormal(0.0, 0.35, n_schools)
    capacity_weight = rng.lognormal(0.0, 0.15, n_schools)
    capacity = np.maximum(1, np.floor(1.05 * n * capacity_weight / capacity_weight.sum())).astype(np.int64)

    home = rng.choice(n_schools, size=n, p=catchment_weight / catchment_weight.sum())
    dx, dy = np.meshgrid(np.arange(-2, 3), np.arange(-2, 3))
    dx, dy = dx.ravel(), dy.ravel()
    cx = sx[home][:, None] + dx[None, :]
    cy = sy[home][:, None] + dy[None, :]
    cand = cy * gx + cx
    valid = (cx >= 0) & (cx < gx) & (cy >= 0) & (cand < n_schools)
    cand = np.where(valid, cand, 0)
    dist = np.sqrt(dx * dx + dy * dy)[None, :]
    log_weight = np.log(popularity[cand]) - dist + np.where(dist == 0, math.log(3.0), 0.0)
    score = np.where(valid, log_weight + rng.gumbel(size=cand.shape), -np.inf)  # Gumbel top-k
    top_school = np.take_along_axis(cand, np.argsort(-score, axis=1)[:, :5], axis=1)
    length = np.minimum(rng.choice(np.arange(1, 6), size=n, p=[0.1, 0.15, 0.2, 0.25, 0.3]), valid.sum(axis=1))
    has_catchment = rng.random(n) < 0.95
    has_sibling = rng.random(n) < 0.15
    sibling_score = np.where(valid, log_weight + rng.gumbel(size=cand.shape), -np.inf)
    sibling_school = cand[np.arange(n), np.argmax(sibling_score, axis=1)]
    lottery = rng.permutation(n) + 1

    names = [f"TH-{j:05d}" for j in range(n_schools)]
    schools = [
        {"id": names[j], "capacity": c, "name": f"School {j}"} for j, c in enumerate(capacity.tolist())
    ]
    students = [
        {
            "id": f"HS{i:07d}",
            "choices": [names[j] for j in row[:k]],
            "catchment": names[h] if hc else None,
            "sibling_schools": [names[sb]] if hs else [],
            "lottery": lot,
        }
        for i, (row, k, hc, hs, h, sb, lot) in enumerate(
            zip(
                top_school.tolist(),
                length.tolist(),
                has_catchment.tolist(),
                has_sibling.tolist(),
                home.tolist(),
                sibling_school.tolist(),
                lottery.tolist(),
                strict=True,
            )
        )
    ]
    return {"format": "school-allocation-instance/1", "schools": schools, "students": students}


def parsed(instance: dict) -> dict:
    """Round-trip through JSON so every string is a separate object, as in a parsed file."""
    return orjson.loads(orjson.dumps(instance))


def chain_instance(chains: int, length: int) -> dict:
    """``chains`` independent rejection chains of ``length`` students, capacity-1 schools.

    In chain c, an intruder with the best lottery number takes school (c, 0) from student
    (c, 0), who then takes (c, 1) from (c, 1), and so on: ``chains`` proposers per round for
    ``length + 1`` rounds.
    """
    schools, students = [], []
    lottery = 0
    for c in range(chains):
        schools += [{"id": f"C{c}-S{j}", "capacity": 1} for j in range(length + 1)]
    for c in range(chains):
        lottery += 1
        students.append(
            {
                "id": f"C{c}-X",
                "choices": [f"C{c}-S0"],
                "catchment": None,
                "sibling_schools": [],
                "lottery": lottery,
            }
        )
    for j in range(length):
        for c in range(chains):
            lottery += 1
            students.append(
                {
                    "id": f"C{c}-A{j}",
                    "choices": [f"C{c}-S{j}", f"C{c}-S{j + 1}"],
                    "catchment": None,
                    "sibling_schools": [],
                    "lottery": lottery,
                }
            )
    return {"format": "school-allocation-instance/1", "schools": schools, "students": students}


def describe(instance: dict) -> str:
    students = instance["students"]
    caps = {s["id"]: s["capacity"] for s in instance["schools"]}
    residents: dict = {}
    for s in students:
        if s["catchment"] is not None:
            residents[s["catchment"]] = residents.get(s["catchment"], 0) + 1
    over = sum(1 for school, k in residents.items() if k > caps[school])
    mean_choices = sum(len(s["choices"]) for s in students) / max(1, len(students))
    siblings = sum(1 for s in students if s["sibling_schools"]) / max(1, len(students))
    return (
        f"{len(students):,} students, {len(caps):,} schools, capacity {sum(caps.values()) / len(students):.2f}x, "
        f"{mean_choices:.2f} choices each, {siblings:.0%} with a sibling, "
        f"{over / len(caps):.0%} of catchments oversubscribed"
    )
