"""`shield decisions` against a real admin listener (the real token-guarded admin app)."""

from __future__ import annotations

import argparse
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from shield.commands.decisions import CommandError, add_arguments, run_async
from tests.admin.decisions_server import TOKEN, Admin, decisions_server


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async with decisions_server(guarded=True) as server:
        yield server


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIELD_ADMIN_TOKEN", TOKEN)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shield decisions")
    add_arguments(parser)
    return parser.parse_args(list(argv))


async def cli(*argv: str) -> str:
    out = io.StringIO()
    assert await run_async(parse(*argv), out=out) == 0
    return out.getvalue()


@pytest.mark.usefixtures("token_env")
async def test_add_list_delete_round_trip(admin: Admin) -> None:
    added = await cli("--admin", admin.url, "add", "subnet", "10.40.3.4/16", "--ttl", "2h", "--reason", "hosting burst")
    assert added == "banned subnet 10.40.0.0/16 for 2h (hosting burst)\n"
    await cli("--admin", admin.url, "add", "ip", "10.50.0.9", "--ttl", "90")
    admin.clock.advance(30)
    table = (await cli("--admin", admin.url, "list")).splitlines()
    assert table[0].split() == ["SCOPE", "VALUE", "EXPIRES", "IN", "OFFENSES", "SOURCE", "REASON"]
    assert table[1].split() == ["ip", "10.50.0.9", "1m", "1", "admin", "admin"]
    assert table[2].split() == ["subnet", "10.40.0.0/16", "1h59m", "1", "admin", "hosting", "burst"]
    assert await cli("--admin", admin.url, "delete", "subnet", "10.40.0.0/16") == "lifted subnet 10.40.0.0/16\n"
    as_json = orjson.loads(await cli("--admin", admin.url, "--json", "list", "--scope", "ip"))
    assert [(d["scope"], d["value"]) for d in as_json["decisions"]] == [("ip", "10.50.0.9")]


@pytest.mark.usefixtures("token_env")
async def test_empty_list_says_so(admin: Admin) -> None:
    assert await cli("--admin", admin.url, "list") == "no active decisions\n"


async def test_token_from_a_file(admin: Admin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIELD_ADMIN_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert await cli("--admin", admin.url, "--token-file", str(token_file), "list") == "no active decisions\n"


@pytest.mark.parametrize(
    ("argv", "token", "message"),
    [
        (("list",), "", "no admin token: set SHIELD_ADMIN_TOKEN or pass --token-file"),
        (("list",), "wrong", "401 missing or wrong bearer token"),
        (("add", "ip", "10.0.0.300"), TOKEN, "400 ip value '10.0.0.300' is not a valid address"),
        (("add", "ip", "10.0.0.1", "--ttl", "soon"), TOKEN, "400 ttl must be seconds or a duration"),
        (("delete", "ip", "10.9.9.9"), TOKEN, "404 no active ip ban for '10.9.9.9'"),
    ],
    ids=["no-token", "wrong-token", "bad-ip", "bad-ttl", "no-such-ban"],
)
async def test_failures_are_one_readable_line(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], token: str, message: str
) -> None:
    monkeypatch.setenv("SHIELD_ADMIN_TOKEN", token)
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        await run_async(parse("--admin", admin.url, *argv), out=io.StringIO())


@pytest.mark.usefixtures("token_env")
async def test_unreachable_admin_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CommandError, match=f"cannot reach the admin API at http://127.0.0.1:{port}/decisions"):
        await run_async(parse("--admin", f"http://127.0.0.1:{port}", "list"), out=io.StringIO())


@pytest.mark.usefixtures("token_env")
async def test_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read token file"):
        await run_async(parse("--token-file", str(tmp_path / "nope"), "list"), out=io.StringIO())


def test_shield_cli_dispatches_to_decisions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shield.cli import main

    monkeypatch.delenv("SHIELD_ADMIN_TOKEN", raising=False)
    assert main(["decisions", "list"]) == 1
    assert capsys.readouterr().err == "shield decisions: no admin token: set SHIELD_ADMIN_TOKEN or pass --token-file\n"


def test_main_prints_errors_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from shield.commands.decisions import main

    monkeypatch.delenv("SHIELD_ADMIN_TOKEN", raising=False)
    err = io.StringIO()
    assert main(["list"], out=io.StringIO(), err=err) == 1
    assert err.getvalue() == "shield decisions: no admin token: set SHIELD_ADMIN_TOKEN or pass --token-file\n"


@pytest.mark.usefixtures("token_env")
@pytest.mark.parametrize(
    "argv",
    [
        ("--admin", "URL", "--json", "list", "--scope", "ip"),
        ("list", "--json", "--scope", "ip", "--admin", "URL"),
        ("list", "--scope", "ip", "--admin", "URL", "--json"),
    ],
    ids=["before-subcommand", "after-subcommand", "last"],
)
async def test_global_options_work_before_and_after_the_subcommand(admin: Admin, argv: tuple[str, ...]) -> None:
    """`--help` of a subcommand shows --admin/--json/--token-file: they must parse there too."""
    await cli("--admin", admin.url, "add", "ip", "10.60.0.1")
    as_json = orjson.loads(await cli(*(admin.url if a == "URL" else a for a in argv)))
    assert [(d["scope"], d["value"]) for d in as_json["decisions"]] == [("ip", "10.60.0.1")]


def test_options_after_the_subcommand_do_not_reset_those_before() -> None:
    args = parse("--admin", "http://10.9.9.9:9000", "--json", "list")
    assert (args.admin, args.json) == ("http://10.9.9.9:9000", True)
    args = parse("add", "ip", "10.0.0.1", "--admin", "http://10.1.1.1:1", "--token-file", "/t")
    assert (args.admin, str(args.token_file), args.json) == ("http://10.1.1.1:1", "/t", False)


def test_subcommand_help_shows_the_global_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("list", "--help")
    assert "--json" in capsys.readouterr().out
