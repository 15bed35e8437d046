"""How many CPUs this process may use: the container's CPU quota (cgroup v2, then v1), else the host's.

`workers: 0` means one worker per CPU. Inside a container limited to 2 CPUs on a 64-core node,
os.cpu_count() says 64; forking 64 workers into a 2-CPU quota only adds memory and throttling.
The parsing is pure (file contents in, a count out) and table-tested; `available_cpus` reads the files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_from_v2(cpu_max: str | None) -> float | None:
    """cgroup v2 `cpu.max` ("max 100000" or "150000 100000") -> CPUs, or None when unlimited/unreadable."""
    if not cpu_max:
        return None
    parts = cpu_max.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return _ratio(parts[0], parts[1])


def quota_from_v1(quota_us: str | None, period_us: str | None) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` -> CPUs, or None (-1 means unlimited)."""
    if not quota_us or not period_us:
        return None
    return _ratio(quota_us.strip(), period_us.strip())


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:
        return None
    return q / p


def cpus_from(
    *, cpu_max: str | None, cfs_quota_us: str | None, cfs_period_us: str | None, cpu_count: int | None
) -> int:
    """The CPU count to size workers by, from one cgroup's files: v2 first, then v1, then cpu_count."""
    quota = quota_from_v2(cpu_max)
    if quota is None:
        quota = quota_from_v1(cfs_quota_us, cfs_period_us)
    return cpus_within(quota, cpu_count)


def cpus_within(quota: float | None, cpu_count: int | None) -> int:
    """A quota in CPUs rounded up (never below 1, never above the host), else cpu_count, else 1."""
    host = cpu_count or 1
    if quota is None:
        return host
    return max(1, min(host, math.ceil(quota)))


def cgroup_paths(proc_self_cgroup: str | None) -> tuple[str | None, str | None]:
    """`/proc/self/cgroup` -> (the v2 path, the v1 `cpu` controller's path); "/" inside a cgroup namespace."""
    v2 = v1 = None
    for line in (proc_self_cgroup or "").splitlines():
        _id, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, path: str | None) -> list[Path]:
    """From this process's cgroup up to the mount root: a quota on any parent slice limits us too."""
    parts = [p for p in (path or "/").split("/") if p and p != ".."]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _schedulable_cpus() -> int | None:
    """The CPUs this process may run on (taskset, cpuset), else the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on this platform, or refused by a seccomp filter
        return os.cpu_count()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _tightest(quotas: list[float | None]) -> float | None:
    known = [q for q in quotas if q is not None]
    return min(known) if known else None


def available_cpus(
    root: Path = CGROUP_ROOT, *, proc_self_cgroup: Path = Path("/proc/self/cgroup"), cpu_count: int | None = None
) -> int:
    """CPUs for this process: cgroup v2 `cpu.max`, then v1 `cpu.cfs_*`, then the CPUs it may run on."""
    if cpu_count is None:
        cpu_count = _schedulable_cpus()
    v2_path, v1_path = cgroup_paths(_read(proc_self_cgroup))
    v2 = _tightest([quota_from_v2(_read(d / "cpu.max")) for d in _ancestors(root, v2_path)])
    v1_dirs = [*_ancestors(root / "cpu", v1_path), *_ancestors(root / "cpu,cpuacct", v1_path)]
    v1 = _tightest([quota_from_v1(_read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")) for d in v1_dirs])
    return cpus_within(v2 if v2 is not None else v1, cpu_count)
