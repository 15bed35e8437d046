"""Subcommands of `shield`: one module each, discovered by shield.cli."""
