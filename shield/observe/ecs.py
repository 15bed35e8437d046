"""`log.format: ecs`: shield's log lines in Elastic Common Schema, for a SIEM that expects it.

Mapped by hand (no ecs-logging dependency): a field whose meaning ECS defines goes to its ECS
name (client_ip -> source.ip, account_id -> user.id, outcome -> event.outcome, ...); every
other field keeps its name under the custom `shield.*` namespace, so nothing is lost and no
key collides with a future ECS field. tests/observe/test_ecs.py checks every emitted key against
the ECS field list in tests/observe/ecs_fields.txt.
"""

from __future__ import annotations

from typing import Any

from structlog.typing import EventDict, WrappedLogger

ECS_VERSION = "8.11.0"

# shield field -> ECS field, the same meaning on every line that has it.
FIELD_MAP: dict[str, str] = {
    "ts": "@timestamp",
    "level": "log.level",
    "event": "event.action",
    "request_id": "http.request.id",
    "client_ip": "source.ip",
    "country": "source.geo.country_iso_code",
    "asn": "source.as.number",
    "asn_org": "source.as.organization.name",
    "account_id": "user.id",
    "account": "user.name",
    "ua_family": "user_agent.name",
    "user_agent": "user_agent.original",
    "method": "http.request.method",
    "path": "url.path",
    "host": "url.domain",
    "status": "http.response.status_code",
    "bytes": "http.response.bytes",
    "outcome": "event.outcome",  # success | failure | unknown: ECS's own three values
    "score": "event.risk_score",
    "ruleset": "rule.ruleset",
    "reason": "event.reason",
    "pid": "process.pid",
    "exception": "error.stack_trace",
}

# Which ECS categorisation each event gets: (kind, category, type).
_CATEGORY: dict[str, tuple[str, list[str], list[str]]] = {
    "decision": ("event", ["authentication"], ["info"]),
    "request": ("event", ["web"], ["access"]),
    "takeover.suspected": ("alert", ["authentication"], ["info"]),
}
_DEFAULT_CATEGORY = ("event", ["process"], ["info"])
_JA3_LEN = 32


def to_ecs(fields: dict[str, Any]) -> dict[str, Any]:
    """One shield log line (flat dict) as a nested ECS document."""
    event = str(fields.get("event", ""))
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "duration_ms" and isinstance(value, int | float):
            _put(out, "event.duration", int(value * 1_000_000))  # ECS: nanoseconds
            _put(out, "shield.duration_ms", value)
        elif key == "tls_fingerprint" and isinstance(value, str):
            is_ja3 = len(value) == _JA3_LEN and all(c in "0123456789abcdefABCDEF" for c in value)
            _put(out, "tls.client.ja3" if is_ja3 else "shield.tls.ja4", value)
        elif key == "rules" and isinstance(value, list):
            ids = [r["id"] for r in value if isinstance(r, dict) and "id" in r]
            if ids:
                _put(out, "rule.id", ids)
            _put(out, "shield.rules", value)
        elif key == "outcome" and value not in ("success", "failure", "unknown"):
            _put(out, "shield.decision.outcome", value)
        elif value is not None:
            _put(out, FIELD_MAP.get(key, f"shield.{key}"), value)
    kind, category, etype = _CATEGORY.get(event, _DEFAULT_CATEGORY)
    _put(out, "event.kind", kind)
    _put(out, "event.category", category)
    _put(out, "event.type", etype)
    _put(out, "event.dataset", f"shield.{event.split('.')[0] or 'log'}")
    _put(out, "ecs.version", ECS_VERSION)
    out["message"] = event
    return out


def ecs_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: runs last before the JSON renderer (after redaction)."""
    return to_ecs(dict(event_dict))


def _put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a nested key; `@timestamp` and the like stay top-level (no dot)."""
    *parents, leaf = dotted.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value
