"""Processes and lifecycle: N workers share the listen port (SO_REUSEPORT) and drain on SIGTERM.

workers=1 serves in this process; workers>1 forks that many children, each with its own event
loop, upstream pool and app. The admin listener runs in worker 0 only (one port, one process);
its /metrics merges every worker's metrics through prometheus-client's multiprocess files in a
per-run folder (shield.observe.multiproc), so a dead worker's counts stay in the totals.
The parent only supervises: it forwards SIGTERM/SIGINT, restarts a worker that died, and exits
0 once every worker has drained.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

import structlog
from aiohttp import web

from shield.observe import multiproc
from shield.observe.metrics import Metrics
from shield.proxy.cpu_quota import available_cpus
from shield.proxy.listener import ADMIN_LIMITS, LimitedRunner, fd_budget
from shield.settings.load import split_listen
from shield.settings.schema import LimitsSettings, Settings

EXIT_BIND_FAILED = 3
EXIT_START_FAILED = 4
_FATAL = frozenset({EXIT_BIND_FAILED, EXIT_START_FAILED})  # restarting would fail the same way


@dataclass(slots=True, frozen=True)
class Apps:
    proxy: web.Application
    admin: web.Application | None = None  # None: no admin listener in this worker
    metrics: Metrics | None = None  # this worker's metrics: the listeners count the connections they cut


AppFactory = Callable[[Settings, bool], Awaitable[Apps]]  # (settings, with_admin) -> apps


def settle_heap() -> None:
    """Freeze what start-up built out of the cyclic garbage collector, once start-up is done.

    A worker's heap is mostly long-lived (modules, the rules, the user-agent tables), and each full
    collection walked all of it again (100-160 ms each on a protected Redis worker). Frozen, it is
    never scanned; what requests make is collected at CPython's default thresholds. A raised young
    threshold (10,000) saved a few more us per protected login but let the closed connections of
    2,000 slow clients wait for rarer full collections: `./dev bench slowclients` ended at 435-447 MiB
    RSS with it, 370 without it, 339 before the freeze (2026-12-07), so the thresholds stay CPython's."""
    gc.collect()
    gc.freeze()


def effective_workers(settings: Settings) -> int:
    """`workers: 0` -> one per CPU this container may use (its cgroup quota), not per host CPU."""
    return settings.workers or available_cpus()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def _start(
    app: web.Application,
    listen: str,
    *,
    reuse_port: bool,
    grace: float,
    limits: LimitsSettings,
    name: str,
    metrics: Metrics | None = None,
) -> web.AppRunner:
    runner = LimitedRunner(
        app, limits=limits, name=name, metrics=metrics, access_log=None, handle_signals=False,
        shutdown_timeout=grace,
    )
    await runner.setup()
    host, port = split_listen(listen)
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def serve_worker(settings: Settings, factory: AppFactory, *, index: int, reuse_port: bool) -> int:
    """Run one worker until SIGTERM/SIGINT, then drain and return the exit status."""
    log = structlog.get_logger().bind(worker=index, pid=os.getpid())
    try:
        apps = await factory(settings, index == 0)
    except Exception:
        log.exception("shield.start_failed")
        return EXIT_START_FAILED
    runners: list[web.AppRunner] = []
    limits, warning = fd_budget(settings.limits, pool_size=settings.upstream_options.pool_size)
    if warning:
        log.warning("limits.fd_limit", message=warning)
    grace = settings.shutdown_grace
    try:
        runners.append(
            await _start(apps.proxy, settings.listen, reuse_port=reuse_port, grace=_drain(grace), limits=limits,
                         name="proxy", metrics=apps.metrics)
        )
        if apps.admin is not None:
            runners.append(
                await _start(apps.admin, settings.admin.listen, reuse_port=False, grace=min(1.0, _drain(grace)),
                             limits=ADMIN_LIMITS, name="admin", metrics=apps.metrics)
            )
    except OSError as exc:
        log.error("shield.bind_failed", error=str(exc), listen=settings.listen, admin_listen=settings.admin.listen)
        for runner in runners:
            await runner.cleanup()
        return EXIT_BIND_FAILED
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "shield.started",
        listen=settings.listen,
        upstream=settings.upstream,
        mode=settings.mode,
        admin_listen=settings.admin.listen if apps.admin is not None else None,
        routes=[r.name for r in settings.routes],
    )
    await stop.wait()
    log.info("shield.stopping", grace_seconds=grace)
    # Stops accepting, lets in-flight requests finish for most of the grace, aborts the rest, then
    # runs on_cleanup (upstream pool, store, ...). Every listener drains at once, and the whole
    # stop is bounded by the grace: what is still running then is dropped with the process.
    try:
        async with asyncio.timeout(grace):
            await asyncio.gather(*(runner.cleanup() for runner in runners))
    except TimeoutError:
        log.warning("shield.stop_forced", grace_seconds=grace)
    log.info("shield.stopped")
    return 0


def _drain(grace: float) -> float:
    """The part of the grace in-flight requests get; the rest is for closing pools and stores."""
    return max(grace - 0.5, grace * 0.5)


def _run_worker(settings: Settings, factory: AppFactory, index: int, reuse_port: bool) -> int:
    loop = _new_loop()
    try:
        return loop.run_until_complete(serve_worker(settings, factory, index=index, reuse_port=reuse_port))
    finally:
        loop.close()


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker (drain, then exit) when its supervisor dies.

    A supervisor killed outright (SIGKILL: the OOM killer, `kill -9`) runs no handler and cannot stop
    its workers: they went on answering on the shared port (SO_REUSEPORT) with nobody to restart,
    reload or stop them, and a new shield on that port shared its traffic with them. Linux only (prctl);
    elsewhere the workers outlive a killed supervisor."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0 and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)  # it died before the prctl: no signal will come


def _child(settings: Settings, factory: AppFactory, index: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into one SIGTERM
    _die_with_parent(parent)
    sys.exit(_run_worker(settings, factory, index, True))


def serve(settings: Settings, factory: AppFactory) -> int:
    """Serve until told to stop; the process exit status."""
    n = effective_workers(settings)
    if n == 1:
        status = _run_worker(settings, factory, 0, False)
        return 1 if status in _FATAL else status
    return _Supervisor(settings, factory, n).run()


class _Supervisor:
    def __init__(self, settings: Settings, factory: AppFactory, n: int) -> None:
        self.settings = settings
        self.factory = factory
        self.n = n
        self.ctx = multiprocessing.get_context("fork")
        self.procs: dict[int, BaseProcess] = {}
        self.stopping = False
        self.log = structlog.get_logger().bind(pid=os.getpid())
        self.metrics_dir = multiproc.start()  # before the first fork: every worker inherits it

    def _spawn(self, index: int) -> None:
        proc = self.ctx.Process(
            target=_child, args=(self.settings, self.factory, index, os.getpid()), name=f"shield-worker-{index}"
        )
        proc.start()
        self.procs[index] = proc

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for i in range(self.n):
            self._spawn(i)
        status = 0
        while not self.stopping:
            time.sleep(0.2)
            for index, proc in list(self.procs.items()):
                if proc.exitcode is None or self.stopping:
                    continue
                if proc.exitcode in _FATAL:
                    status = 1
                    self._on_signal(signal.SIGTERM, None)
                    break
                self.log.error("worker.died", worker=index, exitcode=proc.exitcode)
                if proc.pid is not None:
                    multiproc.worker_exited(self.metrics_dir, proc.pid)
                self._spawn(index)
        deadline = time.monotonic() + self.settings.shutdown_grace + 2.0  # workers stop within the grace
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        multiproc.stop(self.metrics_dir)
        return status
