"""The standard subjects of the 2018 general education programme and how each is assessed.

Used to create a school's subjects when a teachers sheet names one (the school can adjust them on
its calendar page) and by the demo. Pure data and helpers, no database.

- Primary (Circular 27/2020): every subject gets a level; Tiếng Việt and Toán (all grades), and
  Ngoại ngữ 1, Lịch sử và Địa lí, Khoa học, Tin học và Công nghệ (grades 3–5) also have a periodic
  test scored 0–10.
- Secondary (Circular 22/2021): Giáo dục thể chất, Nghệ thuật (Âm nhạc, Mĩ thuật), Hoạt động trải
  nghiệm, hướng nghiệp and Nội dung giáo dục địa phương are comment-assessed; the others are scored.
  Regular assessments per term: 2 for subjects of up to 35 periods a year, 3 up to 70, 4 above.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import fold


@dataclass(frozen=True)
class StandardSubject:
    name: str
    assessment: str  # scored | comment | primary
    has_test: bool = False
    regular_count: int = 3


def _primary(grade: int) -> list[StandardSubject]:
    tested_from_3 = grade >= 3
    subjects = [
        StandardSubject("Tiếng Việt", "primary", True),
        StandardSubject("Toán", "primary", True),
    ]
    if grade >= 3:
        subjects.append(StandardSubject("Ngoại ngữ 1", "primary", tested_from_3))
        subjects.append(StandardSubject("Tin học và Công nghệ", "primary", tested_from_3))
    if grade >= 4:
        subjects.append(StandardSubject("Lịch sử và Địa lí", "primary", True))
        subjects.append(StandardSubject("Khoa học", "primary", True))
    subjects.append(StandardSubject("Đạo đức", "primary"))
    if grade <= 3:
        subjects.append(StandardSubject("Tự nhiên và Xã hội", "primary"))
    subjects += [
        StandardSubject("Giáo dục thể chất", "primary"),
        StandardSubject("Âm nhạc", "primary"),
        StandardSubject("Mĩ thuật", "primary"),
        StandardSubject("Hoạt động trải nghiệm", "primary"),
    ]
    return subjects


def _lower_secondary(grade: int) -> list[StandardSubject]:
    tech_count = 2 if grade <= 7 else 3
    return [
        StandardSubject("Ngữ văn", "scored", regular_count=4),
        StandardSubject("Toán", "scored", regular_count=4),
        StandardSubject("Ngoại ngữ 1", "scored", regular_count=4),
        StandardSubject("Khoa học tự nhiên", "scored", regular_count=4),
        StandardSubject("Lịch sử và Địa lí", "scored", regular_count=4),
        StandardSubject("Giáo dục công dân", "scored", regular_count=2),
        StandardSubject("Công nghệ", "scored", regular_count=tech_count),
        StandardSubject("Tin học", "scored", regular_count=2),
        StandardSubject("Giáo dục thể chất", "comment", regular_count=4),
        StandardSubject("Âm nhạc", "comment", regular_count=2),
        StandardSubject("Mĩ thuật", "comment", regular_count=2),
        StandardSubject("Hoạt động trải nghiệm, hướng nghiệp", "comment", regular_count=4),
        StandardSubject("Nội dung giáo dục của địa phương", "comment", regular_count=2),
    ]


def _upper_secondary(grade: int) -> list[StandardSubject]:
    return [
        StandardSubject("Ngữ văn", "scored", regular_count=4),
        StandardSubject("Toán", "scored", regular_count=4),
        StandardSubject("Ngoại ngữ 1", "scored", regular_count=4),
        StandardSubject("Lịch sử", "scored", regular_count=3),
        StandardSubject("Giáo dục quốc phòng và an ninh", "scored", regular_count=2),
        StandardSubject("Vật lí", "scored", regular_count=4),
        StandardSubject("Hóa học", "scored", regular_count=4),
        StandardSubject("Sinh học", "scored", regular_count=4),
        StandardSubject("Địa lí", "scored", regular_count=4),
        StandardSubject("Giáo dục kinh tế và pháp luật", "scored", regular_count=4),
        StandardSubject("Tin học", "scored", regular_count=4),
        StandardSubject("Công nghệ", "scored", regular_count=4),
        StandardSubject("Giáo dục thể chất", "comment", regular_count=4),
        StandardSubject("Hoạt động trải nghiệm, hướng nghiệp", "comment", regular_count=4),
        StandardSubject("Nội dung giáo dục của địa phương", "comment", regular_count=2),
    ]


def standard_subjects(grade: int) -> list[StandardSubject]:
    if grade == 0:
        return []  # kindergarten: no subjects, no grade book
    if 1 <= grade <= 5:
        return _primary(grade)
    if 6 <= grade <= 9:
        return _lower_secondary(grade)
    if 10 <= grade <= 12:
        return _upper_secondary(grade)
    raise ValueError(grade)


def guess_subject(grade: int, name: str) -> StandardSubject:
    """The standard subject of that name in that grade, else a sensible default for the level."""
    key = fold(name)
    for subject in standard_subjects(grade):
        if fold(subject.name) == key:
            return StandardSubject(name, subject.assessment, subject.has_test, subject.regular_count)
    if grade <= 5:
        return StandardSubject(name, "primary")
    return StandardSubject(name, "scored", regular_count=3)


# Grades each school level teaches (School.level is the admissions entry level).
LEVEL_GRADES = {
    "kindergarten": range(0, 1),
    "grade1": range(1, 6),
    "grade6": range(6, 10),
    "grade10": range(10, 13),
}


def grades_of_level(level: str) -> range:
    return LEVEL_GRADES.get(level, range(0))
