"""The policy: thresholds that turn a total score into an action, per route, and how to ban.

policy.yaml (or a `policy:` section in any one rule file):

    policy:
      thresholds: {tag: 30, delay: 50, challenge: 60, block: 90, ban: 150}
      delay_seconds: 2
      difficulty_step: 20      # one more proof-of-work bit per 20 points above `challenge`
      retry_after: 60          # Retry-After of a rate-limited (429) block
      ban: {scope: ip, ttl: 1h, escalation: 2, max_ttl: 7d}
      takeover: {failures: 5, addresses: 3, window: 1h, wave_level: 2}   # see shield.decision.takeover
      evidence:                # what each rule class may do (docs/rules.md, "Evidence classes")
        block_needs: [client]  # a score-based block/ban needs a positive score from one of these
        caps: {crowd: 80}      # at most this many points from a class count (optional)
      routes:
        reset: {thresholds: {challenge: 40, block: 80}}
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import yaml

from shield.model import (
    BAN_SCOPES,
    EVIDENCE_CLASSES,
    THRESHOLD_ACTIONS,
    BanPolicy,
    BanScope,
    EvidenceClass,
    EvidencePolicy,
    Policy,
    TakeoverPolicy,
    Thresholds,
)
from shield.rules.source import Source, check_keys, duration, integer, mapping, number, scalar, sequence

_KEYS = (
    "thresholds", "delay_seconds", "difficulty_step", "retry_after", "ban", "routes", "takeover", "evidence",
)
_CAP_REPLACED = (
    "policy.aggregate_cap was replaced by evidence classes: give each rule a 'class:' and cap a class"
    " with policy.evidence.caps (aggregate_cap: 80 is about evidence: {caps: {crowd: 80}})"
)


def parse_policy(src: Source, node: yaml.Node) -> Policy | None:
    items = mapping(src, node, "policy")
    if items is None:
        return None
    if "aggregate_cap" in items:
        src.error(items.pop("aggregate_cap")[0], _CAP_REPLACED)
    check_keys(src, items, _KEYS, "policy")
    policy = Policy()
    if "thresholds" in items:
        policy = replace(policy, thresholds=parse_thresholds(src, items["thresholds"][1], Thresholds()))
    for key in ("delay_seconds",):
        if key in items and (v := number(src, items[key][1], f"policy.{key}")) is not None:
            policy = replace(policy, delay_seconds=v)
    if "evidence" in items:
        policy = replace(policy, evidence=parse_evidence(src, items["evidence"][1]))
    for key in ("difficulty_step", "retry_after"):
        if key in items and (n := integer(src, items[key][1], f"policy.{key}")) is not None:
            if n <= 0:
                src.error(items[key][1], f"policy.{key} must be positive")
            else:
                step = key == "difficulty_step"
                policy = replace(policy, difficulty_step=n) if step else replace(policy, retry_after=n)
    if "ban" in items:
        policy = replace(policy, ban=parse_ban_policy(src, items["ban"][1]))
    if "routes" in items:
        policy = replace(policy, routes=parse_routes(src, items["routes"][1], policy.thresholds))
    if "takeover" in items:
        policy = replace(policy, takeover=parse_takeover(src, items["takeover"][1]))
    return policy


def parse_evidence(src: Source, node: yaml.Node) -> EvidencePolicy:
    items = mapping(src, node, "policy.evidence")
    evidence = EvidencePolicy()
    if items is None:
        return evidence
    check_keys(src, items, ("block_needs", "caps"), "policy.evidence")
    if "block_needs" in items:
        needs = [c for n in sequence(src, items["block_needs"][1], "policy.evidence.block_needs")
                 if (c := _evidence_class(src, n, "policy.evidence.block_needs")) is not None]
        evidence = replace(evidence, block_needs=frozenset(needs))
    caps: dict[EvidenceClass, int] = {}
    cap_items = mapping(src, items["caps"][1], "policy.evidence.caps") if "caps" in items else None
    for name, (knode, vnode) in (cap_items or {}).items():
        cls = _evidence_class(src, knode, "policy.evidence.caps")
        cap = integer(src, vnode, f"policy.evidence.caps.{name}")
        if cap is not None and cap < 0:
            src.error(vnode, f"policy.evidence.caps.{name} must be >= 0")
        elif cls is not None and cap is not None:
            caps[cls] = cap
    return replace(evidence, caps=caps)


def _evidence_class(src: Source, node: yaml.Node, what: str) -> EvidenceClass | None:
    value = scalar(src, node, what)
    for cls in EVIDENCE_CLASSES:
        if value == cls:
            return cls
    if value is not None:
        src.error(node, f"{what}: a class is one of {', '.join(EVIDENCE_CLASSES)}, not {value!r}")
    return None


def parse_takeover(src: Source, node: yaml.Node) -> TakeoverPolicy:
    items = mapping(src, node, "policy.takeover")
    takeover = TakeoverPolicy()
    if items is None:
        return takeover
    check_keys(src, items, TakeoverPolicy.__slots__, "policy.takeover")
    counts: dict[str, int] = {}
    for key, least in (("failures", 1), ("addresses", 1), ("wave_level", 0)):
        if key in items and (n := integer(src, items[key][1], f"policy.takeover.{key}")) is not None:
            if n < least:
                src.error(items[key][1], f"policy.takeover.{key} must be >= {least}")
            else:
                counts[key] = n
    takeover = replace(
        takeover, failures=counts.get("failures", takeover.failures),
        addresses=counts.get("addresses", takeover.addresses), wave_level=counts.get("wave_level", takeover.wave_level),
    )
    if "window" in items and (w := scalar(src, items["window"][1], "policy.takeover.window")) is not None:
        takeover = replace(takeover, window=w)  # checked against the configured windows by load_texts
    return takeover


def parse_thresholds(src: Source, node: yaml.Node, base: Thresholds) -> Thresholds:
    items = mapping(src, node, "thresholds")
    if items is None:
        return base
    check_keys(src, items, [a.value for a in THRESHOLD_ACTIONS], "thresholds")
    values: dict[str, int | None] = {}
    for key, (_, vnode) in items.items():
        if key not in base.__slots__:
            continue
        if isinstance(vnode, yaml.ScalarNode) and vnode.value in ("", "~", "null", "off"):
            values[key] = None
        elif (n := integer(src, vnode, f"thresholds.{key}")) is not None:
            values[key] = n
    result = replace(base, **values)
    limits = [(a.value, getattr(result, a.value)) for a in THRESHOLD_ACTIONS if getattr(result, a.value) is not None]
    for (lo_name, lo), (hi_name, hi) in itertools.pairwise(limits):
        if hi <= lo:
            src.error(node, f"thresholds must grow with the action: {hi_name} ({hi}) <= {lo_name} ({lo})")
    return result


def parse_ban_scope(src: Source, node: yaml.Node, what: str) -> BanScope | None:
    value = scalar(src, node, what)
    for scope in BAN_SCOPES:
        if value == scope:
            return scope
    if value is not None:
        src.error(node, f"{what} must be one of {', '.join(BAN_SCOPES)}, not {value!r}")
    return None


def parse_ban_policy(src: Source, node: yaml.Node) -> BanPolicy:
    items = mapping(src, node, "policy.ban")
    ban = BanPolicy()
    if items is None:
        return ban
    check_keys(src, items, ("scope", "ttl", "escalation", "max_ttl"), "policy.ban")
    if "scope" in items and (scope := parse_ban_scope(src, items["scope"][1], "policy.ban.scope")):
        ban = replace(ban, scope=scope)
    for key in ("ttl", "max_ttl"):
        if key in items and (d := duration(src, items[key][1], f"policy.ban.{key}")) is not None:
            ban = replace(ban, ttl=d) if key == "ttl" else replace(ban, max_ttl=d)
    if "escalation" in items and (e := number(src, items["escalation"][1], "policy.ban.escalation")) is not None:
        if e < 1:
            src.error(items["escalation"][1], "policy.ban.escalation must be at least 1")
        else:
            ban = replace(ban, escalation=e)
    return ban


def parse_routes(src: Source, node: yaml.Node, base: Thresholds) -> dict[str, Thresholds]:
    items = mapping(src, node, "policy.routes")
    out: dict[str, Thresholds] = {}
    for name, (_, vnode) in (items or {}).items():
        route = mapping(src, vnode, f"policy.routes.{name}")
        if route is None:
            continue
        check_keys(src, route, ("thresholds",), f"policy.routes.{name}")
        if "thresholds" in route:
            out[name] = parse_thresholds(src, route["thresholds"][1], base)
    return out
