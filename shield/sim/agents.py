"""What clients look like on the wire: full, realistic header sets for apps, browsers and libraries.

A header set is a tuple of (name, value) pairs in the order the client sends them. The value
"{origin}" is replaced by the driver with the target's origin, as a browser's fetch() would send it.
"""

from __future__ import annotations

import random
import uuid
from typing import Literal

Headers = tuple[tuple[str, str], ...]
AgentKind = Literal["app", "chrome", "popular-chrome", "safari", "firefox", "library"]
AGENT_KINDS: tuple[AgentKind, ...] = ("app", "chrome", "popular-chrome", "safari", "firefox", "library")
# The single most common browser build in the home market (Chrome on Windows, Japanese): thousands of
# real users share its fingerprint, and so does an attacker who copies it.
POPULAR_CHROME = (131, "Windows")

ACCEPT_LANGUAGE_JA = "ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7"
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
API_ACCEPT = "application/json, text/plain, */*"

ANDROID_MODELS = ("Pixel 8", "Pixel 7a", "SO-51D", "SC-52D", "SH-53D", "A302ZT")
IOS_MODELS = ("iPhone15,2", "iPhone15,4", "iPhone16,1", "iPhone14,5")
LIBRARY_AGENTS = (
    "python-requests/2.31.0",
    "python-requests/2.28.2",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "axios/1.6.7",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Java/17.0.9",
)


def app_headers(version: str, os_name: str, model: str, device_id: str) -> Headers:
    """The DemoPay mobile app: its own UA, app version and device id headers."""
    os_label = "Android 14" if os_name == "android" else "iOS 17.4"
    return (
        ("User-Agent", f"DemoPay/{version} ({os_label}; {model})"),
        ("Accept", "application/json"),
        ("Accept-Language", "ja-JP"),
        ("Accept-Encoding", "gzip"),
        ("Content-Type", "application/json"),
        ("X-App-Version", version),
        ("X-Device-Id", device_id),
    )


def chrome_headers(major: int, platform: str) -> Headers:
    """Chrome's fetch() from the login page, client hints included."""
    mobile = platform == "Android"
    os_part = {
        "Windows": "Windows NT 10.0; Win64; x64",
        "macOS": "Macintosh; Intel Mac OS X 10_15_7",
        "Android": "Linux; Android 10; K",
    }[platform]
    engine = "AppleWebKit/537.36 (KHTML, like Gecko)"
    ua = f"Mozilla/5.0 ({os_part}) {engine} Chrome/{major}.0.0.0 {'Mobile ' if mobile else ''}Safari/537.36"
    return (
        ("sec-ch-ua", f'"Chromium";v="{major}", "Google Chrome";v="{major}", "Not?A_Brand";v="99"'),
        ("sec-ch-ua-mobile", "?1" if mobile else "?0"),
        ("sec-ch-ua-platform", f'"{platform}"'),
        ("User-Agent", ua),
        ("Accept", API_ACCEPT),
        ("Content-Type", "application/json"),
        ("Origin", "{origin}"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", "{origin}/"),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("Accept-Language", ACCEPT_LANGUAGE_JA),
    )


def safari_headers(version: str, platform: str) -> Headers:
    """Safari on macOS or iOS (no client hints, its own header order)."""
    if platform == "iOS":
        os_part = "iPhone; CPU iPhone OS 17_4 like Mac OS X"
        tail = f"Version/{version} Mobile/15E148 Safari/604.1"
    else:
        os_part = "Macintosh; Intel Mac OS X 10_15_7"
        tail = f"Version/{version} Safari/605.1.15"
    return (
        ("Content-Type", "application/json"),
        ("Accept", API_ACCEPT),
        ("Sec-Fetch-Site", "same-origin"),
        ("Accept-Language", "ja-JP,ja;q=0.9"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Sec-Fetch-Mode", "cors"),
        ("Origin", "{origin}"),
        ("User-Agent", f"Mozilla/5.0 ({os_part}) AppleWebKit/605.1.15 (KHTML, like Gecko) {tail}"),
        ("Referer", "{origin}/"),
        ("Sec-Fetch-Dest", "empty"),
    )


def firefox_headers(major: int, platform: str) -> Headers:
    os_part = {
        "Windows": "Windows NT 10.0; Win64; x64",
        "macOS": "Macintosh; Intel Mac OS X 10.15",
        "Linux": "X11; Linux x86_64",
    }[platform]
    return (
        ("User-Agent", f"Mozilla/5.0 ({os_part}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"),
        ("Accept", API_ACCEPT),
        ("Accept-Language", "ja,en-US;q=0.7,en;q=0.3"),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("Content-Type", "application/json"),
        ("Origin", "{origin}"),
        ("Referer", "{origin}/"),
        ("Sec-Fetch-Dest", "empty"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Site", "same-origin"),
    )


def library_headers(agent: str) -> Headers:
    """An HTTP library as scripts use it: its default UA and little else."""
    return (
        ("User-Agent", agent),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Content-Type", "application/json"),
    )


def random_headers(kind: AgentKind, rng: random.Random) -> Headers:
    """A plausible, internally consistent header set of the given kind."""
    if kind == "app":
        os_name = rng.choice(("android", "ios"))
        model = rng.choice(ANDROID_MODELS if os_name == "android" else IOS_MODELS)
        return app_headers(rng.choice(("5.1.4", "5.2.0", "5.2.1")), os_name, model, device_id(rng))
    if kind == "popular-chrome":
        return chrome_headers(*POPULAR_CHROME)
    if kind == "chrome":
        return chrome_headers(rng.choice((128, 129, 130, 131)), rng.choice(("Windows", "macOS", "Android")))
    if kind == "safari":
        return safari_headers(rng.choice(("17.4", "17.5", "18.0", "18.1")), rng.choice(("macOS", "iOS")))
    if kind == "firefox":
        return firefox_headers(rng.choice((130, 131, 132)), rng.choice(("Windows", "macOS", "Linux")))
    return library_headers(rng.choice(LIBRARY_AGENTS))


def device_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
