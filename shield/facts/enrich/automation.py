"""Our maintained lists of user agents: automation (HTTP libraries, headless browsers, tools) and mobile stacks.

Real browsers never match; the configured app overrides an automation match. The HTTP stacks the
big mobile app frameworks ship with (OkHttp, CFNetwork, Alamofire, Dart, Dalvik) are not automation:
their default user agent is what a real app sends on every login until its developer gives it its
own, so they only name the stack (ua.mobile_stack). Once client.app_ua_pattern names the app, a
stack that does not match it is automation again (shield.facts.enrich.useragent).
Each entry is a lower-case needle searched in the lower-cased user agent (a C-speed substring
test) and, where the needle alone is too loose, a regex that must also match. The first entry
in list order wins, so specific tools come before the languages they are written in
(aiohttp before python, Apache-HttpClient before Java). One big regex alternation was 40x
slower: an attacker rotating user agents would have made every request pay for it.
To add a tool, add a line here and a row to the table in tests/facts/enrich/test_useragent.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (name reported as ua.automation_name, lower-case needle, optional regex on the raw UA, case-insensitive)
AUTOMATION: tuple[tuple[str, str, str | None], ...] = (
    ("HeadlessChrome", "headlesschrome", None),
    ("PhantomJS", "phantomjs", None),
    ("Puppeteer", "puppeteer", None),
    ("Playwright", "playwright", None),
    ("Selenium", "selenium", None),
    ("Selenium", "webdriver", None),
    ("SlimerJS", "slimerjs", None),
    ("curl", "curl/", r"(?:^|[^\w-])curl/\d"),
    ("wget", "wget/", r"(?:^|[^\w-])wget/\d"),
    ("python-requests", "python-requests/", None),
    ("python-urllib", "python-urllib/", None),
    ("aiohttp", "aiohttp/", None),
    ("httpx", "python-httpx/", None),
    ("scrapy", "scrapy/", None),
    ("mechanize", "mechanize/", None),
    ("Go-http-client", "go-http-client/", None),
    ("Apache-HttpClient", "apache-httpclient/", None),
    ("node-fetch", "node-fetch", None),
    ("axios", "axios/", r"^axios/"),
    ("got", "got", r"^got(?: \(|/)"),
    ("undici", "undici", r"^undici"),
    ("libwww-perl", "libwww-perl/", None),
    ("php", "guzzlehttp/", None),
    ("php", "php/", r"^PHP/"),
    ("ruby", "faraday v", None),
    ("ruby", "ruby", r"^Ruby"),
    ("reqwest", "reqwest/", r"^reqwest/"),
    ("Postman", "postmanruntime/", None),
    ("Insomnia", "insomnia/", r"^insomnia/"),
    ("PowerShell", "powershell/", None),
    ("HTTPie", "httpie/", r"^HTTPie/"),
    ("Hydra", "hydra", r"\(Hydra\)|^Hydra"),
    ("sqlmap", "sqlmap/", None),
    ("nmap", "nmap scripting engine", None),
    ("zgrab", "zgrab/", None),
    ("masscan", "masscan/", None),
    ("Nuclei", "nuclei", None),
    ("OpenBullet", "openbullet", None),
    ("Java", "java/", r"(?:^|\W)Java/\d"),
    ("python", "python/", r"^Python/\d"),
    ("node", "node", r"^node$|^Node\.js/"),
)

# (name reported as ua.mobile_stack, lower-case needle, optional regex): the default user agents of
# OkHttp (Android, Retrofit, React Native), URLSession (iOS, Expo), Alamofire, Dart (Flutter) and
# Android's HttpURLConnection; an app's own product token may come first ("MyApp/3 okhttp/4.12.0").
MOBILE_STACKS: tuple[tuple[str, str, str | None], ...] = (
    ("okhttp", "okhttp/", r"(?:^|[^\w-])okhttp/\d"),
    ("CFNetwork", "cfnetwork/", r"(?:^|[^\w-])CFNetwork/\d"),
    ("Alamofire", "alamofire/", r"(?:^|[^\w-])Alamofire/\d"),
    ("Dart", "(dart:io)", r"^Dart/\d[\d.]* \(dart:io\)"),
    ("Dalvik", "dalvik/", r"^Dalvik/\d"),
)


@dataclass(slots=True, frozen=True)
class AutomationEntry:
    name: str
    needle: str
    pattern: re.Pattern[str] | None


def compile_automation(
    entries: tuple[tuple[str, str, str | None], ...] = AUTOMATION,
) -> tuple[AutomationEntry, ...]:
    """AUTOMATION or MOBILE_STACKS, compiled once; a needle not in lower case could never match: refused."""
    compiled = []
    for name, needle, regex in entries:
        if not needle or needle != needle.lower():
            raise ValueError(f"user agent needle {needle!r} of {name} must be non-empty lower case")
        compiled.append(AutomationEntry(name, needle, re.compile(regex, re.IGNORECASE) if regex else None))
    return tuple(compiled)


def automation_name(ua: str, entries: tuple[AutomationEntry, ...]) -> str | None:
    """The name of the first entry (of AUTOMATION or MOBILE_STACKS) the user agent matches, or None."""
    lower = ua.lower()
    for entry in entries:
        if entry.needle in lower and (entry.pattern is None or entry.pattern.search(ua)):
            return entry.name
    return None
