"""What the sessions page says about a session, from what the browser sent: the device in plain
words ("Chrome trên Android") and the start of the address ("203.113.x.x"), never the whole
address. Pure functions: strings in, strings out."""

from __future__ import annotations

import ipaddress
import re

from flask_babel import gettext as _

# (pattern in the User-Agent, name shown): the first match wins, so the specific ones come first.
_BROWSERS = (
    (r"Zalo", "Zalo"),
    (r"FBAN|FBAV", "Facebook"),
    (r"Edg(e|A|iOS)?/", "Edge"),
    (r"OPR/|Opera", "Opera"),
    (r"CocCoc|coc_coc", "Cốc Cốc"),
    (r"SamsungBrowser", "Samsung Internet"),
    (r"UCBrowser", "UC Browser"),
    (r"Firefox/|FxiOS", "Firefox"),
    (r"Chrome/|CriOS|Chromium", "Chrome"),
    (r"Safari/", "Safari"),
)
_SYSTEMS = (
    (r"iPhone", "iPhone"),
    (r"iPad", "iPad"),
    (r"Android", "Android"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "Mac"),
    (r"CrOS", "ChromeOS"),
    (r"Linux", "Linux"),
)


def _first(table, agent: str) -> str | None:
    for pattern, name in table:
        if re.search(pattern, agent):
            return name
    return None


def device_label(user_agent: str | None) -> str:
    """The browser and the system in words: "Chrome on Android", "Safari on iPhone"."""
    agent = user_agent or ""
    browser, system = _first(_BROWSERS, agent), _first(_SYSTEMS, agent)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    if browser or system:
        return browser or system or ""
    return _("Unknown device")


def ip_prefix(address: str | None) -> str:
    """The start of an address, enough to tell a city or a network, not a household:
    "203.113.x.x" for IPv4, the first three groups for IPv6; "" for anything else."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        a, b, _c, _d = str(ip).split(".")
        return f"{a}.{b}.x.x"
    groups = ip.exploded.split(":")[:3]
    return ":".join(g.lstrip("0") or "0" for g in groups) + ":…"
