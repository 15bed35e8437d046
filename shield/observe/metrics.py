"""Prometheus metrics on a per-app registry (never the global one, so tests and workers stay apart).

`.labels()` costs a dict lookup plus lock and tuple building; the hot path calls the small
cached helpers below instead, which keep each label child after its first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

M = TypeVar("M", bound=MetricWrapperBase)

# Upstream latency from sub-millisecond cache hits to slow password hashing backends.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Shield's own work per protected request is expected in the sub-millisecond range.
PIPELINE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class _Children(Generic[M]):
    """A cache of label children of one metric, keyed by the label values tuple."""

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def get(self, *values: str) -> M:
        child = self._cache.get(values)
        if child is None:
            child = self._metric.labels(*values)
            self._cache[values] = child
        return child


class Metrics:
    """Every metric shield exposes, owning its registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests_total = Counter("shield_requests", "Requests answered", ["route", "status"], registry=r)
        self.upstream_seconds = Histogram(
            "shield_upstream_seconds", "Upstream response time", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.upstream_errors_total = Counter(
            "shield_upstream_errors", "Upstream failures (unreachable, timeout, overloaded)", ["kind"], registry=r
        )
        self.pipeline_seconds = Histogram(
            "shield_pipeline_seconds", "Shield's own work per protected request", ["route"],
            buckets=PIPELINE_BUCKETS, registry=r,
        )
        self.decisions_total = Counter(
            "shield_decisions", "Decisions taken", ["route", "action", "shadow"], registry=r
        )
        self.rule_hits_total = Counter("shield_rule_hits", "Rule matches", ["rule", "shadow"], registry=r)
        self.challenges_total = Counter(
            "shield_challenges", "Challenges issued, passed, failed", ["event"], registry=r
        )
        self.bans_active = Gauge("shield_bans_active", "Bans currently in force", registry=r)
        self.bans_total = Counter("shield_bans", "Bans added", ["scope"], registry=r)
        self.store_errors_total = Counter("shield_store_errors", "Store call failures", ["op"], registry=r)
        self.store_up = Gauge("shield_store_up", "1 when the store answers", registry=r)
        self.rules_reloads_total = Counter("shield_rules_reloads", "Rule reloads", ["result"], registry=r)
        self.delayed_inflight = Gauge("shield_delayed_inflight", "Requests being delayed now", registry=r)
        self.clients_limited_total = Counter(
            "shield_clients_limited", "Client connections cut by a limit", ["listener", "reason"], registry=r
        )
        self._requests = _Children(self.requests_total)
        self._upstream = _Children(self.upstream_seconds)
        self._upstream_errors = _Children(self.upstream_errors_total)
        self._pipeline = _Children(self.pipeline_seconds)
        self._decisions = _Children(self.decisions_total)
        self._rule_hits = _Children(self.rule_hits_total)
        self._challenges = _Children(self.challenges_total)
        self._bans = _Children(self.bans_total)
        self._store_errors = _Children(self.store_errors_total)
        self._reloads = _Children(self.rules_reloads_total)
        self._limited = _Children(self.clients_limited_total)

    def request(self, route: str, status: int) -> None:
        self._requests.get(route, str(status)).inc()

    def upstream_time(self, route: str, seconds: float) -> None:
        self._upstream.get(route).observe(seconds)

    def upstream_error(self, kind: str) -> None:
        self._upstream_errors.get(kind).inc()

    def pipeline_time(self, route: str, seconds: float) -> None:
        self._pipeline.get(route).observe(seconds)

    def decision(self, route: str, action: str, *, shadow: bool) -> None:
        self._decisions.get(route, action, _flag(shadow)).inc()

    def rule_hit(self, rule: str, *, shadow: bool) -> None:
        self._rule_hits.get(rule, _flag(shadow)).inc()

    def challenge(self, event: str) -> None:
        self._challenges.get(event).inc()

    def ban(self, scope: str) -> None:
        self._bans.get(scope).inc()

    def store_error(self, op: str) -> None:
        self._store_errors.get(op).inc()

    def rules_reload(self, result: str) -> None:
        self._reloads.get(result).inc()

    def client_limited(self, listener: str, reason: str) -> None:
        self._limited.get(listener, reason).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


def _flag(value: bool) -> str:
    return "true" if value else "false"


# Gauges that every worker reports identically (state read from the shared store): merged with
# max, not summed. `_created` timestamps are merged with min; everything else is summed.
_SHARED_GAUGES = frozenset({"shield_bans_active", "shield_store_up"})


def merge_expositions(texts: Sequence[bytes]) -> bytes:
    """One Prometheus text exposition from several workers' (same metric names, per-worker values)."""
    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text.decode()):
            _doc, _type, samples = families.setdefault(fam.name, (fam.documentation, fam.type, {}))
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                if key not in samples:
                    samples[key] = s.value
                elif fam.name.endswith("_created"):
                    samples[key] = min(samples[key], s.value)
                elif fam.name in _SHARED_GAUGES:
                    samples[key] = max(samples[key], s.value)
                else:
                    samples[key] += s.value
    lines: list[str] = []
    for name, (doc, mtype, samples) in families.items():
        shown = f"{name}_total" if mtype == "counter" else name
        lines.append(f"# HELP {shown} {_escape(doc, help_text=True)}")
        lines.append(f"# TYPE {shown} {mtype}")
        for (sample, labels), value in samples.items():
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{sample}{{{rendered}}} {value!r}" if rendered else f"{sample} {value!r}")
    return ("\n".join(lines) + "\n").encode()


def _escape(value: str, *, help_text: bool = False) -> str:
    out = value.replace("\\", "\\\\").replace("\n", "\\n")
    return out if help_text else out.replace('"', '\\"')
