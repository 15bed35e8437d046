"""RedisStore: the shared store for several replicas, one round trip per protected request.

Key layout. Every entity (a dimension's value) has its own hash tag, so on Redis Cluster the
entities spread over every slot and master (shield.store.routing), and all of one entity's keys
share its slot:

  {shield:<dim>:<value>}              hash  one entity: "c1".."cK" its packed counter row (shield.store.packed:
                                            last write, expiry armed, per window and measure the current
                                            and previous bucket), "<k>|<member>" -> last seen (small
                                            distinct set k, up to 64), "<k>~" a large set's HLL state;
                                            only the distinct sets kept (Retention.reads, `follow`)
  {shield:<dim>:<value>}:x:<k>:<i>:<b> HLL  set k's members in window i's bucket b (large sets only)
  {shield:account:<account>}:h        JSON  the account history, confirmed and pending (shield.store.records)
  {shield:site:<k>}                   hash  one site shard: the site windows' counters (a, f, s, u);
                                            one shard per Cluster master, shard 0 on a single server
  {shield}:bans / {shield}:offenses   hash  "<scope>:<value>" -> ban JSON / "count|last|kept"
  {shield:o:<key>}                    str   claim_once expiry

One observe is one script call per master holding one of its entities (and the bans' master),
sent together and awaited together, so latency stays one round trip; the calls of one loop turn
(several requests' observes) go out as one pipeline per connection (shield.store.pipelining). The
scripts return each entity's packed row and the worker estimates the windows. The hot entities
(the site, the country, the ASN) are counted by the worker and sent in batches (shield.store.batched,
lua/hot.lua): an observe only reads their totals back when its copy is REFRESH old (or counts a kept
distinct set of one, which returns its row too), and adds this worker's unsent counts on top; another
worker's counts show within FLUSH_INTERVAL + REFRESH. The site counters are the sum of the site shards
(one per master; a worker's batches go to the ban table's master's). Scripts on a Cluster carry
`#!lua flags=allow-cross-slot-keys` (Redis >= 7.0): they declare their master's site shard (for
routing) and touch only keys of that master. record_outcome is one call per master holding one of the
attempt's other entities.

Windows are two-bucket approximations (shield.store.sliding; lua/common.lua mirrors it). Counters
and sets expire (PEXPIRE, re-armed at most hourly) two longest windows plus an hour after the last
write, histories `memory.history_days` after the last success. All window arithmetic uses the
caller's `now`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from shield.facts.catalog import DIMENSIONS, DISTINCT, SITE_WINDOWS
from shield.model import Ban, BanScope, Observation, Outcome, Signals
from shield.store.base import Retention, StoreUnavailable
from shield.store.batched import Batched, Item, Layout, Tally
from shield.store.coalesce import Coalescer
from shield.store.layout import ACCOUNT_MEASURES, MEASURES, SITE_MEASURES, Plan, keeps, unkept, with_shared
from shield.store.packed import RowReader
from shield.store.pipelining import TickPipeline
from shield.store.records import history_from_record
from shield.store.routing import ACCOUNT, ClusterRouter, Group, entity_key, shard_key
from shield.store.scripts import LuaCode, plan_rows
from shield.store.sliding import MEASURE_INDEX, estimate, weights

# The hot, low-cardinality dimensions: counted by the worker and sent in batches (shield.store.batched),
# like the site; their distinct sets (when a rule reads one) are still counted by the observe script.
HOT = (DIMENSIONS.index("asn"), DIMENSIONS.index("country"))
ATTEMPT, UNKNOWN = (MEASURE_INDEX["a"],), (MEASURE_INDEX["a"], MEASURE_INDEX["u"])
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Errors that mean "Redis is not answering", as opposed to a bug in a script or an argument.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.BusyLoadingError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.MaxConnectionsError,
    rexc.ReadOnlyError,
    OSError,
)

RedisClient = Redis | RedisCluster
# One outcome waiting for its batch: now, measure, familiar, the dimension values, lat, lon, confirmed, ripe.
_PendingOutcome = tuple[str, str, str, Sequence[str], str, str, str, str]


class RedisStore:
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
        self._client = client
        self._plan = Plan.build(retention.windows)
        self._days = retention.history_days
        self._history_size = retention.history_size
        self._confirm_after = retention.confirm_after
        self._p = "{" + prefix + "}:"
        self._tag = prefix + ":"
        self._bans_key = self._p + "bans"
        self._router = (
            ClusterRouter(client, tag=self._tag, bans_key=self._bans_key) if isinstance(client, RedisCluster) else None
        )
        # security: caps in-flight commands where the pool would raise instead of waiting (Cluster,
        # Sentinel), so a flood queues instead of turning into errors.
        self._gate = asyncio.Semaphore(concurrency) if concurrency else None
        code = LuaCode.build(
            self._plan,
            prefix=self._p,
            tag=self._tag,
            history_days=retention.history_days,
            history_size=retention.history_size,
            clustered=isinstance(client, RedisCluster),
        )
        self._scripts, self._library, self._library_code = code.scripts, code.library, code.library_code
        self._functions = True  # False once the server says it has no FCALL (Redis < 7.0)
        self._site_widths = [w.seconds for w in SITE_WINDOWS]
        self._site_names = [f"site.{word}_{w.name}" for w in SITE_WINDOWS for _, word in SITE_MEASURES]
        self._names = self._plan.names[: len(self._plan.names) - len(self._site_names)]  # the site's come last
        dim_row, account_row, site_row = plan_rows(self._plan)
        self._hot_layout, self._site_layout = Layout("d", dim_row), Layout("s", site_row)
        self._batched = Batched(self._send_batch)  # the site's, countries' and ASNs' counts
        self._rows = (RowReader(dim_row), RowReader(account_row))  # indexed by "is the account"
        self._widths = dim_row.widths
        # Per dimension, the names of its row's estimates (window-major, as RowReader returns them)
        # and of its distinct counts (window-major, as the script returns them).
        windows = [w.name for w in self._plan.windows]
        measures = {d: MEASURES + (ACCOUNT_MEASURES if d == "account" else ()) for d in DIMENSIONS}
        self._row_names = [[f"{d}.{word}_{w}" for w in windows for _, word in measures[d]] for d in DIMENSIONS]
        self._distinct_names = [[f"{d}.{m}_{w}" for w in windows for m in DISTINCT.get(d, {})] for d in DIMENSIONS]
        self._follow: Callable[[], frozenset[str] | None] = lambda: retention.reads
        self._keep(retention.reads)
        self._outcomes: Coalescer[_PendingOutcome] = Coalescer(self._flush_outcomes, name="store.outcomes")
        self._pipe = TickPipeline(client)  # observes of one loop turn: one pipeline per connection
        self.round_trips = 0  # round trips of latency (one per store call); the benchmark prints it
        self.commands = 0  # commands sent (one per master and call on a Cluster)

    # -- the Store port ------------------------------------------------------------------------

    def follow(self, reads: Callable[[], frozenset[str] | None]) -> None:
        """Keep the distinct sets `reads()` names (the live rule pack's reads, read per observe: a
        reload that reads a new set gets it counted from then on)."""
        self._follow = reads
        self._keep(reads())

    def _keep(self, reads: frozenset[str] | None) -> None:
        self._reads_src = reads
        reads = with_shared(reads, [w.name for w in self._plan.windows])
        self._reads = _reads_mask([w.name for w in self._plan.windows], reads)
        # The counters before any reply: 0, without the distinct counts that are not kept (absent).
        self._blank = {name: 0 for name in self._names if not unkept(name, reads)}
        self._kept_distinct = [
            [(name, i) for i, name in enumerate(names) if not unkept(name, reads)] for names in self._distinct_names
        ]
        # A hot dimension with a kept distinct set is still met by every observe (mode 'd').
        self._hot_sets = {d: bool(self._kept_distinct[d]) for d in HOT}

    async def observe(self, obs: Observation, now: float) -> Signals:
        reads = self._follow()
        if reads is not self._reads_src:
            self._keep(reads)
        values = _values(obs)
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
        groups = await self._groups(
            route, bans=True, stale=lambda shard: self._batched.tally(shard, site_layout).stale(now), count_site=False
        )
        modes = {d: mode for d, (mode, _, _) in hot.items()}
        owned = [_hot_owned(g.owned, modes) for g in groups]
        site_epochs = [self._batched.tally(g.shard, site_layout).epoch for g in groups]
        arglists = {
            g.shard: [repr(now), own, "r" if g.reads_site else "0", "1" if g.bans else "0", self._reads, *values]
            for g, own in zip(groups, owned, strict=True)
        }
        replies = await self._per_master("observe", groups, lambda g: arglists[g.shard])
        counters = self._blank.copy()
        hist_raw: bytes | None = None
        bans: list[Ban] = []
        weights_now = weights(now, self._widths)
        for g, own, epoch, (rows, hist, ban, shard) in zip(groups, owned, site_epochs, replies, strict=True):
            self._place(counters, rows, own, values, now, weights_now, hot)
            if shard:
                t = self._batched.tally(g.shard, site_layout)
                if t.epoch == epoch and t.flying is None:  # else the read may or may not include a flush
                    t.read(now, [int(x) for x in shard], read_at=now)
            hist_raw = hist_raw or hist or None
            if ban:
                bans.append(_ban(ban))
        record = orjson.loads(hist_raw) if hist_raw else None
        known = isinstance(record, dict) and _number(record.get("t")) and record["t"] > now - self._days * 86400
        for d, (_, t, _) in hot.items():
            self._batched.add(t, now, ATTEMPT)
            counters.update(zip(self._row_names[d], t.estimates(now, weights_now), strict=True))
        home = self._batched.tally(await self._home(), site_layout)
        self._batched.add(home, now, ATTEMPT if known or not values[ACCOUNT] else UNKNOWN)
        counters.update(self._site_estimates(self._site_sum(now), now))
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

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        measure = "s" if outcome is Outcome.SUCCESS else "f"
        # The hot entities' share, counted here (seen by this worker at once, sent with the next batch).
        counted = (MEASURE_INDEX[measure],)
        values = _values(obs)
        for d in HOT:
            if values[d]:
                key = entity_key(self._tag, DIMENSIONS[d], values[d])
                self._batched.add(self._batched.tally(key, self._hot_layout), now, counted)
        self._batched.add(self._batched.tally(await self._home(), self._site_layout), now, counted)
        located = obs.lat is not None and obs.lon is not None
        lat, lon = (repr(obs.lat), repr(obs.lon)) if located else ("", "")
        # The history's part: whether a success is confirmed, and before when a pending one has matured.
        learn = ("1" if confirmed else "0", repr(now - self._confirm_after))
        # Off the request path: outcomes arriving while a batch is in flight share the next one.
        await self._outcomes.submit((repr(now), measure, "1" if familiar else "0", values, lat, lon, *learn))

    async def _flush_outcomes(self, batch: list[_PendingOutcome]) -> None:
        """A batch of outcomes: one call per master, each carrying the outcomes it holds entities of."""
        per_master: dict[str, tuple[Group, list[str]]] = {}
        for now, measure, familiar, values, lat, lon, confirmed, ripe in batch:
            cold = [("" if d in HOT else v) for d, v in enumerate(values)]  # the hot ones are batched
            for g in await self._groups(cold, bans=False, count_site=False):
                own = _hot_owned(g.owned, dict.fromkeys(HOT, "0"))
                entry = per_master.setdefault(g.shard, (g, []))
                entry[1].extend((now, measure, familiar, own, "0", *values, lat, lon, confirmed, ripe))
        await self._per_master("outcome", [g for g, _ in per_master.values()], lambda g: per_master[g.shard][1])

    async def add_ban(
        self,
        scope: BanScope,
        value: str,
        *,
        ttl: float,
        reason: str,
        now: float,
        source: str = "rules",
        escalate: bool = True,
        max_ttl: float = 7 * 86400,
    ) -> Ban:
        args = (repr(now), scope, value, repr(float(ttl)), reason, source, "1" if escalate else "0", repr(max_ttl))
        return _ban(await self._run("ban_add", *args))

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return bool(await self._run("ban_remove", f"{scope}:{value}"))

    async def bans(self, now: float) -> list[Ban]:
        raw: list[bytes] = await self._run("ban_list", repr(now))
        return sorted((_ban(r) for r in raw), key=lambda b: b.created_at)

    async def find_ban(self, keys: Mapping[BanScope, str], now: float) -> Ban | None:
        fields = [f"{scope}:{value}" for scope, value in keys.items()]
        if not fields:
            return None
        raws = await self._call(self._client.hmget(self._bans_key, fields))
        found = [_ban(r) for r in raws if r]
        active = [b for b in found if b.active(now)]
        return max(active, key=lambda b: b.expires_at, default=None)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        claim_key = "{" + self._tag + "o:" + key + "}"
        return bool(await self._run("claim", repr(now), repr(float(ttl)), key=claim_key))

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def load_scripts(self) -> None:
        """Register the library and every script now (optional: the first call loads them otherwise)."""
        try:
            await self._call(self._client.function_load(self._library_code, replace=True), trip=False)
        except rexc.ResponseError:
            self._functions = False
        for script in self._scripts.values():
            await self._call(self._client.script_load(script.source))

    async def flush(self) -> None:
        """Send the batched counts now (they go out on their own within batched.FLUSH_INTERVAL)."""
        await self._batched.flush()

    async def close(self) -> None:
        await self._outcomes.close()
        await self._batched.close()
        await self._pipe.close()
        await self._client.aclose()

    # -- calls ---------------------------------------------------------------------------------

    async def _groups(
        self,
        values: Sequence[str],
        *,
        bans: bool,
        stale: Callable[[str], bool] = lambda shard: False,
        count_site: bool = True,
    ) -> list[Group]:
        if self._router is None:
            shard = shard_key(self._tag, 0)
            return [Group(None, shard, "1" * len(DIMENSIONS), count_site, bans, count_site or stale(shard))]
        await self._initialize()
        return self._router.groups(values, bans=bans, stale=stale, count_site=count_site)

    async def _initialize(self) -> None:
        if isinstance(self._client, RedisCluster):
            await self._call(self._client.initialize(), trip=False)  # the slot table (once)
            self.commands -= 1

    async def _home(self) -> str:
        """The site shard this worker's batched site counts go to."""
        if self._router is None:
            return shard_key(self._tag, 0)
        await self._initialize()
        return self._router.home_shard()

    async def _send_batch(self, items: list[Item]) -> list[bytes | None]:
        """One batch of hot counts (shield.store.batched): one call per master holding some of them,
        off the request path (not counted as a round trip); each entity's stored row after it."""
        per_shard: dict[str, list[int]] = {}
        if self._router is None:
            per_shard[shard_key(self._tag, 0)] = list(range(len(items)))
        else:
            await self._initialize()
            for i, (_, key, _) in enumerate(items):
                per_shard.setdefault(self._router.shard_of(key), []).append(i)

        async def call(shard: str, indexes: list[int]) -> list[Any]:
            args: list[Any] = [x for i in indexes for x in items[i]]  # frame, key, packed counts (bytes)
            return list(await self._run("hot", *args, key=shard, trip=False, pipelined=True))

        try:
            replies = await asyncio.gather(*(call(shard, ix) for shard, ix in per_shard.items()))
        except rexc.ResponseError as e:
            if self._router is None or "non local key" not in str(e):
                raise
            self._router.forget()
            raise StoreUnavailable(f"redis: {e}") from e
        rows: list[bytes | None] = [None] * len(items)
        for indexes, reply in zip(per_shard.values(), replies, strict=True):
            for i, row in zip(indexes, reply, strict=True):
                rows[i] = row or None
        return rows

    async def _per_master(self, name: str, groups: list[Group], args: Callable[[Group], list[str]]) -> list[Any]:
        """One script call per group, all in flight at once: one round trip of latency."""
        self.round_trips += 1
        try:
            calls = (self._run(name, *args(g), key=g.shard, trip=False, pipelined=True) for g in groups)
            return list(await asyncio.gather(*calls))
        except rexc.ResponseError as e:
            # A slot moved between our slot table and the call: refresh, count it as an outage.
            if self._router is None or "non local key" not in str(e):
                raise
            self._router.forget()
            raise StoreUnavailable(f"redis: {e}") from e

    async def _run(
        self, name: str, *args: str, key: str | None = None, trip: bool = True, pipelined: bool = False
    ) -> Any:
        key = key or self._bans_key
        if self._functions:
            function = f"{self._library}_{name}"
            try:
                if pipelined:
                    return await self._call(self._pipe.call("FCALL", function, "1", key, *args), trip=trip)
                return await self._call(self._client.fcall(function, 1, key, *args), trip=trip)
            except rexc.ResponseError as e:
                if "function not found" in str(e).lower():
                    # First use, or a restart or failover lost the library: load it, then retry.
                    await self._call(self._client.function_load(self._library_code, replace=True), trip=False)
                    return await self._call(self._client.fcall(function, 1, key, *args), trip=False)
                if "unknown command" not in str(e).lower():
                    raise
                self._functions = False  # Redis < 7.0: the scripts below
        script = self._scripts[name]
        try:
            return await self._call(self._client.evalsha(script.sha, 1, key, *args), trip=trip)
        except rexc.NoScriptError:
            # After a restart or failover the script cache is empty: load once, then retry.
            await self._call(self._client.script_load(script.source), trip=False)  # every master on a Cluster
            return await self._call(self._client.evalsha(script.sha, 1, key, *args), trip=False)

    def _place(
        self,
        counters: dict[str, int],
        rows: Sequence[Any],
        owned: str,
        values: Sequence[str],
        now: float,
        weights_now: Sequence[float],
        hot: Mapping[int, tuple[str, Tally, int]],
    ) -> None:
        """One call's counted entities (a packed row and the distinct counts each, DIMENSIONS order):
        the rows' window estimates and the kept distinct counts, by name. A hot entity's row is its
        stored total: the tally's new base (unless a flush of it has started since the read was sent)."""
        pos = 0
        for d, value in enumerate(values):
            if not value or owned[d] == "0":
                continue
            if d in hot:
                _, t, epoch = hot[d]
                if t.epoch == epoch and t.flying is None:
                    stored = self._hot_layout.unpack(rows[pos])
                    t.read(*(stored or (0.0, [0] * self._hot_layout.counts)), read_at=now)
            else:
                estimates = self._rows[d == ACCOUNT].estimates(rows[pos], now, weights_now)
                counters.update(zip(self._row_names[d], estimates, strict=True))
            distinct = rows[pos + 1]
            for name, i in self._kept_distinct[d]:
                counters[name] = distinct[i]
            pos += 2

    def _site_sum(self, now: float) -> list[int]:
        """Every shard's buckets as last read plus this worker's counts, moved on to `now`, added up."""
        shards = self._router.shard_keys() if self._router is not None else (shard_key(self._tag, 0),)
        total = [0] * (2 * len(self._site_names))
        for shard in shards:
            raw = self._batched.tally(shard, self._site_layout).rolled(now)
            total = [a + b for a, b in zip(total, raw, strict=True)]
        return total

    def _site_estimates(self, raw: Sequence[int], now: float) -> dict[str, int]:
        """The site shards' summed buckets -> the site counters (per site window and measure)."""
        per_window = len(SITE_MEASURES)
        w = weights(now, self._site_widths)
        return {
            name: estimate(raw[2 * i], raw[2 * i + 1], w[i // per_window]) for i, name in enumerate(self._site_names)
        }

    async def _call(self, command: Any, *, trip: bool = True) -> Any:
        self.round_trips += trip
        self.commands += 1
        try:
            if self._gate is None:
                return await command
            async with self._gate:
                return await command
        except UNAVAILABLE_ERRORS as e:
            raise StoreUnavailable(f"redis: {e}") from e


def _reads_mask(windows: Sequence[str], reads: frozenset[str] | None) -> str:
    """Per distinct set (DISTINCT order), one '1'/'0' per window: the script counts the '1' ones."""
    return "".join(
        "1" if keeps(d, m, w, reads) else "0" for d in DIMENSIONS for m in DISTINCT.get(d, {}) for w in windows
    )




def _hot_owned(owned: str, modes: Mapping[int, str]) -> str:
    """A call's owned flags with each hot dimension's mode in place of its '1'."""
    if not modes:
        return owned
    return "".join(modes[d] if c == "1" and d in modes else c for d, c in enumerate(owned))


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _values(obs: Observation) -> Sequence[str]:
    return [obs.dimension(d) or "" for d in DIMENSIONS]


def _ban(raw: bytes | str) -> Ban:
    b = orjson.loads(raw)
    return Ban(
        scope=b["s"],
        value=str(b["v"]),
        reason=b["r"],
        created_at=float(b["c"]),
        expires_at=float(b["e"]),
        offenses=int(b["o"]),
        source=b["src"],
    )
