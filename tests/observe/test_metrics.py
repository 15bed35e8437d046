"""Metrics on their own registry."""

from __future__ import annotations

from prometheus_client import REGISTRY

from shield.observe.metrics import Metrics


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
    ):
        assert needle in text, needle


def test_cached_children_keep_counting() -> None:
    m = Metrics()
    for _ in range(3):
        m.request("passthrough", 502)
    assert b'shield_requests_total{route="passthrough",status="502"} 3.0' in m.exposition()


def test_worker_expositions_merge_by_summing_except_shared_gauges() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from shield.observe.metrics import merge_expositions

    a, b = Metrics(), Metrics()
    a.request("login", 200)
    b.request("login", 200)
    b.request("login", 401)
    a.upstream_time("login", 0.004)
    b.upstream_time("login", 2.0)
    for m in (a, b):
        m.bans_active.set(7)
        m.store_up.set(1)
    a.delayed_inflight.set(2)
    b.delayed_inflight.set(3)
    merged = merge_expositions([a.exposition(), b.exposition()]).decode()
    for needle in (
        'shield_requests_total{route="login",status="200"} 2.0',
        'shield_requests_total{route="login",status="401"} 1.0',
        'shield_upstream_seconds_bucket{le="0.005",route="login"} 1.0',
        'shield_upstream_seconds_bucket{le="+Inf",route="login"} 2.0',
        'shield_upstream_seconds_count{route="login"} 2.0',
        "shield_bans_active 7.0",
        "shield_store_up 1.0",
        "shield_delayed_inflight 5.0",
    ):
        assert needle in merged, needle
    assert {f.name for f in text_string_to_metric_families(merged)} >= {"shield_requests", "shield_upstream_seconds"}
