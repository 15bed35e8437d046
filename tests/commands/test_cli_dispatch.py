"""The `shield` command imports only the command it runs; help and mistakes still list every command."""

from __future__ import annotations

import ast
import subprocess
import sys

PROBE = """
import sys
import shield.cli
try:
    shield.cli.main({argv!r})
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.startswith("shield.commands.")))
"""


def _imported(argv: list[str]) -> tuple[list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=60, check=True
    )
    return ast.literal_eval(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


def test_a_named_command_imports_only_its_module() -> None:
    modules, _ = _imported(["config", "--help"])
    assert modules == ["shield.commands.config"]


def test_a_dashed_command_name_finds_its_module() -> None:
    modules, out = _imported(["demo-upstream", "--help"])
    assert modules == ["shield.commands.demo_upstream"]
    assert "usage: shield demo-upstream" in out


def test_help_and_unknown_commands_list_every_command() -> None:
    for argv in (["--help"], ["no-such-command"]):
        modules, out = _imported(argv)
        assert {"shield.commands.run", "shield.commands.demo", "shield.commands.simulate"} <= set(modules)
        assert "demo-upstream" in out
        assert "simulate" in out
