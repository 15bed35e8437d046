"""User agent: family, version, OS, device class, automation, mobile stack and app, behind a bounded cache.

ua-parser's regex resolver (Rust) does the parsing; our LRU caches the whole result, so a
warm lookup is one dict hit. An attacker rotating user agents only evicts entries: memory
is bounded by the cache size and the parse cost by the length cut below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ua_parser import Domain, load_builtins
from ua_parser.regex import Resolver

from shield.facts.enrich.automation import AUTOMATION, MOBILE_STACKS, automation_name, compile_automation
from shield.settings.linear_regex import compile_linear

# security: regexes over a 100 kB header would burn CPU; real user agents are < 300 chars.
MAX_UA_CHARS = 512

_MOBILE_OS = frozenset({"Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "HarmonyOS"})
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD", "OpenBSD", "macOS"}
)


@dataclass(slots=True, frozen=True)
class UserAgentInfo:
    """What a user agent claims (ua.* facts)."""

    family: str  # "Other" when unknown
    major: int | None
    os: str  # "Other" when unknown
    device: str  # mobile | tablet | desktop | other
    automation_name: str | None
    app: bool
    mobile_stack: str | None  # okhttp, CFNetwork, Alamofire, Dart, Dalvik: an app's HTTP stack, not a bot

    @property
    def automation(self) -> bool:
        return self.automation_name is not None


def make_resolver() -> Any:
    """The ua-parser resolver (about 0.4 s to build: build it once and share it)."""
    return Resolver(load_builtins())


def _major(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def _device_class(
    ua: str, os: str, device_family: str, device_brand: str | None, automation: bool, mobile_stack: bool
) -> str:
    if automation or (device_family == "Spider" and not mobile_stack):
        return "other"
    if device_family == "iPad" or "Tablet" in device_family or (device_brand or "").endswith("_Tablet"):
        return "tablet"
    if os in _MOBILE_OS or device_family == "iPhone":
        # An Android browser without "Mobile" is a tablet (Google's own convention).
        return "tablet" if os == "Android" and ua.startswith("Mozilla/") and "Mobile" not in ua else "mobile"
    # A mobile stack's default user agent names no OS (okhttp/4.12.0): it is a phone all the same.
    return "mobile" if mobile_stack else "desktop" if os in _DESKTOP_OS else "other"


class UserAgentParser:
    """Parses user agents into UserAgentInfo through a bounded LRU cache."""

    __slots__ = ("__weakref__", "_app", "_automation", "_cached", "_resolver", "_stacks")

    def __init__(self, *, app_pattern: str | None, cache_size: int = 8192, resolver: Any = None) -> None:
        self._resolver = resolver if resolver is not None else make_resolver()
        # security: an operator's pattern runs on every attacker-chosen User-Agent: RE2, linear time
        self._app = compile_linear(app_pattern) if app_pattern else None
        self._automation = compile_automation(AUTOMATION)
        self._stacks = compile_automation(MOBILE_STACKS)
        self._cached = lru_cache(maxsize=cache_size)(self._parse)

    def parse(self, ua: str) -> UserAgentInfo:
        """The parsed user agent; warm calls cost one cache hit."""
        info: UserAgentInfo = self._cached(ua[:MAX_UA_CHARS])
        return info

    def cache_info(self) -> tuple[int, int]:
        """(current size, maximum size) of the cache."""
        stats = self._cached.cache_info()
        return stats.currsize, stats.maxsize or 0

    def _parse(self, ua: str) -> UserAgentInfo:
        result = self._resolver(ua, Domain.ALL)
        agent, os, device = result.user_agent, result.os, result.device
        app = bool(self._app and self._app.search(ua))
        tool = None if app else automation_name(ua, self._automation)
        # security: a script that adds "okhttp/4" to its own library's token stays automation
        stack = automation_name(ua, self._stacks) if tool is None else None
        if stack is not None and self._app is not None and not app:
            # security: once the deployer named the app, a mobile stack that is not it is a script wearing the
            # stack's default UA (the cheapest way past automation_ua otherwise); unnamed, it may be the app.
            tool = stack
        os_family = os.family if os is not None else "Other"
        return UserAgentInfo(
            family=agent.family if agent is not None else "Other",
            major=_major(agent.major) if agent is not None else None,
            os=os_family,
            device=_device_class(
                ua,
                os_family,
                device.family if device is not None else "Other",
                device.brand if device is not None else None,
                tool is not None,
                stack is not None,
            ),
            automation_name=tool,
            app=app,
            mobile_stack=stack,
        )
