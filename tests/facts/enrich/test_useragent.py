from __future__ import annotations

import pytest

from shield.facts.enrich.automation import compile_automation
from shield.facts.enrich.useragent import MAX_UA_CHARS, UserAgentParser
from tests.facts.identity.client_headers import (
    ANDROID_APP_UA,
    CHROME_UA,
    FIREFOX_UA,
    IOS_APP_UA,
    IPHONE_SAFARI_UA,
    SAFARI_UA,
)

IPAD_UA = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36"
)
ANDROID_TABLET_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
EDGE_UA = CHROME_UA + " Edg/131.0.0.0"
HEADLESS_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser(app_pattern=r"^DemoPay/\d", cache_size=64)


@pytest.mark.parametrize(
    ("ua", "family", "major", "os", "device"),
    [
        (CHROME_UA, "Chrome", 131, "Windows", "desktop"),
        (EDGE_UA, "Edge", 131, "Windows", "desktop"),
        (FIREFOX_UA, "Firefox", 133, "Windows", "desktop"),
        (SAFARI_UA, "Safari", 17, "Mac OS X", "desktop"),
        (IPHONE_SAFARI_UA, "Mobile Safari", 17, "iOS", "mobile"),
        (IPAD_UA, "Mobile Safari", 17, "iOS", "tablet"),
        (ANDROID_CHROME_UA, "Chrome Mobile", 131, "Android", "mobile"),
        (ANDROID_TABLET_UA, "Chrome", 131, "Android", "tablet"),
        (ANDROID_APP_UA, "Android", 14, "Android", "mobile"),
        (IOS_APP_UA, "Mobile Safari UI/WKWebView", None, "iOS", "mobile"),
        ("curl/8.5.0", "curl", 8, "Other", "other"),
        (GOOGLEBOT_UA, "Googlebot", 2, "Other", "other"),
        ("", "Other", None, "Other", "other"),
        ("\x00\xff garbage \U0001f600", "Other", None, "Other", "other"),
    ],
    ids=[
        "chrome-windows",
        "edge",
        "firefox",
        "safari-mac",
        "safari-iphone",
        "safari-ipad",
        "chrome-android",
        "chrome-android-tablet",
        "app-android",
        "app-ios",
        "curl",
        "googlebot",
        "empty",
        "garbage",
    ],
)
def test_user_agent_is_parsed(
    parser: UserAgentParser, ua: str, family: str, major: int | None, os: str, device: str
) -> None:
    info = parser.parse(ua)
    assert (info.family, info.major, info.os, info.device) == (family, major, os, device)


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("curl/8.5.0", "curl"),
        ("Wget/1.21.4", "wget"),
        ("python-requests/2.32.3", "python-requests"),
        ("Python-urllib/3.11", "python-urllib"),
        ("Python/3.11 aiohttp/3.9.5", "aiohttp"),
        ("python-httpx/0.27.0", "httpx"),
        ("Scrapy/2.11.2 (+https://scrapy.org)", "scrapy"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("Go-http-client/2.0", "Go-http-client"),
        ("Java/17.0.2", "Java"),
        ("Apache-HttpClient/4.5.14 (Java/17.0.2)", "Apache-HttpClient"),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch"),
        ("axios/1.7.2", "axios"),
        ("undici", "undici"),
        ("libwww-perl/6.72", "libwww-perl"),
        (
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
            "PhantomJS",
        ),
        (HEADLESS_UA, "HeadlessChrome"),
        (CHROME_UA + " Puppeteer", "Puppeteer"),
        (CHROME_UA + " Playwright/1.45", "Playwright"),
        (CHROME_UA + " Selenium", "Selenium"),
        ("PostmanRuntime/7.39.0", "Postman"),
        ("Mozilla/5.0 (Windows NT; Windows NT 10.0; ja-JP) WindowsPowerShell/5.1.22621.2506", "PowerShell"),
        ("HTTPie/3.2.2", "HTTPie"),
        ("GuzzleHttp/7", "php"),
        ("Mozilla/4.0 (Hydra)", "Hydra"),
        ("sqlmap/1.8#stable (https://sqlmap.org)", "sqlmap"),
        ("reqwest/0.12", "reqwest"),
    ],
    ids=lambda v: v if len(v) < 20 else None,
)
def test_automation_user_agents_are_named(parser: UserAgentParser, ua: str, name: str) -> None:
    info = parser.parse(ua)
    assert (info.automation, info.automation_name, info.app) == (True, name, False)


@pytest.mark.parametrize(
    "ua",
    [
        CHROME_UA,
        EDGE_UA,
        FIREFOX_UA,
        SAFARI_UA,
        IPHONE_SAFARI_UA,
        IPAD_UA,
        ANDROID_CHROME_UA,
        ANDROID_TABLET_UA,
        ANDROID_APP_UA,
        IOS_APP_UA,
        GOOGLEBOT_UA,
        "",
    ],
    ids=[
        "chrome",
        "edge",
        "firefox",
        "safari",
        "iphone",
        "ipad",
        "android",
        "android-tablet",
        "app-android",
        "app-ios",
        "googlebot",
        "empty",
    ],
)
def test_browsers_and_the_app_are_not_automation(parser: UserAgentParser, ua: str) -> None:
    assert parser.parse(ua).automation is False


@pytest.mark.parametrize(
    ("ua", "app"),
    [(ANDROID_APP_UA, True), (IOS_APP_UA, True), ("DemoPayX/1", False), ("Mozilla/5.0 DemoPay/5", False)],
    ids=["android", "ios", "lookalike", "not-anchored"],
)
def test_app_pattern_sets_ua_app(parser: UserAgentParser, ua: str, app: bool) -> None:
    assert parser.parse(ua).app is app


def test_okhttp_is_not_automation_when_it_is_the_configured_app() -> None:
    parser = UserAgentParser(app_pattern=r"^okhttp/", resolver=None)
    info = parser.parse("okhttp/4.12.0")
    assert (info.app, info.automation) == (True, False)


def test_no_app_pattern_means_never_app(parser: UserAgentParser) -> None:
    assert UserAgentParser(app_pattern=None).parse(ANDROID_APP_UA).app is False


def test_cache_is_bounded_under_rotating_user_agents(parser: UserAgentParser) -> None:
    for i in range(500):
        parser.parse(f"{CHROME_UA} rotate/{i}")
    size, maxsize = parser.cache_info()
    assert size <= maxsize == 64


def test_huge_user_agent_is_cut_before_parsing(parser: UserAgentParser) -> None:
    assert parser.parse("curl/8.5.0" + "x" * 1_000_000) == parser.parse(("curl/8.5.0" + "x" * 1_000_000)[:MAX_UA_CHARS])


@pytest.mark.parametrize("needle", ["", "Curl/"], ids=["empty", "upper-case"])
def test_automation_needles_must_be_lower_case(needle: str) -> None:
    with pytest.raises(ValueError, match="lower case"):
        compile_automation((("bad", needle, None),))


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (compatible; MSIE 10.0) gotham", None),
        ("Mozilla/5.0 Nodeo", None),
        ("my-curl/1.0 browser", None),
        ("Mozilla/5.0 (X11) java/17", "Java"),
        ("got (https://github.com/sindresorhus/got)", "got"),
    ],
    ids=["got-inside-a-word", "node-inside-a-word", "curl-inside-a-name", "java-after-a-space", "got-itself"],
)
def test_loose_needles_need_their_pattern(parser: UserAgentParser, ua: str, name: str | None) -> None:
    assert parser.parse(ua).automation_name == name
