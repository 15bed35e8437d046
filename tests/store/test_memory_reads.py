"""The memory store keeps only the distinct sets a rule reads, as the Redis store does (test_redis_layout.py)."""

from __future__ import annotations

from shield.model import FakeClock, Observation
from shield.store.base import Retention
from shield.store.memory import MemoryStore

READS = frozenset({"account.distinct_fps_1h", "ip.attempts_1m", "account.failures_1h"})


def login(account: str | None = "acct-1", **kw: str | None) -> Observation:
    values: dict[str, str | None] = {
        "ip": "10.70.0.1",
        "subnet": "10.70.0.0/24",
        "asn": "64570",
        "country": "CN",
        "account": account,
        "fp": "fp-1",
        "device": "dev-1",
        "password": "pw-1",
        "pair": f"pair-{account}",
    }
    values.update(kw)
    return Observation(route="login", **values)  # type: ignore[arg-type]


async def test_only_the_distinct_sets_a_rule_reads_are_kept() -> None:
    store, now = MemoryStore(Retention(reads=READS)), FakeClock().now()
    first = (await store.observe(login(), now)).counters
    counters = (await store.observe(login(ip="10.70.0.2"), now + 1)).counters
    assert set(first) == set(counters)
    assert counters["account.distinct_fps_1h"] == 1
    assert "account.distinct_fps_1m" not in counters  # a window no rule reads is not counted
    # kept whatever the rules read: derived facts' inputs (in their window) and the takeover policy's
    assert counters["ip.distinct_accounts_24h"] == counters["subnet.distinct_accounts_24h"] == 1
    assert "ip.distinct_accounts_1m" not in counters  # as on Redis: only the window ip.shared reads
    assert counters["account.distinct_ips_10m"] == 2
    for name in ("account.distinct_asns_1m", "country.distinct_accounts_1h", "password.distinct_ips_10m"):
        assert name not in counters, name  # absent, not a false 0
    # every window of every measure is counted, only the counters needed are estimated (shield.store.estimated)
    assert counters["ip.attempts_1m"] == 1
    assert counters["account.failures_1h"] == 0  # read: present at 0
    assert "account.attempts_1h" not in counters


async def test_a_large_set_counts_only_the_windows_a_rule_reads() -> None:
    store, now = MemoryStore(Retention(reads=frozenset({"password.distinct_accounts_1h"}))), FakeClock().now()
    for i in range(300):  # past the exact limit: sampled
        counters = (await store.observe(login(account=f"a-{i}", password="pw-spray"), now + i * 0.1)).counters
    assert abs(counters["password.distinct_accounts_1h"] - 300) <= 60
    assert "password.distinct_accounts_1m" not in counters


async def test_a_set_a_reloaded_pack_reads_is_counted_from_then_on() -> None:
    reads: list[frozenset[str] | None] = [frozenset({"account.distinct_fps_1h"})]
    store, now = MemoryStore(), FakeClock().now()
    store.follow(lambda: reads[0])
    await store.observe(login(), now)  # a first attempt: its members in the compact layout
    reads[0] = frozenset({"account.distinct_asns_1h"})  # the reload: fps no longer read, asns now read
    counters = (await store.observe(login(ip="10.70.0.2", asn="64571"), now + 1)).counters
    assert "account.distinct_fps_1h" not in counters
    assert counters["account.distinct_asns_1h"] == 1  # counted from the reload on
    assert counters["account.distinct_ips_1h"] == 2  # always kept, across the reload
    reads[0] = None  # every set read again
    counters = (await store.observe(login(ip="10.70.0.3", fp="fp-2"), now + 2)).counters
    assert counters["account.distinct_fps_1h"] == 2  # fp-1, kept from before the reload (as on Redis), and fp-2
    assert counters["account.distinct_ips_1h"] == 3
