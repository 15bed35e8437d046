"""The big mobile HTTP stacks are apps, not bots: ua.mobile_stack names them and ua.automation stays false."""

from __future__ import annotations

from typing import Any

import pytest

from shield.facts.build import ua_facts
from shield.facts.enrich.useragent import UserAgentParser, make_resolver

# The default user agents of the stacks the big app frameworks ship with, and an app's own prefix on them.
MOBILE_STACK_UAS = [
    ("okhttp/4.12.0", "okhttp"),  # Android: OkHttp's default (Retrofit, React Native on Android)
    ("okhttp/3.14.9", "okhttp"),
    ("MyApp/3.1 okhttp/4.12.0", "okhttp"),
    ("MyApp/5 CFNetwork/1490.0.4 Darwin/23.2.0", "CFNetwork"),  # iOS URLSession's default (React Native/Expo on iOS)
    ("CFNetwork/1490.0.4 Darwin/23.2.0", "CFNetwork"),
    ("Alamofire/5.8.0", "Alamofire"),
    ("MyApp/1.0 (com.example.app; build:3; iOS 17.2.1) Alamofire/5.8.0", "Alamofire"),
    ("Dart/3.2 (dart:io)", "Dart"),  # Flutter
    ("Dart/2.19 (dart:io)", "Dart"),
    ("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)", "Dalvik"),  # HttpURLConnection
]
IDS = [f"{stack}-{i}" for i, (_, stack) in enumerate(MOBILE_STACK_UAS)]


@pytest.fixture(scope="module")
def resolver() -> Any:
    return make_resolver()


@pytest.fixture(scope="module")
def parser(resolver: Any) -> UserAgentParser:
    return UserAgentParser(app_pattern=None, resolver=resolver)


def test_okhttp_default_user_agent_is_not_automation(parser: UserAgentParser) -> None:
    # An Android app built on OkHttp sends this on every login; it scored +50 (automation_ua) before.
    assert parser.parse("okhttp/4.12.0").automation is False


@pytest.mark.parametrize(("ua", "stack"), MOBILE_STACK_UAS, ids=IDS)
def test_mobile_stacks_are_named_and_not_automation(parser: UserAgentParser, ua: str, stack: str) -> None:
    info = parser.parse(ua)
    assert (info.mobile_stack, info.automation, info.automation_name, info.app) == (stack, False, None, False)


@pytest.mark.parametrize(("ua", "stack"), MOBILE_STACK_UAS, ids=IDS)
def test_mobile_stacks_are_mobile_devices(parser: UserAgentParser, ua: str, stack: str) -> None:
    assert parser.parse(ua).device == "mobile"


@pytest.mark.parametrize(
    ("ua", "tool"),
    [
        ("curl/8.5.0", "curl"),
        ("python-requests/2.32.3", "python-requests"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("Java/17.0.2", "Java"),
        ("Apache-HttpClient/4.5.14 (Java/17.0.2)", "Apache-HttpClient"),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "node-fetch"),
        ("axios/1.7.2", "axios"),
        # a script that adds a mobile stack's token to its own stays a script
        ("python-requests/2.32.3 okhttp/4.12.0", "python-requests"),
        ("curl/8.5.0 CFNetwork/1490.0.4 Darwin/23.2.0", "curl"),
    ],
    ids=lambda v: v if len(v) < 20 else None,
)
def test_desktop_and_server_libraries_stay_automation(parser: UserAgentParser, ua: str, tool: str) -> None:
    info = parser.parse(ua)
    assert (info.automation_name, info.mobile_stack) == (tool, None)


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        "DemoPay/5.2.1 (Android 14; Pixel 8)",
        "my-okhttp/4 wrapper",  # the token inside another name
        "Dart/3.2",  # Dart without dart:io is not Flutter's client
        "xCFNetwork/1490",
        "",
    ],
    ids=["chrome", "own-app-ua", "okhttp-inside-a-name", "dart-alone", "cfnetwork-inside-a-word", "empty"],
)
def test_other_user_agents_have_no_mobile_stack(parser: UserAgentParser, ua: str) -> None:
    assert parser.parse(ua).mobile_stack is None


def test_the_configured_app_keeps_its_stack(resolver: Any) -> None:
    info = UserAgentParser(app_pattern=r"^MyApp/", resolver=resolver).parse("MyApp/3.1 okhttp/4.12.0")
    assert (info.app, info.mobile_stack, info.automation) == (True, "okhttp", False)


def test_mobile_stack_is_a_fact_only_when_known(parser: UserAgentParser) -> None:
    okhttp = ua_facts("okhttp/4.12.0", parser.parse("okhttp/4.12.0"))
    assert (okhttp["ua.mobile_stack"], okhttp["ua.automation"]) == ("okhttp", False)
    assert "ua.mobile_stack" not in ua_facts("curl/8.5.0", parser.parse("curl/8.5.0"))


@pytest.mark.parametrize(("ua", "stack"), MOBILE_STACK_UAS, ids=IDS)
def test_once_the_app_is_named_a_stack_that_is_not_it_is_automation(resolver: Any, ua: str, stack: str) -> None:
    # The deployer said what the app sends: a bare okhttp/4.12.0 is then a script wearing the stack's default
    # (or an old build the pattern should still cover); without a pattern it could be the app itself.
    info = UserAgentParser(app_pattern=r"^DemoPay/", resolver=resolver).parse(ua)
    assert (info.app, info.automation, info.automation_name, info.mobile_stack) == (False, True, stack, stack)
