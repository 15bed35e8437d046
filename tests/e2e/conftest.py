"""A whole shield in-process on real sockets, in front of the real test upstream."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from shield.model import FakeClock
from shield.observe.logs import configure_logging
from shield.service import Service, build_service
from shield.settings.schema import DEMO_GEOIP, FieldRef, GeoipSettings, LogSettings, RouteSettings, Settings
from shield.store.base import Store
from tests.fixtures.upstream import AppServers, Upstream, free_port

# One rule per action, keyed on the account name, plus an outcome-aware lockout rule.
TEST_RULES = """
policy:
  thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
  delay_seconds: 0.2
  retry_after: 30
  ban: {scope: ip, ttl: 10m, escalation: 2, max_ttl: 1h}
rules:
  - {id: tag_me, description: tag, class: client, when: 'account == "tag"', score: 30}
  - {id: delay_me, description: delay, class: client, when: 'account == "delay"', score: 50}
  - {id: challenge_me, description: challenge, class: client, when: 'account in ["challenge", "challenge2"]', score: 60}
  - {id: block_me, description: block, class: client, when: 'account == "block"', score: 95}
  - {id: crowd_me, description: crowd evidence only, class: crowd, when: 'account == "crowd"', score: 95}
  - {id: rate_me, description: rate, class: client, when: 'account == "rate" and ip.attempts_1m > 2', score: 95,
     tags: [rate]}
  - {id: ban_me, description: ban, class: client, when: 'account == "ban"', action: ban, ban: {scope: ip, ttl: 10m}}
  - {id: shadow_me, description: shadow, class: client, when: 'account == "shadow"', score: 95, mode: shadow}
  - id: unfamiliar_lockout
    description: failures from unfamiliar contexts lock the account (for them only)
    class: client
    when: account.failures_unfamiliar_10m >= 3
    score: 95
"""

SECRET = b"e2e-secret-0123456789abcdef"


@dataclass
class Stack:
    url: str
    clock: FakeClock
    service: Service
    upstream: Upstream
    logs: io.BytesIO

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.logs.getvalue().splitlines() if line.startswith(b"{")]

    def decisions(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "decision"]


def rules_dir(tmp_path: Path, text: str = TEST_RULES) -> Path:
    folder = tmp_path / "rules"
    (folder / "lists").mkdir(parents=True)
    (folder / "test.yaml").write_text(text)
    return folder


def stack_settings(test_upstream: Upstream, rules: Path, /, **changes: Any) -> Settings:
    """Settings in front of the test upstream; `changes` override any field (even `upstream`)."""
    route = RouteSettings(
        name="login", path="/api/login", account=FieldRef("json", "username"), password=FieldRef("json", "password"),
    )
    base = Settings(
        listen=f"127.0.0.1:{free_port()}", upstream=test_upstream.url, secret=SECRET, rules=rules, routes=(route,),
        reload_rules=False, log=LogSettings(format="json"),
        geoip=GeoipSettings(country=DEMO_GEOIP, asn=DEMO_GEOIP),  # the demo world's database, not its lists
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="session")
def ua_resolver() -> Any:
    from shield.facts.enrich.useragent import make_resolver

    return make_resolver()


@pytest.fixture
async def make_stack(upstream: Upstream, tmp_path: Path, ua_resolver: Any) -> AsyncIterator[Callable[..., Any]]:
    """make_stack(store=None, rules_text=TEST_RULES, **settings) -> a started Stack."""
    stacks = 0
    async with AppServers() as servers:

        async def start(*, store: Store | None = None, rules_text: str = TEST_RULES, **changes: Any) -> Stack:
            nonlocal stacks
            logs = io.BytesIO()
            # the stack's own log settings (format json or ecs), always at debug
            log = dataclasses.replace(changes.get("log", LogSettings(format="json")), level="debug")
            configure_logging(log, stream=logs)  # type: ignore[arg-type]
            settings = stack_settings(upstream, rules_dir(tmp_path / f"s{stacks}", rules_text), **changes)
            stacks += 1
            clock = FakeClock()
            service = build_service(settings, clock=clock, with_admin=False, store=store, ua_resolver=ua_resolver)
            url = await servers.start(service.proxy, settings.listen)
            return Stack(url, clock, service, upstream, logs)

        yield start
