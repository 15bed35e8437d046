"""The configuration reference: every settings key, its environment variable, default and meaning.

Keys, variables and defaults are read from the dataclasses of shield.settings.schema, so the table
cannot drift from the loader; the meanings live here, one per key, and `reference_rows` refuses a key
without one (or a meaning for a key that no longer exists). `shield config --markdown` prints the
table that docs/configuration.md carries between its markers.
"""

from __future__ import annotations

import ipaddress
import typing
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from shield.model import Window
from shield.settings.load import SECRET_FILES, env_var
from shield.settings.schema import Settings

# Defaults that are not a value worth printing: a path on the build machine, or a secret made at start.
_DEFAULT_TEXT = {
    "rules": "the bundled pack (`shield/rules/bundled/`)",
    "secret": "random per start",
    "routes": "one route `login`, POST /api/login",
}

MEANINGS: dict[str, str] = {
    "listen": "Proxy listen address, HOST:PORT (IPv6 as [::1]:8000)",
    "upstream": "The protected app's base URL (http or https)",
    "workers": (
        "Worker processes sharing the port with SO_REUSEPORT; 0 = one per CPU the container may use (cgroup "
        "v2 `cpu.max`, then v1 `cpu.cfs_quota_us`, then the host's CPUs; one with `store: memory://`, whose "
        "counters live in one process; more logs `workers.memory_store`), 1 = in-process"
    ),
    "trusted_proxies": "CIDRs of proxies whose X-Forwarded-For / Forwarded are believed",
    "home_countries": 'ISO 3166 codes that are not "overseas"',
    "store": "memory://, redis://host:6379/0, rediss://, redis+sentinel://, redis+cluster://",
    "geoip.country": (
        ".mmdb with countries: MaxMind GeoLite2/GeoIP2 City or Country, DB-IP, IPinfo (none: no geo facts)"
    ),
    "geoip.asn": ".mmdb with ASNs: MaxMind GeoLite2/GeoIP2 ASN, DB-IP, IPinfo (may be the country file)",
    "rules": "Rule pack directory",
    "extra_lists": (
        "More list folders; a list named like one in the pack's `lists/` adds its entries (the demo uses "
        "`shield/sim/data/demo-lists`)"
    ),
    "mode": "enforce, or shadow (decide and log, let everything through)",
    "routes": "Protected routes, see [Routes](#routes)",
    "admin.listen": "Admin listener address",
    "admin.token": "Bearer token of the admin API (secret: env or admin.token_file only)",
    "admin.token_file": "File holding the admin token",
    "admin.metrics_token": (
        "Read-only bearer token: `GET /metrics` only, for the Prometheus scraper (secret: env or "
        "admin.metrics_token_file)"
    ),
    "admin.metrics_token_file": "File holding the read-only metrics token",
    "secret": "HMAC key for challenges, passes, device cookies, keyed hashes (secret: env or secret_file)",
    "secret_file": "File holding the secret (trailing newline stripped)",
    "upstream_options.connect_timeout": "Seconds to connect to the upstream (then 502)",
    "upstream_options.read_timeout": "Seconds without a byte from the upstream (then 504)",
    "upstream_options.pool_size": (
        "Keep-alive upstream connections per worker (at least 1); a quarter of them is kept for protected "
        "routes (streams and WebSockets take the rest)"
    ),
    "upstream_options.pool_acquire_timeout": (
        "Seconds a request waits for a free upstream connection, then 503 `upstream_overloaded` with its "
        "request id and an `upstream.pool_exhausted` line"
    ),
    "upstream_options.max_response_inspect": "Bytes of a protected answer read to classify the login outcome",
    "upstream_options.client": (
        "`h1`: shield's own HTTP/1.1 client (httptools), a third less CPU per request than `aiohttp` "
        "(aiohttp's ClientSession), which serves https:// upstreams and WebSocket upgrades in any case; "
        "switch to `aiohttp` to rule the client out when chasing an upstream interop problem"
    ),
    "limits.header_read_timeout": (
        "Seconds from connect (or the first byte of the next head) to a whole request head, then 408 and "
        "close"
    ),
    "limits.body_read_timeout": "Seconds without a byte of a request body while shield reads it, then 408 and close",
    "limits.keepalive_timeout": (
        "Seconds an idle keep-alive client connection is kept (above a load balancer's idle timeout, e.g. "
        "ALB's 60 s)"
    ),
    "limits.client_write_timeout": (
        "Seconds a client may leave shield's send buffer full; then the connection is aborted and its "
        "upstream connection released"
    ),
    "limits.max_head_bytes": "Request line plus headers in total, then 431",
    "limits.max_header_bytes": "One header line (or the request line), then 431",
    "limits.max_headers": "Header lines per request, then 400",
    "limits.max_connections": (
        "Open client connections per worker; above it a new one gets a fast 503 and is closed (the admin "
        "listener keeps answering). Lowered at start, with a `limits.fd_limit` warning, to fit the "
        "file-handle limit (raised to the hard limit first)"
    ),
    "log.level": "debug, info, warning, error",
    "log.format": (
        "auto (console on a TTY, else JSON), json, console, ecs (JSON in Elastic Common Schema, see "
        "[SIEM](decision-log.md#siem-elastic-common-schema))"
    ),
    "log.account_in_clear": "Log the normalised account beside its keyed hash",
    "log.requests": "`false`: no `request` line for pass-through traffic; `decision` lines stay",
    "log.ban_lines_per_second": (
        "Per ban and second, this many refusals get their own `decision` line; the rest of that second are "
        "folded into one `decision.folded` line with their count (0: never fold)"
    ),
    "log.decision_facts": (
        "Facts on each `decision` line, for `shield replay`: `rules` (those the rule set reads), `catalog` "
        "(every fact, zero counters left out) or `off`"
    ),
    "client.app_ua_pattern": (
        "RE2 regex on User-Agent that marks the mobile app (linear time; backreferences and lookaround "
        "refused at load)"
    ),
    "client.app_version_header": "Header the real app always sends (e.g. X-App-Version)",
    "client.device_header": "Header with the app's device id (e.g. X-Device-Id)",
    "client.device_cookie": "Name of shield's signed device cookie for browsers",
    "client.device_cookie_ttl": "Device cookie lifetime, seconds",
    "client.tls_fingerprint_header": (
        "Header with a TLS fingerprint set by the terminator (e.g. X-JA4); believed only from "
        "`trusted_proxies`, never forwarded"
    ),
    "client.secure_cookies": "Set Secure on shield's cookies (behind HTTPS)",
    "challenge.ttl": "Seconds a puzzle may be solved in",
    "challenge.base_difficulty": "Leading zero bits at the challenge threshold",
    "challenge.max_difficulty": (
        "Upper bound of the difficulty; at most 32 (the proof of work's limit) and at least "
        "`challenge.base_difficulty`, else refused at start"
    ),
    "challenge.bind": "ip, or subnet (for carriers that rotate addresses)",
    "challenge.pass_ttl": "Seconds a solved challenge's pass is valid",
    "challenge.pass_credit": "Score removed while a pass is valid",
    "challenge.solve_credit": "Score removed from the request carrying a solution",
    "delay.max_seconds": "Longest tarpit delay",
    "delay.max_concurrent": "Delayed requests at once; above it 429",
    "memory.max_keys": (
        "memory:// store: most keys kept (junk evicted first, see [Memory store](store.md#memory-store))"
    ),
    "memory.history_days": "memory:// store: days of login history kept",
    "memory.history_size": "memory:// store: entries of history per account",
    "history.confirm_after": (
        "Seconds after which an unconfirmed success (one any rule scored, or after a "
        "challenge) counts as the owner's, if no failed login on the account came in between"
    ),
    "history.confirm_header": (
        "Response header the app sets to 1 on a login it confirmed (its own second factor): the success is "
        "learned at once; removed before the answer reaches the client"
    ),
    "windows": "Counter windows (Ns, Nm, Nh, Nd)",
    "reload_rules": "Watch the rule pack and reload on change",
    "shutdown_grace": "Seconds in-flight requests may finish after SIGTERM",
}


@dataclass(slots=True, frozen=True)
class KeyRow:
    key: str  # dotted path, as in shield.yaml
    env: str  # its environment variable, or "YAML only"
    default: str
    meaning: str


def _keys(cls: type, prefix: str, default: Any) -> Iterator[tuple[str, Any]]:
    """(dotted key, default) for every leaf of a settings dataclass, nested ones walked, in field order."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        key, value = f"{prefix}{f.name}", getattr(default, f.name)
        tp = hints[f.name]
        if isinstance(tp, type) and is_dataclass(tp):
            yield from _keys(tp, f"{key}.", value)
        else:
            yield key, value
        yield from ((k, None) for k, target in SECRET_FILES.items() if target == key)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, Window):
        return value.name
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network | Path):
        return str(value)
    if isinstance(value, frozenset):
        return "`" + ", ".join(sorted(_show(v).strip("`") for v in value)) + "`"
    if isinstance(value, tuple):
        return "`" + ", ".join(_show(v).strip("`") for v in value) + "`" if value else "none"
    return f"`{value}`"


def reference_rows() -> list[KeyRow]:
    """One row per key; ValueError names the keys without a meaning, or meanings without a key."""
    keys = list(_keys(Settings, "", Settings()))
    missing = [k for k, _ in keys if k not in MEANINGS]
    unknown = sorted(set(MEANINGS) - {k for k, _ in keys})
    if missing or unknown:
        raise ValueError(f"settings keys without a meaning: {missing}; meanings without a key: {unknown}")
    return [
        KeyRow(
            key,
            "YAML only" if key == "routes" else f"`{env_var(key)}`",
            _DEFAULT_TEXT.get(key) or _show(value),
            MEANINGS[key],
        )
        for key, value in keys
    ]


def markdown_table(rows: list[KeyRow]) -> str:
    lines = ["| key | environment | default | meaning |", "|---|---|---|---|"]
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines += [f"| `{r.key}` | {r.env} | {r.default} | {cell(r.meaning)} |" for r in rows]
    return "\n".join(lines) + "\n"
