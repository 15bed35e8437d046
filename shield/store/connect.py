"""open_store: a store URL -> a Store.

  memory://                                         MemoryStore (one process; survives nothing)
  redis://[user:pass@]host:6379/0                   Redis, standalone
  rediss://[user:pass@]host:6380/0                  Redis over TLS
  redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster/0   master `mymaster` found by Sentinel
  redis+cluster://[user:pass@]h1:7000,h2:7001       Redis Cluster (any reachable nodes)

Query parameters read by shield (the rest go to redis-py, e.g. ?socket_timeout=1):
  max_connections  pool size per process (default 64); callers beyond it wait, never fail
  pool_timeout     seconds a caller waits for a free connection (default 1.0)
  call_timeout     seconds one store call may take before the request is decided locally (default
                   0.25; cut within 10 ms after it: the calls of one 10 ms share a timer)
  probe_interval   first reconnect delay in seconds, doubled up to 30 (default 0.5)
  prefix           the key hash tag, {prefix}: (default shield)
  sentinel_password  password of the Sentinels themselves (Sentinel only)
Every Redis store is wrapped in ResilientStore: on an outage requests are decided with local
per-process counters and the route's on_store_error policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from shield.store.base import Retention, Store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore
from shield.store.resilient import ResilientStore

REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "redis+cluster")


class StoreURLError(ValueError):
    """The store URL cannot be used; the message says why and what is accepted."""


@dataclass(slots=True, frozen=True)
class StoreOptions:
    max_connections: int = 64
    pool_timeout: float = 1.0
    call_timeout: float = 0.25
    probe_interval: float = 0.5
    prefix: str = "shield"
    sentinel_password: str | None = None


def open_store(
    url: str,
    retention: Retention = Retention(),  # noqa: B008 (frozen)
    *,
    on_error: Callable[[str], None] | None = None,
    on_state: Callable[[bool], None] | None = None,
) -> Store:
    """The store for `url` (see the module docstring). Connects lazily: nothing is sent yet."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore(retention)
    if parts.scheme not in REDIS_SCHEMES:
        raise StoreURLError(
            f"store {url!r}: unknown scheme {parts.scheme!r}; use memory://, redis://, rediss://, "
            "redis+sentinel://host:26379/master/0 or redis+cluster://host:7000,host:7001"
        )
    options, passthrough = _split_query(parts.query, url)
    primary = open_redis(parts.scheme, parts._replace(query=urlencode(passthrough)), options, retention)
    return ResilientStore(
        primary,
        MemoryStore(retention),
        call_timeout=options.call_timeout,
        probe_interval=options.probe_interval,
        on_error=on_error,
        on_state=on_state,
    )


def open_redis(scheme: str, parts: Any, options: StoreOptions, retention: Retention = Retention()) -> RedisStore:  # noqa: B008
    defaults: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    if scheme in ("redis", "rediss"):
        pool = BlockingConnectionPool.from_url(
            urlunsplit(parts), max_connections=options.max_connections, timeout=options.pool_timeout, **defaults
        )
        return RedisStore(Redis(connection_pool=pool), retention, prefix=options.prefix)
    user, password, hosts = _netloc(parts.netloc, parts.geturl())
    if parts.query:
        raise StoreURLError(
            f"store {_redact(parts.geturl())}: {scheme} accepts only shield's query parameters "
            "(max_connections, pool_timeout, call_timeout, probe_interval, prefix, sentinel_password)"
        )
    auth: dict[str, Any] = {"username": user, "password": password}
    if scheme == "redis+cluster":
        nodes = [ClusterNode(h, p) for h, p in hosts]
        cluster = RedisCluster(startup_nodes=nodes, max_connections=options.max_connections, **auth, **defaults)
        return RedisStore(cluster, retention, prefix=options.prefix, concurrency=options.max_connections)
    name, db = _sentinel_path(parts.path, parts.geturl())
    sentinel = Sentinel(hosts, sentinel_kwargs={"password": options.sentinel_password, **defaults}, **defaults)
    master = sentinel.master_for(name, db=db, max_connections=options.max_connections, **auth)
    return RedisStore(master, retention, prefix=options.prefix, concurrency=options.max_connections)


def _split_query(query: str, url: str) -> tuple[StoreOptions, list[tuple[str, str]]]:
    ours: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    types = {"max_connections": int, "pool_timeout": float, "call_timeout": float, "probe_interval": float}
    for key, value in parse_qsl(query):
        if key in types:
            try:
                ours[key] = types[key](value)
            except ValueError:
                raise StoreURLError(f"store {_redact(url)}: {key}={value!r} is not a number") from None
            if ours[key] <= 0:
                raise StoreURLError(f"store {_redact(url)}: {key} must be positive")
        elif key in ("prefix", "sentinel_password"):
            ours[key] = value
        else:
            rest.append((key, value))
    return StoreOptions(**ours), rest


def _netloc(netloc: str, url: str) -> tuple[str | None, str | None, list[tuple[str, int]]]:
    userinfo, _, hostlist = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise StoreURLError(f"store {_redact(url)}: {item!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    return (unquote(user) or None, unquote(password) or None, hosts)


def _sentinel_path(path: str, url: str) -> tuple[str, int]:
    pieces = [p for p in path.split("/") if p]
    if not pieces or len(pieces) > 2 or (len(pieces) == 2 and not pieces[1].isdigit()):
        raise StoreURLError(f"store {_redact(url)}: use redis+sentinel://host:26379,host2:26379/<master>/<db>")
    return pieces[0], int(pieces[1]) if len(pieces) == 2 else 0


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return repr(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return repr(urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}")))
