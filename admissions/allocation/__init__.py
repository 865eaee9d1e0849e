"""School allocation, pure code (no Flask, no database): standard library, numpy and orjson.

- ``instance``: reading and checking ``school-allocation-instance/1`` into arrays;
- ``solver``: student-proposing deferred acceptance on those arrays, ``school-allocation-result/1``;
- ``lottery``: lottery numbers from a published seed;
- ``exchange``: what the app adds on top of the format (student keys, the later-round reduction,
  stability checks, summaries, distances);
- ``file``: ``flask --app app admissions allocate-file IN.json OUT.json``.

The method, the formats and how to re-run a round: docs/allocation.md.
"""

from .exchange import (
    application_id_of,
    blocking_pairs,
    haversine_km,
    later_round_instance,
    lost_guarantees,
    nearest,
    priority_class,
    student_key,
    summarize,
)
from .file import run_file
from .instance import (
    CATCHMENT,
    INSTANCE_FORMAT,
    OTHER,
    SIBLING,
    CompiledInstance,
    InstanceError,
    compile_instance,
    validate_instance,
)
from .lottery import LOTTERY_METHOD, draw_lottery, new_seed, seed_commitment, verify_commitment
from .solver import RESULT_FORMAT, Solution, allocate_instance, build_result, solve

__all__ = [
    "CATCHMENT",
    "INSTANCE_FORMAT",
    "LOTTERY_METHOD",
    "OTHER",
    "RESULT_FORMAT",
    "SIBLING",
    "CompiledInstance",
    "InstanceError",
    "Solution",
    "allocate_instance",
    "application_id_of",
    "blocking_pairs",
    "build_result",
    "compile_instance",
    "draw_lottery",
    "haversine_km",
    "later_round_instance",
    "lost_guarantees",
    "nearest",
    "new_seed",
    "priority_class",
    "run_file",
    "seed_commitment",
    "solve",
    "student_key",
    "summarize",
    "validate_instance",
    "verify_commitment",
]
