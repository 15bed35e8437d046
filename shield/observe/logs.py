"""Structured logs: one JSON object per line on stdout, with secrets removed before rendering;
the libraries' own loggers are routed into the same stream (shield.observe.library_logs).

Configured once at start (`configure_logging`); every module then logs through
`structlog.get_logger()`. Field names are snake_case, `event` is a dotted name
(`request`, `shield.started`, `upstream.unreachable`), `ts` is ISO-8601 UTC.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any, BinaryIO, Literal, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from shield.observe.ecs import ecs_processor
from shield.observe.library_logs import route_library_logs, unroute_library_logs

# the free-text masking: compiled, every line's text values go through it
from shield.observe.secret_text import MASK, redact_text
from shield.settings.schema import LogSettings

# Lower-case key names whose values never reach a log line, at any nesting.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "token",
        "secret",
        "admin_token",
        "shield-challenge-response",
        "shield-pass",
        "x-api-key",
    }
)

# The levels the fast path writes: it is on only when info lines pass (configure_logging), so these pass too.
FastLevel = Literal["info", "warning"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


# Keys every request line carries, known harmless: skipping them keeps the processor cheap.
_PLAIN_KEYS = frozenset(
    {
        "event",
        "level",
        "ts",
        "request_id",
        "client_ip",
        "method",
        "path",
        "route",
        "status",
        "upstream_status",
        "bytes",
        "duration_ms",
        "worker",
        "pid",
        # the decision line's own keys (shield.observe.decision_log): none is a secret's name
        "schema",
        "subnet",
        "country",
        "asn",
        "asn_org",
        "account_id",
        "fingerprint",
        "device_id",
        "ua_family",
        "score",
        "action",
        "enforced",
        "rules",
        "shadow_rules",
        "shadow_action",
        "ruleset",
        "challenge",
        "outcome",
        "malformed",
        "store_degraded",
        "shield_ms",
        "store_ms",
        "upstream_ms",
        "host",
        "user_agent",
        "tls_fingerprint",
        "facts",
    }
)


def _is_sensitive(key: object) -> bool:
    if not isinstance(key, str) or key in _PLAIN_KEYS:
        return False
    k = key.lower()
    return k in SENSITIVE_KEYS or k.endswith(("password", "_token", "_secret"))


def redact(value: Any) -> Any:
    """A copy of `value` with every sensitive key's value masked, at any depth."""
    if isinstance(value, Mapping):
        return {k: (MASK if _is_sensitive(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # header lists arrive as (name, value) pairs
        if len(value) == 2 and _is_sensitive(value[0]) and isinstance(value[1], str):
            return (value[0], MASK)
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class Redacted(dict[str, Any]):
    """A mapping whose builder already masked its secrets (the facts on record): the processor passes it
    as is, instead of walking a few dozen values on every decision line (~100 us)."""


class RedactedList(list[Any]):
    """A list whose builder knows it holds no secret (the rule hits of a decision: ids the rule loader
    restricts to [a-z0-9_.-] and integer scores): passed as is, like Redacted."""


def redaction_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: runs after exceptions are formatted, so tracebacks are masked too."""
    for key, value in event_dict.items():
        if _is_sensitive(key):
            event_dict[key] = MASK
        elif type(value) is str:  # the hot path: request lines are short strings and numbers
            if ":" in value or "=" in value:
                event_dict[key] = redact_text(value)
        elif value.__class__ is Redacted or value.__class__ is RedactedList:
            continue
        elif not isinstance(value, int | float | None):
            event_dict[key] = redact(value)
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> bytes:
    return orjson.dumps(obj, default=default or str)


_LINE = orjson.OPT_APPEND_NEWLINE


def timestamp() -> str:
    """Now as structlog's TimeStamper(fmt="iso", utc=True) writes it, at a third of its cost."""
    return iso_utc(time.time_ns() // 1000)


def iso_utc(epoch_us: int) -> str:
    """`datetime.fromtimestamp(us/1e6, UTC).isoformat()` with `Z` (microseconds left out when zero),
    with one strftime per second instead of a datetime per line."""
    sec, us = divmod(epoch_us, 1_000_000)
    text = _second(sec)
    return f"{text}.{us:06d}Z" if us else f"{text}Z"


@lru_cache(maxsize=2)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def build_processors(*, console: bool, ecs: bool = False) -> list[Processor]:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.format_exc_info,
        redaction_processor,
    ]
    if console:
        return [*shared, structlog.dev.ConsoleRenderer(colors=False)]
    if ecs:
        shared.append(ecs_processor)
    return [*shared, structlog.processors.JSONRenderer(serializer=_orjson_dumps)]


class RequestLines:
    """The canonical `request` line on its hot path: rendered straight to JSON, same fields,
    same order and same `ts` format as structlog's pipeline, a fifth of the cost (a worker spent
    ~10% of its CPU in structlog for this one line). Logging is process-wide configuration, as
    structlog's own is: `configure_logging` points this at its JSON stream, or at nothing when
    lines are not JSON or info is filtered out, and then `write` returns False (use structlog).
    """

    stream: BinaryIO | None = None

    @classmethod
    def write(cls, fields: dict[str, Any]) -> bool:
        out = cls.stream
        if out is None:
            return False
        path = fields.get("path")
        if isinstance(path, str) and (":" in path or "=" in path):
            fields["path"] = redact_text(path)
        fields["event"], fields["level"] = "request", "info"
        fields["ts"] = timestamp()
        out.write(orjson.dumps(fields, option=_LINE))
        out.flush()
        return True

    @classmethod
    def write_event(cls, event: str, fields: dict[str, Any], *, level: FastLevel = "info") -> bool:
        """Any info or warning line (the `decision` line, ~10% of a worker's CPU through structlog; a
        `ban.added` line, once per banned client of a wave): the same redaction as `redaction_processor`,
        then the same event, level and `ts` keys in the same order as structlog's pipeline. False when
        the fast path is off (then use structlog): it is on only when info lines pass, so warnings do too.
        The lines shield.observe.decision_log builds itself take a shorter way there (its `_write_vouched`)."""
        out = cls.stream
        if out is None:
            return False
        redaction_processor(None, level, fields)
        fields["event"], fields["level"] = event, level
        fields["ts"] = timestamp()
        out.write(orjson.dumps(fields, default=str, option=_LINE))
        out.flush()
        return True


def configure_logging(settings: LogSettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog for this process. `stream` defaults to stdout."""
    out: TextIO = stream if stream is not None else sys.stdout
    console = settings.format == "console" or (settings.format == "auto" and out.isatty())
    RequestLines.stream = None
    if console:
        factory: Any = structlog.PrintLoggerFactory(file=out)
    else:
        binary: Any = getattr(out, "buffer", out)
        factory = structlog.BytesLoggerFactory(file=binary)
        # ECS lines take structlog's pipeline (the mapping processor); the fast path writes shield's own shape.
        if _LEVELS[settings.level] <= logging.INFO and settings.format != "ecs":
            RequestLines.stream = binary
    structlog.configure(
        processors=build_processors(console=console, ecs=settings.format == "ecs"),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[settings.level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    route_library_logs(_LEVELS[settings.level])


def reset_logging() -> None:
    """Back to structlog's defaults (tests: a configured stream must not outlive its file)."""
    structlog.reset_defaults()
    RequestLines.stream = None
    unroute_library_logs()


def without_secrets(headers: Mapping[str, str] | MutableMapping[str, str]) -> dict[str, str]:
    """Headers as a plain dict safe to log."""
    return {k: (MASK if _is_sensitive(k) else v) for k, v in headers.items()}
