"""Our maintained list of automation user agents: HTTP libraries, headless browsers and tools.

Real browsers never match; the configured app overrides a match (an app built on okhttp).
One scan of one alternation: the entry that matches earliest in the user agent names the
tool (on a tie, the earlier line). To add a tool, add a line here and a row to the test
table in tests/enrich/test_useragent.py.
"""

from __future__ import annotations

import re

# (name reported as ua.automation_name, regex searched in the User-Agent, case-insensitive)
AUTOMATION: tuple[tuple[str, str], ...] = (
    ("HeadlessChrome", r"HeadlessChrome"),
    ("PhantomJS", r"PhantomJS"),
    ("Puppeteer", r"Puppeteer"),
    ("Playwright", r"Playwright"),
    ("Selenium", r"Selenium|webdriver"),
    ("SlimerJS", r"SlimerJS"),
    ("curl", r"^curl/|\bcurl/\d"),
    ("wget", r"^Wget/|\bWget/\d"),
    ("python-requests", r"python-requests/"),
    ("python-urllib", r"Python-urllib/"),
    ("aiohttp", r"aiohttp/"),
    ("httpx", r"python-httpx/"),
    ("python", r"^Python/\d(?!.*aiohttp/)"),
    ("scrapy", r"Scrapy/"),
    ("mechanize", r"mechanize/"),
    ("Go-http-client", r"Go-http-client/"),
    ("okhttp", r"^okhttp/"),
    ("Apache-HttpClient", r"Apache-HttpClient/"),
    ("Java", r"^Java/\d|\bJava/\d"),
    ("node-fetch", r"node-fetch"),
    ("axios", r"^axios/"),
    ("got", r"^got \(|^got/"),
    ("undici", r"^undici"),
    ("node", r"^node$|^Node\.js/"),
    ("libwww-perl", r"libwww-perl/"),
    ("php", r"^PHP/|GuzzleHttp/"),
    ("ruby", r"^Ruby|Faraday v"),
    ("reqwest", r"^reqwest/"),
    ("Postman", r"PostmanRuntime/"),
    ("Insomnia", r"^insomnia/"),
    ("PowerShell", r"WindowsPowerShell/|PowerShell/"),
    ("HTTPie", r"^HTTPie/"),
    ("Hydra", r"Mozilla/4\.0 \(Hydra\)|^Hydra"),
    ("sqlmap", r"sqlmap/"),
    ("nmap", r"Nmap Scripting Engine"),
    ("zgrab", r"zgrab/"),
    ("masscan", r"masscan/"),
    ("Nuclei", r"Nuclei"),
    ("OpenBullet", r"OpenBullet"),
)


def compile_automation(entries: tuple[tuple[str, str], ...] = AUTOMATION) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One alternation with a group per entry: a single scan, `lastindex` names the entry."""
    names = tuple(name for name, _ in entries)
    pattern = "|".join(f"({regex})" for _, regex in entries)
    for _, regex in entries:
        if re.compile(regex).groups:
            raise ValueError(f"automation pattern {regex!r} must not contain capturing groups")
    return re.compile(pattern, re.IGNORECASE), names


def automation_name(ua: str, compiled: re.Pattern[str], names: tuple[str, ...]) -> str | None:
    """The name of the first automation entry the user agent matches, or None."""
    match = compiled.search(ua)
    if match is None or match.lastindex is None:
        return None
    return names[match.lastindex - 1]
