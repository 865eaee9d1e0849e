"""The allocation tests' instances: `instance` builds one from schools and students, `instances`
draws random ones (hypothesis), and the settings the property tests share."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from admissions.allocation import INSTANCE_FORMAT

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TINY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The engine switches between vectorised rounds and a scalar loop; run both ways everywhere.
PATHS = [None, 0, 10**9, 3]


def instance(schools, students):
    """Build an instance from {id: capacity} and (id, choices, catchment, siblings, lottery)."""
    return {
        "format": INSTANCE_FORMAT,
        "schools": [{"id": sid, "capacity": cap} for sid, cap in schools.items()],
        "students": [
            {
                "id": sid,
                "choices": list(choices),
                "catchment": catchment,
                "sibling_schools": list(siblings),
                "lottery": lottery,
            }
            for sid, choices, catchment, siblings, lottery in students
        ],
    }


def without_seconds(result):
    result = copy.deepcopy(result)
    del result["stats"]["seconds"]
    return result


@st.composite
def instances(draw, max_schools=5, max_students=12, max_capacity=3, max_choices=None):
    n_schools = draw(st.integers(0, max_schools))
    school_ids = [f"TH-{j}" for j in range(n_schools)]
    caps = draw(st.lists(st.integers(0, max_capacity), min_size=n_schools, max_size=n_schools))
    n = draw(st.integers(0, max_students))
    lotteries = draw(
        st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n, unique=True)
        | st.permutations(range(1, n + 1)).map(list)
    )
    limit = n_schools if max_choices is None else min(max_choices, n_schools)
    students = []
    for i in range(n):
        k = draw(st.integers(0, limit))
        choices = draw(st.permutations(school_ids).map(lambda p, k=k: p[:k])) if k else []
        catchment = draw(st.sampled_from([None, *school_ids]))
        siblings = draw(st.lists(st.sampled_from(school_ids), max_size=2)) if school_ids else []
        students.append((f"HS{i:03d}", choices, catchment, siblings, lotteries[i]))
    return instance(dict(zip(school_ids, caps, strict=True)), students)
