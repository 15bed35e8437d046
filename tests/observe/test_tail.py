"""`shield tail`: the filters (a table), following a real file across rotation in a real process,
and the admin API's bans from a real admin listener."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shield.commands.tail import add_arguments, poll_admin, run
from shield.observe.ecs import to_ecs
from shield.observe.logview import LineFilter, parse_addresses, render
from tests.admin.decisions_server import TOKEN, decisions_server

BLOCK: dict[str, Any] = {
    "event": "decision", "ts": "2026-11-24T20:12:52.578072Z", "action": "block", "client_ip": "10.40.0.9",
    "account_id": "aZSa", "route": "login", "score": 95, "outcome": "unknown", "status": 403, "country": "US",
    "rules": [{"id": "automation_ua", "score": 50}, {"id": "hosting_asn", "score": 45}],
}
ALLOW: dict[str, Any] = {**BLOCK, "action": "allow", "client_ip": "192.0.2.1", "account_id": "bXYz", "rules": []}
TAKEOVER: dict[str, Any] = {"event": "takeover.suspected", "client_ip": "10.40.0.9", "account_id": "aZSa",
                            "reason": "failures_from_many_addresses"}


@pytest.mark.parametrize(
    ("keep", "kept"),
    [
        (LineFilter(), ["block", "allow", "takeover"]),
        (LineFilter(actions=frozenset({"block", "ban"})), ["block"]),
        (LineFilter(rules=frozenset({"hosting_asn"})), ["block"]),
        (LineFilter(accounts=frozenset({"aZSa"})), ["block", "takeover"]),
        (LineFilter(addresses=parse_addresses(["10.40.0.0/16"])), ["block", "takeover"]),
        (LineFilter(addresses=parse_addresses(["192.0.2.1"])), ["allow"]),
        (LineFilter(events=frozenset({"takeover.suspected"})), ["takeover"]),
        (LineFilter(actions=frozenset({"block"}), accounts=frozenset({"bXYz"})), []),
    ],
    ids=["all", "action", "rule", "account", "network", "address", "event", "and"],
)
@pytest.mark.parametrize("ecs", [False, True], ids=["json", "ecs"])
def test_filters(keep: LineFilter, kept: list[str], ecs: bool) -> None:
    lines = {"block": BLOCK, "allow": ALLOW, "takeover": TAKEOVER}
    shaped = {name: to_ecs(dict(line)) if ecs else line for name, line in lines.items()}
    assert [name for name, line in shaped.items() if keep.keeps(line)] == kept


def test_text_rendering_with_and_without_colour() -> None:
    plain = render(BLOCK, color=False)
    assert plain == "20:12:52.578 block     login 10.40.0.9 US aZSa score=95 rules=automation_ua,hosting_asn " \
                    "outcome=unknown status=403"
    assert "\033[31mblock" in render(BLOCK, color=True)
    assert render(TAKEOVER, color=False).endswith("reason=failures_from_many_addresses")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_no_follow_prints_matching_json_lines_and_skips_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "shield.log"
    log.write_bytes(b"\n".join([orjson.dumps(BLOCK), b"2026-11-24 console line", orjson.dumps(ALLOW), b"{"]) + b"\n")
    out = io.StringIO()
    assert run(parse(str(log), "--no-follow", "--action", "allow", "--format", "json"), out=out) == 0
    assert [orjson.loads(x) for x in out.getvalue().splitlines()] == [ALLOW]


def test_a_bad_address_is_one_line_and_exit_1(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(parse(str(tmp_path / "x"), "--ip", "10.0.0.300"), out=io.StringIO(), err=err) == 1
    assert err.getvalue().startswith("shield tail: --ip: ")
    assert err.getvalue().count("\n") == 1


def wait_until_open(pid: int, path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fds = Path(f"/proc/{pid}/fd")
        try:
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                return
        except (FileNotFoundError, PermissionError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"shield tail never opened {path}")


def read_lines(proc: subprocess.Popen[bytes], n: int, timeout: float = 20.0) -> Iterator[dict[str, Any]]:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf, deadline, got = b"", time.monotonic() + timeout, 0
    while got < n and time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            got += 1
            yield orjson.loads(line)
        time.sleep(0.05)


def test_follows_a_file_from_its_end_across_rename_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "shield.log"
    log.write_bytes(orjson.dumps({**ALLOW, "n": 0}) + b"\n")  # before the start: not shown
    proc = subprocess.Popen(
        [sys.executable, "-m", "shield.cli", "tail", str(log), "--format", "json", "--event", "decision"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_until_open(proc.pid, log)
        with log.open("ab") as f:
            f.write(orjson.dumps({**BLOCK, "n": 1}) + b"\n" + orjson.dumps({**BLOCK, "n": 2})[:20])
            f.flush()
            time.sleep(0.5)  # half a line waits for its end
            f.write(orjson.dumps({**BLOCK, "n": 2})[20:] + b"\n")
        rotated = tmp_path / "shield.log.1"
        log.rename(rotated)  # logrotate's rename, then the writer reopens a new file
        with rotated.open("ab") as f:
            f.write(orjson.dumps({**BLOCK, "n": 3}) + b"\n")  # written late to the old file: still read
        time.sleep(0.5)
        log.write_bytes(orjson.dumps({**BLOCK, "n": 4}) + b"\n" + orjson.dumps(TAKEOVER) + b"\n")
        time.sleep(0.5)
        log.write_bytes(orjson.dumps({**BLOCK, "n": 5}) + b"\n")  # truncated and rewritten (copytruncate)
        assert [line["n"] for line in read_lines(proc, 5)] == [1, 2, 3, 4, 5]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_admin_mode_prints_bans_once_and_filters_them() -> None:
    async with decisions_server(guarded=True) as admin:
        now = admin.clock.now()
        await admin.store.add_ban("ip", "10.40.1.2", ttl=600, reason="hosting_asn,automation_ua", now=now)
        await admin.store.add_ban("ip", "192.0.2.7", ttl=600, reason="ip_velocity", now=now)
        os.environ["SHIELD_ADMIN_TOKEN"] = TOKEN
        try:
            out = io.StringIO()
            args = parse("--admin", admin.url, "--no-follow", "--rule", "hosting_asn")
            await poll_admin(args, LineFilter(rules=frozenset({"hosting_asn"})), out=out, text=False, color=False)
        finally:
            del os.environ["SHIELD_ADMIN_TOKEN"]
    (line,) = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert (line["event"], line["scope"], line["value"], line["client_ip"]) == ("ban.active", "ip", "10.40.1.2",
                                                                                "10.40.1.2")


def test_reads_stdin_with_a_dash() -> None:
    lines = orjson.dumps(BLOCK) + b"\n" + orjson.dumps(ALLOW) + b"\n"
    result = subprocess.run(
        [sys.executable, "-m", "shield.cli", "tail", "-", "--rule", "automation_ua"],
        input=lines, capture_output=True, check=True, timeout=60,
    )
    assert [orjson.loads(x)["action"] for x in result.stdout.splitlines()] == ["block"]
