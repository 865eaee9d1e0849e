import time

import pytest

from app.security import (
    CSP,
    MAX_PASSWORD,
    Passwords,
    mask_phone,
    normalize_phone,
    password_problem,
    security_headers,
)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0912345678", "0912345678"),
        ("+84912345678", "0912345678"),
        ("84 912 345 678", "0912345678"),
        ("091.234.5678", "0912345678"),
        ("0321234567", "0321234567"),
        ("0561234567", "0561234567"),
        ("0701234567", "0701234567"),
        ("0861234567", "0861234567"),
    ],
)
def test_vietnamese_mobiles_accepted(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "091234567",
        "09123456789",
        "0212345678",
        "0112345678",
        "abc",
        "0912345678<script>",
        "'; DROP TABLE user;--",
        None,
        "+1 415 555 0100",
    ],
)
def test_non_mobiles_refused(raw):
    assert normalize_phone(raw) is None


def test_mask_phone():
    assert mask_phone("0912345678") == "091****678"


def test_password_policy_lengths_and_lists():
    assert password_problem("hoa sen 8", staff=False) is None  # 9 chars, not common
    assert password_problem("short12", staff=False) == "too_short"
    assert password_problem("eleven char", staff=True) == "too_short"
    assert password_problem("twelve chars", staff=True) is None
    assert password_problem("x" * (MAX_PASSWORD + 1), staff=False) == "too_long"
    assert password_problem("password1", staff=False) == "common"
    assert password_problem("matkhau123", staff=False) == "common"
    assert password_problem("aaaaaaaaaaaa", staff=True) == "common"
    assert password_problem("hoa0912345678", staff=False, context=("0912345678",)) == "personal"
    # No composition rules: a long lowercase phrase is fine.
    assert password_problem("toi di hoc moi ngay", staff=True) is None


def test_argon2id_with_owasp_parameters():
    ph = Passwords()  # production defaults
    stored = ph.hash("mot hai ba bon")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert ph.verify(stored, "mot hai ba bon")
    assert not ph.verify(stored, "mot hai ba nam")
    assert not ph.verify(None, "anything")
    assert not ph.verify("not-a-hash", "anything")


def test_argon2_cost_is_in_the_tens_of_milliseconds():
    ph = Passwords()
    stored = ph.hash("mot hai ba bon")
    start = time.perf_counter()
    for _ in range(5):
        ph.verify(stored, "mot hai ba bon")
    per_login = (time.perf_counter() - start) / 5
    assert per_login < 0.25, per_login  # generous bound on a shared CI machine


def test_rehash_when_parameters_change():
    old = Passwords(time_cost=1, memory_cost=1024).hash("mot hai ba bon")
    assert Passwords().needs_rehash(old)


def test_security_headers_have_strict_csp_without_inline_script():
    h = security_headers(secure=True)
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "Strict-Transport-Security" in h
    assert "Strict-Transport-Security" not in security_headers(secure=False)
