"""The pure pieces behind the holes' fixes: redirect targets, stored links, logins, proxies."""

import ipaddress

import pytest

from app.security import TrustedProxies, normalize_login, proxy_networks, safe_next_path, same_site_link


@pytest.mark.parametrize(
    "target",
    [
        "/home",
        "/notifications/?page=2",
        "/contactbook/threads/5#m3",
        "/admissions/office/districts/1/levels/2/eligible?school_id=3",
    ],
)
def test_paths_on_this_site_are_kept(target):
    assert safe_next_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "home",
        "//evil.example/x",
        "/\t/evil.example/x",
        "/\r\n/x",
        "/\n/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/\u200b/evil.example",
        "/\x00/evil.example",
        " /home",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/" + "a" * 3000,
    ],
)
def test_anything_a_browser_could_read_as_another_site_is_refused(target):
    assert safe_next_path(target) is None


@pytest.mark.parametrize(
    ("url", "public", "shown"),
    [
        ("/contactbook/threads/1", None, True),
        ("/contactbook/threads/1", "https://so.vn", True),
        ("https://so.vn/contactbook/threads/1", "https://so.vn", True),
        ("https://so.vn/tsll/x", "https://so.vn/tsll", True),
        ("https://so.vn/contactbook/threads/1", None, False),
        ("https://so.vn.evil.example/x", "https://so.vn", False),
        ("https://so.vn@evil.example/x", "https://so.vn", False),
        ("https://so.vn//evil.example/x", "https://so.vn", False),
        ("https://so.vn/tsllx", "https://so.vn/tsll", False),
        ("https://evil.example/x", "https://so.vn", False),
        ("http://so.vn/x", "https://so.vn", False),
        ("//evil.example/x", "https://so.vn", False),
        ("javascript:alert(1)", "https://so.vn", False),
        (None, "https://so.vn", False),
        (7, "https://so.vn", False),
    ],
)
def test_stored_links_are_shown_only_when_they_lead_here(url, public, shown):
    assert same_site_link(url, public) == (url if shown else None)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0912345678", "0912345678"),
        ("  0912 345 678\t", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("０９１２３４５６７８", "0912345678"),
        ("Admin@Demo.EDU.vn ", "admin@demo.edu.vn"),
        ("0912345678\x00", ""),
        ("\x000912345678", ""),
        ("0912\u200b345678", ""),
        ("admin@demo.edu.vn\x00", ""),
        (None, ""),
    ],
)
def test_one_canonical_login(raw, canonical):
    assert normalize_login(raw) == canonical


def test_trusted_proxies_parse_and_match():
    nets = proxy_networks("10.0.0.5, 192.0.2.0/28 ::1\n2001:db8::/64")
    assert nets == (
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("192.0.2.0/28"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("2001:db8::/64"),
    )
    assert proxy_networks("") == ()
    with pytest.raises(ValueError, match="TRUSTED_PROXY_ADDRESSES"):
        proxy_networks("10.0.0.5, example.com")
    seen = {}

    def app(env, start_response):
        seen.update(addr=env["REMOTE_ADDR"], xff=env.get("HTTP_X_FORWARDED_FOR"))
        return []

    wrapped = TrustedProxies(app, 1, nets)
    for peer, addr, xff in (
        ("10.0.0.5", "203.0.113.1", "203.0.113.1"),
        ("192.0.2.15", "203.0.113.1", "203.0.113.1"),
        ("2001:db8::7", "203.0.113.1", "203.0.113.1"),
        ("192.0.2.16", "192.0.2.16", None),
        ("198.51.100.1", "198.51.100.1", None),
        ("not an address", "not an address", None),
    ):
        wrapped({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": "203.0.113.1"}, None)
        assert seen == {"addr": addr, "xff": xff}, (peer, seen)  # others' header is removed
