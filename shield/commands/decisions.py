"""`shield decisions list|add|delete`: manage bans on a running shield through its admin API.

    shield decisions list [--scope ip] [--json]
    shield decisions add ip 198.51.100.2 --ttl 1h --reason "stuffing from hosting"
    shield decisions delete subnet 198.51.100.0/24

The admin URL is --admin (default http://127.0.0.1:9000); the bearer token comes from
SHIELD_ADMIN_TOKEN or --token-file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import aiohttp
import orjson

from shield.model import BAN_SCOPES

DEFAULT_ADMIN = "http://127.0.0.1:9000"
TOKEN_ENV = "SHIELD_ADMIN_TOKEN"  # noqa: S105 (the variable's name, not a token)


class CommandError(Exception):
    """A failure the user can act on; printed as one line, exit status 1 (2 for usage)."""


def _connection_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--admin, --token-file, --json. Without defaults (on each subcommand) an option given after the
    subcommand overrides the one before it, and one not given there leaves the earlier value alone."""
    kw: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--admin", help=f"admin API base URL (default {DEFAULT_ADMIN})", **({"default": DEFAULT_ADMIN} | kw)
    )
    parser.add_argument("--token-file", type=Path, help=f"file holding the admin token (default: ${TOKEN_ENV})", **kw)
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table", **kw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the `decisions` parser (cli.py calls this on its subparser).

    The connection options are accepted before and after the subcommand (`shield decisions list
    --json` as `shield decisions list --help` shows it, and `shield decisions --json list`)."""
    _connection_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, defaults=False)
    sub = parser.add_subparsers(dest="decisions_command", required=True)
    lst = sub.add_parser("list", help="active bans", parents=[common])
    lst.add_argument("--scope", choices=BAN_SCOPES)
    add = sub.add_parser("add", help="ban a client", parents=[common])
    add.add_argument("scope", choices=BAN_SCOPES)
    add.add_argument("value", help="address, network, AS number, account name or fingerprint id")
    add.add_argument("--ttl", default="1h", help="duration: seconds or 90s, 30m, 1h, 2d, 1w (default 1h)")
    add.add_argument("--reason", default="admin")
    delete = sub.add_parser("delete", help="lift a ban", parents=[common])
    delete.add_argument("scope", choices=BAN_SCOPES)
    delete.add_argument("value")


def read_token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read token file {token_file}: {exc.strerror}") from exc
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CommandError(f"no admin token: set {TOKEN_ENV} or pass --token-file")
    return token


async def call_api(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    data = orjson.dumps(body) if body is not None else None
    try:
        async with session.request(method, url, data=data) as resp:
            raw = await resp.read()
            try:
                payload = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                payload = {"message": raw.decode(errors="replace")[:200]}
            if resp.status >= 400:
                message = (payload.get("message") or payload.get("error")) if isinstance(payload, dict) else None
                raise CommandError(f"{method} {url}: {resp.status} {message or resp.reason}")
            return payload
    except aiohttp.ClientError as exc:
        raise CommandError(f"cannot reach the admin API at {url}: {exc}") from exc


def format_table(decisions: Sequence[dict[str, Any]]) -> str:
    if not decisions:
        return "no active decisions"
    rows = [("SCOPE", "VALUE", "EXPIRES IN", "OFFENSES", "SOURCE", "REASON")]
    for d in decisions:
        rows.append((d["scope"], d["value"], _remaining(d), str(d["offenses"]), d["source"], d["reason"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows)


def _remaining(d: dict[str, Any]) -> str:
    s = int(d.get("ttl_remaining", 0))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return "".join(parts[:2]) or "0s"


async def run_async(args: argparse.Namespace, *, out: TextIO) -> int:
    """Run one `shield decisions` command; raises CommandError with a readable message."""
    token = read_token(args.token_file)
    base = args.admin.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CommandError(f"--admin must be an http(s) URL, got {args.admin!r}")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        if args.decisions_command == "list":
            url = f"{base}/decisions" + (f"?scope={args.scope}" if args.scope else "")
            payload = await call_api(session, "GET", url)
            text = format_table(payload["decisions"])
        elif args.decisions_command == "add":
            body = {"scope": args.scope, "value": args.value, "ttl": args.ttl, "reason": args.reason}
            payload = await call_api(session, "POST", f"{base}/decisions", body)
            text = f"banned {payload['scope']} {payload['value']} for {_remaining(payload)} ({payload['reason']})"
        else:
            url = f"{base}/decisions/{args.scope}/{quote(args.value, safe='')}"
            payload = await call_api(session, "DELETE", url)
            text = f"lifted {payload['lifted']['scope']} {payload['lifted']['value']}"
    out.write((orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() if args.json else text) + "\n")
    return 0


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The `shield decisions` handler (shield.cli): exit 0, or 1 with one line on stderr."""
    try:
        return asyncio.run(run_async(args, out=out or sys.stdout))
    except CommandError as exc:
        (err or sys.stderr).write(f"shield decisions: {exc}\n")
        return 1


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shield decisions", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), out=out, err=err)
