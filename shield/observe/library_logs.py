"""The libraries' own logs in shield's one JSON stream: aiohttp's (aiohttp.server, .access, .web,
.client), asyncio's and uvloop's, Python warnings, and uncaught exceptions of the process and its
threads. Each becomes one structlog line (so it meets the redaction processor) instead of
free text on stderr.

What such a line may carry is narrower than shield's own lines: the logger name, the first
line of the message (length capped; the redaction processor masks `name=value` secrets in it),
and for an exception its class and the frames it came through, never its message: an HTTP parser
quotes the raw bytes it refused (a Cookie, an Authorization header, a whole buffer with a
password) in its messages, and asyncio puts reprs of tasks and their exceptions in its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

import structlog

MAX_MESSAGE = 300
MAX_FRAMES = 6


def frames(exc: BaseException) -> list[str]:
    """`file:line in function` of the innermost frames, no values."""
    summary = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in summary]


def _exception_fields(exc: BaseException | None) -> dict[str, object]:
    if exc is None:
        return {}
    return {"error": type(exc).__name__, "frames": frames(exc)}


class LibraryLogs(logging.Handler):
    """A stdlib logging handler that writes through structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().split("\n", 1)[0][:MAX_MESSAGE]
            exc = record.exc_info[1] if record.exc_info else None
            structlog.get_logger().log(
                record.levelno, "library.log", logger=record.name, message=message,
                **_exception_fields(exc),
            )
        except Exception:  # noqa: S110  # a log line that cannot be written must not become a stderr one
            pass


def _excepthook(tp: type[BaseException], exc: BaseException, _tb: TracebackType | None) -> None:
    structlog.get_logger().critical("process.uncaught_exception", **_exception_fields(exc))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        structlog.get_logger().error(
            "thread.uncaught_exception", thread=args.thread.name if args.thread else None,
            **_exception_fields(args.exc_value),
        )


def _unraisablehook(args: sys.UnraisableHookArgs) -> None:
    structlog.get_logger().warning("process.unraisable_exception", **_exception_fields(args.exc_value))


def route_library_logs(level: int) -> None:
    """Every stdlib logger (the root's one handler) and the process hooks into shield's stream."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LibraryLogs):  # configured again: one handler, not two
            root.removeHandler(handler)
    root.addHandler(LibraryLogs())
    root.setLevel(level)
    logging.captureWarnings(True)
    logging.raiseExceptions = False  # a broken handler prints nothing to stderr
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook


def unroute_library_logs() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LibraryLogs):
            root.removeHandler(handler)
    logging.captureWarnings(False)
    logging.raiseExceptions = True
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
    sys.unraisablehook = sys.__unraisablehook__
