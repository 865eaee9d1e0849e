"""The report of an Excel import: how many rows were created, updated or unchanged, and every
problem found (row, column, code), stored with the import job without personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from flask_babel import lazy_gettext as _l

from .. import xlsx

STORED_PROBLEMS = 1_000  # kept in an ImportJob's report; the command line prints them all


@dataclass
class ImportReport:
    """`problem_type`: the area's `xlsx.Problem` subclass (its own codes); `EXTRA`: more counts an
    area keeps (stored and read back with the rest)."""

    problem_type: ClassVar[type[xlsx.Problem]] = xlsx.Problem
    EXTRA: ClassVar[tuple[str, ...]] = ()

    kind: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[xlsx.Problem] = field(default_factory=list)
    problem_count: int | None = None  # set when problems were truncated for storage
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problem_count

    @property
    def total_problems(self) -> int:
        return self.problem_count if self.problem_count is not None else len(self.problems)

    def count(self, outcome: str) -> None:
        """One more row `created`, `updated` or `unchanged`."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        """The contract's last CLI line (always English, scripts read it)."""
        return f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"

    def localized_summary(self) -> str:
        return xlsx.localize(_l("created %(created)d, updated %(updated)d, unchanged %(unchanged)d")) % {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }

    def to_json(self, max_problems: int = STORED_PROBLEMS) -> dict:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
            "problems": [p.to_json() for p in self.problems[:max_problems]],
            "problem_count": self.total_problems,
            **{name: getattr(self, name) for name in self.EXTRA},
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportReport:
        return cls(
            kind=data.get("kind", ""),
            rows=data.get("rows", 0),
            created=data.get("created", 0),
            updated=data.get("updated", 0),
            unchanged=data.get("unchanged", 0),
            problems=[cls.problem_type.from_json(p) for p in data.get("problems", [])],
            problem_count=data.get("problem_count"),
            seconds=data.get("seconds", 0.0),
            **{name: data[name] for name in cls.EXTRA if name in data},
        )
