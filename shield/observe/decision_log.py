"""The `decision` log line: the SOC's contract, one per protected request.

A pure function builds it, so a test can assert every field and that no secret is in it.
Field names are stable; a new field may be added, none is renamed or removed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shield.model import Attempt, Decision, Facts, Outcome

# Bump when a field changes meaning; consumers can pin it.
SCHEMA_VERSION = 1


@dataclass(slots=True, frozen=True)
class Timings:
    shield_ms: float  # shield's own work: identity, enrich, store, rules, decide
    store_ms: float
    upstream_ms: float | None  # None when the request never reached the upstream
    total_ms: float


def decision_fields(
    attempt: Attempt,
    facts: Facts,
    decision: Decision,
    *,
    challenge: str,
    status: int,
    upstream_status: int | None,
    outcome: Outcome,
    timings: Timings,
    store_degraded: bool,
    account_in_clear: bool,
    facts_record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the SOC needs to understand one decision; never a password, cookie or token."""
    fields: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "request_id": attempt.request_id,
        "route": attempt.route,
        "client_ip": attempt.client_ip,
        "subnet": attempt.subnet,
        "country": facts.get("ip.country"),
        "asn": facts.get("ip.asn"),
        "asn_org": facts.get("ip.asn_org"),
        "account_id": attempt.account_id,
        "fingerprint": attempt.fingerprint,
        "device_id": attempt.device_id,
        "ua_family": facts.get("ua.family"),
        "score": decision.score,
        "action": decision.action.value,
        "enforced": decision.enforced,
        "rules": [{"id": h.id, "score": h.score} for h in decision.hits],
        "shadow_rules": [{"id": h.id, "score": h.score} for h in decision.shadow_hits],
        "shadow_action": decision.shadow_action.value if decision.shadow_action else None,
        "ruleset": decision.ruleset,
        "challenge": challenge,
        "status": status,
        "upstream_status": upstream_status,
        "outcome": outcome.value,
        "malformed": attempt.malformed,
        "store_degraded": store_degraded,
        "shield_ms": round(timings.shield_ms, 3),
        "store_ms": round(timings.store_ms, 3),
        "upstream_ms": None if timings.upstream_ms is None else round(timings.upstream_ms, 3),
        "duration_ms": round(timings.total_ms, 3),
    }
    if decision.ban_scope is not None:
        fields["ban_scope"] = decision.ban_scope
        fields["ban_ttl_s"] = decision.ban_ttl
    if account_in_clear and attempt.account is not None:
        fields["account"] = attempt.account
    if facts_record is not None:  # the facts on record (shield.observe.fact_record), for `shield replay`
        fields["facts"] = facts_record
    return fields
