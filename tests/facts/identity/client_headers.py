"""Realistic request header sets, in the order and casing real clients send them (HTTP/1.1)."""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
IPHONE_SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_APP_UA = "DemoPay/5.2.1 (Android 14; Pixel 8)"
IOS_APP_UA = "DemoPay/5.2.1 (iOS 17.4; iPhone15,2)"


def chrome(*, cookie: str | None = None) -> Headers:
    headers = [
        (b"Host", b"shop.example.jp"),
        (b"Connection", b"keep-alive"),
        (b"Content-Length", b"52"),
        (b"sec-ch-ua-platform", b'"Windows"'),
        (b"User-Agent", CHROME_UA.encode()),
        (b"sec-ch-ua", b'"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
        (b"Content-Type", b"application/json"),
        (b"sec-ch-ua-mobile", b"?0"),
        (b"Accept", b"*/*"),
        (b"Origin", b"https://shop.example.jp"),
        (b"Sec-Fetch-Site", b"same-origin"),
        (b"Sec-Fetch-Mode", b"cors"),
        (b"Sec-Fetch-Dest", b"empty"),
        (b"Referer", b"https://shop.example.jp/login"),
        (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
        (b"Accept-Language", b"ja,en-US;q=0.9,en;q=0.8"),
    ]
    if cookie is not None:
        headers.append((b"Cookie", cookie.encode()))
    return headers


def firefox() -> Headers:
    return [
        (b"Host", b"shop.example.jp"),
        (b"User-Agent", FIREFOX_UA.encode()),
        (b"Accept", b"*/*"),
        (b"Accept-Language", b"ja,en-US;q=0.7,en;q=0.3"),
        (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"52"),
        (b"Origin", b"https://shop.example.jp"),
        (b"Connection", b"keep-alive"),
        (b"Referer", b"https://shop.example.jp/login"),
        (b"Sec-Fetch-Dest", b"empty"),
        (b"Sec-Fetch-Mode", b"cors"),
        (b"Sec-Fetch-Site", b"same-origin"),
        (b"Priority", b"u=0"),
    ]


def safari() -> Headers:
    return [
        (b"Host", b"shop.example.jp"),
        (b"Content-Type", b"application/json"),
        (b"Accept", b"*/*"),
        (b"Sec-Fetch-Site", b"same-origin"),
        (b"Accept-Language", b"ja-JP,ja;q=0.9"),
        (b"Accept-Encoding", b"gzip, deflate, br"),
        (b"Sec-Fetch-Mode", b"cors"),
        (b"Origin", b"https://shop.example.jp"),
        (b"User-Agent", SAFARI_UA.encode()),
        (b"Referer", b"https://shop.example.jp/login"),
        (b"Content-Length", b"52"),
        (b"Connection", b"keep-alive"),
        (b"Sec-Fetch-Dest", b"empty"),
    ]


def curl() -> Headers:
    return [
        (b"Host", b"shop.example.jp"),
        (b"User-Agent", b"curl/8.5.0"),
        (b"Accept", b"*/*"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"52"),
    ]


def python_requests() -> Headers:
    return [
        (b"Host", b"shop.example.jp"),
        (b"User-Agent", b"python-requests/2.32.3"),
        (b"Accept-Encoding", b"gzip, deflate"),
        (b"Accept", b"*/*"),
        (b"Connection", b"keep-alive"),
        (b"Content-Length", b"52"),
        (b"Content-Type", b"application/json"),
    ]


def app(*, ua: str = ANDROID_APP_UA, version: bool = True, device: str | None = "3f2c9a1e-55aa-4b7d") -> Headers:
    headers: Headers = []
    if version:
        headers.append((b"X-App-Version", b"5.2.1"))
    if device is not None:
        headers.append((b"X-Device-Id", device.encode()))
    headers += [
        (b"Content-Type", b"application/json; charset=UTF-8"),
        (b"Content-Length", b"52"),
        (b"Host", b"api.example.jp"),
        (b"Connection", b"Keep-Alive"),
        (b"Accept-Encoding", b"gzip"),
        (b"User-Agent", ua.encode()),
    ]
    return headers


def headless_chromium() -> Headers:
    """Captured from Debian's chromium 156 driven by Playwright: fetch() POST to http://127.0.0.1."""
    return [
        (b"Host", b"127.0.0.1:18765"),
        (b"Connection", b"keep-alive"),
        (b"Content-Length", b"2"),
        (b"sec-ch-ua-platform", b'"Linux"'),
        (
            b"User-Agent",
            b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 "
            b"Safari/537.36",
        ),
        (b"sec-ch-ua", b'"Not:A-Brand";v="8", "Chromium";v="156"'),
        (b"Content-Type", b"application/json"),
        (b"sec-ch-ua-mobile", b"?0"),
        (b"Accept", b"*/*"),
        (b"Origin", b"http://127.0.0.1:18765"),
        (b"Sec-Fetch-Site", b"same-origin"),
        (b"Sec-Fetch-Mode", b"cors"),
        (b"Sec-Fetch-Dest", b"empty"),
        (b"Referer", b"http://127.0.0.1:18765/"),
        (b"Accept-Encoding", b"gzip, deflate, br, zstd"),
        (b"Accept-Language", b"en-US,en;q=0.9"),
    ]
