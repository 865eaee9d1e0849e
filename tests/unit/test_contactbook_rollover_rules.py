"""Next year's class names (contactbook.rules.promoted_class_name)."""

from __future__ import annotations

import pytest

from contactbook.rules import promoted_class_name


@pytest.mark.parametrize(
    ("name", "grade", "expected"),
    [
        ("6A", 6, "7A"),
        ("6A1", 6, "7A1"),
        ("10A2", 10, "11A2"),
        ("9", 9, "10"),
        ("Lớp 3B", 3, "Lớp 4B"),
        ("A1", 6, "7A1"),  # no grade in the name: the new grade in front
        ("16A", 6, "716A"),  # "16" is not grade 6
    ],
)
def test_promoted_class_name(name, grade, expected):
    assert promoted_class_name(name, grade) == expected
