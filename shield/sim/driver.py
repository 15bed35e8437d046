"""The traffic generator: replays a simulated timeline of login attempts against a URL.

Two ways to compress time:
- in-process, deterministic: pass `advance_clock`; it is called with each event's simulated
  offset (seconds since the start of the run, never decreasing) just before the event is sent,
  so a shield built on a FakeClock sees the simulated timeline, and events go as fast as it answers;
- over HTTP against a real shield: pass `speed` (simulated seconds per real second) and events
  are sent at their compressed real time.
Clients behave as their kind would: browsers keep cookies (one aiohttp CookieJar per device),
apps keep the Shield-Pass they earned, everyone solves challenges up to the difficulty it is
willing to pay, real users retry once after a 429.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from shield.challenge.client import ChallengeError, solve
from shield.challenge.pages import MITIGATED_HEADER as MITIGATED
from shield.challenge.passes import PASS_HEADER
from shield.challenge.pow import RESPONSE_HEADER
from shield.sim.demo_app import STEP_UP_HEADER
from shield.sim.events import Event

DELAYED = "Shield-Delayed"  # set by shield on responses that were held by the tarpit
LOGIN_PATH = "/api/login"
TRANSFER_PATH = "/api/transfer"


@dataclass(slots=True, frozen=True)
class Result:
    """What happened to one Event. `stopped`: shield answered it and the app never saw it."""

    t: float
    actor: str
    segments: tuple[str, ...]
    username: str
    first_mitigation: str = ""  # the first Shield-Mitigated seen: challenge | block | ban
    challenged: bool = False
    solved: bool = False
    delayed: bool = False
    rate_limited: bool = False
    stopped: bool = False
    success: bool = False
    transferred: bool = False
    error: str = ""
    # reached the app carrying shield's step-up tags (Shield-Challenge: solved or Shield-Reasons), as the
    # demo app echoes them: an app that steps up on them asks for a second factor
    tagged: bool = False


@dataclass(slots=True, frozen=True)
class DriverOptions:
    target: str
    concurrency: int = 50
    speed: float | None = None  # simulated seconds per real second; None: as fast as the target answers
    advance_clock: Callable[[float], None] | None = None
    timeout: float = 30.0


@dataclass(slots=True)
class _Device:
    jar: aiohttp.CookieJar
    shield_pass: str | None = None


@dataclass(slots=True)
class _Exchange:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class Driver:
    options: DriverOptions
    session: aiohttp.ClientSession
    solver: Executor | None = None  # where puzzles are solved (a process pool: real CPU work in parallel)
    devices: dict[str, _Device] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return str(URL(self.options.target).origin())

    def device(self, key: str) -> _Device | None:
        if not key:
            return None
        if key not in self.devices:
            self.devices[key] = _Device(aiohttp.CookieJar(unsafe=True))
        return self.devices[key]

    async def post(self, event: Event, path: str, payload: Any, extra: dict[str, str]) -> _Exchange:
        url = URL(self.options.target).with_path(path)
        origin = self.origin
        headers = {k: v.replace("{origin}", origin) for k, v in event.headers}
        headers["X-Forwarded-For"] = event.client_ip
        dev = self.device(event.device)
        if dev is not None:
            cookies = dev.jar.filter_cookies(url)
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
            if dev.shield_pass and not any(k == "User-Agent" and v.startswith("Mozilla") for k, v in event.headers):
                headers[PASS_HEADER] = dev.shield_pass  # apps send the pass back as a header, browsers as the cookie
        headers.update(extra)
        async with self.session.post(url, data=orjson.dumps(payload), headers=headers) as resp:
            raw = await resp.read()
            if dev is not None:
                dev.jar.update_cookies(resp.cookies, resp.url)
                if resp.headers.get(PASS_HEADER):
                    dev.shield_pass = resp.headers[PASS_HEADER]
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            return _Exchange(resp.status, dict(resp.headers), body)

    async def attempt(self, event: Event) -> Result:
        try:
            return await self._attempt(event)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Result(event.t, event.actor, event.segments, event.username, stopped=True, error=type(exc).__name__)

    async def _attempt(self, event: Event) -> Result:
        """One login as the client would do it: solve a challenge once, retry once after a 429."""
        payload = {"username": event.username, "password": event.password}
        extra: dict[str, str] = {}
        first = ""
        challenged = solved = rate_limited = delayed = False
        for _ in range(3):
            ex = await self.post(event, LOGIN_PATH, payload, extra)
            first = first or ex.headers.get(MITIGATED, "")
            delayed = delayed or DELAYED in ex.headers
            extra = {}
            if ex.headers.get(MITIGATED) == "challenge" and not solved:
                challenged = True
                answer = await self._solve(ex.body, event.max_difficulty)
                if answer is None:
                    break
                solved, extra = True, {RESPONSE_HEADER: answer}
            elif ex.status == 429 and event.retries_after_429 and not rate_limited:
                rate_limited = True
                await self._wait_retry_after(ex.headers.get("Retry-After", "1"))
            else:
                break
        stopped = MITIGATED in ex.headers or ex.status in (403, 429)
        tagged = not stopped and bool(ex.headers.get(STEP_UP_HEADER))
        session = ex.body.get("session") if isinstance(ex.body, dict) and not stopped and ex.status == 200 else None
        success = isinstance(session, str)
        transferred = False
        if success and event.transfer:
            auth = {"Authorization": f"Bearer {session}"}
            tx = await self.post(event, TRANSFER_PATH, {"to": "acct-0001", "amount": 30000}, auth)
            transferred = tx.status == 200
        return Result(
            event.t,
            event.actor,
            event.segments,
            event.username,
            first,
            challenged,
            solved,
            delayed,
            rate_limited,
            stopped,
            success,
            transferred,
            tagged=tagged,
        )

    async def _solve(self, body: Any, max_difficulty: int) -> str | None:
        challenge = body.get("challenge") if isinstance(body, dict) else None
        if not isinstance(challenge, dict):
            return None
        try:
            if int(challenge.get("difficulty", 99)) > max_difficulty:
                return None  # not worth it to this client
            return await asyncio.get_running_loop().run_in_executor(self.solver, solve, dict(challenge))
        except (ChallengeError, ValueError, TypeError):
            return None

    async def _wait_retry_after(self, value: str) -> None:
        if self.options.speed is None:
            return  # simulated time: the retry happens "later" without waiting
        try:
            seconds = float(value)
        except ValueError:
            seconds = 1.0
        await asyncio.sleep(min(seconds / self.options.speed, 5.0))


async def drive(
    events: Sequence[Event],
    options: DriverOptions,
    *,
    on_result: Callable[[Result], None] | None = None,
    prior: Sequence[Event] = (),
) -> list[Result]:
    """Replay the events in order with at most `concurrency` in flight; results in event order.

    `prior` events (the population's history) go first through the same clients, so devices keep
    their cookies; their results are dropped, and they are dispatched as fast as `concurrency`
    allows (never paced by `speed`), with no lag bound: before the run, nobody solves a puzzle
    against the clock.
    """
    # Solving is real SHA-256 work (what the client pays); a process pool spreads it over the CPUs.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        timeout = aiohttp.ClientTimeout(total=options.timeout)
        connector = aiohttp.TCPConnector(limit=options.concurrency, force_close=False)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True
        ) as session:
            driver = Driver(options, session, pool)
            if prior:
                await _replay(driver, prior, on_result, max_lag=math.inf, paced=False)
            return await _replay(driver, events, on_result, max_lag=MAX_LAG_S, paced=True)


# How far (simulated seconds) the clock may run ahead of the oldest event still in flight.
MAX_LAG_S = 30.0


async def _replay(
    driver: Driver,
    events: Sequence[Event],
    on_result: Callable[[Result], None] | None,
    *,
    max_lag: float,
    paced: bool,
) -> list[Result]:
    options = driver.options
    results: list[Result | None] = [None] * len(events)
    limit = asyncio.Semaphore(options.concurrency)
    started = time.monotonic()
    t0 = events[0].t if events else 0.0

    async def one(i: int, event: Event) -> None:
        try:
            results[i] = result = await driver.attempt(event)
            if on_result is not None:
                on_result(result)
        finally:
            limit.release()

    tasks = []
    inflight: deque[tuple[float, asyncio.Task[None]]] = deque()
    for i, event in enumerate(events):
        await limit.acquire()
        if paced and options.speed is not None:
            wait = (event.t - t0) / options.speed - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)
        if options.advance_clock is not None:
            # A client solving a puzzle must not see the simulated clock run past its challenge's
            # expiry because other slots kept dispatching: wait for events older than max_lag.
            while inflight and (inflight[0][1].done() or inflight[0][0] < event.t - max_lag):
                await asyncio.wait([inflight.popleft()[1]])
            options.advance_clock(event.t)
        task = asyncio.create_task(one(i, event), name=f"sim-event-{i}")
        tasks.append(task)
        inflight.append((event.t, task))
    await asyncio.gather(*tasks)
    return [r for r in results if r is not None]
