"""Follow shield's log (like tail -F) or its admin API's bans, filtered by action, rule, account or address.

    shield tail /var/log/shield.log --action block --action ban
    shield tail shield.log --rule hosting_asn --ip 10.40.0.0/16
    shield tail shield.log --event takeover.suspected
    shield tail - < shield.log --no-follow --account aZSaAxXlvk76l0f9R0t81Q
    shield tail --admin http://127.0.0.1:9000        # new bans as they appear (token: SHIELD_ADMIN_TOKEN)

Reads shield's JSON lines and `log.format: ecs` lines; other lines are skipped. Output is colour
text on a terminal and the matching JSON lines otherwise (--format text|json to choose). A file
is followed across rotation (renamed or truncated, it is opened again from its start).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TextIO

import aiohttp
import orjson

from shield.commands.decisions import DEFAULT_ADMIN, CommandError, call_api, read_token
from shield.observe.logview import LineFilter, parse_addresses, parse_line, render

POLL_S = 0.2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", nargs="?", help="log file to follow, or - for stdin (omit with --admin)")
    p.add_argument(
        "--admin", nargs="?", const=DEFAULT_ADMIN, help=f"poll the admin API's bans (default {DEFAULT_ADMIN})"
    )
    p.add_argument("--token-file", type=Path, help="admin token file (default: $SHIELD_ADMIN_TOKEN)")
    p.add_argument("--action", action="append", default=[], help="allow, tag, delay, challenge, block, ban")
    p.add_argument("--rule", action="append", default=[], help="rule id that matched")
    p.add_argument("--account", action="append", default=[], help="account id (keyed hash), or the clear name")
    p.add_argument("--ip", action="append", default=[], help="client address or network (10.40.0.0/16)")
    p.add_argument("--event", action="append", default=[], help="event name: decision, request, takeover.suspected")
    p.add_argument("--from-start", action="store_true", help="read the file from its start, not its end")
    p.add_argument("--no-follow", action="store_true", help="print what is there and stop (implies --from-start)")
    p.add_argument("--format", choices=("auto", "text", "json"), default="auto", help="auto: text on a terminal")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between admin API polls (default 2)")


def build_filter(args: argparse.Namespace) -> LineFilter:
    try:
        addresses = parse_addresses(args.ip)
    except ValueError as exc:
        raise CommandError(f"--ip: {exc}") from exc
    return LineFilter(
        actions=frozenset(args.action), rules=frozenset(args.rule), accounts=frozenset(args.account),
        addresses=addresses, events=frozenset(args.event),
    )


def follow(path: Path, *, from_start: bool, stop: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
    """Complete lines of `path` as they are written, across rotation (tail -F); waits for a missing file."""
    handle: IO[bytes] | None = None
    inode, pending = -1, b""
    start_at_end = not from_start
    while not stop():
        if handle is None:
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                time.sleep(POLL_S)
                start_at_end = False  # a file created later is read whole
                continue
            inode = os.fstat(handle.fileno()).st_ino
            if start_at_end:
                handle.seek(0, os.SEEK_END)
            start_at_end = False
        chunk = handle.read(65536)
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
            continue
        if _rotated(path, inode, handle.tell()):
            handle.close()
            handle, pending = None, b""
            continue
        time.sleep(POLL_S)
    if handle is not None:
        handle.close()


def _rotated(path: Path, inode: int, position: int) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False  # renamed away, the new one not created yet: keep draining the old
    return st.st_ino != inode or st.st_size < position


def emit(lines: Iterator[bytes], keep: LineFilter, *, out: TextIO, text: bool, color: bool) -> int:
    shown = 0
    for raw in lines:
        line = parse_line(raw)
        if line is None or not keep.keeps(line):
            continue
        out.write((render(line, color=color) if text else raw.decode(errors="replace").strip()) + "\n")
        out.flush()
        shown += 1
    return shown


def ban_line(ban: dict[str, Any]) -> dict[str, Any]:
    """A ban from GET /decisions as a tail line (filters see its address, account and rules)."""
    line: dict[str, Any] = {"event": "ban.active", "action": "ban", **ban}
    if ban.get("scope") == "ip":
        line["client_ip"] = ban.get("value")
    if ban.get("scope") == "account":
        line["account_id"] = ban.get("value")
    line["rules"] = [{"id": r} for r in str(ban.get("reason", "")).split(",") if r]
    return line


async def poll_admin(args: argparse.Namespace, keep: LineFilter, *, out: TextIO, text: bool, color: bool) -> None:
    token = read_token(args.token_file)
    base = args.admin.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
    seen: set[tuple[str, str, float]] = set()
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            payload = await call_api(session, "GET", f"{base}/decisions")
            for ban in payload.get("decisions", []):
                key = (ban["scope"], ban["value"], ban["created_at"])
                if key in seen:
                    continue
                seen.add(key)
                raw = orjson.dumps(ban_line(ban))
                emit(iter([raw]), keep, out=out, text=text, color=color)
            if args.no_follow:
                return
            await asyncio.sleep(args.interval)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout = out or sys.stdout
    text = args.format == "text" or (args.format == "auto" and stdout.isatty())
    color = text and stdout.isatty() and "NO_COLOR" not in os.environ
    try:
        keep = build_filter(args)
        if args.admin:
            asyncio.run(poll_admin(args, keep, out=stdout, text=text, color=color))
            return 0
        if not args.log:
            raise CommandError("name a log file (or - for stdin), or use --admin")
        if args.log == "-":
            lines: Iterator[bytes] = (raw.rstrip(b"\n") for raw in sys.stdin.buffer)
        elif args.no_follow:
            lines = iter(_read_all(Path(args.log)))
        else:
            lines = follow(Path(args.log), from_start=args.from_start)
        emit(lines, keep, out=stdout, text=text, color=color)
    except CommandError as exc:
        (err or sys.stderr).write(f"shield tail: {exc}\n")
        return 1
    except BrokenPipeError:  # `shield tail ... | head`
        return 0
    return 0


def _read_all(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
