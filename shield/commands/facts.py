"""`shield facts`: every fact a rule may read, with its type, windows and meaning.

    shield facts                   a text table
    shield facts --markdown        the docs' table (docs/facts.md, between its markers)
    shield facts --config FILE     with the config's `windows:` (default 1m, 10m, 1h, 24h)
    shield facts --json            one object per fact, every window spelled out
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson

from shield.facts.catalog import catalog
from shield.facts.table import fact_rows, markdown_table, text_table
from shield.model import DEFAULT_WINDOWS
from shield.settings.load import SettingsError, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "facts", help="print the fact catalog (name, type, windows, description)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true", help="a Markdown table (the docs' own)")
    form.add_argument("--json", action="store_true", help="JSON: every fact by its full name")
    p.add_argument("--config", "-c", type=Path, help="shield.yaml whose `windows:` name the counters")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    windows = DEFAULT_WINDOWS
    if args.config is not None:
        try:
            windows = load_settings(args.config, env=os.environ).windows
        except SettingsError as exc:
            print("shield facts: the configuration has problems:", *exc.problems, sep="\n  ", file=sys.stderr)
            return 2
    if args.json:
        specs = [{"name": s.name, "type": s.type, "description": s.doc, "source": s.source}
                 for s in catalog(windows).values()]
        sys.stdout.write(orjson.dumps(specs, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.markdown:
        sys.stdout.write(markdown_table(fact_rows(windows)))
    else:
        sys.stdout.write(text_table(fact_rows(windows)))
    return 0
