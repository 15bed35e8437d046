"""`log.format: ecs`: every key shield emits is an ECS field (from the fixture's list) or under `shield.*`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from shield.observe.ecs import ECS_VERSION, FIELD_MAP, to_ecs
from shield.observe.logs import configure_logging, reset_logging
from shield.settings.schema import LogSettings

FIXTURE = Path(__file__).with_name("ecs_fields.txt")


def ecs_fixture() -> tuple[str, frozenset[str]]:
    version, names = "", set()
    for line in FIXTURE.read_text().splitlines():
        if not line or line.startswith(("#", "category ")):
            continue
        if line.startswith("ecs_version:"):
            version = line.split(":", 1)[1].strip()
        else:
            names.add(line.strip())
    return version, frozenset(names)


def expected_types() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("category "):
            category, types = line.removeprefix("category ").split(":")
            out[category] = set(types.split())
    return out


def leaf_keys(doc: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not dotted.startswith("shield."):
            yield from leaf_keys(value, dotted + ".")
        else:
            yield dotted


DECISION: dict[str, Any] = {
    "schema": 3, "request_id": "r1", "route": "login", "client_ip": "10.40.0.9", "subnet": "10.40.0.0/24",
    "country": "US", "asn": 64540, "asn_org": "Demo Hosting", "account_id": "aZSa", "account": "alice",
    "fingerprint": "2ddb", "device_id": None, "ua_family": "Chrome", "score": 95,
    "evidence": {"client": 50, "crowd": 45}, "action": "block",
    "enforced": True, "rules": [{"id": "automation_ua", "score": 50}, {"id": "hosting_asn", "score": 45}],
    "shadow_rules": [], "shadow_action": None, "ruleset": "e3b672fd260d", "challenge": "none", "status": 403,
    "upstream_status": None, "outcome": "failure", "malformed": False, "store_degraded": False,
    "shield_ms": 1.6, "store_ms": 0.4, "upstream_ms": None, "duration_ms": 2.36, "ban_scope": "ip",
    "ban_ttl_s": 600.0, "method": "POST", "path": "/api/login", "host": "shop.example", "user_agent": "Mozilla/5.0",
    "tls_fingerprint": "t13d1516h2_8daaf6152771_b186095e22b6", "facts": {"ip.attempts_1m": 3},
    "event": "decision", "level": "info", "ts": "2026-11-24T20:12:52.578072Z",
}
REQUEST: dict[str, Any] = {
    "request_id": "r2", "client_ip": "10.0.0.1", "method": "GET", "path": "/", "route": "default",
    "status": 200, "upstream_status": 200, "bytes": 12, "duration_ms": 0.5, "event": "request", "level": "info",
    "ts": "2026-11-24T20:12:52Z", "pid": 7, "worker": 1,
}
TAKEOVER: dict[str, Any] = {
    "event": "takeover.suspected", "level": "warning", "ts": "2026-11-24T20:12:52Z", "request_id": "r3",
    "account_id": "aZSa", "client_ip": "10.0.0.2", "reason": "failures_from_many_addresses", "failures": 6,
    "addresses": 4, "window": "1h", "country": "JP",
}


def test_the_fixture_names_the_version_we_claim() -> None:
    version, names = ecs_fixture()
    assert version == ECS_VERSION
    assert set(FIELD_MAP.values()) <= names, "a mapped field missing from the ECS list"


@pytest.mark.parametrize("line", [DECISION, REQUEST, TAKEOVER], ids=["decision", "request", "takeover"])
def test_every_emitted_key_is_ecs_or_under_shield(line: dict[str, Any]) -> None:
    _, names = ecs_fixture()
    doc = to_ecs(dict(line))
    keys = set(leaf_keys(doc))
    stray = {k for k in keys if k not in names and not k.startswith("shield.")}
    assert not stray
    allowed = expected_types()
    for category in doc["event"]["category"]:
        assert set(doc["event"]["type"]) <= allowed[category]


def test_decision_maps_the_fields_a_siem_searches_on() -> None:
    doc = to_ecs(dict(DECISION))
    assert doc["@timestamp"] == DECISION["ts"]
    assert doc["source"] == {"ip": "10.40.0.9", "geo": {"country_iso_code": "US"},
                             "as": {"number": 64540, "organization": {"name": "Demo Hosting"}}}
    assert doc["http"] == {"request": {"id": "r1", "method": "POST"}, "response": {"status_code": 403}}
    assert doc["url"] == {"path": "/api/login", "domain": "shop.example"}
    assert doc["user"] == {"id": "aZSa", "name": "alice"}
    assert doc["user_agent"] == {"name": "Chrome", "original": "Mozilla/5.0"}
    assert doc["event"]["outcome"] == "failure"
    assert doc["event"]["duration"] == 2_360_000
    assert doc["event"]["category"] == ["authentication"]
    assert doc["rule"] == {"id": ["automation_ua", "hosting_asn"], "ruleset": "e3b672fd260d"}
    assert doc["shield"]["tls"] == {"ja4": DECISION["tls_fingerprint"]}
    assert doc["shield"]["action"] == "block"
    assert doc["shield"]["facts"] == {"ip.attempts_1m": 3}
    assert doc["shield"]["evidence"] == {"client": 50, "crowd": 45}
    assert doc["ecs"] == {"version": ECS_VERSION}


def test_a_ja3_hash_goes_to_the_ecs_ja3_field() -> None:
    doc = to_ecs({**DECISION, "tls_fingerprint": "e7d705a3286e19ea42f587b344ee6865"})
    assert doc["tls"] == {"client": {"ja3": "e7d705a3286e19ea42f587b344ee6865"}}


@pytest.fixture
def ecs_stream() -> Iterator[io.BytesIO]:
    out = io.BytesIO()
    configure_logging(LogSettings(format="ecs"), stream=out)  # type: ignore[arg-type]
    yield out
    reset_logging()


def test_configured_ecs_lines_are_ecs_and_still_redacted(ecs_stream: io.BytesIO) -> None:
    structlog.get_logger().info("decision", **{k: v for k, v in DECISION.items() if k not in ("event", "ts", "level")},
                                password="hunter2")
    (line,) = [orjson.loads(raw) for raw in ecs_stream.getvalue().splitlines()]
    assert line["message"] == "decision"
    assert line["source"]["ip"] == "10.40.0.9"
    assert b"hunter2" not in ecs_stream.getvalue()
    _, names = ecs_fixture()
    assert {k for k in leaf_keys(line) if k not in names and not k.startswith("shield.")} == set()
