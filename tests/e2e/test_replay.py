"""`shield replay` on decision lines written by a real shield: the same pack changes nothing,
one rule's new score changes exactly the decisions it should."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from shield.challenge.client import solve
from shield.commands.replay import candidate
from shield.replay.files import replay_logs as replay
from shield.replay.replayer import POLICY, ReplayDiff
from shield.rules.load import load_rules
from shield.settings.schema import LogSettings
from tests.e2e.conftest import TEST_RULES, Stack, rules_dir

CLEAR = LogSettings(format="json", account_in_clear=True)  # the test rules key on the account name


async def _traffic(stack: Stack) -> None:
    """Every kind of decision: allow, tag, delay, challenge (and solved), block, rate, ban, shadow."""
    async with aiohttp.ClientSession() as s:

        async def post(account: str, ip: str, **headers: str) -> aiohttp.ClientResponse:
            headers["X-Forwarded-For"] = ip
            return await s.post(stack.url + "/api/login", json={"username": account, "password": "x"}, headers=headers)

        for i, account in enumerate(("alice", "tag", "delay", "block", "shadow", "ban")):
            await post(account, f"10.31.0.{i + 1}")
        for _ in range(4):
            await post("rate", "10.31.0.20")
        first = await post("challenge", "10.31.0.30")
        answer = solve((await first.json())["challenge"])
        await post("challenge", "10.31.0.30", **{"Shield-Challenge-Response": answer})


async def _recorded(make_stack: Any, tmp_path: Path, **changes: Any) -> tuple[Stack, Path]:
    stack = await make_stack(**changes)
    await _traffic(stack)
    log = tmp_path / "shield.log"
    log.write_bytes(stack.logs.getvalue())
    return stack, log


def _replay(stack: Stack, log: Path, rules: Path) -> ReplayDiff:
    ruleset = load_rules(rules)
    return replay(ruleset, stack.service.settings, [str(log)])


async def test_replaying_with_the_unchanged_pack_changes_nothing(make_stack: Any, tmp_path: Path) -> None:
    stack, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    actions = {line["action"] for line in stack.decisions()}
    assert actions == {"allow", "tag", "delay", "challenge", "block", "ban"}
    diff = _replay(stack, log, stack.service.settings.rules)
    assert diff.decisions == len(stack.decisions()) == 12
    assert (diff.replayed, len(diff.changes), diff.rescored, dict(diff.skipped)) == (12, 0, 0, {})


async def test_one_rule_rescored_changes_exactly_its_decisions(make_stack: Any, tmp_path: Path) -> None:
    stack, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    changed = TEST_RULES.replace("when: 'account == \"tag\"', score: 30", "when: 'account == \"tag\"', score: 60")
    diff = _replay(stack, log, rules_dir(tmp_path / "candidate", changed))
    assert dict(diff.transitions) == {"tag->challenge": 1}
    assert {rule: dict(c) for rule, c in diff.by_rule.items()} == {"tag_me": {"tag->challenge": 1}}
    (change,) = diff.changes
    assert (change.score_before, change.score_after, change.client_ip) == (30, 60, "10.31.0.2")
    assert diff.as_json()["changed"] == 1


async def test_a_policy_change_is_attributed_to_the_policy(make_stack: Any, tmp_path: Path) -> None:
    stack, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    harsher = TEST_RULES.replace("block: 90", "block: 80")
    diff = _replay(stack, log, rules_dir(tmp_path / "candidate", harsher))
    assert diff.changes == []  # no decision scored between 80 and 90
    milder = TEST_RULES.replace("tag: 30", "tag: 35")
    diff = _replay(stack, log, rules_dir(tmp_path / "candidate2", milder))
    assert dict(diff.transitions) == {"tag->allow": 1}
    assert list(diff.by_rule) == [POLICY]


async def test_lines_without_facts_are_counted_and_skipped(make_stack: Any, tmp_path: Path) -> None:
    off = dataclasses.replace(CLEAR, decision_facts="off")
    stack, log = await _recorded(make_stack, tmp_path, log=off)
    assert all("facts" not in line for line in stack.decisions())
    diff = _replay(stack, log, stack.service.settings.rules)
    assert (diff.replayed, dict(diff.skipped)) == (0, {"no facts on record": 12})


async def test_facts_the_record_lacks_are_named(make_stack: Any, tmp_path: Path) -> None:
    stack, log = await _recorded(make_stack, tmp_path)  # account not in clear: `account` is not on record
    ruleset, settings = candidate(stack.service.settings.rules, None)
    diff = replay(ruleset, settings, [str(log)])
    assert "account" in diff.unrecorded(ruleset.reads)


async def test_the_command_prints_the_diff_and_writes_it_as_json(
    make_stack: Any, tmp_path: Path, capsys: Any
) -> None:
    from shield.cli import main

    _, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    changed = rules_dir(tmp_path / "candidate", TEST_RULES.replace("block: 90", "block: 96"))
    out = tmp_path / "diff.json"
    assert main(["replay", "--rules", str(changed), "--json", str(out), str(log)]) == 1
    text = capsys.readouterr().out
    assert "changed: 3 (25.00%)" in text  # block_me and twice rate_me score 95
    assert "block -> challenge" in text
    assert f"{log}:" in text  # a sample line names its place
    diff = orjson.loads(out.read_bytes())
    assert (diff["changed"], diff["transitions"], diff["by_rule"]) == (
        3, {"block->challenge": 3}, {POLICY: {"block->challenge": 3}})
    assert main(["replay", "--rules", str(tmp_path / "nowhere"), str(log)]) == 2


async def test_workers_give_the_serial_diff(make_stack: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import shield.replay.files as files

    stack, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    log.write_bytes(log.read_bytes() * 40)  # 480 decisions, in parts
    rules = rules_dir(tmp_path / "candidate", TEST_RULES.replace("score: 30", "score: 60"))
    serial = _replay(stack, log, rules)
    monkeypatch.setattr(files, "MIN_PART", 1000)
    candidate = dataclasses.replace(stack.service.settings, rules=rules)
    parallel = files.replay_logs(files.candidate_rules(candidate), candidate, [str(log)], jobs=3)
    assert parallel.as_json() == serial.as_json()
    assert len(serial.changes) == 40


def test_split_cuts_a_file_at_line_starts(tmp_path: Path) -> None:
    from shield.replay.files import split

    path = tmp_path / "x.log"
    data = b"".join(b"line %d %s\n" % (i, b"x" * (i % 7)) for i in range(1000))
    path.write_bytes(data)
    parts = split(str(path), 4)
    assert (len(parts), parts[0].start, parts[-1].end) == (4, 0, len(data))
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert all(data[p.start - 1:p.start] == b"\n" for p in parts[1:])


async def test_a_rotated_gzip_log_replays_the_same(make_stack: Any, tmp_path: Path) -> None:
    import gzip

    stack, log = await _recorded(make_stack, tmp_path, log=CLEAR)
    packed = tmp_path / "shield.log.1.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    rules = rules_dir(tmp_path / "candidate", TEST_RULES.replace("score: 30", "score: 60"))
    plain, unpacked = _replay(stack, log, rules).as_json(), _replay(stack, packed, rules).as_json()
    assert [c.pop("where") for c in unpacked["changes"]] == [f"{packed}:4"]
    assert [c.pop("where") for c in plain["changes"]] == [f"{log}:4"]
    assert unpacked == plain
