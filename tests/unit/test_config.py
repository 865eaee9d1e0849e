"""Settings read from the environment when a process starts (app/config.py, docs/configuration.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config_in_new_process(env: dict[str, str], *keys: str) -> list[str]:
    code = "from app.config import Config\n" + "".join(f"print(repr(Config.{k}))\n" for k in keys)
    clean = {k: v for k, v in os.environ.items() if k not in env}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def test_public_url_and_sms_token_come_from_the_environment():
    assert _config_in_new_process(
        {"PUBLIC_URL": "https://tuyensinh.example.edu.vn/", "SMS_GATEWAY_TOKEN": "s3cret"},
        "PUBLIC_URL",
        "SMS_GATEWAY_TOKEN",
    ) == ["'https://tuyensinh.example.edu.vn'", "'s3cret'"]
    assert _config_in_new_process(
        {"PUBLIC_URL": "", "SMS_GATEWAY_TOKEN": ""}, "PUBLIC_URL", "SMS_GATEWAY_TOKEN"
    ) == [
        "None",
        "None",
    ]
