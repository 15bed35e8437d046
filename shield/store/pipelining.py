"""TickPipeline: commands issued in the same event-loop turn go out together, one pipeline.

Redis spends about as much CPU reading, parsing and answering one small command on its own
(a read and a write system call each) as running a short script: 16 us of 22 per call measured on
the build machine with 64 clients, against 5-7 us per call when 64 arrive in one pipeline. So the
observes that concurrent requests make in the same loop turn (and the per-master calls of one
observe) are written as one pipeline per connection (per master on a Cluster), without waiting:
the flush is the next loop turn, not a timer, so a lone call goes out at once and its latency
stays one round trip. Each caller gets its own reply or its own error. On a standalone or Sentinel
server the turn is packed and exchanged by shield.store.exchange; a Cluster's goes through
redis-py's cluster pipeline.

A script call also has a fixed cost inside Redis (arguments, dispatch, the reply), paid once per
master an observe reaches. A command sent with `head` names a call that takes several argument
blocks: the calls of one turn sharing their first `head` words (FCALL, the function, numkeys, the
key: one master's; then the arguments its blocks share, scripts.BATCHED) go out as ONE command
carrying their blocks in order (at most MAX_BLOCKS), whose reply is one flat list, per block its
reply's length and then its reply's elements (`split`); each caller gets its own (a list), or every
caller the command's error, or an error when the reply is not exactly one part per block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from shield.store.exchange import Lanes, pack, pool_of

MAX_BATCH = 256  # commands per pipeline: a bigger turn is split (bounded replies, bounded latency)
# Calls merged into one command: bounds its reply and how long Redis runs it without serving
# anyone else (an observe's Lua is ~0.2 ms: 32 of them ~6 ms).
MAX_BLOCKS = 32


class _Command:
    """One command to send: its words, and its callers (several when merged: one block each)."""

    __slots__ = ("futures", "merged", "words")

    def __init__(self, words: Sequence[str | bytes], future: asyncio.Future[Any], merged: bool) -> None:
        self.words = words
        self.futures = [future]
        self.merged = merged

    def deliver(self, reply: Any) -> None:
        if not self.merged:
            _settle(self.futures[0], reply)
        elif isinstance(reply, Exception):
            for future in self.futures:
                _settle(future, reply)
        else:
            parts = split(reply, len(self.futures))
            if parts is None:
                what = f"{len(reply)} values" if isinstance(reply, list) else type(reply).__name__
                error = ResponseError(f"a merged call of {len(self.futures)} answered {what}")
                for future in self.futures:
                    _settle(future, error)
            else:
                for future, one in zip(self.futures, parts, strict=True):
                    _settle(future, one)

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)


class TickPipeline:
    """The caller maps errors and caps concurrency per command (RedisStore._call)."""

    __slots__ = ("_client", "_lanes", "_pool", "_queue", "_scheduled", "_tasks", "calls", "merged", "sent")

    def __init__(self, client: Redis | RedisCluster) -> None:
        self._client = client
        self._pool = pool_of(client)  # None: redis-py's pipeline (a Cluster's routes by slot)
        self._lanes = Lanes(self._pool) if self._pool is not None else None
        self._queue: list[tuple[tuple[str | bytes, ...], int, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0  # pipelines sent (for the benchmark)
        self.calls = 0  # calls sent (for the tests)
        self.merged = 0  # calls that went out inside another's command (for the tests)

    async def call(self, *command: str | bytes, head: int = 0) -> Any:
        """Send `command` with the others of this loop turn; its reply (or its error). With `head`,
        the command may carry other calls' blocks too (see the module docstring): the caller gets
        its own block's reply, the element of the command's list reply (a lone call's too)."""
        return await self.send(command, head)

    async def send(self, command: tuple[str | bytes, ...], head: int = 0) -> Any:
        """`call`, for a command already in a tuple (the store's: no copy of its arguments). A
        coroutine: queued when awaited (RedisCalls._call awaits it inside its gate)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((command, head, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        self.calls += len(queue)
        commands = self._merge(queue)
        for start in range(0, len(commands), MAX_BATCH):
            task = asyncio.create_task(self._send(commands[start : start + MAX_BATCH]), name="store.pipeline")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _merge(self, queue: list[tuple[tuple[str | bytes, ...], int, asyncio.Future[Any]]]) -> list[_Command]:
        """The turn's commands in order, a mergeable call joining the first open command with its
        head (its blocks stay in the callers' order: Redis runs them as sequential calls would)."""
        commands: list[_Command] = []
        # A command alone keeps the caller's tuple (packed as it is: no copy of its arguments); a
        # mergeable one gets a list its turn's blocks are appended to.
        filling: dict[tuple[str | bytes, ...], tuple[_Command, list[str | bytes]]] = {}
        for command, head, future in queue:
            if not head:
                commands.append(_Command(command, future, merged=False))
                continue
            key = command[:head]
            open_ = filling.get(key)
            if open_ is None or len(open_[0].futures) >= MAX_BLOCKS:
                words = list(command)
                filling[key] = open_ = (_Command(words, future, merged=True), words)
                commands.append(open_[0])
            else:
                open_[1].extend(command[head:])
                open_[0].futures.append(future)
                self.merged += 1
        return commands

    async def _send(self, batch: list[_Command]) -> None:
        self.sent += 1
        try:
            replies = await self._execute([c.words for c in batch])
        except asyncio.CancelledError:
            for c in batch:
                for future in c.futures:
                    future.cancel()
            raise
        except Exception as e:  # the whole pipeline failed: every caller gets the error
            for c in batch:
                c.fail(e)
            return
        for c, reply in zip(batch, replies, strict=True):
            c.deliver(reply)

    async def _execute(self, commands: list[Sequence[str | bytes]]) -> list[Any]:
        if self._lanes is not None:  # packed in C, one write on a kept connection (shield.store.exchange)
            return await self._lanes.exchange([pack(words) for words in commands])
        if len(commands) == 1:  # alone in its turn: a plain command is cheaper than a pipeline
            try:
                return [await self._client.execute_command(*commands[0])]
            except ResponseError as e:  # a command's own error, as a pipeline reports it
                return [e]
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for _, _, future in self._queue:
            future.cancel()
        self._queue = []
        if self._lanes is not None:
            await self._lanes.close()


def split(reply: Any, blocks: int) -> list[list[Any]] | None:
    """A merged command's reply cut into its blocks' replies: one flat list, per block its reply's
    length, then that many elements (a list per block would cost Redis a list's conversion each, on
    every master an attempt reaches). None unless it is exactly `blocks` of them."""
    if not isinstance(reply, list):
        return None
    parts: list[list[Any]] = []
    pos, end = 0, len(reply)
    while pos < end and len(parts) < blocks:
        size = reply[pos]
        if type(size) is not int or size < 0 or pos + 1 + size > end:
            return None
        parts.append(reply[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return parts if pos == end and len(parts) == blocks else None


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():
        return
    if isinstance(reply, Exception):
        future.set_exception(reply)
    else:
        future.set_result(reply)
