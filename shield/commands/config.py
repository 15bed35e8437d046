"""`shield config --markdown`: the configuration reference (every key, its environment variable, default, meaning).

The docs' configuration page carries this table between its `shield config --markdown` markers;
tests/docs/test_docs.py keeps the two in step.
"""

from __future__ import annotations

import argparse
import sys

from shield.settings.reference import markdown_table, reference_rows


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "config", help="print the configuration reference (key, environment variable, default, meaning)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--markdown", action="store_true", help="a Markdown table (the docs' own); the default")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(markdown_table(reference_rows()))
    return 0
