"""prometheus-client's multiprocess mode for `workers > 1`: every worker's metrics merged from files.

Each worker writes its counters, histograms and gauges to mmaped files named after its pid in one
per-run folder; whichever worker serves /metrics reads them all. A worker that dies leaves its files
behind, so its counts stay in the totals and a restart never makes a counter go backwards; its
"live" gauges (in flight, bans, store up) are dropped by `worker_exited`.

prometheus-client chooses its value storage once per process (`values.ValueClass`, from
PROMETHEUS_MULTIPROC_DIR), so the supervisor switches it on before forking; the workers inherit it.
No metric is ever registered on the default registry: each Metrics still owns its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from prometheus_client import multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Typed views of prometheus-client's untyped functions (no `type: ignore` to go stale when it adds hints).
_multiprocess_value: Callable[[], type] = values.MultiProcessValue
_mark_process_dead: Callable[[int, str], None] = multiprocess.mark_process_dead


def start() -> Path:
    """A fresh per-run folder under $TMPDIR (an emptyDir/tmpfs with a read-only root), switched on."""
    folder = Path(tempfile.mkdtemp(prefix="shield-metrics-"))
    os.environ[ENV] = str(folder)
    values.ValueClass = _multiprocess_value()
    return folder


def current() -> Path | None:
    """The folder when multiprocess mode is on in this process (a forked worker inherits it)."""
    folder = os.environ.get(ENV)
    if folder is None or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return Path(folder)


def worker_exited(folder: Path, pid: int) -> None:
    """A dead worker's live gauges leave the totals; its counters and histograms stay."""
    _mark_process_dead(pid, str(folder))


def stop(folder: Path) -> None:
    """Back to in-process values, and the folder removed."""
    if os.environ.get(ENV) == str(folder):
        del os.environ[ENV]
    values.ValueClass = values.MutexValue
    shutil.rmtree(folder, ignore_errors=True)
