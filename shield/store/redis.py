"""RedisStore: the shared store for several replicas, one round trip per protected request.

Key layout. Every entity (a dimension's value) has its own hash tag, so on Redis Cluster the
entities spread over every slot and master (shield.store.routing; a subnet's <value> is followed
by ":" and 4 hex digits of its SHA-1: routing.SPREAD), and all of one entity's keys share its slot:

  {shield:<dim>:<value>}              hash  one entity: "c1".."cK" its packed counter row (shield.store.packed:
                                            last write, expiry armed, per window and measure the current
                                            and previous bucket), "<k>#"+chr(32+i) small distinct set k
                                            (up to 64) packed: members and last seen, cut at 64 bytes
                                            (lua/common.lua set_read), "<k>~" a large set's HLL state;
                                            only the distinct sets kept (Retention.reads, `follow`)
  {shield:<dim>:<value>}:x:<k>:<i>:<b> HLL  set k's members in window i's bucket b (large sets only)
  {shield:account:<account>}:h        JSON  the account history, confirmed and pending (shield.store.records)
  {shield:site:<k>}                   hash  one site shard: the site windows' counters (a, f, s, u);
                                            one shard per Cluster master, shard 0 on a single server
  {shield}:bans / {shield}:offenses   hash  "<scope>:<value>" -> ban JSON / "count|last|kept"
  {shield:o:<key>}                    str   claim_once expiry

One observe is one script call per master holding one of its entities (and the bans' master),
sent together and awaited together, so latency stays one round trip; the calls of one loop turn
(several requests' observes) go out as one pipeline per connection, the observes bound for one master
as one call carrying each attempt (shield.store.pipelining, scripts.BATCHED). The
scripts return each entity's packed row and the worker estimates the windows. The hot entities
(the site, the country, the ASN) are counted by the worker and sent in batches (shield.store.batched,
lua/hot.lua): an observe only reads their totals back when its copy is REFRESH old (or counts a kept
distinct set of one, which returns its row too), and adds this worker's unsent counts on top; another
worker's counts show within FLUSH_INTERVAL + REFRESH. The site counters are the sum of the site shards
(one per master; a worker's batches go to the ban table's master's). Scripts on a Cluster carry
`#!lua flags=allow-cross-slot-keys` (Redis >= 7.0): they declare their master's site shard (for
routing) and touch only keys of that master. record_outcome is one call per master holding one of the
attempt's other entities.

The parts, each class built on the one before (one line of bases): shield.store.redis_calls (the
client, routing, scripts and call counters), redis_bans (the ban table), redis_outcomes
(record_outcome's batches); redis_replies (an observe's arguments and the counters from its
replies); this module is the port and the observe.

Windows are two-bucket approximations (shield.store.sliding; lua/common.lua mirrors it). Counters
and sets expire (PEXPIRE, re-armed at most hourly) two longest windows plus an hour after the last
write, histories `memory.history_days` after the last success. All window arithmetic uses the
caller's `now`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from sys import intern

import orjson
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import Ban, Observation, Signals
from shield.store.base import Retention, StoreUnavailable, check_count
from shield.store.batched import Batched, Layout, Tally
from shield.store.coalesce import Coalescer
from shield.store.estimated import estimated
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE_MEASURES, Plan, unkept, with_shared
from shield.store.packed import RowReader
from shield.store.records import history_from_record
from shield.store.redis_bans import ban_from_json
from shield.store.redis_calls import RedisClient
from shield.store.redis_counts import AttemptCounts, Count
from shield.store.redis_outcomes import PendingOutcome, RedisOutcomes
from shield.store.redis_replies import (
    HOT,
    hot_owned,
    number,
    observe_block,
    place,
    reads_mask,
    site_estimates,
    site_sum,
    values_of,
)
from shield.store.routing import ACCOUNT, entity_key
from shield.store.scripts import LuaCode, plan_rows
from shield.store.sliding import MEASURE_INDEX, weights

ATTEMPT, UNKNOWN = (MEASURE_INDEX["a"],), (MEASURE_INDEX["a"], MEASURE_INDEX["u"])
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class RedisStore(RedisOutcomes):
    """The Store port on Redis (standalone, Sentinel or Cluster): see the module docstring."""

    degraded = False  # ResilientStore's attribute; a bare RedisStore raises StoreUnavailable instead

    def __init__(
        self,
        client: RedisClient,
        retention: Retention = Retention(),  # noqa: B008 (frozen)
        *,
        prefix: str = "shield",
        concurrency: int | None = None,
    ) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"store prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        self._plan = Plan.build(retention.windows)
        self._days = retention.history_days
        self._history_size = retention.history_size
        self._confirm_after = retention.confirm_after
        self._p = "{" + prefix + "}:"
        code = LuaCode.build(
            self._plan,
            prefix=self._p,
            tag=prefix + ":",
            history_days=retention.history_days,
            history_size=retention.history_size,
            clustered=isinstance(client, RedisCluster),
        )
        super().__init__(client, code, tag=prefix + ":", bans_key=self._p + "bans", concurrency=concurrency)
        self._site_widths = [w.seconds for w in SITE_WINDOWS]
        # Every counter name interned: the names placed are the very keys of _blank's copy (a dict
        # update then matches them by identity, not by comparing the strings).
        self._site_names = [intern(f"site.{word}_{w.name}") for w in SITE_WINDOWS for _, word in SITE_MEASURES]
        names = self._plan.names[: len(self._plan.names) - len(self._site_names)]  # the site's come last
        self._names = tuple(intern(name) for name in names)
        dim_row, account_row, site_row = plan_rows(self._plan)
        self._hot_layout, self._site_layout = Layout("d", dim_row), Layout("s", site_row)
        self._batched = Batched(self._send_batch)  # the site's, countries' and ASNs' counts
        self._row_shapes = (dim_row, account_row)  # indexed by "is the account"
        self._widths = dim_row.widths
        # Per dimension, the names of its row's estimates (window-major, as RowReader returns them)
        # and of its distinct counts (window-major, as the script returns them).
        windows = [w.name for w in self._plan.windows]
        measures = {d: MEASURES + (ACCOUNT_MEASURES if d == "account" else ()) for d in DIMENSIONS}
        self._row_names = [[intern(f"{d}.{word}_{w}") for w in windows for _, word in measures[d]] for d in DIMENSIONS]
        self._distinct_names = [
            [intern(f"{d}.{m}_{w}") for w in windows for m in DISTINCT.get(d, {})] for d in DIMENSIONS
        ]
        self._follow: Callable[[], frozenset[str] | None] = lambda: retention.reads
        self._every = False  # estimate every counter whatever the rules read
        self._keep(retention.reads)
        self._outcomes: Coalescer[PendingOutcome] = Coalescer(self._flush_outcomes, name="store.outcomes")
        self._counts = AttemptCounts(self._send_counts)  # count_attempt's queue

    # -- the Store port ------------------------------------------------------------------------

    def follow(self, reads: Callable[[], frozenset[str] | None], *, every: bool = False) -> None:
        """Keep the distinct sets `reads()` names and estimate the counters it needs (shield.store.estimated:
        the live rule pack's reads, read per observe: a reload that reads a new set gets it counted from
        then on, a new counter its estimate on the next request). `every`: estimate every counter."""
        self._follow = reads
        self._every = every
        self._keep(reads())

    def _keep(self, reads: frozenset[str] | None) -> None:
        self._reads_src = reads
        windows = [w.name for w in self._plan.windows]
        needed = None if self._every else estimated(reads, windows)
        reads = with_shared(reads, windows)
        self._reads_bytes = reads_mask(windows, reads).encode()
        # The counters before any reply: 0, without the distinct counts that are not kept and the counters
        # no one reads (absent).
        self._blank = {
            name: 0 for name in self._names if not unkept(name, reads) and (needed is None or name in needed)
        }
        # Per dimension, its rows' reader: the estimates of the counters needed, by name (window-major).
        self._readers = [
            RowReader(
                self._row_shapes[d == ACCOUNT],
                [i for i, name in enumerate(names) if needed is None or name in needed],
                [name for name in names if needed is None or name in needed],
            )
            for d, names in enumerate(self._row_names)
        ]
        # Per dimension, its distinct counts in a reply: only the windows the mask counts (window-major,
        # as lua/common.lua's mask_of places them), each by name; and how many (each counted entity's).
        kept = [[name for name in names if not unkept(name, reads)] for names in self._distinct_names]
        self._kept_distinct = [[(name, i) for i, name in enumerate(names)] for names in kept]
        self._distinct_sizes = [len(names) for names in kept]
        # A hot dimension with a kept distinct set is still met by every observe (mode 'd').
        self._hot_sets = {d: bool(self._kept_distinct[d]) for d in HOT}

    async def observe(self, obs: Observation, now: float) -> Signals:
        reads = self._follow()
        if reads is not self._reads_src:
            self._keep(reads)
        values = values_of(obs)
        # The hot dimensions: '0' (counted here), 'r' (their total read, a second old), 'd' (their
        # distinct sets counted by the script, their total read); the tally and its epoch at the send.
        hot: dict[int, tuple[str, Tally, int]] = {}
        route = list(values)
        for d in HOT:
            if values[d]:
                t = self._batched.tally(entity_key(self._tag, DIMENSIONS[d], values[d]), self._hot_layout)
                mode = "d" if self._hot_sets[d] else ("r" if t.stale(now) else "0")
                hot[d] = (mode, t, t.epoch)
                if mode == "0":
                    route[d] = ""  # no call for it
        site_layout = self._site_layout
        batched = self._batched
        if self._router is None:  # one server: its one group, without awaiting _groups
            groups = [self._one(site=False, bans=True, reads_site=batched.tally(self._shard0, site_layout).stale(now))]
        else:
            groups = await self._groups(
                route, bans=True, stale=lambda shard: batched.tally(shard, site_layout).stale(now), count_site=False
            )
        modes = {d: mode for d, (mode, _, _) in hot.items()}
        owned = [hot_owned(g.owned, modes) for g in groups]
        site_epochs = [self._batched.tally(g.shard, site_layout).epoch for g in groups]
        # Bytes, encoded once here: redis-py's encoder tests each str argument's type five times over.
        # Each master gets the call's reads mask, then its block: only the values it reads (observe_block).
        stamp, encoded = repr(now).encode(), [v.encode() for v in values]
        # The mask sent and the reply's layout it makes (a reload may change both while the call is out).
        reads_bytes, kept_distinct, distinct_sizes = self._reads_bytes, self._kept_distinct, self._distinct_sizes
        arglists = {
            g.shard: [reads_bytes, *observe_block(stamp, own, "r" if g.reads_site else "0", g.bans, encoded)]
            for g, own in zip(groups, owned)  # noqa: B905 (redis_replies._STRICT)
        }
        replies = await self._per_master("observe", groups, lambda g: arglists[g.shard])
        counters = self._blank.copy()
        hist_raw: bytes | None = None
        bans: list[Ban] = []
        weights_now = weights(now, self._widths)
        # (one reply per group: _per_master; redis_replies._STRICT)
        for g, own, epoch, (hist, ban, shard, *rows) in zip(groups, owned, site_epochs, replies):  # noqa: B905
            place(
                counters,
                rows,
                own,
                values,
                now,
                weights_now,
                hot,
                hot_layout=self._hot_layout,
                readers=self._readers,
                kept_distinct=kept_distinct,
                distinct_sizes=distinct_sizes,
            )
            if shard:
                t = self._batched.tally(g.shard, site_layout)
                if t.epoch == epoch and t.flying is None:  # else the read may or may not include a flush
                    t.read(now, [int(x) for x in shard], read_at=now)
            hist_raw = hist_raw or hist or None
            if ban:
                bans.append(ban_from_json(ban))
        record = orjson.loads(hist_raw) if hist_raw else None
        known = isinstance(record, dict) and number(record.get("t")) and record["t"] > now - self._days * 86400
        for d, (_, t, _) in hot.items():
            self._batched.add(t, now, ATTEMPT)
            counters.update(zip(self._row_names[d], t.estimates(now, weights_now)))  # noqa: B905 (_STRICT)
        home = self._batched.tally(self._shard0 if self._router is None else await self._home(), site_layout)
        self._batched.add(home, now, ATTEMPT if known or not values[ACCOUNT] else UNKNOWN)
        counters.update(site_estimates(self._site_sum(now), now, widths=self._site_widths, names=self._site_names))
        history = (
            history_from_record(record, now, self._days, confirm_after=self._confirm_after, size=self._history_size)
            if record is not None
            else None
        )
        return Signals(
            counters=counters,
            history=history,
            ban=max(bans, key=lambda b: b.expires_at) if bans else None,
        )

    def count_attempt(self, obs: Observation, now: float) -> None:
        check_count(obs)
        # The hot entities and (one server) the site, as observe counts them: in this worker's tallies.
        batched = self._batched
        for d in HOT:
            value = obs.dimension(DIMENSIONS[d])
            if value is not None:
                batched.add(batched.tally(entity_key(self._tag, DIMENSIONS[d], value), self._hot_layout), now, ATTEMPT)
        if self._router is None:
            batched.add(batched.tally(self._shard0, self._site_layout), now, ATTEMPT)
        self._counts.add(obs, now)  # the other entities: written off the request path (redis_counts)

    async def _send_counts(self, batch: Sequence[Count]) -> None:
        """A batch of refusal counts: one `count` call per master holding some of their entities."""
        per_shard: dict[str, list[str]] = {}
        router = self._router
        home = None
        if router is not None:  # the site's count, as observe's: in the tally of the home shard
            await self._initialize()
            home = self._batched.tally(router.home_shard(), self._site_layout)
        tag = self._tag
        for obs, now in batch:
            if home is not None:
                self._batched.add(home, now, ATTEMPT)
            stamp = repr(now)
            for d, value in enumerate(values_of(obs)):
                if value and d not in HOT:
                    key = entity_key(tag, DIMENSIONS[d], value)
                    shard = self._shard0 if router is None else router.shard_of(key)
                    args = per_shard.get(shard)
                    if args is None:
                        args = per_shard[shard] = []
                    args.append(stamp)
                    args.append(key)
        try:
            await asyncio.gather(*(self._run("count", *a, key=shard, trip=False) for shard, a in per_shard.items()))
        except rexc.ResponseError as e:
            if router is None or "non local key" not in str(e):
                raise
            router.forget()
            raise StoreUnavailable(f"redis: {e}") from e

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        claim_key = "{" + self._tag + "o:" + key + "}"
        return bool(await self._run("claim", repr(now), repr(float(ttl)), key=claim_key))

    async def flush(self) -> None:
        """Send the batched counts now (they go out on their own within batched.FLUSH_INTERVAL), and
        the refusal counts queued (redis_counts)."""
        await self._counts.flush()
        await self._batched.flush()

    async def close(self) -> None:
        await self._counts.close()
        await self._outcomes.close()
        await self._batched.close()
        await self._pipe.close()
        await self._client.aclose()

    def _site_sum(self, now: float) -> list[int]:
        """The site shards' buckets added up (shield.store.redis_replies.site_sum), every master's."""
        shards = self._router.shard_keys() if self._router is not None else (self._shard0,)
        return site_sum(shards, lambda shard: self._batched.tally(shard, self._site_layout), len(self._site_names), now)
