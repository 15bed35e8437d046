"""The simulate and demo-upstream commands: clear answers on bad input, outputs written on a real run."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shield.cli import main
from shield.commands.demo_upstream import parse_listen
from shield.settings.schema import BUNDLED_RULES
from shield.sim import scenario
from shield.sim.draws import apply, draw
from shield.sim.plan import accounts_for
from shield.sim.run import demo_app
from shield.sim.world import DEMO_ENV


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenario", "no-such-campaign"], "no such scenario file"),
        (["--duration", "forever"], "is not a duration"),
        (["--users", "0"], "must be positive"),
        (["--draw", "-1"], "--draw not negative"),
    ],
    ids=["unknown-scenario", "bad-duration", "no-users", "negative-draw"],
)
def test_simulate_refuses_bad_input_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--target", "http://127.0.0.1:9", *argv]) == 2
    assert message in capsys.readouterr().err


def test_simulate_reports_a_bad_scenario_file_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlist:\n  size: many\n")
    assert main(["simulate", "--target", "http://127.0.0.1:9", "--scenario", str(bad)]) == 2
    assert f"{bad}:3:3: list.size: expected int" in capsys.readouterr().err


async def test_simulate_against_the_app_writes_table_json_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    async with demo_app(accounts_for(300, 1)) as url:
        argv = [
            "simulate",
            "--target",
            url,
            "--scenario",
            "naive",
            "--users",
            "300",
            "--scale",
            "0.02",
            "--duration",
            "2h",
            "--json",
            str(out),
        ]
        status = await asyncio.to_thread(main, argv)
    assert status == 0
    data = json.loads(out.read_text())
    assert data["campaigns"][0]["name"] == "naive"
    assert data["campaigns"][0]["attempts"] == 100
    assert data["campaigns"][0]["compromised"] == 1  # 1% of 100 pairs, straight at the app
    assert ET.parse(out.with_suffix(".svg")).getroot().tag.endswith("svg")


async def test_simulate_a_draw_against_the_app_holding_that_draws_users(tmp_path: Path) -> None:
    d = draw(2)
    naive = apply(scenario.load("naive").scaled(0.02), d.campaigns)
    out = tmp_path / "run.json"
    async with demo_app(accounts_for(300, d.seed, shape=d.population)) as url:
        argv = ["simulate", "--target", url, "--scenario", "naive", "--users", "300", "--scale", "0.02",
                "--duration", "2h", "--draw", "2", "--json", str(out)]
        status = await asyncio.to_thread(main, argv)
    assert status == 0
    row = json.loads(out.read_text())["campaigns"][0]
    assert row["attempts"] == naive.list_size != 100  # the draw's list size, not the file's
    assert row["compromised"] == round(naive.list_size * naive.valid_share)  # the draw's passwords are the app's


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:8080", ("::1", 8080)), (":8080", ("127.0.0.1", 8080))],
    ids=["ipv4", "ipv6", "host-defaults-to-loopback"],
)
def test_demo_upstream_listen_parses(value: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(value) == parsed


@pytest.mark.parametrize(
    "value", ["8080", "host:http", "host:70000"], ids=["no-colon", "port-not-number", "port-range"]
)
def test_demo_upstream_bad_listen_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-upstream", "--listen", value]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_demo_log_records_decisions_that_replay_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, chart = tmp_path / "demo.log", tmp_path / "demo.svg"
    assert main(["demo", "--users", "200", "--attempts", "50", "--log", str(log), "--chart", str(chart)]) == 0
    decisions = [line for line in log.read_bytes().splitlines() if b'"event":"decision"' in line]
    assert len(decisions) > 100
    capsys.readouterr()
    # the deciding pack and config: the demo's lists (its carriers, hosting ASNs) come with the demo world
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["replay", "--rules", str(BUNDLED_RULES), "--samples", "0", str(log)]) == 0
    assert f"replayed {len(decisions)} of {len(decisions)} decisions" in capsys.readouterr().out


def test_demo_log_is_for_the_in_process_run(tmp_path: Path) -> None:
    assert main(["demo", "--log", str(tmp_path / "x.log"), "--subprocess", "5"]) == 2
