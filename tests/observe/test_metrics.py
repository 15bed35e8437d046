"""Metrics on their own registry."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from shield.model import FakeClock
from shield.observe import multiproc
from shield.observe.metrics import STORE_BUCKETS, Metrics
from shield.observe.version import python_version, shield_version
from shield.service import build_service
from tests.e2e.conftest import rules_dir, stack_settings
from tests.fixtures.upstream import Upstream


def test_each_metrics_owns_its_registry() -> None:
    a, b = Metrics(), Metrics()
    a.request("login", 200)
    assert b'shield_requests_total{route="login",status="200"} 1.0' in a.exposition()
    assert b'route="login"' not in b.exposition()
    assert REGISTRY.get_sample_value("shield_requests_total", {"route": "login", "status": "200"}) is None


def test_every_documented_metric_is_exposed() -> None:
    m = Metrics()
    m.request("login", 200)
    m.upstream_time("login", 0.01)
    m.upstream_error("timeout")
    m.pipeline_time("login", 0.0002)
    m.decision("login", "block", shadow=False)
    m.rule_hit("hosting_asn", shadow=True)
    m.challenge("issued")
    m.ban("ip")
    m.store_error("attempt")
    m.rules_reload("ok")
    m.bans_active.set(3)
    m.store_up.set(1)
    m.delayed_inflight.inc()
    m.login_outcome("login", "success")
    m.store_time("observe", 0.0004)
    text = m.exposition().decode()
    for needle in (
        'shield_requests_total{route="login",status="200"} 1.0',
        'shield_upstream_seconds_bucket{le="0.01",route="login"} 1.0',
        'shield_upstream_errors_total{kind="timeout"} 1.0',
        'shield_pipeline_seconds_count{route="login"} 1.0',
        'shield_decisions_total{action="block",route="login",shadow="false"} 1.0',
        'shield_rule_hits_total{rule="hosting_asn",shadow="true"} 1.0',
        'shield_challenges_total{event="issued"} 1.0',
        'shield_bans_total{scope="ip"} 1.0',
        'shield_store_errors_total{op="attempt"} 1.0',
        'shield_rules_reloads_total{result="ok"} 1.0',
        "shield_bans_active 3.0",
        "shield_store_up 1.0",
        "shield_delayed_inflight 1.0",
        'shield_login_outcomes_total{outcome="success",route="login"} 1.0',
        'shield_store_seconds_bucket{le="0.0005",op="observe"} 1.0',
        f'shield_build_info{{python="{python_version()}",version="{shield_version()}"}} 1.0',
        "process_cpu_seconds_total",
        "python_gc_objects_collected_total",
    ):
        assert needle in text, needle


def test_cached_children_keep_counting() -> None:
    m = Metrics()
    for _ in range(3):
        m.request("passthrough", 502)
    assert b'shield_requests_total{route="passthrough",status="502"} 3.0' in m.exposition()


def _worker(folder: Path, requests: int, inflight: int, bans: int) -> None:
    """One forked worker: its own Metrics, writing into the shared folder."""
    m = Metrics(multiprocess_dir=folder)
    for _ in range(requests):
        m.request("login", 200)
    m.upstream_time("login", 0.004)
    m.login_outcome("login", "failure")
    m.store_time("observe", 0.0003)
    m.gauge_function(m.delayed_inflight, lambda: float(inflight))
    m.gauge_function(m.bans_active, lambda: float(bans))
    m.sample_gauges()


@pytest.fixture
def multiprocess_folder() -> Iterator[Path]:
    folder = multiproc.start()
    try:
        yield folder
    finally:
        multiproc.stop(folder)
    assert multiproc.current() is None
    assert not folder.exists()


def _run_worker(folder: Path, *args: int) -> int:
    proc = multiprocessing.get_context("fork").Process(target=_worker, args=(folder, *args))
    proc.start()
    proc.join(10)
    assert proc.exitcode == 0
    assert proc.pid is not None
    return proc.pid


def test_multiprocess_exposition_sums_workers_and_keeps_a_dead_ones_counts(multiprocess_folder: Path) -> None:
    first = _run_worker(multiprocess_folder, 2, 3, 7)
    _run_worker(multiprocess_folder, 1, 4, 7)
    multiproc.worker_exited(multiprocess_folder, first)  # died: its counts stay, its live gauges go
    text = Metrics(multiprocess_dir=multiprocess_folder).exposition().decode()
    for needle in (
        'shield_requests_total{route="login",status="200"} 3.0',
        'shield_upstream_seconds_bucket{le="0.005",route="login"} 2.0',
        'shield_login_outcomes_total{outcome="failure",route="login"} 2.0',
        'shield_store_seconds_count{op="observe"} 2.0',
        "shield_delayed_inflight 4.0",
        "shield_bans_active 7.0",
        "shield_build_info{",
        "process_resident_memory_bytes",
        "python_info{",
    ):
        assert needle in text, needle


def test_an_empty_file_left_by_a_worker_killed_at_birth_does_not_break_the_scrape(multiprocess_folder: Path) -> None:
    # prometheus-client creates a worker's file before sizing it; a worker SIGKILLed in between leaves
    # a 0-byte file for good (prometheus/client_python#1199), and a scrape that reads it raises.
    _run_worker(multiprocess_folder, 2, 0, 0)
    (multiprocess_folder / "counter_999999.db").write_bytes(b"")
    text = Metrics(multiprocess_dir=multiprocess_folder).exposition().decode()
    assert 'shield_requests_total{route="login",status="200"} 2.0' in text


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        if family.name == name
        for s in family.samples
        if not s.name.endswith("_created")
    }


# on a bound, between bounds, below the first, above the last, and zero
SECONDS = [0.0, 0.00005, 0.00007, 0.0001, 0.0003, 0.001, 0.0015, 0.002, 0.9, 1.0, 1.5, 30.0, 0.0001, 0.0003]


def test_tallied_histograms_and_counters_expose_what_prometheus_client_would() -> None:
    m = Metrics()
    reference = CollectorRegistry()
    store = Histogram("shield_store_seconds", "x", ["op"], buckets=STORE_BUCKETS, registry=reference)
    decisions = Counter("shield_decisions", "x", ["route", "action", "shadow"], registry=reference)
    for i, seconds in enumerate(SECONDS):
        m.store_time("observe", seconds)
        store.labels("observe").observe(seconds)
        m.decision("login", "block" if i % 3 else "allow", shadow=i % 2 == 0)
        decisions.labels("login", "block" if i % 3 else "allow", "true" if i % 2 == 0 else "false").inc()
    m.exposition()  # flushes the tallies
    for name in ("shield_store_seconds", "shield_decisions"):
        assert _samples(m.registry, name) == _samples(reference, name), name
    m.store_time("observe", 0.0003)  # and they keep counting after a flush
    assert b'shield_store_seconds_count{op="observe"} 15.0' in m.exposition()


def _counting_worker(folder: Path) -> None:
    m = Metrics(multiprocess_dir=folder)
    m.request("login", 200)
    m.rule_hit("ip_attempts_1m", shadow=False)
    m.flush()  # what Service.close does at shutdown (and sample_gauges every second)
    m.request("login", 200)  # never flushed: lost with the process, as the last second of a killed worker


def test_a_worker_s_counts_reach_the_shared_files_when_it_flushes(multiprocess_folder: Path) -> None:
    proc = multiprocessing.get_context("fork").Process(target=_counting_worker, args=(multiprocess_folder,))
    proc.start()
    proc.join(10)
    assert proc.exitcode == 0
    text = Metrics(multiprocess_dir=multiprocess_folder).exposition().decode()
    assert 'shield_requests_total{route="login",status="200"} 1.0' in text
    assert 'shield_rule_hits_total{rule="ip_attempts_1m",shadow="false"} 1.0' in text


async def test_a_worker_s_last_counts_reach_the_shared_files_at_shutdown(
    upstream: Upstream, tmp_path: Path, multiprocess_folder: Path
) -> None:
    service = build_service(stack_settings(upstream, rules_dir(tmp_path)), clock=FakeClock(), with_admin=False)
    assert service.metrics.multiprocess_dir == multiprocess_folder
    service.metrics.request("login", 200)  # counted less than a second before SIGTERM: no sampler flush yet
    await service.close()
    text = Metrics(multiprocess_dir=multiprocess_folder).exposition().decode()
    assert 'shield_requests_total{route="login",status="200"} 1.0' in text


def test_rule_hits_counts_as_rule_hit_per_hit() -> None:
    from shield.model import RuleHit

    hits = (RuleHit("a", 10), RuleHit("b", 5), RuleHit("a", 10))
    one_by_one, bulk = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    for shadow in (False, True):
        for hit in hits:
            one_by_one.rule_hit(hit.id, shadow=shadow)
        bulk.rule_hits(hits, shadow=shadow)
    bulk.rule_hits((), shadow=True)

    def counts(m: Metrics) -> list[str]:
        return [line for line in m.exposition().decode().splitlines() if line.startswith("shield_rule_hits_total")]

    assert counts(bulk) == counts(one_by_one)
    assert len(counts(bulk)) == 4


@pytest.mark.parametrize("shadow", [False, True], ids=["enforced", "with-shadow-rules"])
def test_decided_and_answered_are_the_calls_they_replace(shadow: bool) -> None:
    """The pipeline's two calls per protected request expose what its five or six did: the same names,
    labels and values (histogram buckets and sums included), over requests on two routes."""
    from shield.model import Action, Decision, RuleHit

    hits = (RuleHit("a", 10), RuleHit("b", 5))
    shadow_hits = (RuleHit("s", 1, None, True),) if shadow else ()
    decisions = [
        Decision(action=Action.BAN, score=15, ruleset="r", hits=hits, shadow_hits=shadow_hits,
                 shadow_action=Action.BLOCK if shadow else None),
        Decision(action=Action.ALLOW, score=0, ruleset="r"),
    ]
    calls, combined = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    for i in range(12):
        route, status, decision = ("login", "admin")[i % 2], (403, 200, 401)[i % 3], decisions[i % 2 if i % 5 else 0]
        store_s, shield_s = 0.00003 * (i + 1) ** 2, 0.0001 * i
        calls.store_time("observe", store_s)
        calls.pipeline_time(route, shield_s)
        calls.request(route, status)
        calls.decision(route, decision.action._value_, shadow=False)
        if decision.shadow_action is not None:
            calls.decision(route, decision.shadow_action._value_, shadow=True)
        calls.rule_hits(decision.hits, shadow=False)
        if decision.shadow_hits:
            calls.rule_hits(decision.shadow_hits, shadow=True)
        combined.decided(route, store_s, shield_s)
        combined.answered(route, status, decision)

    def shield_lines(m: Metrics) -> list[str]:
        return [line for line in m.exposition().decode().splitlines() if line.startswith("shield_")
                and not line.startswith("shield_build_info") and "_created{" not in line]

    assert shield_lines(combined) == shield_lines(calls)
    assert any(line.startswith("shield_pipeline_seconds_sum") for line in shield_lines(combined))
