"""Jobs of the personal-data pages: module-level functions taking ids, safe to retry."""

from __future__ import annotations

from .downloads import build


def build_download(request_id: int) -> None:
    build(request_id)
