"""Which node runs which part of one store call: entities grouped by Cluster master.

Every entity (dimension + value) has its own hash tag, `{<prefix>:<dim>:<value>}` (a /24's with a
digest: `{<prefix>:subnet:<value>:<4 hex>}`, see SPREAD), so entities spread over the Cluster's
slots. The site counters are sharded: each master holds one shard, `{<prefix>:site:<k>}` with the
smallest k whose slot it serves. One observe is one script call
per master holding one of its entities (plus the master of `{<prefix>}`, which reads the bans),
all sent at once and awaited together (one round trip of latency). The call on the account's
master (the one that knows whether the account has a history) counts the attempt in its shard and
returns it; another master's shard is read only when the caller's copy of it is stale (the
`stale` predicate), so one observe does not touch every master. A standalone server (or
Sentinel's master) is one group holding everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio.cluster import ClusterNode, RedisCluster

from shield.facts.catalog import DIMENSIONS

ACCOUNT = DIMENSIONS.index("account")
# The dimensions whose hash tag carries a digest of the value. The Cluster's slot is CRC16 of the
# tag, and CRC16 is linear: values that differ in a few digits, like neighbouring /24s, get slots in
# one small subspace, which can lie inside one master's range (5 neighbouring /24s: all on one
# master 35% of the time, against 1% at random; the benchmark's 25, 10.30-34.0-4.0/24, all were:
# that master ran every attempt's subnet work, 1.6x the others' CPU). A digest makes the slot
# uniform. An address's hosts vary in length and in a whole octet: they spread (at most 39% of a
# /24 on one of 3 masters). Accounts, passwords and pairs are keyed hashes already.
SPREAD = ("subnet",)
SHARD_SEARCH = 65536  # k values tried per master; a master with any slot has one far below this


@dataclass(slots=True, frozen=True)
class Group:
    """One script call: the node (None: the only one), its site shard, what it owns and does."""

    node: ClusterNode | None
    shard: str
    owned: str  # one '1'/'0' per dimension (DIMENSIONS order)
    site: bool  # counts the attempt in its site shard (and returns it)
    bans: bool  # reads the ban table
    reads_site: bool = True  # returns its site shard (observe)


def entity_key(tag: str, dim: str, value: str) -> str:
    if dim in SPREAD:
        value = spread(value)
    return "{" + tag + dim + ":" + value + "}"


def spread(value: str) -> str:
    """A SPREAD value's tag: the value and 4 hex digits of its SHA-1 (lua/common.lua's counter_key)."""
    return value + ":" + hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:4]


def shard_key(tag: str, k: int) -> str:
    """Site shard k's hash."""
    return "{" + tag + f"site:{k}" + "}"


def single(tag: str, *, site: bool, bans: bool, reads_site: bool) -> Group:
    """A standalone server's call: it owns every dimension and site shard 0."""
    return Group(None, shard_key(tag, 0), "1" * len(DIMENSIONS), site, bans, reads_site)


class ClusterRouter:
    """Groups a call's entities by the master serving their slot (redis-py's slot table)."""

    def __init__(self, cluster: RedisCluster, *, tag: str, bans_key: str) -> None:
        self._cluster = cluster
        self._tag = tag
        self._bans_key = bans_key
        self._shards: dict[str, str] = {}
        self._primaries: tuple[str, ...] = ()

    def forget(self) -> None:
        """The slot table changed (a MOVED, a failover): find the shards again on the next call."""
        self._shards = {}
        self._primaries = ()

    def groups(
        self,
        values: Sequence[str],
        *,
        bans: bool,
        stale: Callable[[str], bool] = lambda shard: False,
        count_site: bool = True,
    ) -> list[Group]:
        """One group per master owning a value, counting the site (unless not `count_site`: the
        worker batches it, shield.store.batched), holding a `stale` shard (read it) or, with `bans`,
        the ban table."""
        primaries = self._refresh()
        owner: dict[str, list[int]] = {n.name: [] for n in primaries}
        nodes = {n.name: n for n in primaries}
        for d, value in enumerate(values):
            if value:
                owner[self._node(entity_key(self._tag, DIMENSIONS[d], value)).name].append(d)
        bans_node = self._node(self._bans_key).name
        present = [d for d, v in enumerate(values) if v]
        site_dim = ACCOUNT if values[ACCOUNT] else (present[0] if present else None)
        groups = []
        for name, dims in owner.items():
            if name not in self._shards:  # a master serving no slot holds nothing
                continue
            shard = self._shards[name]
            counts_site = count_site and ((site_dim in dims) if site_dim is not None else name == bans_node)
            reads_site = counts_site or stale(shard)
            reads_bans = bans and name == bans_node
            if not (dims or reads_site or reads_bans):
                continue
            owned = "".join("1" if d in dims else "0" for d in range(len(DIMENSIONS)))
            groups.append(Group(nodes[name], shard, owned, counts_site, reads_bans, reads_site))
        return groups

    def shard_of(self, key: str) -> str:
        """The site shard of the master holding `key` (the routing key of a call touching it)."""
        self._refresh()
        return self._shards[self._node(key).name]

    def home_shard(self) -> str:
        """The shard the worker's batched site counts go to: the ban table's master's."""
        return self.shard_of(self._bans_key)

    def shard_keys(self) -> frozenset[str]:
        """The site shards of the masters serving slots now (after a resharding, an old shard is no
        longer read or added)."""
        return frozenset(self._shards.values())

    def _refresh(self) -> list[ClusterNode]:
        """The masters now, and their shards found again when they changed."""
        primaries: list[ClusterNode] = self._cluster.get_primaries()
        names = tuple(sorted(n.name for n in primaries))
        if names != self._primaries:
            self._shards = self._find_shards(primaries)
            self._primaries = names
        return primaries

    def _node(self, key: str) -> ClusterNode:
        node = self._cluster.get_node_from_key(key)
        if node is None:
            raise LookupError(f"no Cluster node serves {key!r}")
        return node

    def _find_shards(self, primaries: Sequence[ClusterNode]) -> dict[str, str]:
        shards: dict[str, str] = {}
        for k in range(SHARD_SEARCH):
            key = shard_key(self._tag, k)
            shards.setdefault(self._node(key).name, key)
            if len(shards) == len(primaries):
                break
        return shards
