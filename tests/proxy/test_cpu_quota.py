"""`workers: 0` sizes by the container's CPU quota (cgroup v2 cpu.max, then v1), then the host's CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from shield.proxy.cpu_quota import available_cpus, cgroup_paths, cpus_from


@pytest.mark.parametrize(
    ("cpu_max", "quota", "period", "host", "expected"),
    [
        (None, None, None, 64, 64),
        ("max 100000\n", None, None, 64, 64),
        ("200000 100000\n", None, None, 64, 2),
        ("150000 100000\n", None, None, 64, 2),
        ("50000 100000\n", None, None, 64, 1),
        ("800000 100000\n", None, None, 4, 4),
        (None, "300000\n", "100000\n", 64, 3),
        (None, "-1\n", "100000\n", 64, 64),
        ("max 100000\n", "200000", "100000", 64, 2),
        ("100000 100000", "400000", "100000", 64, 1),
        ("garbage", None, None, 8, 8),
        ("0 100000", None, None, 8, 8),
        ("100000 0", None, None, 8, 8),
        (None, "100000", None, 8, 8),
        (None, None, None, None, 1),
    ],
    ids=[
        "no_cgroup_host_count",
        "v2_unlimited",
        "v2_two_cpus",
        "v2_fraction_rounds_up",
        "v2_half_cpu_is_one",
        "v2_quota_above_host_capped",
        "v1_three_cpus",
        "v1_unlimited",
        "v2_unlimited_falls_to_v1",
        "v2_wins_over_v1",
        "v2_garbage_ignored",
        "v2_zero_quota_ignored",
        "v2_zero_period_ignored",
        "v1_without_period_ignored",
        "nothing_known_is_one",
    ],
)
def test_cpus_from_cgroup_files(
    cpu_max: str | None, quota: str | None, period: str | None, host: int | None, expected: int
) -> None:
    assert cpus_from(cpu_max=cpu_max, cfs_quota_us=quota, cfs_period_us=period, cpu_count=host) == expected


def test_available_cpus_reads_a_v2_tree(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert available_cpus(tmp_path, proc_self_cgroup=tmp_path / "none", cpu_count=16) == 3


def test_available_cpus_reads_a_v1_tree(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(tmp_path, proc_self_cgroup=tmp_path / "none", cpu_count=16) == 2


def test_available_cpus_without_cgroup_files_is_the_host_count(tmp_path: Path) -> None:
    assert available_cpus(tmp_path, proc_self_cgroup=tmp_path / "none", cpu_count=6) == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0::/\n", ("/", None)),
        ("0::/system.slice/shield.service\n", ("/system.slice/shield.service", None)),
        ("4:memory:/x\n2:cpu,cpuacct:/kubepods/pod1/c1\n0::/\n", ("/", "/kubepods/pod1/c1")),
        ("1:cpu:/docker/abc\n", (None, "/docker/abc")),
        ("", (None, None)),
        (None, (None, None)),
    ],
    ids=["v2_namespaced", "v2_systemd_service", "hybrid", "v1_only", "empty", "unreadable"],
)
def test_cgroup_paths(text: str | None, expected: tuple[str | None, str | None]) -> None:
    assert cgroup_paths(text) == expected


def test_a_quota_on_a_parent_slice_limits_the_service(tmp_path: Path) -> None:
    service = tmp_path / "system.slice" / "shield.service"
    service.mkdir(parents=True)
    (service / "cpu.max").write_text("max 100000\n")
    (tmp_path / "system.slice" / "cpu.max").write_text("200000 100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/system.slice/shield.service\n")
    assert available_cpus(tmp_path, proc_self_cgroup=proc, cpu_count=32) == 2


def test_v1_quota_of_this_process_cgroup(tmp_path: Path) -> None:
    pod = tmp_path / "cpu,cpuacct" / "kubepods" / "pod1"
    pod.mkdir(parents=True)
    (pod / "cpu.cfs_quota_us").write_text("150000\n")
    (pod / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("2:cpu,cpuacct:/kubepods/pod1\n")
    assert available_cpus(tmp_path, proc_self_cgroup=proc, cpu_count=32) == 2
