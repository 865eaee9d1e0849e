"""The text and page count of a PDF the app made, read back with poppler's pdftotext and pdfinfo
(the test that needs them is skipped where they are not installed; CI installs them)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def _poppler(name: str, args: list[str], data: bytes) -> str:
    assert data.startswith(b"%PDF-"), data[:20]
    tool = shutil.which(name)
    if tool is None:
        pytest.skip(f"{name} (poppler-utils) is not installed")
    return subprocess.run([tool, *args], input=data, capture_output=True, check=True).stdout.decode("utf-8")


def pdf_text(data: bytes) -> str:
    return _poppler("pdftotext", ["-enc", "UTF-8", "-", "-"], data)


def pdf_pages(data: bytes) -> int:
    out = _poppler("pdfinfo", ["-"], data)
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))
