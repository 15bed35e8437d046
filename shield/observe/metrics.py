"""Prometheus metrics on a per-app registry (never the global one, so tests and workers stay apart).

The hot path (a few counters and histograms per request) only adds to plain per-process tallies,
one per label child, kept after its first use: `.labels()`, prometheus-client's lock and, with
several workers, its write to a shared mmaped file cost ~1 us per call, several per request.
`flush` moves the tallies into prometheus-client's values: before every exposition (so one worker's
/metrics is exact), in `sample_gauges` (every second with several workers, so every worker's counts
reach the shared files within a second) and at shutdown (Service.close).

With `multiprocess_dir` (workers > 1, see shield.observe.multiproc) the values live in files shared
by every worker and the exposition merges them all; gauges computed at scrape time are then
written by `sample_gauges` (every second, and before each scrape) so other workers can read them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shield.model import Decision, RuleHit
from shield.observe.tallies import Count, Counts, Observations, Observed
from shield.observe.version import python_version, shield_version

# Upstream latency from sub-millisecond cache hits to slow password hashing backends.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Shield's own work per protected request is expected in the sub-millisecond range.
PIPELINE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)
# One store round trip: tens of microseconds in memory, ~0.2-2 ms to a nearby Redis.
# A typed view of prometheus-client's untyped merge (no `type: ignore` to go stale).
_merge_files: Callable[[list[str], bool], Iterable[Metric]] = MultiProcessCollector.merge
# Every file holds at least its 8-byte header once prometheus-client has sized it.
_FILE_HEADER_BYTES = 8
STORE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class BuildInfo(Collector):
    """`shield_build_info{version,python} 1`: which build answers, computed at scrape time (no file)."""

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("shield_build_info", "Shield build", labels=["version", "python"])
        family.add_metric([shield_version(), python_version()], 1.0)
        yield family


class SharedFiles(Collector):
    """Every worker's values from the multiprocess folder, skipping files not yet sized.

    prometheus-client creates a worker's file before sizing it; reading it in between raises and
    fails the whole scrape, and a worker killed in that window leaves the empty file for good
    (prometheus/client_python#1199). Such a file holds no value yet, so skipping it loses nothing.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterable[Metric]:
        files = [str(p) for p in sorted(self.folder.glob("*.db")) if _sized(p)]
        return _merge_files(files, True)


def _sized(path: Path) -> bool:
    try:
        return path.stat().st_size >= _FILE_HEADER_BYTES
    except OSError:  # removed by mark_process_dead meanwhile
        return False


def _add_process_collectors(registry: CollectorRegistry) -> None:
    """process_* (CPU, memory, fds of the process serving the scrape) and python_* (version, GC)."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class Metrics:
    """Every metric shield exposes, owning its registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, multiprocess_dir: Path | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        self._sampled: list[tuple[Gauge, Callable[[], float]]] = []
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
        # every worker reads the same store: merged with the max of the live workers, not summed
        self.bans_active = Gauge(
            "shield_bans_active", "Bans currently in force", registry=r, multiprocess_mode="livemax"
        )
        self.bans_total = Counter("shield_bans", "Bans added", ["scope"], registry=r)
        self.store_errors_total = Counter("shield_store_errors", "Store call failures", ["op"], registry=r)
        self.store_up = Gauge("shield_store_up", "1 when the store answers", registry=r, multiprocess_mode="livemax")
        self.store_degraded = Gauge(
            "shield_store_degraded", "1 while deciding from per-process counters (shared store down)", registry=r,
            multiprocess_mode="livemax",
        )
        self.store_seconds = Histogram(
            "shield_store_seconds", "Store round trip (the one call before a decision)", ["op"],
            buckets=STORE_BUCKETS, registry=r,
        )
        self.login_outcomes_total = Counter(
            "shield_login_outcomes", "Protected requests' outcomes as read from the upstream's answer",
            ["route", "outcome"], registry=r,
        )
        self.rules_reloads_total = Counter("shield_rules_reloads", "Rule reloads", ["result"], registry=r)
        self.clients_limited_total = Counter(
            "shield_clients_limited", "Client connections cut by a limit", ["listener", "reason"], registry=r
        )
        self.delayed_inflight = Gauge(
            "shield_delayed_inflight", "Requests being delayed now", registry=r, multiprocess_mode="livesum"
        )
        self.takeover_suspected_total = Counter(
            "shield_takeover_suspected", "Logins that succeeded after takeover risk (shield.decision.takeover)",
            ["reason"], registry=r,
        )
        # 0 means no GeoIP database is open, so geo facts are absent and geo rules inactive
        self.geoip_loaded = Gauge(
            "shield_geoip_loaded", "1 when a GeoIP database is loaded, else 0", registry=r, multiprocess_mode="livemax"
        )
        self._requests = Counts(self.requests_total)
        self._upstream = Observations(self.upstream_seconds)
        self._upstream_errors = Counts(self.upstream_errors_total)
        self._pipeline = Observations(self.pipeline_seconds)
        self._decisions = Counts(self.decisions_total)
        self._rule_hits = Counts(self.rule_hits_total)
        self._challenges = Counts(self.challenges_total)
        self._bans = Counts(self.bans_total)
        self._store_errors = Counts(self.store_errors_total)
        self._reloads = Counts(self.rules_reloads_total)
        self._limited = Counts(self.clients_limited_total)
        self._store = Observations(self.store_seconds)
        self._outcomes = Counts(self.login_outcomes_total)
        self._takeovers = Counts(self.takeover_suspected_total)
        self._tallied: tuple[Counts | Observations, ...] = (
            self._requests, self._upstream, self._upstream_errors, self._pipeline, self._decisions, self._rule_hits,
            self._challenges, self._bans, self._store_errors, self._reloads, self._limited, self._store,
            self._outcomes, self._takeovers,
        )
        # the tallies one protected request adds to, by route (and status and action), kept: `decided` and
        # `answered` are two calls per request where five or six did a label lookup each
        self._timed: dict[str, tuple[Observed, Observed]] = {}
        self._answers: dict[tuple[str, int, str], tuple[Count, Count]] = {}
        r.register(BuildInfo())
        _add_process_collectors(r)
        self._exposed = r if multiprocess_dir is None else self._merged_registry(multiprocess_dir)

    @staticmethod
    def _merged_registry(folder: Path) -> CollectorRegistry:
        """Every worker's values from the shared folder, plus what is computed here at scrape time."""
        merged = CollectorRegistry()
        merged.register(SharedFiles(folder))
        merged.register(BuildInfo())
        _add_process_collectors(merged)
        return merged

    def gauge_function(self, gauge: Gauge, fn: Callable[[], float]) -> None:
        """A gauge read from `fn` at scrape time (in-process), or written by sample_gauges (multiprocess)."""
        if self.multiprocess_dir is None:
            gauge.set_function(fn)
        else:
            self._sampled.append((gauge, fn))

    def sample_gauges(self) -> None:
        """The scrape-time gauges written, and the tallies flushed (every second with several workers)."""
        self.flush()
        for gauge, fn in self._sampled:
            gauge.set(fn())

    def flush(self) -> None:
        """Every tally into prometheus-client's values (its shared file with several workers)."""
        for metric in self._tallied:
            for tally in metric.tallies.values():
                tally.flush()

    def request(self, route: str, status: int) -> None:
        self._requests.get(route, str(status)).n += 1

    def ban_refusal_tallies(self, route: str) -> tuple[Count, Count]:
        """The tallies a ban refusal on `route` adds one to (`request("banned", 403)` and `decision(route,
        "ban", shadow=False)`), for the ban fast path to add to them itself: a flood's refusals are
        tens of thousands a second. They live as long as this object and `flush` reads them like any."""
        return self._requests.get("banned", "403"), self._decisions.get(route, "ban", "false")

    def decided(self, route: str, store_seconds: float, shield_seconds: float) -> None:
        """A protected request decided: `store_time("observe", store_seconds)` and `pipeline_time(route,
        shield_seconds)` in one call."""
        timed = self._timed.get(route)
        if timed is None:
            timed = self._timed[route] = (self._store.get("observe"), self._pipeline.get(route))
        store, pipeline = timed
        store.buckets[bisect_left(store.bounds, store_seconds)] += 1
        store.sum += store_seconds
        pipeline.buckets[bisect_left(pipeline.bounds, shield_seconds)] += 1
        pipeline.sum += shield_seconds

    def answered(self, route: str, status: int, decision: Decision) -> None:
        """A protected request answered: `request(route, status)`, `decision` (and its shadow action's) and
        `rule_hits` (and its shadow hits) in one call."""
        action = decision.action._value_  # ._value_: .value is a slow descriptor
        answer = self._answers.get((route, status, action))
        if answer is None:
            answer = self._answers[(route, status, action)] = (
                self._requests.get(route, str(status)), self._decisions.get(route, action, "false")
            )
        answer[0].n += 1
        answer[1].n += 1
        if decision.shadow_action is not None:
            self._decisions.get(route, decision.shadow_action._value_, "true").n += 1
        if decision.hits:
            counts = self._rule_hits
            tallies = counts.tallies
            for hit in decision.hits:  # the tally by its key, without a call per hit once it exists
                tally = tallies.get((hit.id, "false"))
                if tally is None:
                    tally = counts.get(hit.id, "false")
                tally.n += 1
        if decision.shadow_hits:
            self.rule_hits(decision.shadow_hits, shadow=True)

    def upstream_time(self, route: str, seconds: float) -> None:
        self._upstream.get(route).add(seconds)

    def upstream_error(self, kind: str) -> None:
        self._upstream_errors.get(kind).n += 1

    def pipeline_time(self, route: str, seconds: float) -> None:
        self._pipeline.get(route).add(seconds)

    def decision(self, route: str, action: str, *, shadow: bool) -> None:
        self._decisions.get(route, action, _flag(shadow)).n += 1

    def rule_hit(self, rule: str, *, shadow: bool) -> None:
        self._rule_hits.get(rule, _flag(shadow)).n += 1

    def rule_hits(self, hits: Iterable[RuleHit], *, shadow: bool) -> None:
        """rule_hit for each hit of a decision (several per protected request: one call, one flag)."""
        flag, counts = _flag(shadow), self._rule_hits
        tallies = counts.tallies
        for hit in hits:  # the tally by its key, without a call per hit once it exists
            tally = tallies.get((hit.id, flag))
            if tally is None:
                tally = counts.get(hit.id, flag)
            tally.n += 1

    def challenge(self, event: str) -> None:
        self._challenges.get(event).n += 1

    def ban(self, scope: str) -> None:
        self._bans.get(scope).n += 1

    def store_error(self, op: str) -> None:
        self._store_errors.get(op).n += 1

    def rules_reload(self, result: str) -> None:
        self._reloads.get(result).n += 1

    def takeover_suspected(self, reason: str) -> None:
        self._takeovers.get(reason).n += 1

    def store_time(self, op: str, seconds: float) -> None:
        self._store.get(op).add(seconds)

    def login_outcome(self, route: str, outcome: str) -> None:
        self._outcomes.get(route, outcome).n += 1

    def client_limited(self, listener: str, reason: str) -> None:
        self._limited.get(listener, reason).n += 1

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (of every worker, in multiprocess mode: the
        others' counts as they flushed them, at most a second ago)."""
        self.sample_gauges()
        return generate_latest(self._exposed)


def _flag(value: bool) -> str:
    return "true" if value else "false"
