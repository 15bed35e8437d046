"""Feeding logs to the Replayer: whole files in this process, or byte ranges of them in worker
processes (one per CPU by default) whose diffs are merged in file order, so the result and the
order of the changes are the same as a serial replay's.

Workers are spawned, never forked: a fork copies whatever lock another thread of the parent held
at that moment (a logging handler, an executor queue) and the child can wait on it forever. The
compiled rule set (closures, which do not pickle) is rebuilt in each worker from the candidate's
settings by `candidate_rules`, the same function the parent used; only (path, start, end) goes out
and a ReplayDiff comes back.
"""

from __future__ import annotations

import gzip
import itertools
import multiprocessing
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO

from shield.replay.replayer import ReplayDiff, Replayer
from shield.rules.pack import load_pack
from shield.rules.score import RuleSet
from shield.settings.schema import Settings

MIN_PART = 8 << 20  # bytes: smaller files are not worth a worker


@dataclass(slots=True, frozen=True)
class Part:
    path: str
    start: int  # byte offsets, each at the start of a line
    end: int


# A worker process's candidate, set by the pool's initializer in the child only.
_CANDIDATE: tuple[RuleSet, Settings] | None = None


def candidate_rules(settings: Settings) -> RuleSet:
    """The rule set the proxy would load with these settings: rules/ plus rules/lists/ and extra_lists."""
    # the lists the proxy decides with: rules/lists/ plus the config's extra_lists (the demo world's, a feed folder)
    pack = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows,
                     routes=[r.name for r in settings.routes])
    return pack.rules


def _start_worker(settings: Settings, expected: str) -> None:
    global _CANDIDATE
    ruleset = candidate_rules(settings)
    if ruleset.hash != expected:  # the rules changed on disk, or the caller's rule set is not these settings'
        raise RuntimeError(f"replay worker loaded rule set {ruleset.hash}, expected {expected}")
    _CANDIDATE = (ruleset, settings)


def _feed(replayer: Replayer, stream: BinaryIO, name: str, limit: int | None = None) -> int:
    """Feed lines until `limit` bytes are read; returns how many lines were fed."""
    feed, number, read = replayer.feed, 0, 0
    for number, raw in enumerate(stream, 1):
        feed(raw, name, number)
        if limit is not None:
            read += len(raw)
            if read >= limit:
                break
    return number


def _replay_part(part: Part) -> tuple[ReplayDiff, int]:
    assert _CANDIDATE is not None, "a replay worker runs only in the pool"
    replayer = Replayer(*_CANDIDATE)
    with open(part.path, "rb") as stream:
        stream.seek(part.start)
        lines = _feed(replayer, stream, part.path, part.end - part.start) if part.end > part.start else 0
    return replayer.diff, lines


def split(path: str, parts: int) -> list[Part]:
    """`parts` byte ranges of a file, each moved forward to the start of a line."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as stream:
        for i in range(1, parts):
            stream.seek(max(size * i // parts, cuts[-1]))
            if stream.tell() > 0:
                stream.readline()  # finish the line the cut fell in
            cuts.append(min(stream.tell(), size))
    cuts.append(size)
    return [Part(path, a, b) for a, b in itertools.pairwise(cuts) if b > a]


def replay_logs(ruleset: RuleSet, settings: Settings, logs: list[str], *, jobs: int = 1) -> ReplayDiff:
    """Replay every line of `logs` ('-': standard input) in order; `jobs` > 1 uses worker processes.

    `ruleset` must be `candidate_rules(settings)`: workers rebuild it from the settings (and check its hash).
    """
    diff = Replayer(ruleset, settings).diff
    for name in logs:
        if name == "-" or name.endswith(".gz") or jobs <= 1 or os.path.getsize(name) < MIN_PART * 2:
            replayer = Replayer(ruleset, settings)
            with _open(name) as stream:
                _feed(replayer, stream, name)
            diff.merge(replayer.diff)
        else:
            _replay_parallel(ruleset, settings, name, jobs, diff)
    return diff


def _open(name: str) -> BinaryIO:
    """A log by name: '-' is standard input, *.gz is read through gzip (rotated logs)."""
    if name == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    if name.endswith(".gz"):
        return gzip.open(name, "rb")  # type: ignore[return-value]
    return open(name, "rb")


def _replay_parallel(ruleset: RuleSet, settings: Settings, name: str, jobs: int, into: ReplayDiff) -> None:
    parts = split(name, min(jobs, max(1, os.path.getsize(name) // MIN_PART)))
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(parts), initializer=_start_worker, initargs=(settings, ruleset.hash)) as pool:
        results = pool.map(_replay_part, parts, chunksize=1)
    offset = 0
    for part_diff, lines in results:
        into.merge(part_diff, line_offset=offset)
        offset += lines
