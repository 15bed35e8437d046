"""The `shield` command. Subcommands are the modules of shield/commands/, found at start.

A command module either exposes `register(subparsers) -> None` (adding its parser and setting
`handler=` through set_defaults), or the simpler pair `add_arguments(parser)` and
`run(args) -> int`, in which case its parser is named after the module and described by the
first line of its docstring. Handlers return the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

import shield.commands
from shield.observe.version import python_version, shield_version

Handler = Callable[[argparse.Namespace], int]


def _command_modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(shield.commands.__path__) if not m.name.startswith("_"))
    modules: list[ModuleType] = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"shield.commands.{name}"))
        except Exception as exc:
            # One broken command (a missing optional dependency) must not take `shield run` down with it.
            print(f"shield: command {name!r} unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
    return modules


def _register(module: ModuleType, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register = getattr(module, "register", None)
    if callable(register):
        register(subparsers)
        return
    add_arguments, run = getattr(module, "add_arguments", None), getattr(module, "run", None)
    if not (callable(add_arguments) and callable(run)):
        return
    name = module.__name__.rsplit(".", 1)[-1]
    summary = (module.__doc__ or name).strip().splitlines()[0]
    parser = subparsers.add_parser(
        name, help=summary, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shield", description="Credential-stuffing defense reverse proxy.", allow_abbrev=False
    )
    parser.add_argument(
        "--version", action="version", version=f"shield {shield_version()} (Python {python_version()})"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        _register(module, subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
