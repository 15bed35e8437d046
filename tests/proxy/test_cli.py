"""The `shield` entry point finds its subcommands."""

from __future__ import annotations

import pytest

from shield.cli import build_parser, main


@pytest.mark.parametrize("command", ["run"], ids=["run"])
def test_subcommands_are_discovered(command: str) -> None:
    parser = build_parser()
    args = parser.parse_args([command])
    assert callable(args.handler)


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "run" in capsys.readouterr().err


def test_run_flags_parse() -> None:
    args = build_parser().parse_args(
        ["run", "--upstream", "http://u:1", "--listen", "[::1]:8001", "--workers", "2", "--mode", "shadow"]
    )
    assert (args.upstream, args.listen, args.workers, args.mode) == ("http://u:1", "[::1]:8001", "2", "shadow")


def test_version_comes_from_the_package_metadata() -> None:
    import platform
    import subprocess
    import sys
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "shield.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"shield {version('shield')} (Python {platform.python_version()})"
