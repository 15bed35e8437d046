"""Assembly: settings -> the running parts (store, facts, rules, pipeline, apps, background tasks).

`build_service` is the one place that knows every component; `shield run` calls it in each
worker, `shield demo`, `shield simulate` and the end-to-end tests call it in-process (with a
FakeClock when they replay simulated time).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from shield.admin.app import build_admin_app, upstream_ready_check
from shield.admin.decisions import decision_routes
from shield.admin.explain import explain_routes
from shield.facts.build import FactBuilder
from shield.facts.identity.credentials import normalise_account
from shield.facts.identity.keyed import Keyer
from shield.model import Clock, SystemClock
from shield.observe import multiproc
from shield.observe.ban_lines import BanLines
from shield.observe.metrics import Metrics
from shield.proxy.app import build_app
from shield.proxy.ban_refusal import BanRefusals
from shield.proxy.ban_wire import WireBans
from shield.proxy.choose import make_forwarder
from shield.proxy.early_answers import GATE_KEY
from shield.proxy.forwarder import Forwarder
from shield.proxy.pipeline import ModeSource, Pipeline
from shield.rules.reload import ReloadResult, RuleBook, reload_routes
from shield.settings.schema import Settings
from shield.store.bancache import BanCache
from shield.store.base import Retention, Store, StoreUnavailable
from shield.store.connect import open_store
from shield.store.memory import MemoryStore
from shield.store.redis import RedisStore
from shield.store.resilient import ResilientStore

log = structlog.get_logger()

GEOIP_REFRESH_S = 5.0
GAUGE_SAMPLE_S = 1.0


@dataclass(slots=True)
class Service:
    """Every long-lived part of one worker, and the tasks it runs."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    store: Store
    keyer: Keyer
    rules: RuleBook
    bans: BanCache
    pipeline: Pipeline
    proxy: web.Application
    admin: web.Application | None
    ban_lines: BanLines
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def facts(self) -> FactBuilder:
        """The pipeline's fact builder (one for the worker's life; a rules reload hands it new lists)."""
        return self.pipeline.facts

    async def on_startup(self, _app: web.Application) -> None:
        self.start()

    async def on_cleanup(self, _app: web.Application) -> None:
        await self.close()

    def start(self) -> None:
        """Background work: ban cache refresh, rules watcher, GeoIP refresh, SIGHUP reload."""
        self.bans.start(self.clock.now)
        if self.settings.reload_rules:
            self.rules.watch()
        self.tasks.append(asyncio.create_task(self._refresh_geoip(), name="shield.geoip_refresh"))
        if self.metrics.multiprocess_dir is not None:
            self.tasks.append(asyncio.create_task(self._sample_gauges(), name="shield.metrics_sampler"))
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # not on Windows, and only from the main thread of a process
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._sighup)

    def _sighup(self) -> None:
        log.info("rules.reload_requested", trigger="SIGHUP")
        self.rules.reload()

    async def _refresh_geoip(self) -> None:
        while True:
            await asyncio.sleep(GEOIP_REFRESH_S)
            try:
                self.facts.refresh()
            except Exception:  # a broken new file must never stop the refresher
                log.exception("geoip.refresh_failed")

    async def _sample_gauges(self) -> None:
        """With several workers, scrape-time gauges are written to the shared files for worker 0 to read."""
        while True:
            self.metrics.sample_gauges()
            await asyncio.sleep(GAUGE_SAMPLE_S)

    async def close(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        await self.pipeline.drain()
        self.ban_lines.close()
        self.metrics.flush()  # the tallies of the last second (shield.observe.metrics) into the shared files
        await self.rules.close()
        await self.bans.close()
        await self.store.close()
        self.facts.close()


def _store_hooks(metrics: Metrics) -> tuple[Callable[[str], None], Callable[[bool], None]]:
    def on_state(up: bool) -> None:
        metrics.store_up.set(1 if up else 0)

    return metrics.store_error, on_state


def retention(settings: Settings) -> Retention:
    """What the stores need of the settings, and no more."""
    m = settings.memory
    return Retention(
        windows=tuple(settings.windows), history_days=m.history_days, history_size=m.history_size, max_keys=m.max_keys,
        confirm_after=settings.history.confirm_after,
    )


def _follow_reads(store: Store, rules: RuleBook, *, every: bool = False) -> None:
    """Both stores keep only the distinct sets the live rules read (see Retention.reads) and estimate only
    the counters they need (shield.store.estimated); so does the memory fallback of a Redis store, whose
    answers then hold the same counters as Redis's. `every`: estimate every counter (a decision log that
    records the whole catalog)."""
    stores = (store.primary, store.fallback) if isinstance(store, ResilientStore) else (store,)
    for one in stores:
        if isinstance(one, RedisStore | MemoryStore):
            one.follow(lambda: rules.pack.rules.reads, every=every)


def _reload_counter(metrics: Metrics) -> Callable[[ReloadResult], None]:
    def on_reload(result: ReloadResult) -> None:
        metrics.rules_reloads_total.labels(result="ok" if result.ok else "rejected").inc()

    return on_reload


def _degraded(store: Store) -> Callable[[], bool]:
    if isinstance(store, ResilientStore):
        return lambda: store.degraded
    return lambda: False


def build_service(
    settings: Settings,
    *,
    clock: Clock | None = None,
    with_admin: bool = True,
    store: Store | None = None,
    forwarder: Forwarder | None = None,
    ua_resolver: Any = None,
    mode: ModeSource | None = None,
) -> Service:
    """Build one worker's parts, in order, each from the ones before. Raises RuleErrors (or ListError)
    when the rules or lists are bad at start.

    `ua_resolver` shares an already built ua-parser resolver (it takes a while to build); `mode`
    overrides settings.mode per request (the simulator's history replay runs in shadow).
    """
    clock = clock or SystemClock()
    metrics = Metrics(multiprocess_dir=multiproc.current())
    on_error, on_state = _store_hooks(metrics)
    metrics.store_up.set(1)
    if store is None:  # not `store or`: an empty MemoryStore is falsy (its __len__, units in use, is 0)
        store = open_store(settings.store, retention(settings), on_error=on_error, on_state=on_state)
    keyer = Keyer(settings.secret)
    # The rule book loads rules/lists/ with the rules (at start and on every reload) into one
    # RulePack; the pipeline hands the pack's lists to the fact builder, so ip.hosting, ip.tor, ...
    # follow the rules' edits and a request never mixes two loads.
    rules = RuleBook(
        settings.rules, extra_lists=settings.extra_lists, windows=settings.windows,
        routes=[r.name for r in settings.routes], on_reload=_reload_counter(metrics),
    )
    # the counters no rule needs are left out of the answers, unless every fact goes on record
    _follow_reads(store, rules, every=settings.log.decision_facts == "catalog")
    facts = FactBuilder.from_settings(settings, keyer=keyer, lists=rules.pack.lists, ua_resolver=ua_resolver)
    bans = BanCache(store)
    fwd = forwarder or make_forwarder(settings)
    degraded = _degraded(store)
    pipeline = Pipeline(
        settings, facts=facts, store=store, rules=rules, forwarder=fwd, clock=clock, metrics=metrics, bans=bans,
        degraded=degraded, mode=mode,
    )
    # gauges read at scrape time: no bookkeeping on the request path
    metrics.gauge_function(metrics.bans_active, lambda: float(len(bans)))
    metrics.gauge_function(metrics.delayed_inflight, lambda: float(pipeline.tarpit.inflight))
    metrics.gauge_function(metrics.geoip_loaded, lambda: 1.0 if facts.geo_loaded else 0.0)
    metrics.gauge_function(metrics.store_degraded, lambda: 1.0 if degraded() else 0.0)
    ban_lines = BanLines(per_second=settings.log.ban_lines_per_second)
    ban_check = BanRefusals(
        bans=bans, store=store, rules=rules, clock=clock, metrics=metrics, lines=ban_lines, degraded=degraded,
        facts_scope=settings.log.decision_facts,
    )
    proxy = build_app(settings, clock=clock, metrics=metrics, forwarder=fwd, protected=pipeline, ban_check=ban_check)
    # a banned client's refusals that need no store call or line of their own, answered below aiohttp
    proxy[GATE_KEY] = WireBans(ban_check, routes=settings.routes, trusted=settings.trusted_proxies)
    admin = _admin(settings, store=store, keyer=keyer, rules=rules, bans=bans, facts=facts, clock=clock,
                   metrics=metrics, degraded=degraded) if with_admin else None
    service = Service(settings, clock, metrics, store, keyer, rules, bans, pipeline, proxy, admin, ban_lines)
    proxy.on_startup.append(service.on_startup)
    proxy.on_cleanup.append(service.on_cleanup)
    return service


def _admin(
    settings: Settings, *, store: Store, keyer: Keyer, rules: RuleBook, bans: BanCache, facts: FactBuilder,
    clock: Clock, metrics: Metrics, degraded: Callable[[], bool],
) -> web.Application:
    def account_key(account: str) -> str:
        return keyer.account_id(normalise_account(account))

    extra = [
        *reload_routes(rules),
        *decision_routes(store, clock, account_key=account_key, on_change=bans.poke),
        *explain_routes(settings, facts=facts, rules=rules, store=store, clock=clock, degraded=degraded),
    ]

    async def store_ready() -> None:
        if isinstance(store, ResilientStore):
            # Redis down is served from local counters: degraded (see the notes), not unready.
            with contextlib.suppress(StoreUnavailable):
                await store.ping()
            return
        await store.ping()

    def degraded_notes() -> list[str]:
        return ["store: shared store unavailable, deciding from per-process counters"] if degraded() else []

    return build_admin_app(
        settings, metrics=metrics, ready_checks=[upstream_ready_check(settings), store_ready],
        degraded=degraded_notes, extra_routes=extra,
    )
