"""RedisCalls: how RedisStore talks to Redis, and the base class it builds on.

A named call runs the store's Lua library function (FCALL, Redis >= 7.0) or, where the server has
no functions, the same code as a script (EVALSHA); either is loaded again when a restart or
failover lost it (once for all the calls that found it missing). Every named call (the bans'
and claims' too) goes through the loop turn's pipeline (shield.store.pipelining), an observe
merged there with the turn's others to the same master into one call. On a Cluster, the calls of
one store operation are one per master holding one of its entities (shield.store.routing), all in
flight at once: one round trip of latency. Connection-level failures become StoreUnavailable; a
bug in a script or an argument stays a ResponseError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from shield.store.base import StoreUnavailable
from shield.store.batched import Item
from shield.store.pipelining import TickPipeline
from shield.store.routing import ClusterRouter, Group, shard_key, single
from shield.store.scripts import BATCHED, LuaCode

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


class RedisCalls:
    """The client, the routing, the scripts and the call counters (RedisStore's transport)."""

    def __init__(self, client: RedisClient, code: LuaCode, *, tag: str, bans_key: str, concurrency: int | None) -> None:
        self._client = client
        self._tag = tag
        self._bans_key = bans_key
        self._router = (
            ClusterRouter(client, tag=self._tag, bans_key=self._bans_key) if isinstance(client, RedisCluster) else None
        )
        # security: caps in-flight commands where the pool would raise instead of waiting (Cluster,
        # Sentinel), so a flood queues instead of turning into errors.
        self._gate = asyncio.Semaphore(concurrency) if concurrency else None
        self._scripts, self._library, self._library_code = code.scripts, code.library, code.library_code
        self._functions = True  # False once the server says it has no FCALL (Redis < 7.0)
        self._functions_named = {name: f"{self._library}_{name}" for name in self._scripts}
        self._pipe = TickPipeline(client)  # observes of one loop turn: one pipeline per connection
        self._single: dict[tuple[bool, bool, bool], Group] = {}  # a standalone server's groups (_one)
        self._shard0 = shard_key(tag, 0)  # a standalone server's site shard
        self._loading: dict[str, asyncio.Future[Any]] = {}  # code being loaded again (_load_once)
        self.round_trips = 0  # round trips of latency (one per store call); the benchmark prints it
        self.commands = 0  # commands sent (one per master and call on a Cluster)

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

    async def _groups(
        self,
        values: Sequence[str],
        *,
        bans: bool,
        stale: Callable[[str], bool] = lambda shard: False,
        count_site: bool = True,
    ) -> list[Group]:
        if self._router is None:
            return [self._one(site=count_site, bans=bans, reads_site=count_site or stale(self._shard0))]
        await self._initialize()
        return self._router.groups(values, bans=bans, stale=stale, count_site=count_site)

    def _one(self, *, site: bool, bans: bool, reads_site: bool) -> Group:
        """A standalone server's one group (what `_groups` answers there, without awaiting)."""
        flags = (site, bans, reads_site)
        group = self._single.get(flags)
        if group is None:  # one of at most 8, kept: a frozen dataclass costs microseconds to build
            group = self._single[flags] = single(self._tag, site=site, bans=bans, reads_site=reads_site)
        return group

    async def _initialize(self) -> None:
        if isinstance(self._client, RedisCluster):
            await self._call(self._client.initialize(), trip=False)  # the slot table (once)
            self.commands -= 1

    async def _home(self) -> str:
        """The site shard this worker's batched site counts go to."""
        if self._router is None:
            return self._shard0
        await self._initialize()
        return self._router.home_shard()

    async def _send_batch(self, items: list[Item]) -> list[bytes | None]:
        """One batch of hot counts (shield.store.batched): one call per master holding some of them,
        off the request path (not counted as a round trip); each entity's stored row after it."""
        per_shard: dict[str, list[int]] = {}
        if self._router is None:
            per_shard[self._shard0] = list(range(len(items)))
        else:
            await self._initialize()
            for i, (_, key, _) in enumerate(items):
                per_shard.setdefault(self._router.shard_of(key), []).append(i)

        async def call(shard: str, indexes: list[int]) -> list[Any]:
            args: list[Any] = [x for i in indexes for x in items[i]]  # frame, key, packed counts (bytes)
            return list(await self._run("hot", *args, key=shard, trip=False))

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

    async def _per_master(
        self, name: str, groups: list[Group], args: Callable[[Group], Sequence[str | bytes]]
    ) -> list[Any]:
        """One script call per group, all in flight at once: one round trip of latency."""
        self.round_trips += 1
        try:
            if len(groups) == 1:  # one master (always, standalone): awaited here, no task and gather
                g = groups[0]
                return [await self._run(name, *args(g), key=g.shard, trip=False)]
            calls = (self._run(name, *args(g), key=g.shard, trip=False) for g in groups)
            return list(await asyncio.gather(*calls))
        except rexc.ResponseError as e:
            # A slot moved between our slot table and the call: refresh, count it as an outage.
            if self._router is None or "non local key" not in str(e):
                raise
            self._router.forget()
            raise StoreUnavailable(f"redis: {e}") from e

    async def _run(self, name: str, *args: str | bytes, key: str | None = None, trip: bool = True) -> Any:
        key = key or self._bans_key
        # Every named call goes through the loop turn's pipeline (packed in C with the turn's others,
        # shield.store.exchange: a ban written by a decision costs no command of its own); one that
        # takes several attempts (scripts.BATCHED) is merged there with the turn's others to the
        # same master into one command.
        head = 4 + BATCHED[name] if name in BATCHED else 0  # FCALL, function, 1, key and the shared ones
        if self._functions:
            fcall = ("FCALL", self._functions_named[name], "1", key, *args)
            try:
                return await self._call(self._pipe.send(fcall, head), trip=trip)
            except rexc.ResponseError as e:
                if "function not found" in str(e).lower():
                    # First use, or a restart or failover lost the library: load it, then retry.
                    await self._load_once("", lambda: self._client.function_load(self._library_code, replace=True))
                    return await self._call(self._pipe.send(fcall, head), trip=False)
                if "unknown command" not in str(e).lower():
                    raise
                self._functions = False  # Redis < 7.0: the scripts below
        script = self._scripts[name]
        evalsha = ("EVALSHA", script.sha, "1", key, *args)
        try:
            return await self._call(self._pipe.send(evalsha, head), trip=trip)
        except rexc.NoScriptError:
            # After a restart or failover the script cache is empty: load once, then retry.
            await self._load_once(name, lambda: self._client.script_load(script.source))  # every master on a Cluster
            return await self._call(self._pipe.send(evalsha, head), trip=False)

    async def _load_once(self, what: str, load: Callable[[], Awaitable[Any]]) -> None:
        """One load (of the library: "", or a script) however many calls found it missing at once:
        their retries then go out together, merged again, instead of one load and one call each."""
        task = self._loading.get(what)
        if task is None:
            task = asyncio.ensure_future(self._call(load(), trip=False))
            self._loading[what] = task
            task.add_done_callback(lambda t: self._loaded(what, t))
        await asyncio.shield(task)

    def _loaded(self, what: str, task: asyncio.Future[Any]) -> None:
        self._loading.pop(what, None)
        if not task.cancelled():
            task.exception()  # retrieved: each waiting caller gets it (or none is left to)

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
