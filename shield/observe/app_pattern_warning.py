"""Says that the mobile app's user agent is not configured: `config.app_ua_pattern_missing`, once per worker.

Without `client.app_ua_pattern` shield cannot tell the app from anything else: `ua.app` is never
true, so the app gets no exemption from the browser header checks, the `fake_app` rule cannot see a
forged app, and the app's device header is its only identity. The default user agents of the big
mobile stacks (okhttp, CFNetwork, Alamofire, Dart, Dalvik: `ua.mobile_stack`) are no longer scored
as automation, so nothing else says so.

Traffic cannot be known at start-up: the line is written on the first protected request whose user
agent names a mobile stack, once per worker process (a flag, then one attribute read per request).
What start-up can tell, it says at once: a configured app device or version header with no app
pattern (trigger `config`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import structlog

from shield.model import FactValue
from shield.settings.schema import ClientSettings

EVENT = "config.app_ua_pattern_missing"
SETTING = "client.app_ua_pattern"
DOCS = "docs/apps.md#name-your-app"
# security: the advice is fixed text, never built from a request: the first mobile-stack user agent a
# worker sees may be an attacker's, and an operator must not be told to set a pattern that matches it.
ADVICE = (
    "give the app its own User-Agent (e.g. 'MyApp/5.2.1 okhttp/4.12.0') and set client.app_ua_pattern "
    "to a regex anchored on it (e.g. '^MyApp/'); until then the app is never ua.app (no app exemptions, "
    "no fake_app check) and mobile-stack user agents are not scored as automation"
)
USER_AGENT_CHARS = 200  # the sample user agent on the line: enough to read the app's product token


class AppPatternWarning:
    """One per worker (the pipeline holds it): the start-up check on construction, then `seen` per request."""

    __slots__ = ("_armed", "_log")

    def __init__(self, client: ClientSettings, *, log: Any = None) -> None:
        self._log = log if log is not None else structlog.get_logger()
        self._armed = not client.app_ua_pattern
        app_headers = (("device_header", client.device_header), ("app_version_header", client.app_version_header))
        headers = [f"client.{name}={value}" for name, value in app_headers if value]
        if self._armed and headers:
            self._log.warning(
                EVENT, trigger="config", setting=SETTING, configured=headers, pid=os.getpid(), message=ADVICE, docs=DOCS
            )

    def seen(self, facts: Mapping[str, FactValue], *, route: str) -> None:
        """Call with every protected request's facts; logs on the worker's first mobile-stack user agent."""
        if not self._armed:
            return
        stack = facts.get("ua.mobile_stack")
        if stack is None:
            return
        self._armed = False
        ua = facts.get("ua")
        self._log.warning(
            EVENT, trigger="traffic", setting=SETTING, route=route, stack=stack, pid=os.getpid(),
            user_agent=ua[:USER_AGENT_CHARS] if isinstance(ua, str) else None, message=ADVICE, docs=DOCS,
        )
